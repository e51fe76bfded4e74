// The shmkit addon: syscalls only (STYLE.md). Data structures live in
// TypeScript over the SharedArrayBuffers this hands out.
#include <napi.h>

#include "async-wait.h"
#include "fd.h"
#include "fd-passing.h"
#include "futex.h"
#include "mapping.h"
#include "memfd.h"
#include "posix-shm.h"
#include "sysv-shm.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  using namespace shmkit;
  struct Entry {
    const char* name;
    Napi::Value (*fn)(const Napi::CallbackInfo&);
  };
  static const Entry kEntries[] = {
      {"mapFd", MapFd},       {"release", Release},    {"faults", Faults},
      {"reserve", Reserve},
      {"shmCreate", ShmCreate}, {"shmOpen", ShmOpen},  {"shmUnlink", ShmUnlink},
      {"fstat", Fstat},       {"fchmod", Fchmod},      {"fchown", Fchown},
      {"close", Close},       {"dup", Dup},            {"memfdCreate", MemfdCreate},
      {"ftok", Ftok},         {"shmget", Shmget},      {"shmat", Shmat},
      {"shmStat", ShmStat},   {"shmSet", ShmSet},      {"shmRemove", ShmRemove},
      {"sendFd", SendFd},     {"recvFd", RecvFd},
      {"futexWait", FutexWait}, {"futexWake", FutexWake}, {"gettid", Gettid},
      {"addressOf", AddressOf}, {"robustListInit", RobustListInit},
      {"asyncWaitInit", AsyncWaitInit}, {"asyncWait", AsyncWait}, {"asyncCancel", AsyncCancel},
  };
  for (const Entry& e : kEntries) exports.Set(e.name, Napi::Function::New(env, e.fn, e.name));
  return exports;
}

}  // namespace

NODE_API_MODULE(shmkit, Init)
