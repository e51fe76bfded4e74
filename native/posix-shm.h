// POSIX shared memory objects by name (shm_open / shm_unlink). What is done
// with the descriptor afterwards is in fd.h.
#pragma once
#include <napi.h>

namespace shmkit {
Napi::Value ShmCreate(const Napi::CallbackInfo& info);  // (name, size, mode) -> fd
Napi::Value ShmOpen(const Napi::CallbackInfo& info);    // (name, readOnly) -> fd
Napi::Value ShmUnlink(const Napi::CallbackInfo& info);  // (name)
}  // namespace shmkit
