#pragma once
#include <napi.h>

namespace shmkit {
Napi::Value ShmCreate(const Napi::CallbackInfo& info);  // (name, size, mode) -> fd
Napi::Value ShmOpen(const Napi::CallbackInfo& info);    // (name, readOnly) -> fd
Napi::Value ShmUnlink(const Napi::CallbackInfo& info);  // (name)
Napi::Value Fstat(const Napi::CallbackInfo& info);      // (fd) -> {size, mode, uid, gid}
Napi::Value Fchmod(const Napi::CallbackInfo& info);     // (fd, mode)
Napi::Value Fchown(const Napi::CallbackInfo& info);     // (fd, uid, gid)
Napi::Value Close(const Napi::CallbackInfo& info);      // (fd)
// Sizes the object and reserves its pages, so a full tmpfs is ENOSPC now
// rather than SIGBUS on first touch. Shared by shm_open and memfd objects.
int SizeAndReserve(int fd, off_t size, const char** failed_syscall);
}  // namespace shmkit
namespace shmkit {
Napi::Value Dup(const Napi::CallbackInfo& info);  // (fd) -> new close-on-exec fd
}  // namespace shmkit
