// Mappings handed to JavaScript. Every mapping becomes exactly one
// SharedArrayBuffer whose backing-store deleter unmaps it, so the memory lives
// exactly as long as JavaScript (any thread) can reach it. Release() swaps the
// shared pages for private anonymous ones in place: the shared object is let go
// at once, yet a stale view reads zeros instead of faulting.
#pragma once
#include <napi.h>

#include <cstddef>
#include <cstdint>

namespace shmkit {

enum class MapKind { kShared, kReadOnlyCow };

// Wraps [addr, addr+len) in a SharedArrayBuffer that owns it. `len` may be 0
// (addr ignored) for an empty object.
Napi::Value WrapMapping(Napi::Env env, void* addr, size_t len, MapKind kind);

// Whether [addr, addr+len) lies inside one mapping made by WrapMapping and
// not unmapped yet (released ones included: their pages are still mapped).
bool IsLiveMapping(uintptr_t addr, size_t len);

// Wraps memory the caller keeps alive forever (no deleter, no fault guard).
Napi::Value WrapUnowned(Napi::Env env, void* addr, size_t len);

// Maps fd (MAP_SHARED, or MAP_PRIVATE when readOnly so stray writes stay
// private) and wraps it.
Napi::Value MapFd(const Napi::CallbackInfo& info);     // (fd, size, readOnly)
Napi::Value Release(const Napi::CallbackInfo& info);   // (sab) -> bool
// Pages of the mapping behind sab that the fault guard replaced after
// SIGBUS (0 for an empty, released or unknown buffer). The count lives in the
// mapping's guard slot and ends with it.
Napi::Value Faults(const Napi::CallbackInfo& info);    // (sab) -> number

}  // namespace shmkit
