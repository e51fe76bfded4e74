#include "memfd.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "errors.h"
#include "fd.h"

namespace shmkit {

Napi::Value MemfdCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = info[0].As<Napi::String>().Utf8Value();
  off_t size = static_cast<off_t>(info[1].As<Napi::Number>().Int64Value());
  int fd = memfd_create(name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return ThrowErrno(env, errno, "memfd_create");
  const char* failed = "fcntl";
  int err = SizeAndReserve(fd, size, &failed);
  // Sealed size: whoever receives the descriptor can trust it never shrinks
  // under their mapping (no SIGBUS) and never needs remapping.
  if (err == 0 && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) err = errno;
  if (err != 0) {
    close(fd);
    return ThrowErrno(env, err, failed);
  }
  return Napi::Number::New(env, fd);
}

}  // namespace shmkit
