// Async futex waits: a native thread parks on up to 127 shared words at once
// (futex_waitv; more threads join as more words are awaited) and hands each completion to
// the event loop through a thread-safe function. The loop never blocks and
// an idle wait burns no CPU.
#pragma once
#include <napi.h>

namespace shmkit {
// AsyncWaitInit(dispatch(id, result)) once per environment.
Napi::Value AsyncWaitInit(const Napi::CallbackInfo& info);
// AsyncWait(sab, off, expected, timeoutMs) -> id; completes with
// 0 woken | 1 value changed | 2 timed out.
Napi::Value AsyncWait(const Napi::CallbackInfo& info);
// AsyncCancel(id) -> true if it was still pending (no completion follows).
Napi::Value AsyncCancel(const Napi::CallbackInfo& info);
}  // namespace shmkit
