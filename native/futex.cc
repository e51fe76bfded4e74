#include "futex.h"

#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdint>

#include "errors.h"
#include "mapping.h"
#include "v8-bridge.h"

namespace shmkit {

bool WordAddress(Napi::Env env, const Napi::Value& sab, const Napi::Value& off, uint32_t** out) {
  v8::Local<v8::Value> local = ToV8(sab);
  if (!local->IsSharedArrayBuffer()) {
    ThrowErrno(env, EINVAL, "futex");
    return false;
  }
  v8::Local<v8::SharedArrayBuffer> buf = local.As<v8::SharedArrayBuffer>();
  double offset = off.As<Napi::Number>().DoubleValue();
  if (!(offset >= 0) || offset + 4 > static_cast<double>(buf->ByteLength()) ||
      static_cast<uint64_t>(offset) % 4 != 0) {
    ThrowErrno(env, EINVAL, "futex");
    return false;
  }
  *out = reinterpret_cast<uint32_t*>(static_cast<char*>(buf->Data()) + static_cast<uint64_t>(offset));
  return true;
}

Napi::Value FutexWait(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t* word;
  if (!WordAddress(env, info[0], info[1], &word)) return Napi::Value();
  uint32_t expected = info[2].As<Napi::Number>().Uint32Value();
  double timeout_ms = info[3].As<Napi::Number>().DoubleValue();
  struct timespec ts;
  struct timespec* tsp = nullptr;
  if (timeout_ms >= 0) {
    ts.tv_sec = static_cast<time_t>(timeout_ms / 1000);
    ts.tv_nsec = static_cast<long>((timeout_ms - ts.tv_sec * 1000.0) * 1e6);
    tsp = &ts;
  }
  // Shared (no FUTEX_PRIVATE_FLAG): the word may be mapped by other processes.
  long r = syscall(SYS_futex, word, FUTEX_WAIT, expected, tsp, nullptr, 0);
  if (r == 0) return Napi::Number::New(env, 0);
  if (errno == EAGAIN) return Napi::Number::New(env, 1);
  if (errno == ETIMEDOUT) return Napi::Number::New(env, 2);
  if (errno == EINTR) return Napi::Number::New(env, 0);  // callers re-check the word
  return ThrowErrno(env, errno, "futex");
}

Napi::Value FutexWake(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t* word;
  if (!WordAddress(env, info[0], info[1], &word)) return Napi::Value();
  int count = info[2].As<Napi::Number>().Int32Value();
  long r = syscall(SYS_futex, word, FUTEX_WAKE, count <= 0 ? INT_MAX : count, nullptr, nullptr, 0);
  if (r < 0) return ThrowErrno(env, errno, "futex");
  return Napi::Number::New(env, static_cast<double>(r));
}

Napi::Value Gettid(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(syscall(SYS_gettid)));
}

Napi::Value AddressOf(const Napi::CallbackInfo& info) {
  v8::Local<v8::Value> local = ToV8(info[0]);
  if (!local->IsSharedArrayBuffer()) return ThrowErrno(info.Env(), EINVAL, "address");
  uintptr_t addr = reinterpret_cast<uintptr_t>(local.As<v8::SharedArrayBuffer>()->Data());
  // User-space addresses are below 2^47: exact in a double.
  return Napi::Number::New(info.Env(), static_cast<double>(addr));
}

namespace {

constexpr uint32_t kTidMask = 0x3fffffff;

struct RobustCleanup {
  struct robust_list_head* head;
  uint32_t tid;
};

// Marks `word` the way the kernel does for a dead holder.
void ReleaseAsDead(uint32_t* word, uint32_t tid) {
  uint32_t w = __atomic_load_n(word, __ATOMIC_SEQ_CST);
  while ((w & kTidMask) == tid) {
    uint32_t dead = (w & FUTEX_WAITERS) | FUTEX_OWNER_DIED;
    if (__atomic_compare_exchange_n(word, &w, dead, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
      if (w & FUTEX_WAITERS) syscall(SYS_futex, word, FUTEX_WAKE, 1, nullptr, nullptr, 0);
      return;
    }
  }
}

// Runs when this thread's JavaScript environment is torn down (the program
// ended, or a worker was terminated). The kernel would do this at thread
// exit, but by then Node has freed the SharedArrayBuffers and unmapped the
// locks, so its walk would fail: do the same walk now, while they are mapped.
//
// The links live in shared memory, where any process with write access can
// overwrite them: an entry is followed only if its link and its lock word lie
// inside a mapping shmkit made and still has, and the walk stops at the first
// that does not (the kernel's own walk stops on a fault the same way).
bool SafeEntry(const struct robust_list* entry, long futex_offset) {
  uintptr_t link = reinterpret_cast<uintptr_t>(entry);
  uintptr_t word = link + futex_offset;
  return link % alignof(struct robust_list) == 0 && word % 4 == 0 &&
         IsLiveMapping(link, sizeof(struct robust_list)) && IsLiveMapping(word, sizeof(uint32_t));
}

void ReleaseHeldAtTeardown(RobustCleanup* c) {
  struct robust_list_head* head = c->head;
  struct robust_list* entry = head->list.next;
  for (int limit = 2048; entry != &head->list && limit > 0 && SafeEntry(entry, head->futex_offset); limit--) {
    struct robust_list* next = entry->next;
    ReleaseAsDead(reinterpret_cast<uint32_t*>(reinterpret_cast<char*>(entry) + head->futex_offset), c->tid);
    entry = next;
  }
  struct robust_list* pending = head->list_op_pending;
  if (pending != nullptr && SafeEntry(pending, head->futex_offset)) {
    ReleaseAsDead(reinterpret_cast<uint32_t*>(reinterpret_cast<char*>(pending) + head->futex_offset), c->tid);
  }
  head->list.next = &head->list;
  head->list_op_pending = nullptr;
  delete c;
}

}  // namespace

Napi::Value RobustListInit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  long futex_offset = static_cast<long>(info[0].As<Napi::Number>().Int64Value());
  long page = sysconf(_SC_PAGESIZE);
  void* mem = mmap(nullptr, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return ThrowErrno(env, errno, "mmap");
  auto* head = static_cast<struct robust_list_head*>(mem);
  head->list.next = &head->list;  // empty: the list points at itself
  head->futex_offset = futex_offset;
  head->list_op_pending = nullptr;
  // This replaces glibc's head for this thread: glibc robust mutexes locked
  // by this same thread lose owner-died recovery (documented).
  if (syscall(SYS_set_robust_list, head, sizeof(*head)) != 0) {
    int err = errno;
    munmap(mem, page);
    return ThrowErrno(env, err, "set_robust_list");
  }
  env.AddCleanupHook(ReleaseHeldAtTeardown,
                     new RobustCleanup{head, static_cast<uint32_t>(syscall(SYS_gettid))});
  Napi::Object out = Napi::Object::New(env);
  // The kernel reads the head when the thread exits, after JavaScript is
  // gone, so the page is never unmapped (one page per thread that locks).
  out.Set("buffer", WrapUnowned(env, mem, page));
  out.Set("address", Napi::Number::New(env, static_cast<double>(reinterpret_cast<uintptr_t>(mem))));
  return out;
}

}  // namespace shmkit
