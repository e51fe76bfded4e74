/*
 * channel-ref.c - C reference numbers for bench/channel.mjs (shmkit Queue).
 *
 * Compiled by the benchmark on every run (cc -O2) into a temp dir. Each mode
 * prints exactly one JSON line on stdout. Both modes use a POSIX shm object
 * NAME (shm_open + mmap) created here; the forked child re-opens and maps it
 * by name (it does not use the mapping inherited through fork), and the name
 * is shm_unlink'ed as soon as both processes have mapped it.
 *
 *   channel-ref lat spin|futex N WARM PAUSE_US DEADLINE_MS NAME [PING_CPU ECHO_CPU]
 *       Round trip of a 64-byte message, one cache line each way (4 B seq,
 *       4 B len, 56 B payload), like ipc-baseline's A6/A7: the pinger writes
 *       the payload in place and publishes seq (release); the echo copies the
 *       line's payload out, copies it into the reply line and publishes; the
 *       pinger copies the reply out and checks it.
 *       spin : both sides busy-poll (with PAUSE).
 *       futex: a side that finds nothing waits in FUTEX_WAIT at once (shared
 *              futex, no FUTEX_PRIVATE_FLAG, no spin first); the writer always
 *              calls FUTEX_WAKE.
 *       PAUSE_US > 0: the pinger busy-waits that long before each ping (not
 *       part of the sample), so the echo side is asleep when the ping lands.
 *       One sample = clock read, ping, wait for the pong, copy out, clock read.
 *       CPU and voluntary context switches: getrusage(RUSAGE_SELF) of each side
 *       over the timed part. PING_CPU/ECHO_CPU >= 0 pin the two processes.
 *
 *   channel-ref ring SIZE WARM_MS MEASURE_MS NAME
 *       One-way throughput through a single-producer/single-consumer ring of
 *       1 MiB of SIZE-byte slots, like ipc-baseline's B4/B8: the producer
 *       (child) writes the sequence number into the first 8 bytes of a private
 *       buffer and memcpy's the whole buffer into the slot, then publishes the
 *       tail (release); the consumer (parent) memcpy's the slot out into a
 *       private buffer, checks the sequence number and publishes the head.
 *       Both sides busy-poll, keep a cached copy of the other's index, and
 *       publish one message at a time (no batching). The consumer measures:
 *       messages from the end of the warm-up until the producer stops.
 *
 * Safety: alarm() bounds every mode, the child gets PR_SET_PDEATHSIG=SIGKILL,
 * and the name is unlinked on every exit path (SIGALRM/SIGTERM included).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CACHELINE 64
#define STOP 0xFFFFFFFFu
#define RING_BYTES (1u << 20)

static char g_name[256];
static char g_path[300];
static volatile sig_atomic_t g_linked = 0;
static pid_t g_child = 0;

static inline uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield" ::: "memory");
#endif
}

#define barrier() __asm__ __volatile__("" ::: "memory")

static void fail(const char *what) {
  int e = errno;
  if (g_linked) unlink(g_path);
  if (g_child > 0) kill(g_child, SIGKILL);
  printf("{\"ok\":false,\"error\":\"%s: %s\"}\n", what, strerror(e));
  exit(2);
}

static void on_signal(int sig) {
  if (g_linked) unlink(g_path);
  if (g_child > 0) kill(g_child, SIGKILL);
  if (sig == SIGALRM) {
    static const char m[] = "channel-ref: hard time limit (alarm) hit\n";
    ssize_t r = write(2, m, sizeof m - 1);
    (void)r;
  }
  _exit(3);
}

static void install_signals(unsigned alarm_s) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  sigaction(SIGALRM, &sa, NULL);
  alarm(alarm_s);
}

struct usage {
  uint64_t cpu_us; /* user + system, all threads */
  uint64_t nvcsw;  /* voluntary context switches */
};

static struct usage usage_now(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  struct usage u = {(uint64_t)ru.ru_utime.tv_sec * 1000000ull + (uint64_t)ru.ru_utime.tv_usec +
                        (uint64_t)ru.ru_stime.tv_sec * 1000000ull + (uint64_t)ru.ru_stime.tv_usec,
                    (uint64_t)ru.ru_nvcsw};
  return u;
}

static void pin(long cpu) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET((int)cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0) fail("sched_setaffinity");
}

static long futex(_Atomic uint32_t *w, int op, uint32_t val, const struct timespec *ts) {
  return syscall(SYS_futex, (uint32_t *)w, op, val, ts, NULL, 0);
}

/* ---------------------------------------------------------------- shm pair */

struct shm_hdr {
  _Alignas(CACHELINE) _Atomic int child_ready;
  _Atomic int go;
  _Atomic int child_done;
  _Atomic uint64_t child_cpu_us;
  _Atomic uint64_t child_nvcsw;
  _Atomic uint64_t child_count;
};

/* Create + map NAME, fork; the child re-opens and maps it by name. */
static void *shm_pair(const char *name, size_t size, int *is_child, long child_cpu) {
  snprintf(g_name, sizeof g_name, "%s", name);
  snprintf(g_path, sizeof g_path, "/dev/shm%s", name);
  int fd = shm_open(g_name, O_CREAT | O_EXCL | O_RDWR, 0600);
  if (fd < 0) fail("shm_open(create)");
  g_linked = 1;
  if (ftruncate(fd, (off_t)size) != 0) fail("ftruncate");
  void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) fail("mmap");
  close(fd);
  memset(p, 0, size); /* fault every page in before timing */
  pid_t parent = getpid();
  fflush(stdout);
  pid_t pid = fork();
  if (pid < 0) fail("fork");
  if (pid == 0) {
    g_linked = 0; /* the parent owns the name */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(4);
    pin(child_cpu);
    munmap(p, size);
    int cfd = shm_open(g_name, O_RDWR, 0600);
    if (cfd < 0) fail("child shm_open");
    void *cp = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, cfd, 0);
    if (cp == MAP_FAILED) fail("child mmap");
    close(cfd);
    for (size_t off = 0; off < size; off += 4096) ((volatile char *)cp)[off];
    atomic_store(&((struct shm_hdr *)cp)->child_ready, 1);
    *is_child = 1;
    return cp;
  }
  g_child = pid;
  struct shm_hdr *h = p;
  uint64_t t0 = now_ns();
  while (!atomic_load(&h->child_ready)) {
    if (now_ns() - t0 > 5000000000ull) { errno = ETIMEDOUT; fail("child never mapped shm"); }
    usleep(100);
  }
  if (shm_unlink(g_name) != 0) fail("shm_unlink");
  g_linked = 0;
  *is_child = 0;
  return p;
}

static int reap_child(void) {
  int st = 0;
  if (g_child <= 0) return 0;
  for (int i = 0; i < 2000; i++) {
    pid_t r = waitpid(g_child, &st, WNOHANG);
    if (r == g_child) { g_child = 0; return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st); }
    usleep(1000);
  }
  kill(g_child, SIGKILL);
  waitpid(g_child, &st, 0);
  g_child = 0;
  return -1;
}

/* ---------------------------------------------------------------- round trip */

struct msg_line {
  _Alignas(CACHELINE) _Atomic uint32_t seq;
  uint32_t len;
  char payload[CACHELINE - 8];
};

struct lat_shm {
  struct shm_hdr h;
  struct msg_line ping; /* pinger -> echo */
  struct msg_line pong; /* echo -> pinger */
};

/* Wait until *w == want (or STOP). 0 ok, 1 stop, -1 deadline. */
static int wait_for(_Atomic uint32_t *w, uint32_t want, int use_futex, uint64_t deadline) {
  unsigned spins = 0;
  for (;;) {
    uint32_t v = atomic_load_explicit(w, memory_order_acquire);
    if (v == want) return 0;
    if (v == STOP) return 1;
    if (use_futex) {
      struct timespec to = {0, 100 * 1000 * 1000}; /* re-check the deadline every 100 ms */
      futex(w, FUTEX_WAIT, v, &to);
      if (now_ns() > deadline) return -1;
    } else {
      cpu_relax();
      if ((++spins & 0xFFFFF) == 0 && now_ns() > deadline) return -1;
    }
  }
}

static void pause_us(long us) {
  if (us <= 0) return;
  uint64_t end = now_ns() + (uint64_t)us * 1000ull;
  while (now_ns() < end) cpu_relax();
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static double pct(const uint64_t *s, long n, double p) { /* nearest-rank, ns */
  long k = (long)(p * (double)n + 0.999999999);
  if (k < 1) k = 1;
  if (k > n) k = n;
  return (double)s[k - 1];
}

static int run_lat(int use_futex, long n, long warm, long pause, long deadline_ms, const char *name, long ping_cpu,
                   long echo_cpu) {
  install_signals((unsigned)(deadline_ms / 1000 + 15));
  int is_child = 0;
  struct lat_shm *s = shm_pair(name, sizeof(struct lat_shm), &is_child, echo_cpu);
  uint64_t deadline = now_ns() + (uint64_t)deadline_ms * 1000000ull;
  long total = warm + n;
  char local[CACHELINE - 8];

  if (is_child) { /* echo */
    struct usage c0 = {0, 0};
    for (uint32_t i = 1;; i++) {
      if ((long)i == warm + 1) c0 = usage_now();
      if (wait_for(&s->ping.seq, i, use_futex, deadline + 2000000000ull) != 0) break;
      uint32_t len = s->ping.len;
      memcpy(local, s->ping.payload, sizeof local);
      barrier();
      memcpy(s->pong.payload, local, sizeof local);
      s->pong.len = len;
      atomic_store_explicit(&s->pong.seq, i, memory_order_release);
      if (use_futex) futex(&s->pong.seq, FUTEX_WAKE, 1, NULL);
      if ((long)i == total) {
        struct usage c1 = usage_now();
        atomic_store(&s->h.child_cpu_us, c1.cpu_us - c0.cpu_us);
        atomic_store(&s->h.child_nvcsw, c1.nvcsw - c0.nvcsw);
        atomic_store(&s->h.child_done, 1);
      }
    }
    _exit(0);
  }

  pin(ping_cpu);
  uint64_t *samp = calloc((size_t)n, sizeof(uint64_t));
  if (!samp) fail("calloc");
  char msg[CACHELINE - 8];
  for (size_t k = 0; k < sizeof msg; k++) msg[k] = (char)('a' + k % 26);
  long done = 0, bad = 0;
  int timed_out = 0;
  struct usage c0 = {0, 0};
  uint64_t w0 = 0;
  for (long i = 1; i <= total; i++) {
    if (i == warm + 1) { c0 = usage_now(); w0 = now_ns(); }
    pause_us(pause);
    msg[0] = (char)i; /* vary the payload with the round number */
    uint64_t t0 = now_ns();
    memcpy(s->ping.payload, msg, sizeof msg);
    s->ping.len = CACHELINE;
    atomic_store_explicit(&s->ping.seq, (uint32_t)i, memory_order_release);
    if (use_futex) futex(&s->ping.seq, FUTEX_WAKE, 1, NULL);
    if (wait_for(&s->pong.seq, (uint32_t)i, use_futex, deadline) != 0) { timed_out = 1; break; }
    memcpy(local, s->pong.payload, sizeof local);
    barrier();
    uint64_t t1 = now_ns();
    if (local[0] != msg[0] || local[sizeof local - 1] != msg[sizeof msg - 1] || s->pong.len != CACHELINE) bad++;
    if (i > warm) samp[done++] = t1 - t0;
    if (t1 > deadline) { timed_out = 1; break; }
  }
  struct usage c1 = usage_now();
  uint64_t parent_cpu = c1.cpu_us - c0.cpu_us, parent_nvcsw = c1.nvcsw - c0.nvcsw, wall = w0 ? now_ns() - w0 : 0;
  for (int k = 0; k < 2000 && !timed_out && !atomic_load(&s->h.child_done); k++) usleep(500);
  int child_ok = atomic_load(&s->h.child_done);
  uint64_t child_cpu = atomic_load(&s->h.child_cpu_us), child_nvcsw = atomic_load(&s->h.child_nvcsw);
  atomic_store(&s->ping.seq, STOP);
  futex(&s->ping.seq, FUTEX_WAKE, 1, NULL);
  int crc = reap_child();
  if (done == 0) {
    printf("{\"ok\":false,\"error\":\"no samples\",\"timed_out\":%s}\n", timed_out ? "true" : "false");
    return 1;
  }
  char echo_cpu_s[32] = "null", echo_vcsw_s[32] = "null";
  if (child_ok) {
    snprintf(echo_cpu_s, sizeof echo_cpu_s, "%llu", (unsigned long long)child_cpu);
    snprintf(echo_vcsw_s, sizeof echo_vcsw_s, "%llu", (unsigned long long)child_nvcsw);
  }
  double sum = 0;
  for (long i = 0; i < done; i++) sum += (double)samp[i];
  qsort(samp, (size_t)done, sizeof samp[0], cmp_u64);
  int ok = !timed_out && bad == 0 && (crc == 0 || crc == -1);
  printf("{\"ok\":%s,\"n\":%ld,\"timed_out\":%s,\"bad\":%ld,\"p50_ns\":%.0f,\"p99_ns\":%.0f,\"p999_ns\":%.0f,"
         "\"mean_ns\":%.1f,\"min_ns\":%.0f,\"max_ns\":%.0f,\"pinger_cpu_us\":%llu,\"echo_cpu_us\":%s,"
         "\"pinger_vcsw\":%llu,\"echo_vcsw\":%s,\"wall_us\":%.1f%s}\n",
         ok ? "true" : "false", done, timed_out ? "true" : "false", bad, pct(samp, done, 0.50), pct(samp, done, 0.99),
         pct(samp, done, 0.999), sum / (double)done, (double)samp[0], (double)samp[done - 1],
         (unsigned long long)parent_cpu, echo_cpu_s, (unsigned long long)parent_nvcsw, echo_vcsw_s, wall / 1000.0,
         bad ? ",\"error\":\"reply payload check failed\"" : "");
  return ok ? 0 : 1;
}

/* ---------------------------------------------------------------- ring */

struct ring_shm {
  struct shm_hdr h;
  _Alignas(CACHELINE) _Atomic uint64_t head; /* consumer position */
  _Alignas(CACHELINE) _Atomic uint64_t tail; /* producer position */
  _Alignas(CACHELINE) _Atomic int stop;      /* producer finished; tail is final */
  _Alignas(CACHELINE) char data[];
};

static int run_ring(size_t size, long warm_ms, long measure_ms, const char *name) {
  if (size < 8 || size > RING_BYTES / 2 || (size & (size - 1))) {
    printf("{\"ok\":false,\"error\":\"ring: size must be a power of two in [8, %u]\"}\n", RING_BYTES / 2);
    return 2;
  }
  install_signals((unsigned)((warm_ms + measure_ms) / 1000 + 15));
  const uint64_t nslots = RING_BYTES / size, mask = nslots - 1;
  int is_child = 0;
  struct ring_shm *r = shm_pair(name, sizeof(struct ring_shm) + RING_BYTES, &is_child, -1);
  char *buf = aligned_alloc(64, size);
  if (!buf) fail("aligned_alloc");
  memset(buf, 0x5a, size);

  if (is_child) { /* producer */
    while (!atomic_load(&r->h.go)) cpu_relax();
    struct usage c0 = usage_now();
    uint64_t t_end = now_ns() + (uint64_t)(warm_ms + measure_ms) * 1000000ull;
    uint64_t tail = 0, head_cache = 0;
    for (;;) {
      if ((tail & 63) == 0 && now_ns() >= t_end) break;
      if (tail - head_cache == nslots) {
        head_cache = atomic_load_explicit(&r->head, memory_order_acquire);
        if (tail - head_cache == nslots) { cpu_relax(); continue; }
      }
      char *slot = r->data + (tail & mask) * size;
      memcpy(buf, &tail, sizeof tail); /* sequence number in the first 8 bytes */
      memcpy(slot, buf, size);
      tail++;
      atomic_store_explicit(&r->tail, tail, memory_order_release);
    }
    struct usage c1 = usage_now();
    atomic_store(&r->h.child_cpu_us, c1.cpu_us - c0.cpu_us);
    atomic_store(&r->h.child_count, tail);
    atomic_store_explicit(&r->stop, 1, memory_order_release);
    _exit(0);
  }

  /* parent = consumer, measures */
  const unsigned check_mask = size >= 4096 ? 0 : 255;
  struct usage c0 = usage_now();
  atomic_store(&r->h.go, 1);
  uint64_t t_start = now_ns(), t_mark = 0, t_last = t_start;
  uint64_t head = 0, tail_cache = 0, mark_count = 0, bad = 0;
  int marked = 0, hit_hard = 0;
  const uint64_t warm_ns = (uint64_t)warm_ms * 1000000ull;
  const uint64_t hard = t_start + (uint64_t)(warm_ms + measure_ms + 5000) * 1000000ull;
  unsigned spins = 0;
  for (;;) {
    if (head == tail_cache) {
      tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
      if (head == tail_cache) {
        if (atomic_load_explicit(&r->stop, memory_order_acquire)) {
          tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
          if (head == tail_cache) break;
          continue;
        }
        cpu_relax();
        if ((++spins & 0xFFFFF) == 0 && now_ns() > hard) { hit_hard = 1; break; }
        continue;
      }
    }
    const char *slot = r->data + (head & mask) * size;
    memcpy(buf, slot, size);
    barrier();
    uint64_t seq;
    memcpy(&seq, buf, sizeof seq);
    if (seq != head) bad++;
    head++;
    atomic_store_explicit(&r->head, head, memory_order_release);
    if ((head & check_mask) == 0) {
      t_last = now_ns();
      if (!marked && t_last - t_start >= warm_ns) { marked = 1; t_mark = t_last; mark_count = head; }
    }
  }
  t_last = now_ns();
  struct usage c1 = usage_now();
  int crc = reap_child();
  uint64_t sent = atomic_load(&r->h.child_count), prod_cpu = atomic_load(&r->h.child_cpu_us);
  uint64_t n = head - mark_count;
  double secs = marked ? (double)(t_last - t_mark) / 1e9 : 0;
  if (!marked || secs <= 0) {
    printf("{\"ok\":false,\"error\":\"never left warm-up\",\"received_total\":%llu}\n", (unsigned long long)head);
    return 1;
  }
  int ok = bad == 0 && crc == 0 && sent == head && !hit_hard;
  printf("{\"ok\":%s,\"msg_bytes\":%zu,\"msgs\":%llu,\"seconds\":%.4f,\"msgs_per_s\":%.1f,"
         "\"MB_per_s\":%.2f,\"received_total\":%llu,\"sent\":%llu,\"ring_bytes\":%u,\"bad\":%llu,\"child_rc\":%d,"
         "\"producer_cpu_us\":%llu,\"consumer_cpu_us\":%llu%s}\n",
         ok ? "true" : "false", size, (unsigned long long)n, secs, n / secs, (double)n * size / secs / 1e6,
         (unsigned long long)head, (unsigned long long)sent, RING_BYTES, (unsigned long long)bad, crc,
         (unsigned long long)prod_cpu, (unsigned long long)(c1.cpu_us - c0.cpu_us),
         ok ? "" : ",\"error\":\"sequence/count check failed or hard limit\"");
  return ok ? 0 : 1;
}

static long arg(int argc, char **argv, int i, long def) { return argc > i ? atol(argv[i]) : def; }

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc >= 8 && !strcmp(argv[1], "lat") && (!strcmp(argv[2], "spin") || !strcmp(argv[2], "futex")))
    return run_lat(!strcmp(argv[2], "futex"), arg(argc, argv, 3, 20000), arg(argc, argv, 4, 2000), arg(argc, argv, 5, 0),
                   arg(argc, argv, 6, 15000), argv[7], arg(argc, argv, 8, -1), arg(argc, argv, 9, -1));
  if (argc >= 6 && !strcmp(argv[1], "ring"))
    return run_ring((size_t)arg(argc, argv, 2, 64), arg(argc, argv, 3, 500), arg(argc, argv, 4, 2000), argv[5]);
  fprintf(stderr,
          "usage: %s lat spin|futex N WARM PAUSE_US DEADLINE_MS NAME [PING_CPU ECHO_CPU]\n"
          "       %s ring SIZE WARM_MS MEASURE_MS NAME\n",
          argv[0], argv[0]);
  return 2;
}
