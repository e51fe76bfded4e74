#include "async-wait.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <memory>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "errors.h"
#include "futex.h"

namespace shmkit {
namespace {

constexpr size_t kMaxWaits = FUTEX_WAITV_MAX - 1;  // one slot is the control word

int64_t MonotonicNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

struct Wait {
  uint32_t id;
  uint32_t* word;
  uint32_t expected;
  int64_t deadline_ns;  // -1: none
};

struct Completion {
  uint32_t id;
  int result;
};

void CallDispatch(Napi::Env env, Napi::Function dispatch, void*, Completion* c);
using Tsfn = Napi::TypedThreadSafeFunction<void, Completion, CallDispatch>;

// One parking thread and the (at most kMaxWaits) words it watches.
class Lane {
 public:
  explicit Lane(Tsfn tsfn) : tsfn_(tsfn), thread_([this] { Run(); }) {}

  ~Lane() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
      PokeLocked();
    }
    thread_.join();
  }

  // false when full
  bool Add(uint32_t id, uint32_t* word, uint32_t expected, int64_t deadline) {
    std::lock_guard<std::mutex> lock(mu_);
    if (waits_.size() >= kMaxWaits) return false;
    waits_.push_back(Wait{id, word, expected, deadline});
    PokeLocked();
    return true;
  }

  bool Cancel(uint32_t id) {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = 0; i < waits_.size(); i++) {
      if (waits_[i].id != id) continue;
      waits_.erase(waits_.begin() + i);
      PokeLocked();
      return true;
    }
    return false;
  }

 private:
  void PokeLocked() {
    __atomic_add_fetch(&control_, 1, __ATOMIC_SEQ_CST);
    syscall(SYS_futex, &control_, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
  }

  void Complete(size_t i, int result) {
    tsfn_.NonBlockingCall(new Completion{waits_[i].id, result});
    waits_.erase(waits_.begin() + i);
  }

  void Run() {
    std::vector<struct futex_waitv> v;
    for (;;) {
      struct timespec ts;
      struct timespec* tsp = nullptr;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (stopping_) return;
        int64_t now = MonotonicNs();
        int64_t nearest = -1;
        // A wake can be consumed by our futex_waitv for a word it did not
        // report, so every word is re-checked on every pass: the values are
        // the truth, wakes are only hints.
        for (size_t i = 0; i < waits_.size();) {
          uint32_t cur = __atomic_load_n(waits_[i].word, __ATOMIC_SEQ_CST);
          if (cur != waits_[i].expected) {
            Complete(i, 1);
          } else if (waits_[i].deadline_ns >= 0 && waits_[i].deadline_ns <= now) {
            Complete(i, 2);
          } else {
            if (waits_[i].deadline_ns >= 0 && (nearest < 0 || waits_[i].deadline_ns < nearest))
              nearest = waits_[i].deadline_ns;
            i++;
          }
        }
        v.clear();
        v.push_back({__atomic_load_n(&control_, __ATOMIC_SEQ_CST), reinterpret_cast<uintptr_t>(&control_),
                     FUTEX_32 | FUTEX_PRIVATE_FLAG, 0});
        for (const Wait& w : waits_)
          v.push_back({w.expected, reinterpret_cast<uintptr_t>(w.word), FUTEX_32, 0});
        if (nearest >= 0) {
          ts.tv_sec = nearest / 1000000000LL;
          ts.tv_nsec = nearest % 1000000000LL;
          tsp = &ts;
        }
      }
      long r = syscall(SYS_futex_waitv, v.data(), v.size(), 0, tsp, CLOCK_MONOTONIC);
      if (r > 0) {
        // Word r-1 was woken: complete it even if its value is back to the
        // expected one (the waker meant it).
        std::lock_guard<std::mutex> lock(mu_);
        uintptr_t addr = v[r].uaddr;
        bool delivered = false;
        for (size_t i = 0; i < waits_.size(); i++) {
          if (reinterpret_cast<uintptr_t>(waits_[i].word) == addr && waits_[i].expected == v[r].val) {
            Complete(i, 0);
            delivered = true;
            break;
          }
        }
        // The wait was cancelled as its wake arrived: the wake may have been
        // meant for exactly one waiter, so hand it on instead of dropping it.
        if (!delivered) syscall(SYS_futex, reinterpret_cast<uint32_t*>(addr), FUTEX_WAKE, 1, nullptr, nullptr, 0);
      }
      // r == 0 (control), EAGAIN, ETIMEDOUT, EINTR: the next pass sorts it out.
    }
  }

  Tsfn tsfn_;
  std::mutex mu_;
  std::vector<Wait> waits_;
  uint32_t control_ = 0;
  bool stopping_ = false;
  std::thread thread_;  // last: starts once the members above exist
};

// Per JavaScript environment (main thread or worker): lanes are added as
// more distinct words are awaited at once, 127 per lane.
class AsyncWaiter {
 public:
  AsyncWaiter(Napi::Env env, Tsfn tsfn) : tsfn_(tsfn) {
    tsfn_.Unref(env);  // idle: do not keep the process alive
  }

  ~AsyncWaiter() {
    lanes_.clear();  // joins every thread
    tsfn_.Release();
  }

  uint32_t Add(Napi::Env env, uint32_t* word, uint32_t expected, double timeout_ms) {
    uint32_t id = ++next_id_;
    int64_t deadline = timeout_ms < 0 ? -1 : MonotonicNs() + static_cast<int64_t>(timeout_ms * 1e6);
    bool added = false;
    for (auto& lane : lanes_) {
      if (lane->Add(id, word, expected, deadline)) {
        added = true;
        break;
      }
    }
    if (!added) {
      lanes_.push_back(std::make_unique<Lane>(tsfn_));
      lanes_.back()->Add(id, word, expected, deadline);
    }
    if (pending_++ == 0) tsfn_.Ref(env);
    return id;
  }

  bool Cancel(Napi::Env env, uint32_t id) {
    for (auto& lane : lanes_) {
      if (lane->Cancel(id)) {
        Settled(env);
        return true;
      }
    }
    return false;
  }

  // One completion reached JavaScript (or a wait was cancelled).
  void Settled(Napi::Env env) {
    if (--pending_ == 0) tsfn_.Unref(env);
  }

 private:
  Tsfn tsfn_;
  std::vector<std::unique_ptr<Lane>> lanes_;  // JavaScript thread only
  uint32_t next_id_ = 0;
  size_t pending_ = 0;
};

void CallDispatch(Napi::Env env, Napi::Function dispatch, void*, Completion* c) {
  if (env != nullptr && dispatch != nullptr) {
    auto* waiter = env.GetInstanceData<AsyncWaiter>();
    if (waiter != nullptr) waiter->Settled(env);
    // Raw calls, status ignored: a worker being terminated still dispatches
    // the completions queued when its JavaScript stopped, and JavaScript can
    // no longer run. The wrappers would turn that failure into an exception
    // that cannot be thrown either: a fatal error that kills the process.
    // An exception dispatch itself throws stays pending, and Node reports it.
    napi_value args[2];
    napi_value result;
    if (napi_create_uint32(env, c->id, &args[0]) == napi_ok && napi_create_int32(env, c->result, &args[1]) == napi_ok) {
      napi_value undefined;
      if (napi_get_undefined(env, &undefined) == napi_ok) napi_call_function(env, undefined, dispatch, 2, args, &result);
    }
  }
  delete c;
}

}  // namespace

Napi::Value AsyncWaitInit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (env.GetInstanceData<AsyncWaiter>() != nullptr) return env.Undefined();
  Tsfn tsfn = Tsfn::New(env, info[0].As<Napi::Function>(), "shmkit.asyncWait", 0, 1);
  env.SetInstanceData<AsyncWaiter>(new AsyncWaiter(env, tsfn));
  return env.Undefined();
}

Napi::Value AsyncWait(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto* waiter = env.GetInstanceData<AsyncWaiter>();
  if (waiter == nullptr) return ThrowErrno(env, EINVAL, "futex_waitv");
  uint32_t* word;
  if (!WordAddress(env, info[0], info[1], &word)) return Napi::Value();
  uint32_t id = waiter->Add(env, word, info[2].As<Napi::Number>().Uint32Value(),
                            info[3].As<Napi::Number>().DoubleValue());
  return Napi::Number::New(env, id);
}

Napi::Value AsyncCancel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto* waiter = env.GetInstanceData<AsyncWaiter>();
  if (waiter == nullptr) return Napi::Boolean::New(env, false);
  return Napi::Boolean::New(env, waiter->Cancel(env, info[0].As<Napi::Number>().Uint32Value()));
}

}  // namespace shmkit
