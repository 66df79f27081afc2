/*
 * This process as a test needs it: its thread, user and groups, its
 * environment, its descriptors (opened, counted, closed behind the gem),
 * threads parked or spinning, a storm of signals.
 * Defined into CgroupTest by mrb_mruby_cgroup_gem_test (cgroup_test.c).
 */
#include "cgroup_test.h"

/* CgroupTest.tid: the calling thread's id (what attach without a pid moves) */
static mrb_value
t_tid(mrb_state *mrb, mrb_value self)
{
  (void)self;
  return mrb_int_value(mrb, (mrb_int)syscall(SYS_gettid));
}

/* CgroupTest.set_euid(id): effective user and group id (the real ones stay
 * root, so set_euid(0) goes back) */
static mrb_value
t_set_euid(mrb_state *mrb, mrb_value self)
{
  mrb_int id;

  mrb_get_args(mrb, "i", &id);
  if (id == 0 ? seteuid(0) != 0 || setegid(0) != 0
              : setegid((gid_t)id) != 0 || seteuid((uid_t)id) != 0)
    mcgt_raise_errno(mrb, "seteuid", "-");
  return self;
}

/* CgroupTest.become(id): this (forked) process becomes user and group id
 * for good, without supplementary groups, as a server's worker does */
static mrb_value
t_become(mrb_state *mrb, mrb_value self)
{
  mrb_int id;

  mrb_get_args(mrb, "i", &id);
  if (setgroups(0, NULL) != 0 || setgid((gid_t)id) != 0 || setuid((uid_t)id) != 0)
    mcgt_raise_errno(mrb, "setuid", "-");
  return self;
}

/* CgroupTest.owner(path) => the file's uid */
static mrb_value
t_owner(mrb_state *mrb, mrb_value self)
{
  char *path;
  struct stat st;
  (void)self;

  mrb_get_args(mrb, "z", &path);
  if (stat(path, &st) != 0) mcgt_raise_errno(mrb, "stat", path);
  return mrb_int_value(mrb, st.st_uid);
}

/* CgroupTest.setenv(name, value): for the children this process starts */
static mrb_value
t_setenv(mrb_state *mrb, mrb_value self)
{
  char *name, *value;

  mrb_get_args(mrb, "zz", &name, &value);
  setenv(name, value, 1);
  return self;
}

/* CgroupTest.getenv(name) => String or nil */
static mrb_value
t_getenv(mrb_state *mrb, mrb_value self)
{
  char *name, *v;
  (void)self;

  mrb_get_args(mrb, "z", &name);
  v = getenv(name);
  return v ? mrb_str_new_cstr(mrb, v) : mrb_nil_value();
}

/* CgroupTest.fd_count: open file descriptors of this process */
static mrb_value
t_fd_count(mrb_state *mrb, mrb_value self)
{
  DIR *d = opendir("/proc/self/fd");
  struct dirent *e;
  int n = 0;
  (void)self;

  if (!d) mcgt_raise_errno(mrb, "opendir", "/proc/self/fd");
  while ((e = readdir(d))) n += e->d_name[0] != '.';
  closedir(d);
  return mrb_int_value(mrb, n - 1); /* not the one opendir holds */
}

/* CgroupTest.open_fd(path) => a read-only file descriptor */
static mrb_value
t_open_fd(mrb_state *mrb, mrb_value self)
{
  char *path;
  int fd;
  (void)self;

  mrb_get_args(mrb, "z", &path);
  if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) mcgt_raise_errno(mrb, "open", path);
  return mrb_int_value(mrb, fd);
}

/* CgroupTest.eventfd => a non-blocking eventfd */
static mrb_value
t_eventfd(mrb_state *mrb, mrb_value self)
{
  int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  (void)self;

  if (fd < 0) mcgt_raise_errno(mrb, "eventfd", "");
  return mrb_int_value(mrb, fd);
}

/* CgroupTest.eventfd_count(fd) => events signalled so far (0 if none) */
static mrb_value
t_eventfd_count(mrb_state *mrb, mrb_value self)
{
  mrb_int fd;
  uint64_t count = 0;
  (void)self;

  mrb_get_args(mrb, "i", &fd);
  if (read((int)fd, &count, sizeof count) != sizeof count) count = 0;
  return mrb_int_value(mrb, (mrb_int)count);
}

/* CgroupTest.fd_path(fd) => what the descriptor refers to, nil if closed */
static mrb_value
t_fd_path(mrb_state *mrb, mrb_value self)
{
  char link[64], target[PATH_MAX];
  mrb_int fd;
  ssize_t n;
  (void)self;

  mrb_get_args(mrb, "i", &fd);
  snprintf(link, sizeof link, "/proc/self/fd/%d", (int)fd);
  n = readlink(link, target, sizeof target);
  return n < 0 ? mrb_nil_value() : mrb_str_new(mrb, target, (size_t)n);
}

/* CgroupTest.open_as(fd, path, writable = false): close fd and open path
 * under that same number, as a program reusing a descriptor number would */
static mrb_value
t_open_as(mrb_state *mrb, mrb_value self)
{
  mrb_int fd;
  char *path;
  mrb_bool writable = FALSE;
  int other;

  mrb_get_args(mrb, "iz|b", &fd, &path, &writable);
  if ((other = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC)) < 0)
    mcgt_raise_errno(mrb, "open", path);
  if (dup3(other, (int)fd, O_CLOEXEC) < 0) mcgt_raise_errno(mrb, "dup3", path);
  close(other);
  return self;
}

/* A thread of this process parked on a pipe, for tests of what moves with
 * the caller. */
static struct {
  pthread_t id;
  pid_t tid;
  int gate[2];
} parked = {0, 0, {-1, -1}};

static void *
parked_main(void *arg)
{
  char c;

  (void)arg;
  __atomic_store_n(&parked.tid, (pid_t)syscall(SYS_gettid), __ATOMIC_RELEASE);
  while (read(parked.gate[0], &c, 1) < 0 && errno == EINTR) {
  }
  return NULL;
}

/* Threads of this process that spin together on a signal, each until it
 * used its own ms of CPU time, measuring the wall time that took: two
 * threads of one process in two groups.  CPU time, not the clock's: a
 * loaded machine gives a thread less of it in a second, never a throttled
 * thread more of it than its quota. */
#define MAX_SPINNERS 4
static struct {
  pthread_t id[MAX_SPINNERS];
  pid_t tid[MAX_SPINNERS];
  long wall_ms[MAX_SPINNERS];
  int count, gate[2];
  long ms;
} spinners;

static long
ms_of(clockid_t clock)
{
  struct timespec t;

  clock_gettime(clock, &t);
  return t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void *
spinner_main(void *arg)
{
  int i = (int)(intptr_t)arg;
  volatile unsigned long spin = 0;
  long start, end;
  char go;

  __atomic_store_n(&spinners.tid[i], (pid_t)syscall(SYS_gettid), __ATOMIC_RELEASE);
  if (read(spinners.gate[0], &go, 1) < 0) return NULL; /* EOF: the gate closed, go */
  start = ms_of(CLOCK_MONOTONIC);
  end = ms_of(CLOCK_THREAD_CPUTIME_ID) + spinners.ms;
  while (ms_of(CLOCK_THREAD_CPUTIME_ID) < end) {
    for (int k = 0; k < 10000; k++) spin++;
  }
  spinners.wall_ms[i] = ms_of(CLOCK_MONOTONIC) - start;
  return NULL;
}

/* CgroupTest.spinner_threads(n) => the tids of n new threads, waiting */
static mrb_value
t_spinner_threads(mrb_state *mrb, mrb_value self)
{
  mrb_int n;
  mrb_value tids = mrb_ary_new(mrb);
  (void)self;

  mrb_get_args(mrb, "i", &n);
  if (spinners.count || n < 1 || n > MAX_SPINNERS) mrb_raise(mrb, E_ARGUMENT_ERROR, "spinners");
  if (pipe(spinners.gate) != 0) mcgt_raise_errno(mrb, "pipe", "spinners");
  for (int i = 0; i < n; i++) {
    spinners.tid[i] = 0;
    if (pthread_create(&spinners.id[i], NULL, spinner_main, (void *)(intptr_t)i) != 0)
      mrb_raise(mrb, E_RUNTIME_ERROR, "pthread_create failed");
    spinners.count++;
    while (!__atomic_load_n(&spinners.tid[i], __ATOMIC_ACQUIRE)) sched_yield();
    mrb_ary_push(mrb, tids, mrb_int_value(mrb, spinners.tid[i]));
  }
  return tids;
}

/* CgroupTest.spin_threads(ms) => the wall milliseconds each thread took to
 * use ms of its own CPU time, all started at once */
static mrb_value
t_spin_threads(mrb_state *mrb, mrb_value self)
{
  mrb_int ms;
  mrb_value out = mrb_ary_new(mrb);
  (void)self;

  mrb_get_args(mrb, "i", &ms);
  spinners.ms = (long)ms;
  close(spinners.gate[1]);
  for (int i = 0; i < spinners.count; i++) {
    pthread_join(spinners.id[i], NULL);
    mrb_ary_push(mrb, out, mrb_int_value(mrb, spinners.wall_ms[i]));
  }
  close(spinners.gate[0]);
  spinners.count = 0;
  return out;
}

/* CgroupTest.park_thread => the tid of a new thread of this process that
 * waits until CgroupTest.unpark_thread */
static mrb_value
t_park_thread(mrb_state *mrb, mrb_value self)
{
  (void)self;
  if (parked.tid) mrb_raise(mrb, E_RUNTIME_ERROR, "a thread is parked already");
  if (pipe(parked.gate) != 0) mcgt_raise_errno(mrb, "pipe", "park");
  if (pthread_create(&parked.id, NULL, parked_main, NULL) != 0) {
    close(parked.gate[0]);
    close(parked.gate[1]);
    mrb_raise(mrb, E_RUNTIME_ERROR, "pthread_create failed");
  }
  while (!__atomic_load_n(&parked.tid, __ATOMIC_ACQUIRE)) sched_yield();
  return mrb_int_value(mrb, parked.tid);
}

static mrb_value
t_unpark_thread(mrb_state *mrb, mrb_value self)
{
  (void)mrb;
  if (!parked.tid) return self;
  close(parked.gate[1]);
  pthread_join(parked.id, NULL);
  close(parked.gate[0]);
  parked.tid = 0;
  return self;
}

/* CgroupTest.groups => the supplementary groups; CgroupTest.set_groups(list)
 * sets them (as root: the effective user must be 0 then) */
static mrb_value
t_groups(mrb_state *mrb, mrb_value self)
{
  gid_t list[64];
  int n = getgroups(64, list);
  mrb_value out = mrb_ary_new(mrb);
  (void)self;

  if (n < 0) mcgt_raise_errno(mrb, "getgroups", "-");
  for (int i = 0; i < n; i++) mrb_ary_push(mrb, out, mrb_int_value(mrb, list[i]));
  return out;
}

static mrb_value
t_set_groups(mrb_state *mrb, mrb_value self)
{
  gid_t list[64];
  mrb_value ary;
  mrb_int n;

  mrb_get_args(mrb, "A", &ary);
  n = RARRAY_LEN(ary) < 64 ? RARRAY_LEN(ary) : 64;
  for (mrb_int i = 0; i < n; i++) list[i] = (gid_t)mrb_as_int(mrb, RARRAY_PTR(ary)[i]);
  if (setgroups((size_t)n, list) != 0) mcgt_raise_errno(mrb, "setgroups", "-");
  return self;
}

/* CgroupTest.dac_override(on): CAP_DAC_OVERRIDE in or out of the effective
 * set (it stays permitted, so it can come back) */
static mrb_value
t_dac_override(mrb_state *mrb, mrb_value self)
{
  struct __user_cap_header_struct head = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct caps[2];
  mrb_bool on;

  mrb_get_args(mrb, "b", &on);
  if (syscall(SYS_capget, &head, caps) != 0) mcgt_raise_errno(mrb, "capget", "-");
  if (on)
    caps[0].effective |= 1u << CAP_DAC_OVERRIDE;
  else
    caps[0].effective &= ~(1u << CAP_DAC_OVERRIDE);
  if (syscall(SYS_capset, &head, caps) != 0) mcgt_raise_errno(mrb, "capset", "-");
  return self;
}

/* CgroupTest.chown(path, uid, gid), CgroupTest.chmod(path, mode) */
static mrb_value
t_chown(mrb_state *mrb, mrb_value self)
{
  const char *path;
  mrb_int uid, gid;

  mrb_get_args(mrb, "zii", &path, &uid, &gid);
  if (chown(path, (uid_t)uid, (gid_t)gid) != 0) mcgt_raise_errno(mrb, "chown", path);
  return self;
}

static mrb_value
t_chmod(mrb_state *mrb, mrb_value self)
{
  const char *path;
  mrb_int mode;

  mrb_get_args(mrb, "zi", &path, &mode);
  if (chmod(path, (mode_t)mode) != 0) mcgt_raise_errno(mrb, "chmod", path);
  return self;
}

/* CgroupTest.close_fd(fd) */
static mrb_value
t_close_fd(mrb_state *mrb, mrb_value self)
{
  mrb_int fd;

  mrb_get_args(mrb, "i", &fd);
  close((int)fd);
  return self;
}

/* What CgroupTest.without_fds took, to give back. */
static struct {
  struct rlimit limit;
  int fds[1024];
  int count;
} starved;

static mrb_value
starved_end(mrb_state *mrb, mrb_value unused)
{
  (void)mrb;
  while (starved.count > 0) close(starved.fds[--starved.count]);
  setrlimit(RLIMIT_NOFILE, &starved.limit);
  return unused;
}

/* CgroupTest.without_fds { }: yield with no descriptor free (EMFILE on every
 * open): the soft RLIMIT_NOFILE lowered to 256 and every number below it
 * taken; then all given back, even when the block raises. */
static mrb_value
t_without_fds(mrb_state *mrb, mrb_value self)
{
  struct rlimit low;
  mrb_value block;
  int fd;
  (void)self;

  mrb_get_args(mrb, "&!", &block);
  if (starved.count > 0) mrb_raise(mrb, E_RUNTIME_ERROR, "without_fds does not nest");
  getrlimit(RLIMIT_NOFILE, &starved.limit);
  low = starved.limit;
  if (low.rlim_cur > 256) low.rlim_cur = 256;
  if (setrlimit(RLIMIT_NOFILE, &low) != 0) mcgt_raise_errno(mrb, "setrlimit", "RLIMIT_NOFILE");
  while (starved.count < 1024 && (fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0) {
    starved.fds[starved.count++] = fd;
  }
  return mrb_ensure(mrb, mcgt_yield_block, block, starved_end, mrb_nil_value());
}

static volatile sig_atomic_t alarms;

static void
count_alarm(int sig)
{
  (void)sig;
  alarms++;
}

static mrb_value
storm_end(mrb_state *mrb, mrb_value unused)
{
  struct itimerval off = {{0, 0}, {0, 0}};

  (void)mrb;
  /* the handler stays: an alarm still pending (valgrind delivers signals
   * late) would otherwise end the process */
  setitimer(ITIMER_REAL, &off, NULL);
  return unused;
}

/* CgroupTest.alarm_storm(usec) { } => how many SIGALRMs came: yield while
 * one arrives every usec microseconds, handled without SA_RESTART (as a
 * server's timer), so blocking calls fail with EINTR; then the timer stops */
static mrb_value
t_alarm_storm(mrb_state *mrb, mrb_value self)
{
  struct sigaction sa;
  struct itimerval every;
  mrb_value block;
  mrb_int usec;
  (void)self;

  mrb_get_args(mrb, "i&!", &usec, &block);
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = count_alarm; /* no SA_RESTART */
  sigemptyset(&sa.sa_mask);
  sigaction(SIGALRM, &sa, NULL);
  alarms = 0;
  every.it_interval.tv_sec = every.it_value.tv_sec = (time_t)(usec / 1000000);
  every.it_interval.tv_usec = every.it_value.tv_usec = (suseconds_t)(usec % 1000000);
  setitimer(ITIMER_REAL, &every, NULL);
  mrb_ensure(mrb, mcgt_yield_block, block, storm_end, mrb_nil_value());
  return mrb_int_value(mrb, alarms);
}

void
mcgt_init_this_process(mrb_state *mrb, struct RClass *t)
{
  mrb_define_module_function(mrb, t, "tid", t_tid, MRB_ARGS_NONE());
  mrb_define_module_function(mrb, t, "set_euid", t_set_euid, MRB_ARGS_REQ(1));
  mrb_define_module_function(mrb, t, "become", t_become, MRB_ARGS_REQ(1));
  mrb_define_module_function(mrb, t, "owner", t_owner, MRB_ARGS_REQ(1));
  mrb_define_module_function(mrb, t, "setenv", t_setenv, MRB_ARGS_REQ(2));
  mrb_define_module_function(mrb, t, "getenv", t_getenv, MRB_ARGS_REQ(1));
  mrb_define_module_function(mrb, t, "fd_count", t_fd_count, MRB_ARGS_NONE());
  mrb_define_module_function(mrb, t, "alarm_storm", t_alarm_storm, MRB_ARGS_REQ(1));
  mrb_define_module_function(mrb, t, "without_fds", t_without_fds, MRB_ARGS_BLOCK());
  mrb_define_module_function(mrb, t, "open_fd", t_open_fd, MRB_ARGS_REQ(1));
  mrb_define_module_function(mrb, t, "eventfd", t_eventfd, MRB_ARGS_NONE());
  mrb_define_module_function(mrb, t, "eventfd_count", t_eventfd_count, MRB_ARGS_REQ(1));
  mrb_define_module_function(mrb, t, "fd_path", t_fd_path, MRB_ARGS_REQ(1));
  mrb_define_module_function(mrb, t, "open_as", t_open_as, MRB_ARGS_ARG(2, 1));
  mrb_define_module_function(mrb, t, "park_thread", t_park_thread, MRB_ARGS_NONE());
  mrb_define_module_function(mrb, t, "spinner_threads", t_spinner_threads, MRB_ARGS_REQ(1));
  mrb_define_module_function(mrb, t, "spin_threads", t_spin_threads, MRB_ARGS_REQ(1));
  mrb_define_module_function(mrb, t, "unpark_thread", t_unpark_thread, MRB_ARGS_NONE());
  mrb_define_module_function(mrb, t, "groups", t_groups, MRB_ARGS_NONE());
  mrb_define_module_function(mrb, t, "set_groups", t_set_groups, MRB_ARGS_REQ(1));
  mrb_define_module_function(mrb, t, "dac_override", t_dac_override, MRB_ARGS_REQ(1));
  mrb_define_module_function(mrb, t, "chown", t_chown, MRB_ARGS_REQ(3));
  mrb_define_module_function(mrb, t, "chmod", t_chmod, MRB_ARGS_REQ(2));
  mrb_define_module_function(mrb, t, "close_fd", t_close_fd, MRB_ARGS_REQ(1));
}
