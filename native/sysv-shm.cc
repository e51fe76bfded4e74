#include "sysv-shm.h"

#include <sys/ipc.h>
#include <sys/shm.h>

#include <cerrno>
#include <string>

#include "errors.h"
#include "mapping.h"

namespace shmkit {

Napi::Value Ftok(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = info[0].As<Napi::String>().Utf8Value();
  key_t key = ftok(path.c_str(), info[1].As<Napi::Number>().Int32Value());
  if (key == -1) return ThrowErrno(env, errno, "ftok");
  return Napi::Number::New(env, key);
}

Napi::Value Shmget(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  key_t key = static_cast<key_t>(info[0].As<Napi::Number>().Int64Value());
  size_t size = static_cast<size_t>(info[1].As<Napi::Number>().Int64Value());
  int flags = info[4].As<Napi::Number>().Int32Value() & 0777;
  if (info[2].As<Napi::Boolean>().Value()) flags |= IPC_CREAT;
  if (info[3].As<Napi::Boolean>().Value()) flags |= IPC_EXCL;
  int id = shmget(key, size, flags);
  if (id < 0) return ThrowErrno(env, errno, "shmget");
  return Napi::Number::New(env, id);
}

Napi::Value Shmat(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int id = info[0].As<Napi::Number>().Int32Value();
  bool read_only = info[1].As<Napi::Boolean>().Value();
  struct shmid_ds ds;
  if (shmctl(id, IPC_STAT, &ds) != 0) return ThrowErrno(env, errno, "shmctl");
  void* addr = shmat(id, nullptr, read_only ? SHM_RDONLY : 0);
  if (addr == reinterpret_cast<void*>(-1)) return ThrowErrno(env, errno, "shmat");
  // The size can only be read before attaching, and the segment cannot change
  // size afterwards (System V segments are fixed at shmget).
  return WrapMapping(env, addr, ds.shm_segsz, read_only ? MapKind::kReadOnlyCow : MapKind::kShared);
}

Napi::Value ShmStat(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int id = info[0].As<Napi::Number>().Int32Value();
  struct shmid_ds ds;
  if (shmctl(id, IPC_STAT, &ds) != 0) return ThrowErrno(env, errno, "shmctl");
  Napi::Object o = Napi::Object::New(env);
  o.Set("key", Napi::Number::New(env, ds.shm_perm.__key));
  o.Set("id", Napi::Number::New(env, id));
  o.Set("size", Napi::Number::New(env, static_cast<double>(ds.shm_segsz)));
  o.Set("mode", Napi::Number::New(env, ds.shm_perm.mode & 0777));
  o.Set("flags", Napi::Number::New(env, ds.shm_perm.mode & ~0777));
  o.Set("uid", Napi::Number::New(env, ds.shm_perm.uid));
  o.Set("gid", Napi::Number::New(env, ds.shm_perm.gid));
  o.Set("cuid", Napi::Number::New(env, ds.shm_perm.cuid));
  o.Set("cgid", Napi::Number::New(env, ds.shm_perm.cgid));
  o.Set("cpid", Napi::Number::New(env, ds.shm_cpid));
  o.Set("lpid", Napi::Number::New(env, ds.shm_lpid));
  o.Set("attachments", Napi::Number::New(env, static_cast<double>(ds.shm_nattch)));
  o.Set("atime", Napi::Number::New(env, static_cast<double>(ds.shm_atime)));
  o.Set("dtime", Napi::Number::New(env, static_cast<double>(ds.shm_dtime)));
  o.Set("ctime", Napi::Number::New(env, static_cast<double>(ds.shm_ctime)));
  return o;
}

Napi::Value ShmSet(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int id = info[0].As<Napi::Number>().Int32Value();
  int64_t uid = info[1].As<Napi::Number>().Int64Value();
  int64_t gid = info[2].As<Napi::Number>().Int64Value();
  int64_t mode = info[3].As<Napi::Number>().Int64Value();
  struct shmid_ds ds;
  if (shmctl(id, IPC_STAT, &ds) != 0) return ThrowErrno(env, errno, "shmctl");
  if (uid >= 0) ds.shm_perm.uid = static_cast<uid_t>(uid);
  if (gid >= 0) ds.shm_perm.gid = static_cast<gid_t>(gid);
  if (mode >= 0) ds.shm_perm.mode = (ds.shm_perm.mode & ~0777) | (mode & 0777);
  if (shmctl(id, IPC_SET, &ds) != 0) return ThrowErrno(env, errno, "shmctl");
  return env.Undefined();
}

Napi::Value ShmRemove(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (shmctl(info[0].As<Napi::Number>().Int32Value(), IPC_RMID, nullptr) != 0)
    return ThrowErrno(env, errno, "shmctl");
  return env.Undefined();
}

}  // namespace shmkit
