#include "posix-shm.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "errors.h"
#include "fd.h"

namespace shmkit {

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
  // O_NONBLOCK: a FIFO put at the name must not block the open (the caller
  // refuses anything but a regular file at once); O_NOFOLLOW: a symlink
  // there is not followed.
  int fd = shm_open(name.c_str(), (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW, 0);
  if (fd < 0) return ThrowErrno(env, errno, "shm_open");
  return Napi::Number::New(env, fd);
}

Napi::Value ShmUnlink(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = info[0].As<Napi::String>().Utf8Value();
  if (shm_unlink(name.c_str()) != 0) return ThrowErrno(env, errno, "shm_unlink");
  return env.Undefined();
}

}  // namespace shmkit
