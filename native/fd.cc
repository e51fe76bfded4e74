#include "fd.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "errors.h"

namespace shmkit {

namespace {

// posix_fallocate over [0, size): 0 or an errno. tmpfs gives up on a pending
// signal (EINTR); the call is idempotent, so it is simply repeated.
int ReservePages(int fd, off_t size) {
  int err;
  do err = posix_fallocate(fd, 0, size); while (err == EINTR);
  return err;
}

}  // namespace

int SizeAndReserve(int fd, off_t size, const char** failed_syscall) {
  if (ftruncate(fd, size) != 0) {
    *failed_syscall = "ftruncate";
    return errno;
  }
  int err = ReservePages(fd, size);
  if (err != 0) *failed_syscall = "posix_fallocate";
  return err;
}

Napi::Value Reserve(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  off_t size = static_cast<off_t>(info[1].As<Napi::Number>().Int64Value());
  int err = ReservePages(fd, size);
  if (err != 0) return ThrowErrno(env, err, "posix_fallocate");
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

Napi::Value Dup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = fcntl(info[0].As<Napi::Number>().Int32Value(), F_DUPFD_CLOEXEC, 0);
  if (fd < 0) return ThrowErrno(env, errno, "fcntl");
  return Napi::Number::New(env, fd);
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  // Linux releases the descriptor even when close reports EINTR: never retry.
  if (close(info[0].As<Napi::Number>().Int32Value()) != 0 && errno != EINTR)
    return ThrowErrno(env, errno, "close");
  return env.Undefined();
}

}  // namespace shmkit
