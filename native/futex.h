#pragma once
#include <napi.h>

namespace shmkit {
// All take (SharedArrayBuffer, byteOffset) and check that the 32-bit word is
// aligned and inside the buffer, so no JavaScript value can make them touch
// memory outside a mapping.
Napi::Value FutexWait(const Napi::CallbackInfo& info);  // (sab, off, expected, timeoutMs) -> 0 woken | 1 changed | 2 timed out
Napi::Value FutexWake(const Napi::CallbackInfo& info);  // (sab, off, count) -> woken
Napi::Value Gettid(const Napi::CallbackInfo& info);     // () -> tid of the calling thread
Napi::Value AddressOf(const Napi::CallbackInfo& info);  // (sab) -> virtual address of byte 0
// Registers a fresh robust-futex list head for the calling thread and returns
// it as {buffer, address}; JavaScript links held locks into it.
Napi::Value RobustListInit(const Napi::CallbackInfo& info);  // (futexOffset) -> {buffer, address}
// Resolves words' address from (sab, off); used by the async waiter too.
bool WordAddress(Napi::Env env, const Napi::Value& sab, const Napi::Value& off, uint32_t** out);
}  // namespace shmkit
