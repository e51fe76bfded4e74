// Descriptor calls that do not care what the descriptor is (a shm_open
// object, a memfd, anything): stat, permissions, size, dup, close.
#pragma once
#include <napi.h>
#include <sys/types.h>

namespace shmkit {
Napi::Value Fstat(const Napi::CallbackInfo& info);   // (fd) -> {regular, size, mode, uid, gid}
Napi::Value Fchmod(const Napi::CallbackInfo& info);  // (fd, mode)
Napi::Value Fchown(const Napi::CallbackInfo& info);  // (fd, uid, gid)
Napi::Value Dup(const Napi::CallbackInfo& info);     // (fd) -> new close-on-exec fd
Napi::Value Close(const Napi::CallbackInfo& info);   // (fd)
// Sizes the object and reserves its pages, so a full tmpfs is ENOSPC now
// rather than SIGBUS on first touch. Shared by shm_open and memfd objects.
// Returns 0 or an errno, with the failing syscall in *failed_syscall.
int SizeAndReserve(int fd, off_t size, const char** failed_syscall);
// Reserves the pages of an object that already has its size (someone else's
// sparse object): a full tmpfs is ENOSPC now, not lost writes later.
Napi::Value Reserve(const Napi::CallbackInfo& info);  // (fd, size)
}  // namespace shmkit
