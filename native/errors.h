// Native failures reach JavaScript as an Error carrying the raw errno and the
// syscall that failed; src/errors.ts owns the one table that turns them into
// ShmkitError codes, so no errno naming lives here.
#pragma once
#include <napi.h>

namespace shmkit {

// Throws a JS Error with `errno` (positive) and `syscall` set; returns an
// empty value so callers can `return ThrowErrno(...)`.
Napi::Value ThrowErrno(Napi::Env env, int err, const char* syscall);

// Builds (without throwing) the same error object, for async completions.
Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall);

}  // namespace shmkit
