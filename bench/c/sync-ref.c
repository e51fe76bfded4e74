/*
 * sync-ref.c - C reference numbers for bench/sync.mjs (shmkit sync primitives).
 *
 * Compiled by the benchmark on every run (cc -O2 -pthread) into a temp dir.
 * Each mode prints exactly one JSON line on stdout.
 *
 *   sync-ref mutex BATCH NBATCHES WARM
 *       Uncontended pthread_mutex_lock + pthread_mutex_unlock on one thread,
 *       the mutex being PTHREAD_PROCESS_SHARED + PTHREAD_MUTEX_ROBUST and
 *       placed in a MAP_SHARED mapping (like a lock in shared memory).
 *       Reports ns per lock/unlock pair for each batch and their median.
 *
 *   sync-ref lat spin|futex N WARM PAUSE_US DEADLINE_MS [PING_CPU ECHO_CPU]
 *       Ping-pong between this process and a forked child through two 32-bit
 *       words in a MAP_SHARED mapping, each on its own cache line.
 *       spin : both sides busy-poll (with PAUSE).
 *       futex: a side that finds nothing waits in FUTEX_WAIT at once (shared
 *              futex, no FUTEX_PRIVATE_FLAG, no spin before sleeping); the
 *              writer always calls FUTEX_WAKE.
 *       PAUSE_US > 0: the pinger busy-waits that long before each ping (not
 *       part of the sample), so the echo side is asleep when the ping lands.
 *       One sample = clock read, ping, wait for pong, clock read (pinger only).
 *       CPU time and voluntary context switches (= times a side went to sleep):
 *       getrusage(RUSAGE_SELF) of each side over the timed part.
 *       PING_CPU/ECHO_CPU >= 0 pin the pinger/echo process to that CPU.
 *
 * Safety: alarm() bounds the run time of both processes, the child gets
 * PR_SET_PDEATHSIG=SIGKILL, and the mapping is anonymous (no name to leak).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
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
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define STOP 0xFFFFFFFFu

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

static void fail(const char *what) {
  printf("{\"ok\":false,\"error\":\"%s: %s\"}\n", what, strerror(errno));
  exit(2);
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

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static int cmp_dbl(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* ------------------------------------------------------------------ mutex */

static int run_mutex(long batch, long nbatches, long warm) {
  alarm(60);
  pthread_mutex_t *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) fail("mmap");
  pthread_mutexattr_t a;
  pthread_mutexattr_init(&a);
  if (pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED) != 0) fail("setpshared");
  if (pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST) != 0) fail("setrobust");
  if (pthread_mutex_init(m, &a) != 0) fail("mutex_init");
  for (long i = 0; i < warm; i++) {
    pthread_mutex_lock(m);
    pthread_mutex_unlock(m);
  }
  double *ns = calloc((size_t)nbatches, sizeof(double));
  if (!ns) fail("calloc");
  for (long b = 0; b < nbatches; b++) {
    uint64_t t0 = now_ns();
    for (long i = 0; i < batch; i++) {
      if (pthread_mutex_lock(m) != 0) fail("lock");
      pthread_mutex_unlock(m);
    }
    uint64_t t1 = now_ns();
    ns[b] = (double)(t1 - t0) / (double)batch;
  }
  printf("{\"ok\":true,\"batch\":%ld,\"batches\":[", batch);
  for (long b = 0; b < nbatches; b++) printf("%s%.3f", b ? "," : "", ns[b]);
  qsort(ns, (size_t)nbatches, sizeof(double), cmp_dbl);
  printf("],\"median_ns\":%.3f,\"min_ns\":%.3f,\"max_ns\":%.3f}\n", ns[nbatches / 2], ns[0], ns[nbatches - 1]);
  return 0;
}

/* ------------------------------------------------------------------ ping-pong */

struct lat_shm {
  _Alignas(64) _Atomic uint32_t ping; /* pinger -> echo: round number */
  _Alignas(64) _Atomic uint32_t pong; /* echo -> pinger */
  _Alignas(64) _Atomic int child_ready;
  _Atomic uint64_t child_cpu_us; /* echo's CPU over the timed part */
  _Atomic uint64_t child_nvcsw;
  _Atomic int child_done;
};

static long futex(_Atomic uint32_t *w, int op, uint32_t val, const struct timespec *ts) {
  return syscall(SYS_futex, (uint32_t *)w, op, val, ts, NULL, 0);
}

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

static double pct(const uint64_t *s, long n, double p) { /* nearest-rank, ns */
  long k = (long)(p * (double)n + 0.999999999);
  if (k < 1) k = 1;
  if (k > n) k = n;
  return (double)s[k - 1];
}

static int run_lat(int use_futex, long n, long warm, long pause, long deadline_ms, long ping_cpu, long echo_cpu) {
  alarm((unsigned)(deadline_ms / 1000 + 15));
  struct lat_shm *s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (s == MAP_FAILED) fail("mmap");
  memset(s, 0, sizeof *s);
  uint64_t deadline = now_ns() + (uint64_t)deadline_ms * 1000000ull;
  long total = warm + n;
  pid_t parent = getpid();
  fflush(stdout);
  pid_t pid = fork();
  if (pid < 0) fail("fork");
  if (pid == 0) { /* echo */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(4);
    pin(echo_cpu);
    atomic_store(&s->child_ready, 1);
    struct usage c0 = {0, 0};
    for (uint32_t i = 1;; i++) {
      if ((long)i == warm + 1) c0 = usage_now();
      if (wait_for(&s->ping, i, use_futex, deadline + 2000000000ull) != 0) break;
      atomic_store_explicit(&s->pong, i, memory_order_release);
      if (use_futex) futex(&s->pong, FUTEX_WAKE, 1, NULL);
      if ((long)i == total) {
        struct usage c1 = usage_now();
        atomic_store(&s->child_cpu_us, c1.cpu_us - c0.cpu_us);
        atomic_store(&s->child_nvcsw, c1.nvcsw - c0.nvcsw);
        atomic_store(&s->child_done, 1);
      }
    }
    _exit(0);
  }
  pin(ping_cpu);
  while (!atomic_load(&s->child_ready)) {
    if (now_ns() > deadline) { kill(pid, SIGKILL); errno = ETIMEDOUT; fail("child start"); }
    usleep(50);
  }
  uint64_t *samp = calloc((size_t)n, sizeof(uint64_t));
  if (!samp) fail("calloc");
  long done = 0;
  int timed_out = 0;
  struct usage c0 = {0, 0};
  uint64_t w0 = 0;
  for (long i = 1; i <= total; i++) {
    if (i == warm + 1) { c0 = usage_now(); w0 = now_ns(); }
    pause_us(pause);
    uint64_t t0 = now_ns();
    atomic_store_explicit(&s->ping, (uint32_t)i, memory_order_release);
    if (use_futex) futex(&s->ping, FUTEX_WAKE, 1, NULL);
    if (wait_for(&s->pong, (uint32_t)i, use_futex, deadline) != 0) { timed_out = 1; break; }
    uint64_t t1 = now_ns();
    if (i > warm) samp[done++] = t1 - t0;
    if (t1 > deadline) { timed_out = 1; break; }
  }
  struct usage c1 = usage_now();
  uint64_t parent_cpu = c1.cpu_us - c0.cpu_us, parent_nvcsw = c1.nvcsw - c0.nvcsw, wall = now_ns() - w0;
  /* the echo records its CPU right after its last reply: give it a moment */
  for (int k = 0; k < 2000 && !timed_out && !atomic_load(&s->child_done); k++) usleep(500);
  uint64_t child_cpu = atomic_load(&s->child_cpu_us), child_nvcsw = atomic_load(&s->child_nvcsw);
  int child_ok = atomic_load(&s->child_done);
  atomic_store(&s->ping, STOP);
  futex(&s->ping, FUTEX_WAKE, 1, NULL);
  int st = 0;
  for (int k = 0; k < 1000; k++) {
    if (waitpid(pid, &st, WNOHANG) == pid) { pid = 0; break; }
    usleep(1000);
  }
  if (pid) { kill(pid, SIGKILL); waitpid(pid, &st, 0); }
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
  printf("{\"ok\":%s,\"n\":%ld,\"timed_out\":%s,\"p50_ns\":%.0f,\"p99_ns\":%.0f,\"p999_ns\":%.0f,"
         "\"mean_ns\":%.1f,\"min_ns\":%.0f,\"max_ns\":%.0f,\"pinger_cpu_us\":%llu,\"echo_cpu_us\":%s,"
         "\"pinger_vcsw\":%llu,\"echo_vcsw\":%s,\"wall_us\":%.1f}\n",
         timed_out ? "false" : "true", done, timed_out ? "true" : "false", pct(samp, done, 0.50),
         pct(samp, done, 0.99), pct(samp, done, 0.999), sum / (double)done, (double)samp[0],
         (double)samp[done - 1], (unsigned long long)parent_cpu, echo_cpu_s, (unsigned long long)parent_nvcsw, echo_vcsw_s,
         wall / 1000.0);
  return timed_out ? 1 : 0;
}

static long arg(int argc, char **argv, int i, long def) { return argc > i ? atol(argv[i]) : def; }

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc >= 2 && !strcmp(argv[1], "mutex"))
    return run_mutex(arg(argc, argv, 2, 1000000), arg(argc, argv, 3, 9), arg(argc, argv, 4, 1000000));
  if (argc >= 3 && !strcmp(argv[1], "lat") && (!strcmp(argv[2], "spin") || !strcmp(argv[2], "futex")))
    return run_lat(!strcmp(argv[2], "futex"), arg(argc, argv, 3, 20000), arg(argc, argv, 4, 2000),
                   arg(argc, argv, 5, 0), arg(argc, argv, 6, 15000), arg(argc, argv, 7, -1), arg(argc, argv, 8, -1));
  fprintf(stderr, "usage: %s mutex BATCH NBATCHES WARM | lat spin|futex N WARM PAUSE_US DEADLINE_MS [PING_CPU ECHO_CPU]\n", argv[0]);
  return 2;
}
