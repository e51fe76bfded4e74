#include "posix-shm.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "errors.h"

namespace shmkit {

int SizeAndReserve(int fd, off_t size, const char** failed_syscall) {
  if (ftruncate(fd, size) != 0) {
    *failed_syscall = "ftruncate";
    return errno;
  }
  int err;
  // tmpfs gives up on a pending signal (EINTR); the call is idempotent.
  do err = posix_fallocate(fd, 0, size); while (err == EINTR);
  if (err != 0) *failed_syscall = "posix_fallocate";
  return err;
}

Napi::Value ShmCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = info[0].As<Napi::String>().Utf8Value();
  off_t size = static_cast<off_t>(info[1].As<Napi::Number>().Int64Value());
  mode_t mode = static_cast<mode_t>(info[2].As<Napi::Number>().Uint32Value());
  int fd = shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return ThrowErrno(env, errno, "shm_open");
  const char* failed = "fchmod";
  // shm_open applies the umask; the caller asked for this exact mode.
  int err = fchmod(fd, mode) == 0 ? SizeAndReserve(fd, size, &failed) : errno;
  if (err != 0) {
    shm_unlink(name.c_str());
    close(fd);
    return ThrowErrno(env, err, failed);
  }
  return Napi::Number::New(env, fd);
}

Napi::Value ShmOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = info[0].As<Napi::String>().Utf8Value();
  bool read_only = info[1].As<Napi::Boolean>().Value();
  int fd = shm_open(name.c_str(), (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC, 0);
  if (fd < 0) return ThrowErrno(env, errno, "shm_open");
  return Napi::Number::New(env, fd);
}

Napi::Value ShmUnlink(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = info[0].As<Napi::String>().Utf8Value();
  if (shm_unlink(name.c_str()) != 0) return ThrowErrno(env, errno, "shm_unlink");
  return env.Undefined();
}

Napi::Value Fstat(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct stat st;
  if (fstat(info[0].As<Napi::Number>().Int32Value(), &st) != 0) return ThrowErrno(env, errno, "fstat");
  Napi::Object out = Napi::Object::New(env);
  out.Set("regular", Napi::Boolean::New(env, S_ISREG(st.st_mode)));
  out.Set("size", Napi::Number::New(env, static_cast<double>(st.st_size)));
  out.Set("mode", Napi::Number::New(env, st.st_mode & 07777));
  out.Set("uid", Napi::Number::New(env, st.st_uid));
  out.Set("gid", Napi::Number::New(env, st.st_gid));
  return out;
}

Napi::Value Fchmod(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (fchmod(info[0].As<Napi::Number>().Int32Value(), info[1].As<Napi::Number>().Uint32Value()) != 0)
    return ThrowErrno(env, errno, "fchmod");
  return env.Undefined();
}

Napi::Value Fchown(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (fchown(info[0].As<Napi::Number>().Int32Value(), info[1].As<Napi::Number>().Int32Value(),
             info[2].As<Napi::Number>().Int32Value()) != 0)
    return ThrowErrno(env, errno, "fchown");
  return env.Undefined();
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (close(info[0].As<Napi::Number>().Int32Value()) != 0 && errno != EINTR)
    return ThrowErrno(env, errno, "close");
  return env.Undefined();
}

}  // namespace shmkit

namespace shmkit {
Napi::Value Dup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = fcntl(info[0].As<Napi::Number>().Int32Value(), F_DUPFD_CLOEXEC, 0);
  if (fd < 0) return ThrowErrno(env, errno, "fcntl");
  return Napi::Number::New(env, fd);
}
}  // namespace shmkit
