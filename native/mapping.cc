#include "mapping.h"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <mutex>
#include <unordered_map>

#include "errors.h"
#include "v8-bridge.h"

namespace shmkit {
namespace {

// ---- Fault guard -----------------------------------------------------------
// Two faults can still hit a live mapping, and neither may kill the process:
//  * SIGBUS: another process shrank the object (or a foreign sparse object hit
//    a full tmpfs). The page is replaced by a private zero page.
//  * SIGSEGV on a System V read-only attachment (SHM_RDONLY has no private
//    copy-on-write form): the page is replaced by a private copy, which is what
//    a POSIX read-only open gives through MAP_PRIVATE. Writes stay private.
// The handler reads this table without locks; writers hold g_mu.
constexpr int kGuardSlots = 4096;
struct GuardSlot {
  std::atomic<uintptr_t> start{0};
  std::atomic<uintptr_t> end{0};
  std::atomic<int> cow{0};
};
GuardSlot g_guard[kGuardSlots];
struct sigaction g_prev_segv;
struct sigaction g_prev_bus;
std::once_flag g_install_once;
long g_page = sysconf(_SC_PAGESIZE);

void ChainFault(int sig, siginfo_t* si, void* uc) {
  struct sigaction* prev = sig == SIGSEGV ? &g_prev_segv : &g_prev_bus;
  if (prev->sa_flags & SA_SIGINFO) {
    if (prev->sa_sigaction != nullptr) {
      prev->sa_sigaction(sig, si, uc);
      return;
    }
  } else if (prev->sa_handler != SIG_DFL && prev->sa_handler != SIG_IGN) {
    prev->sa_handler(sig);
    return;
  }
  // Returning re-runs the faulting instruction under the default action.
  signal(sig, SIG_DFL);
}

void OnFault(int sig, siginfo_t* si, void* uc) {
  int saved_errno = errno;
  uintptr_t addr = reinterpret_cast<uintptr_t>(si->si_addr);
  for (int i = 0; i < kGuardSlots; i++) {
    uintptr_t start = g_guard[i].start.load(std::memory_order_acquire);
    if (start == 0 || addr < start || addr >= g_guard[i].end.load(std::memory_order_relaxed)) continue;
    void* page = reinterpret_cast<void*>(addr & ~static_cast<uintptr_t>(g_page - 1));
    bool cow = g_guard[i].cow.load(std::memory_order_relaxed) != 0;
    if (sig == SIGSEGV && !(cow && si->si_code == SEGV_ACCERR)) break;
    void* fresh = mmap(nullptr, g_page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (fresh == MAP_FAILED) break;
    if (sig == SIGSEGV) memcpy(fresh, page, g_page);  // readable: only writes fault
    if (mremap(fresh, g_page, g_page, MREMAP_MAYMOVE | MREMAP_FIXED, page) == MAP_FAILED) {
      munmap(fresh, g_page);
      break;
    }
    errno = saved_errno;
    return;
  }
  errno = saved_errno;
  ChainFault(sig, si, uc);
}

void InstallGuard() {
  struct sigaction sa = {};
  sa.sa_sigaction = OnFault;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGSEGV, &sa, &g_prev_segv);
  sigaction(SIGBUS, &sa, &g_prev_bus);
}

// ---- Registry of live mappings ----------------------------------------------
struct Live {
  size_t len;
  int slot;
  bool released;
};
std::mutex g_mu;
std::unordered_map<uintptr_t, Live> g_live;

int GuardAdd(uintptr_t start, size_t len, bool cow) {
  for (int i = 0; i < kGuardSlots; i++) {
    if (g_guard[i].start.load(std::memory_order_relaxed) != 0) continue;
    g_guard[i].end.store(start + len, std::memory_order_relaxed);
    g_guard[i].cow.store(cow ? 1 : 0, std::memory_order_relaxed);
    g_guard[i].start.store(start, std::memory_order_release);
    return i;
  }
  return -1;  // table full: the mapping works, it is just not fault-guarded
}

void GuardRemove(int slot) {
  if (slot >= 0) g_guard[slot].start.store(0, std::memory_order_release);
}

// Runs when the last JavaScript reference (on any thread) is collected.
void Deleter(void* data, size_t len, void*) {
  {
    std::lock_guard<std::mutex> lock(g_mu);
    auto it = g_live.find(reinterpret_cast<uintptr_t>(data));
    if (it != g_live.end()) {
      GuardRemove(it->second.slot);
      g_live.erase(it);
    }
  }
  munmap(data, len);
}

bool GetShared(const Napi::Value& v, void** data, size_t* len) {
  v8::Local<v8::Value> local = ToV8(v);
  if (!local->IsSharedArrayBuffer()) return false;
  v8::Local<v8::SharedArrayBuffer> sab = local.As<v8::SharedArrayBuffer>();
  *data = sab->Data();
  *len = sab->ByteLength();
  return true;
}

}  // namespace

Napi::Value WrapMapping(Napi::Env env, void* addr, size_t len, MapKind kind) {
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  if (len == 0) return Napi::Value(env, FromV8(v8::SharedArrayBuffer::New(isolate, 0)));
  std::call_once(g_install_once, InstallGuard);
  // A child between fork and exec must not inherit (and pin, and count as a
  // System V attachment) the mapping; it never touches it.
  madvise(addr, len, MADV_DONTFORK);
  {
    std::lock_guard<std::mutex> lock(g_mu);
    uintptr_t start = reinterpret_cast<uintptr_t>(addr);
    int slot = GuardAdd(start, len, kind == MapKind::kReadOnlyCow);
    g_live[start] = Live{len, slot, false};
  }
  std::unique_ptr<v8::BackingStore> store =
      v8::SharedArrayBuffer::NewBackingStore(addr, len, Deleter, nullptr);
  v8::Local<v8::SharedArrayBuffer> sab = v8::SharedArrayBuffer::New(isolate, std::move(store));
  return Napi::Value(env, FromV8(sab));
}

Napi::Value WrapUnowned(Napi::Env env, void* addr, size_t len) {
  std::unique_ptr<v8::BackingStore> store =
      v8::SharedArrayBuffer::NewBackingStore(addr, len, v8::BackingStore::EmptyDeleter, nullptr);
  return Napi::Value(env, FromV8(v8::SharedArrayBuffer::New(v8::Isolate::GetCurrent(), std::move(store))));
}

Napi::Value MapFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  size_t size = static_cast<size_t>(info[1].As<Napi::Number>().Int64Value());
  bool read_only = info[2].As<Napi::Boolean>().Value();
  if (size == 0) return WrapMapping(env, nullptr, 0, MapKind::kShared);
  // Read-only opens map privately and writable: a stray JavaScript write
  // lands in a private copy of that page instead of faulting the process.
  int flags = read_only ? MAP_PRIVATE : MAP_SHARED;
  void* addr = mmap(nullptr, size, PROT_READ | PROT_WRITE, flags | MAP_NORESERVE, fd, 0);
  if (addr == MAP_FAILED) return ThrowErrno(env, errno, "mmap");
  return WrapMapping(env, addr, size, MapKind::kShared);
}

Napi::Value Release(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  void* data;
  size_t len;
  if (!GetShared(info[0], &data, &len) || len == 0) return Napi::Boolean::New(env, false);
  std::lock_guard<std::mutex> lock(g_mu);
  auto it = g_live.find(reinterpret_cast<uintptr_t>(data));
  if (it == g_live.end() || it->second.released) return Napi::Boolean::New(env, false);
  // MAP_FIXED replaces the shared pages atomically (for System V this is the
  // detach: the kernel drops the attachment when its last page goes).
  void* got = mmap(data, len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
  if (got == MAP_FAILED) return ThrowErrno(env, errno, "mmap");
  GuardRemove(it->second.slot);
  it->second.slot = -1;
  it->second.released = true;
  return Napi::Boolean::New(env, true);
}

}  // namespace shmkit
