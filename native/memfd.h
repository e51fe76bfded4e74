#pragma once
#include <napi.h>

namespace shmkit {
Napi::Value MemfdCreate(const Napi::CallbackInfo& info);  // (name, size) -> fd
}  // namespace shmkit
