#include "fd-passing.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <vector>

#include "errors.h"

namespace shmkit {
namespace {

int64_t NowMs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

// The socket is driven by libuv (non-blocking), so this waits with poll() in
// short slices to notice cancellation. It works on a dup() of the descriptor:
// if JavaScript closes the socket meanwhile, the number cannot be reused
// under us.
class FdTransfer : public Napi::AsyncWorker {
 public:
  FdTransfer(Napi::Env env, int sock, int64_t timeout_ms, Napi::Int32Array cancel)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)),
        sock_(dup(sock)), dup_errno_(errno), timeout_ms_(timeout_ms) {
    cancel_ref_ = Napi::Persistent(cancel);
    cancel_cell_ = reinterpret_cast<std::atomic<int32_t>*>(cancel.Data());
  }
  ~FdTransfer() override {
    if (sock_ >= 0) close(sock_);
    if (received_fd_ >= 0) close(received_fd_);
  }
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  // Waits until the socket is ready for `events`; returns 0 or an errno.
  int WaitReady(short events) {
    int64_t deadline = timeout_ms_ < 0 ? -1 : NowMs() + timeout_ms_;
    for (;;) {
      if (cancel_cell_->load(std::memory_order_acquire) != 0) return ECANCELED;
      int slice = 50;
      if (deadline >= 0) {
        int64_t left = deadline - NowMs();
        if (left <= 0) return ETIMEDOUT;
        if (left < slice) slice = static_cast<int>(left);
      }
      struct pollfd p = {sock_, events, 0};
      int n = poll(&p, 1, slice);
      if (n < 0 && errno != EINTR) return errno;
      if (n > 0) return 0;
    }
  }

  void OnError(const Napi::Error&) override {
    deferred_.Reject(ErrnoError(Env(), err_, syscall_).Value());
  }
  void Fail(int err, const char* syscall) {
    err_ = err;
    syscall_ = syscall;
    SetError("fd transfer failed");
  }

  Napi::Promise::Deferred deferred_;
  int sock_;
  int dup_errno_;
  int64_t timeout_ms_;
  Napi::Reference<Napi::Int32Array> cancel_ref_;
  std::atomic<int32_t>* cancel_cell_;
  int err_ = 0;
  const char* syscall_ = "";
  int received_fd_ = -1;
};

class SendWorker : public FdTransfer {
 public:
  SendWorker(Napi::Env env, int sock, int fd, const uint8_t* data, size_t len, int64_t timeout,
             Napi::Int32Array cancel)
      : FdTransfer(env, sock, timeout, cancel), fd_(fd), payload_(data, data + len) {}

  void Execute() override {
    if (sock_ < 0) return Fail(dup_errno_, "dup");
    size_t sent = 0;
    while (sent < payload_.size()) {
      int err = WaitReady(POLLOUT);
      if (err != 0) return Fail(err, "poll");
      struct iovec iov = {payload_.data() + sent, payload_.size() - sent};
      struct msghdr msg = {};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))];
      if (sent == 0) {  // the descriptor rides on the first byte
        memset(control, 0, sizeof(control));
        msg.msg_control = control;
        msg.msg_controllen = sizeof(control);
        struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd_, sizeof(int));
      }
      ssize_t n = sendmsg(sock_, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) continue;
        return Fail(errno, "sendmsg");
      }
      sent += static_cast<size_t>(n);
    }
  }
  void OnOK() override { deferred_.Resolve(Env().Undefined()); }

 private:
  int fd_;
  std::vector<uint8_t> payload_;
};

class RecvWorker : public FdTransfer {
 public:
  RecvWorker(Napi::Env env, int sock, size_t len, int64_t timeout, Napi::Int32Array cancel)
      : FdTransfer(env, sock, timeout, cancel), payload_(len) {}

  void Execute() override {
    if (sock_ < 0) return Fail(dup_errno_, "dup");
    size_t got = 0;
    while (got < payload_.size()) {
      int err = WaitReady(POLLIN);
      if (err != 0) return Fail(err, "poll");
      struct iovec iov = {payload_.data() + got, payload_.size() - got};
      alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int) * 8)];
      struct msghdr msg = {};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control;
      msg.msg_controllen = sizeof(control);
      ssize_t n = recvmsg(sock_, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) continue;
        return Fail(errno, "recvmsg");
      }
      if (n == 0) return Fail(ECONNRESET, "recvmsg");
      for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; i++) {
          int fd;
          memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
          if (received_fd_ < 0) received_fd_ = fd; else close(fd);  // we asked for one
        }
      }
      if (msg.msg_flags & MSG_CTRUNC) return Fail(EMSGSIZE, "recvmsg");
      got += static_cast<size_t>(n);
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    Napi::Object out = Napi::Object::New(env);
    out.Set("fd", Napi::Number::New(env, received_fd_));
    out.Set("payload", Napi::Buffer<uint8_t>::Copy(env, payload_.data(), payload_.size()));
    received_fd_ = -1;  // ownership passes to JavaScript
    deferred_.Resolve(out);
  }

 private:
  std::vector<uint8_t> payload_;
};

}  // namespace

Napi::Value SendFd(const Napi::CallbackInfo& info) {
  Napi::Uint8Array payload = info[2].As<Napi::Uint8Array>();
  auto* w = new SendWorker(info.Env(), info[0].As<Napi::Number>().Int32Value(),
                           info[1].As<Napi::Number>().Int32Value(), payload.Data(),
                           payload.ByteLength(), info[3].As<Napi::Number>().Int64Value(),
                           info[4].As<Napi::Int32Array>());
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

Napi::Value RecvFd(const Napi::CallbackInfo& info) {
  auto* w = new RecvWorker(info.Env(), info[0].As<Napi::Number>().Int32Value(),
                           static_cast<size_t>(info[1].As<Napi::Number>().Int64Value()),
                           info[2].As<Napi::Number>().Int64Value(), info[3].As<Napi::Int32Array>());
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

}  // namespace shmkit
