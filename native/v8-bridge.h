// Node-API cannot make a SharedArrayBuffer over foreign memory, so this one
// bridge drops to V8. A napi_value is a v8::Local<v8::Value> underneath (that
// is how Node implements Node-API), and the addon is built against the headers
// of the Node that loads it, so the conversion is exact for that build.
#pragma once
#include <napi.h>
#include <v8.h>

#include <cstring>

namespace shmkit {

inline v8::Local<v8::Value> ToV8(napi_value v) {
  v8::Local<v8::Value> local;
  static_assert(sizeof(local) == sizeof(v), "napi_value must be a V8 handle");
  std::memcpy(static_cast<void*>(&local), &v, sizeof(v));
  return local;
}

inline napi_value FromV8(v8::Local<v8::Value> local) {
  return reinterpret_cast<napi_value>(*local);
}

}  // namespace shmkit
