#pragma once
#include <napi.h>

namespace shmkit {
Napi::Value Ftok(const Napi::CallbackInfo& info);       // (path, projId) -> key
Napi::Value Shmget(const Napi::CallbackInfo& info);     // (key, size, create, exclusive, mode) -> id
Napi::Value Shmat(const Napi::CallbackInfo& info);      // (id, readOnly) -> SharedArrayBuffer
Napi::Value ShmStat(const Napi::CallbackInfo& info);    // (id) -> stat object
Napi::Value ShmSet(const Napi::CallbackInfo& info);     // (id, uid, gid, mode); -1 keeps a field
Napi::Value ShmRemove(const Napi::CallbackInfo& info);  // (id)
}  // namespace shmkit
