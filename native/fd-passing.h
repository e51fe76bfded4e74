#pragma once
#include <napi.h>

namespace shmkit {
// Both run on the libuv thread pool and resolve a Promise, so the event loop
// never blocks. `cancel` is an Int32Array over a SharedArrayBuffer; a non-zero
// cell[0] ends the wait with ECANCELED (how AbortSignal reaches native code).
// SendFd(socketFd, fd, payload: Uint8Array, timeoutMs, cancel) -> Promise<void>
Napi::Value SendFd(const Napi::CallbackInfo& info);
// RecvFd(socketFd, payloadLength, timeoutMs, cancel) -> Promise<{fd, payload}>
// fd is -1 when the bytes arrived without a descriptor.
Napi::Value RecvFd(const Napi::CallbackInfo& info);
}  // namespace shmkit
