#include "mapping.h"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <mutex>
#include <map>
#include <new>
#include <vector>

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
// The handler reads this table without locks; writers hold g_mu. It grows in
// chunks that are never freed (the handler may be reading one), up to more
// slots than the kernel's vm.max_map_count allows mappings by default
// (65 530), so every mapping is guarded; past the last chunk a new mapping
// is refused at once (an error, never a signal later).
// Each slot counts the pages it replaced after SIGBUS (FAULTS): those are
// pages whose writes no longer reach the object, which the owner of the
// mapping must be able to learn (Segment.faults). The copy-on-write
// replacements are not counted: a read-only attachment's private writes are
// its documented behaviour, not a loss.
constexpr int kChunkSlots = 4096;
constexpr int kMaxChunks = 256;  // 1 048 576 mappings
struct GuardSlot {
  std::atomic<uintptr_t> start{0};
  std::atomic<uintptr_t> end{0};
  std::atomic<int> cow{0};
  std::atomic<size_t> faults{0};
};
// The handler may only touch lock-free atomics (async-signal-safety).
static_assert(std::atomic<uintptr_t>::is_always_lock_free && std::atomic<size_t>::is_always_lock_free,
              "the fault guard needs lock-free atomics");
std::atomic<GuardSlot*> g_chunks[kMaxChunks];
std::atomic<int> g_chunk_count{0};
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
  // acquire: a chunk counted is a chunk whose pointer was stored first
  int chunks = g_chunk_count.load(std::memory_order_acquire);
  for (int i = 0; i < chunks * kChunkSlots; i++) {
    GuardSlot& g = g_chunks[i / kChunkSlots].load(std::memory_order_relaxed)[i % kChunkSlots];
    // acquire: START is stored last (release), after END and COW
    uintptr_t start = g.start.load(std::memory_order_acquire);
    if (start == 0 || addr < start || addr >= g.end.load(std::memory_order_relaxed)) continue;
    void* page = reinterpret_cast<void*>(addr & ~static_cast<uintptr_t>(g_page - 1));
    bool cow = g.cow.load(std::memory_order_relaxed) != 0;
    if (sig == SIGSEGV && !(cow && si->si_code == SEGV_ACCERR)) break;
    void* fresh = mmap(nullptr, g_page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (fresh == MAP_FAILED) break;
    if (sig == SIGSEGV) memcpy(fresh, page, g_page);  // readable: only writes fault
    if (mremap(fresh, g_page, g_page, MREMAP_MAYMOVE | MREMAP_FIXED, page) == MAP_FAILED) {
      munmap(fresh, g_page);
      break;
    }
    if (sig == SIGBUS) g.faults.fetch_add(1, std::memory_order_relaxed);
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
// Ordered by start, so an address can be looked up (IsLiveMapping).
std::map<uintptr_t, Live> g_live;
std::vector<int> g_free_slots;  // guard slots free for reuse (under g_mu)

GuardSlot& Slot(int i) {
  return g_chunks[i / kChunkSlots].load(std::memory_order_relaxed)[i % kChunkSlots];
}

// Holding g_mu: a guard slot for [start, start + len), or -1 if the table is
// at its limit.
int GuardAdd(uintptr_t start, size_t len, bool cow) {
  if (g_free_slots.empty()) {
    int chunks = g_chunk_count.load(std::memory_order_relaxed);
    if (chunks == kMaxChunks) return -1;
    auto* chunk = new (std::nothrow) GuardSlot[kChunkSlots];
    if (chunk == nullptr) return -1;
    g_chunks[chunks].store(chunk, std::memory_order_relaxed);
    // release: the chunk pointer before the count that lets the handler read it
    g_chunk_count.store(chunks + 1, std::memory_order_release);
    for (int i = kChunkSlots - 1; i >= 0; i--) g_free_slots.push_back(chunks * kChunkSlots + i);
  }
  int i = g_free_slots.back();
  g_free_slots.pop_back();
  GuardSlot& g = Slot(i);
  g.end.store(start + len, std::memory_order_relaxed);
  g.cow.store(cow ? 1 : 0, std::memory_order_relaxed);
  g.faults.store(0, std::memory_order_relaxed);  // a reused slot's count is not this mapping's
  // release: END, COW and FAULTS before the START that makes the handler use the slot
  g.start.store(start, std::memory_order_release);
  return i;
}

// Holding g_mu.
void GuardRemove(int slot) {
  if (slot < 0) return;
  Slot(slot).start.store(0, std::memory_order_release);
  g_free_slots.push_back(slot);
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

bool IsLiveMapping(uintptr_t addr, size_t len) {
  std::lock_guard<std::mutex> lock(g_mu);
  auto it = g_live.upper_bound(addr);
  if (it == g_live.begin()) return false;
  --it;  // the last mapping starting at or before addr
  return addr + len >= addr && addr + len <= it->first + it->second.len;
}

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
    if (slot < 0) {
      // Unguarded, a shrunk object would kill the process later: refuse now.
      munmap(addr, len);
      return ThrowErrno(env, ENOMEM, "mmap (shmkit fault guard: over 1 048 576 live mappings)");
    }
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

Napi::Value Faults(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  void* data;
  size_t len;
  if (!GetShared(info[0], &data, &len) || len == 0) return Napi::Number::New(env, 0);
  std::lock_guard<std::mutex> lock(g_mu);  // keeps the slot this mapping's while read
  auto it = g_live.find(reinterpret_cast<uintptr_t>(data));
  if (it == g_live.end() || it->second.slot < 0) return Napi::Number::New(env, 0);
  size_t n = Slot(it->second.slot).faults.load(std::memory_order_relaxed);
  return Napi::Number::New(env, static_cast<double>(n));
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
