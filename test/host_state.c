/*
 * Test-only helpers for the host a server makes around the gem: its signal
 * mask and ignored signals, its locale, its file-system credentials, its
 * other threads; and the few gem internals a test must reach directly (a
 * parser, the back-off, the attach bookkeeping's lock), through the gem's
 * private header.  Defined into CgroupTest by mrb_mruby_cgroup_gem_test.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <locale.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sched.h>
#include <sys/fsuid.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/capability.h>

#include <mruby.h>
#include <mruby/array.h>
#include <mruby/error.h>
#include <mruby/string.h>

#include "../src/cgroup.h"

void mcg_test_init_host_state(mrb_state *mrb, struct RClass *t);

static mrb_value
yield_it(mrb_state *mrb, mrb_value block)
{
  return mrb_yield_argv(mrb, block, 0, NULL);
}

/* ---- Signals: blocked and ignored, as nginx's workers have them --------- */

static struct {
  sigset_t mask;
  struct sigaction actions[NSIG];
  mrb_bool saved;
} before_signals;

static mrb_value
signals_back(mrb_state *mrb, mrb_value unused)
{
  (void)mrb;
  for (int sig = 1; sig < NSIG; sig++) {
    if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &before_signals.actions[sig], NULL);
  }
  pthread_sigmask(SIG_SETMASK, &before_signals.mask, NULL);
  before_signals.saved = FALSE;
  return unused;
}

/* A signal number from an Integer of the Array at i. */
static int
signal_at(mrb_state *mrb, mrb_value list, mrb_int i)
{
  return (int)mrb_as_int(mrb, RARRAY_PTR(list)[i]);
}

/* CgroupTest.with_signals(blocked, ignored) { }: yield with the signals
 * numbered in blocked added to the mask and those in ignored set to SIG_IGN;
 * everything put back after, even when the block raises. */
static mrb_value
t_with_signals(mrb_state *mrb, mrb_value self)
{
  mrb_value blocked, ignored, block;
  struct sigaction ign;
  sigset_t add;
  (void)self;

  mrb_get_args(mrb, "AA&!", &blocked, &ignored, &block);
  if (before_signals.saved) mrb_raise(mrb, E_RUNTIME_ERROR, "with_signals does not nest");
  pthread_sigmask(SIG_SETMASK, NULL, &before_signals.mask);
  for (int sig = 1; sig < NSIG; sig++) sigaction(sig, NULL, &before_signals.actions[sig]);
  before_signals.saved = TRUE;
  memset(&ign, 0, sizeof ign);
  ign.sa_handler = SIG_IGN;
  sigemptyset(&add);
  for (mrb_int i = 0; i < RARRAY_LEN(blocked); i++) sigaddset(&add, signal_at(mrb, blocked, i));
  for (mrb_int i = 0; i < RARRAY_LEN(ignored); i++)
    sigaction(signal_at(mrb, ignored, i), &ign, NULL);
  pthread_sigmask(SIG_BLOCK, &add, NULL);
  return mrb_ensure(mrb, yield_it, block, signals_back, mrb_nil_value());
}

/* ---- Locale ------------------------------------------------------------- */

static char *locale_before;

static mrb_value
locale_back(mrb_state *mrb, mrb_value unused)
{
  (void)mrb;
  setlocale(LC_ALL, locale_before);
  free(locale_before);
  locale_before = NULL;
  return unused;
}

/* CgroupTest.decimal_comma_locale => the name of an installed locale whose
 * decimal point is a comma, or nil if this system has none. */
static mrb_value
t_decimal_comma_locale(mrb_state *mrb, mrb_value self)
{
  static const char *const names[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8",
                                      "de_DE",       "fr_FR",      "ru_RU.UTF-8", "es_ES.UTF-8"};
  char *was = strdup(setlocale(LC_NUMERIC, NULL));
  const char *found = NULL;
  (void)self;

  for (size_t i = 0; i < sizeof names / sizeof names[0] && !found; i++) {
    if (setlocale(LC_NUMERIC, names[i]) && strcmp(localeconv()->decimal_point, ",") == 0)
      found = names[i];
  }
  setlocale(LC_NUMERIC, was);
  free(was);
  return found ? mrb_str_new_cstr(mrb, found) : mrb_nil_value();
}

/* CgroupTest.with_locale(name) { }: yield after setlocale(LC_ALL, name), as
 * a host program that honours its users' locale does; then put it back. */
static mrb_value
t_with_locale(mrb_state *mrb, mrb_value self)
{
  mrb_value block;
  char *name;
  (void)self;

  mrb_get_args(mrb, "z&!", &name, &block);
  locale_before = strdup(setlocale(LC_ALL, NULL));
  if (!setlocale(LC_ALL, name)) {
    locale_back(mrb, mrb_nil_value());
    mrb_raisef(mrb, E_RUNTIME_ERROR, "no locale %s here", name);
  }
  return mrb_ensure(mrb, yield_it, block, locale_back, mrb_nil_value());
}

/* ---- Credentials -------------------------------------------------------- */

/* CgroupTest.set_fsuid(uid), CgroupTest.set_fsgid(gid) => the previous one:
 * the ids the kernel checks opens against (a file server's setfsuid) */
static mrb_value
t_set_fsuid(mrb_state *mrb, mrb_value self)
{
  mrb_int id;
  (void)self;

  mrb_get_args(mrb, "i", &id);
  return mrb_int_value(mrb, setfsuid((uid_t)id));
}

static mrb_value
t_set_fsgid(mrb_state *mrb, mrb_value self)
{
  mrb_int id;
  (void)self;

  mrb_get_args(mrb, "i", &id);
  return mrb_int_value(mrb, setfsgid((gid_t)id));
}

/* CgroupTest.drop_fs_caps: take out of the effective set every capability
 * a change of fsuid from 0 would take (capabilities(7)): what is left
 * then no longer changes with setfsuid. */
static mrb_value
t_drop_fs_caps(mrb_state *mrb, mrb_value self)
{
  static const int fs_caps[] = {CAP_CHOWN,  CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH,
                                CAP_FOWNER, CAP_FSETID,       CAP_LINUX_IMMUTABLE,
                                CAP_MKNOD,  CAP_MAC_OVERRIDE};
  struct __user_cap_header_struct head = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct caps[2];

  if (syscall(SYS_capget, &head, caps) != 0) mrb_raise(mrb, E_RUNTIME_ERROR, "capget failed");
  for (size_t i = 0; i < sizeof fs_caps / sizeof fs_caps[0]; i++)
    caps[fs_caps[i] / 32].effective &= ~(1u << (fs_caps[i] % 32));
  if (syscall(SYS_capset, &head, caps) != 0) mrb_raise(mrb, E_RUNTIME_ERROR, "capset failed");
  return self;
}

/* ---- A forked child ----------------------------------------------------- */

static mrb_value
yield_protected(mrb_state *mrb, void *block)
{
  return mrb_yield_argv(mrb, *(mrb_value *)block, 0, NULL);
}

/* What the block did, in the child: "returned " and the value's inspect,
 * or "raised " and the exception's class and message. */
static mrb_value
outcome_of(mrb_state *mrb, mrb_value block)
{
  mrb_bool failed;
  mrb_value v = mrb_protect_error(mrb, yield_protected, &block, &failed);

  if (!failed) return mrb_format(mrb, "returned %v", mrb_inspect(mrb, v));
  return mrb_format(mrb, "raised %s: %v", mrb_obj_classname(mrb, v),
                    mrb_funcall(mrb, v, "message", 0));
}

/* CgroupTest.in_child { } => what the block did in a forked child (so it
 * may change credentials, masks and groups of its own): "returned ...",
 * "raised Cgroup::InvalidValue: ...", or, for a child that ended some
 * other way (killed by the block's kill_all, say), "signal N" or "exit N". */
static mrb_value
t_in_child(mrb_state *mrb, mrb_value self)
{
  mrb_value block, said = mrb_str_new_lit(mrb, "");
  char buf[512];
  int pipefd[2], status;
  ssize_t n;
  pid_t pid;
  (void)self;

  mrb_get_args(mrb, "&!", &block);
  if (pipe2(pipefd, O_CLOEXEC) != 0) mrb_sys_fail(mrb, "pipe2");
  fflush(NULL);
  if ((pid = fork()) < 0) mrb_sys_fail(mrb, "fork");
  if (pid == 0) {
    mrb_value text = outcome_of(mrb, block);
    if (write(pipefd[1], RSTRING_PTR(text), (size_t)RSTRING_LEN(text)) < 0) _exit(2);
    _exit(0);
  }
  close(pipefd[1]);
  while ((n = read(pipefd[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
    if (n > 0) mrb_str_cat(mrb, said, buf, (size_t)n);
  }
  close(pipefd[0]);
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (RSTRING_LEN(said) > 0) return said;
  if (WIFSIGNALED(status)) return mrb_format(mrb, "signal %d", WTERMSIG(status));
  return mrb_format(mrb, "exit %d", WEXITSTATUS(status));
}

/* ---- Another thread's credentials --------------------------------------- */

struct thread_run {
  mrb_state *mrb;
  mrb_value block, outcome;
  mrb_int id;
  int err;
};

/* Become id's user and group, without supplementary groups (so without any
 * capability), on this thread alone, then run the block. */
static void *
run_as(void *p)
{
  struct thread_run *run = (struct thread_run *)p;
  gid_t none[1];

  /* raw calls: glibc's setuid and the rest change every thread of the process */
  if (syscall(SYS_setgroups, 0, none) != 0 ||
      syscall(SYS_setresgid, run->id, run->id, run->id) != 0 ||
      syscall(SYS_setresuid, run->id, run->id, run->id) != 0) {
    run->err = errno;
    return NULL;
  }
  run->outcome = outcome_of(run->mrb, run->block);
  return NULL;
}

/* CgroupTest.on_thread_as(id) { } => what the block did ("returned ...",
 * "raised ..."), run on a new thread whose credentials alone are id's (a
 * file server's worker thread); this one waits, and keeps its own. */
static mrb_value
t_on_thread_as(mrb_state *mrb, mrb_value self)
{
  struct thread_run run = {mrb, mrb_nil_value(), mrb_nil_value(), 0, 0};
  pthread_t thread;
  (void)self;

  mrb_get_args(mrb, "i&!", &run.id, &run.block);
  if (pthread_create(&thread, NULL, run_as, &run) != 0)
    mrb_raise(mrb, E_RUNTIME_ERROR, "pthread_create failed");
  pthread_join(thread, NULL);
  if (run.err) mrb_raisef(mrb, E_RUNTIME_ERROR, "set the thread's ids: %s", strerror(run.err));
  return run.outcome;
}

/* ---- Descriptors -------------------------------------------------------- */

/* CgroupTest.daemon_fds => descriptors: what a daemon does after start-up:
 * every descriptor from 3 up closed (the gem's kept ones among them), then
 * files of its own opened (/dev/null, where a stray write would vanish
 * without a trace), taking the lowest numbers; their numbers. */
static mrb_value
t_daemon_fds(mrb_state *mrb, mrb_value self)
{
  mrb_value mine = mrb_ary_new(mrb);
  (void)self;

  for (int fd = 3; fd < 1024; fd++) close(fd);
  for (int i = 0; i < 16; i++) {
    int fd = open("/dev/null", O_RDWR);
    if (fd >= 0) mrb_ary_push(mrb, mine, mrb_int_value(mrb, fd));
  }
  return mine;
}

/* ---- A container -------------------------------------------------------- */

/* Into the group at group_dir: what an engine does before it starts the
 * container's command. */
static void
join_group_dir(mrb_state *mrb, const char *group_dir)
{
  char procs[PATH_MAX], pid[16];
  int fd, len;

  snprintf(procs, sizeof procs, "%s/cgroup.procs", group_dir);
  len = snprintf(pid, sizeof pid, "%d", (int)getpid());
  if ((fd = open(procs, O_WRONLY | O_CLOEXEC)) < 0 || write(fd, pid, (size_t)len) != len)
    mrb_raisef(mrb, E_RUNTIME_ERROR, "join %s: %s", procs, strerror(errno));
  close(fd);
}

static void
unshare_or_raise(mrb_state *mrb, int flags)
{
  if (unshare(flags) != 0) mrb_raisef(mrb, E_RUNTIME_ERROR, "unshare: %s", strerror(errno));
  if ((flags & CLONE_NEWNS) && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
    mrb_raisef(mrb, E_RUNTIME_ERROR, "mount --make-rprivate /: %s", strerror(errno));
}

/* In this mount namespace only: a fresh cgroup2 file system replaces what
 * is mounted at mount_point (the kernel refuses the one cgroup2 file system
 * on the mount point where it is already mounted: EBUSY), or, with source
 * (a group's directory), that directory is bound over it (the last mount
 * at a point is the one seen, as a bind made by an engine is). */
static void
replace_mount(mrb_state *mrb, const char *source, const char *mount_point, mrb_bool writable)
{
  if (!source && umount2(mount_point, MNT_DETACH) != 0)
    mrb_raisef(mrb, E_RUNTIME_ERROR, "umount %s in the new namespace: %s", mount_point,
               strerror(errno));
  if (source ? mount(source, mount_point, NULL, MS_BIND, NULL) != 0 ||
                   (!writable &&
                    mount(NULL, mount_point, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) != 0)
             : mount("cgroup2", mount_point, "cgroup2", writable ? 0 : MS_RDONLY, NULL) != 0)
    mrb_raisef(mrb, E_RUNTIME_ERROR, "mount on %s: %s", mount_point, strerror(errno));
}

/*
 * CgroupTest.enter_container(mount, group_dir, how): what a container engine
 * does for this (forked) process: into the group at group_dir, then, by how:
 * - "rw", "ro": a cgroup namespace rooted there and a mount namespace of
 *   its own in which a fresh cgroup2 mount (read-only, as Docker mounts it
 *   without --privileged, or writable) replaces the one at mount;
 * - "host-ns-rw", "host-ns-ro": the host's cgroup namespace kept (Docker's
 *   and Podman's default on v1) and group_dir bound at mount, so that the
 *   mount's root is the group /proc/self/cgroup names with its host path;
 * - "whole-tree": a cgroup namespace of its own but the host's mount kept
 *   (--cgroupns=private with the host's /sys/fs/cgroup bound on v1).
 * The host's mounts, in the host's namespace, are not touched.
 */
static mrb_value
t_enter_container(mrb_state *mrb, mrb_value self)
{
  char *mount_point, *group_dir, *how;

  mrb_get_args(mrb, "zzz", &mount_point, &group_dir, &how);
  join_group_dir(mrb, group_dir);
  if (strcmp(how, "rw") == 0 || strcmp(how, "ro") == 0) {
    unshare_or_raise(mrb, CLONE_NEWCGROUP | CLONE_NEWNS);
    replace_mount(mrb, NULL, mount_point, strcmp(how, "rw") == 0);
  } else if (strncmp(how, "host-ns-", 8) == 0) {
    unshare_or_raise(mrb, CLONE_NEWNS);
    replace_mount(mrb, group_dir, mount_point, strcmp(how + 8, "rw") == 0);
  } else if (strcmp(how, "whole-tree") == 0) {
    unshare_or_raise(mrb, CLONE_NEWCGROUP);
  } else {
    mrb_raisef(mrb, E_ARGUMENT_ERROR, "enter_container: unknown way %s", how);
  }
  return self;
}

/* ---- Gem internals ------------------------------------------------------ */

/* CgroupTest.parse_as(group, name, text) => text read as the attribute
 * `name` of group's class reads its file (the kernel's text, given). */
static mrb_value
t_parse_as(mrb_state *mrb, mrb_value self)
{
  mrb_value group, text;
  struct cgroup_ctx *ctx;
  char *name;
  (void)self;

  mrb_get_args(mrb, "ozS", &group, &name, &text);
  ctx = mcg_get_ctx(mrb, group);
  for (int i = 0; i < ATTR_COUNT; i++) {
    const struct attribute *attr = &mcg_attributes[i];
    if (attr->controller == ctx->controller && strcmp(attr->name, name) == 0)
      return mcg_text_to_value(mrb, ctx, attr, RSTRING_PTR(text), RSTRING_LEN(text));
  }
  mrb_raisef(mrb, E_ARGUMENT_ERROR, "no attribute %s", name);
}

/* CgroupTest.mountinfo_favors?(line): the gem's reading of one line of
 * /proc/self/mountinfo (pace.c) */
static mrb_value
t_mountinfo_favors_p(mrb_state *mrb, mrb_value self)
{
  mrb_value line;
  (void)self;

  mrb_get_args(mrb, "S", &line);
  return mrb_bool_value(mcg_mountinfo_favors_dynmods(RSTRING_PTR(line), RSTRING_LEN(line)));
}

/* CgroupTest.remount(dir, options): mount(2) MS_REMOUNT of the cgroup file
 * system at dir with these super options (in the VMs only: a host's mounts
 * are never changed) */
static mrb_value
t_remount(mrb_state *mrb, mrb_value self)
{
  char *dir, *options;

  mrb_get_args(mrb, "zz", &dir, &options);
  if (mount(NULL, dir, NULL, MS_REMOUNT, options) != 0)
    mrb_raisef(mrb, E_RUNTIME_ERROR, "remount %s with \"%s\": %s", dir, options, strerror(errno));
  return self;
}

static double
seconds_now(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* CgroupTest.back_off(delay, times) => [delay after, ms slept]: the gem's
 * back-off between looks at a state nothing notifies of, `times` times,
 * from `delay` ms, with a deadline a second away. */
static mrb_value
t_back_off(mrb_state *mrb, mrb_value self)
{
  mrb_int from, times;
  double start = seconds_now(), deadline = mcg_deadline_after(1.0);
  long delay;
  (void)self;

  mrb_get_args(mrb, "ii", &from, &times);
  delay = (long)from;
  while (times-- > 0) mcg_back_off(&delay, deadline);
  return mrb_assoc_new(mrb, mrb_int_value(mrb, delay),
                       mrb_float_value(mrb, (seconds_now() - start) * 1000));
}

static volatile int stop_taker;

/* A thread that takes and gives back the attach bookkeeping's lock (one
 * mcg_next_seq each) until told to stop. */
static void *
lock_taker(void *unused)
{
  while (!__atomic_load_n(&stop_taker, __ATOMIC_RELAXED)) mcg_next_seq();
  return unused;
}

/* CgroupTest.forks_stuck(n) => of n children forked while another thread
 * takes and gives back the gem's attach lock, how many could not take it
 * themselves within 2 s (the lock was held at the fork: they hang). */
static mrb_value
t_forks_stuck(mrb_state *mrb, mrb_value self)
{
  pthread_t thread;
  mrb_int n, stuck = 0;
  int status;
  (void)self;

  mrb_get_args(mrb, "i", &n);
  stop_taker = 0;
  if (pthread_create(&thread, NULL, lock_taker, NULL) != 0)
    mrb_raise(mrb, E_RUNTIME_ERROR, "pthread_create failed");
  for (mrb_int i = 0; i < n; i++) {
    pid_t pid = fork();
    if (pid == 0) {
      alarm(2); /* SIGALRM's default action ends a child that hangs */
      mcg_next_seq();
      _exit(0);
    }
    if (pid < 0) break;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM) stuck++;
  }
  __atomic_store_n(&stop_taker, 1, __ATOMIC_RELAXED);
  pthread_join(thread, NULL);
  return mrb_int_value(mrb, stuck);
}

static mrb_state *sampled;
static volatile int arena_peak;

static void
sample_arena(int sig)
{
  (void)sig;
  if (sampled && sampled->gc.arena_idx > arena_peak) arena_peak = sampled->gc.arena_idx;
}

static mrb_value
sampling_end(mrb_state *mrb, mrb_value unused)
{
  struct itimerval off = {{0, 0}, {0, 0}};

  (void)mrb;
  setitimer(ITIMER_REAL, &off, NULL);
  signal(SIGALRM, SIG_IGN); /* one still pending must not end the process */
  sampled = NULL;
  return unused;
}

/* CgroupTest.arena_growth { } => how far the GC arena (the objects a C
 * function keeps alive until it returns) rose above where it was, at the
 * most, while the block ran: sampled every millisecond. */
static mrb_value
t_arena_growth(mrb_state *mrb, mrb_value self)
{
  struct itimerval every = {{0, 1000}, {0, 1000}};
  struct sigaction sa;
  mrb_value block;
  int base;
  (void)self;

  mrb_get_args(mrb, "&!", &block);
  base = mrb->gc.arena_idx;
  arena_peak = base;
  sampled = mrb;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = sample_arena;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGALRM, &sa, NULL);
  setitimer(ITIMER_REAL, &every, NULL);
  mrb_ensure(mrb, yield_it, block, sampling_end, mrb_nil_value());
  return mrb_int_value(mrb, arena_peak - base);
}

void
mcg_test_init_host_state(mrb_state *mrb, struct RClass *t)
{
  /* The runner moves itself and its forked children at a test's pace, and
   * its stderr is the test log: no warning about that pace from it (the
   * children mruby that test/pace.rb runs are other processes, and warn). */
  mcg_set_warn_moves(FALSE);
  mrb_define_module_function(mrb, t, "with_signals", t_with_signals, MRB_ARGS_REQ(2));
  mrb_define_module_function(mrb, t, "decimal_comma_locale", t_decimal_comma_locale,
                             MRB_ARGS_NONE());
  mrb_define_module_function(mrb, t, "with_locale", t_with_locale, MRB_ARGS_REQ(1));
  mrb_define_module_function(mrb, t, "set_fsuid", t_set_fsuid, MRB_ARGS_REQ(1));
  mrb_define_module_function(mrb, t, "set_fsgid", t_set_fsgid, MRB_ARGS_REQ(1));
  mrb_define_module_function(mrb, t, "drop_fs_caps", t_drop_fs_caps, MRB_ARGS_NONE());
  mrb_define_module_function(mrb, t, "daemon_fds", t_daemon_fds, MRB_ARGS_NONE());
  mrb_define_module_function(mrb, t, "in_child", t_in_child, MRB_ARGS_BLOCK());
  mrb_define_module_function(mrb, t, "on_thread_as", t_on_thread_as, MRB_ARGS_REQ(1));
  mrb_define_module_function(mrb, t, "enter_container", t_enter_container, MRB_ARGS_REQ(3));
  mrb_define_module_function(mrb, t, "parse_as", t_parse_as, MRB_ARGS_REQ(3));
  mrb_define_module_function(mrb, t, "back_off", t_back_off, MRB_ARGS_REQ(2));
  mrb_define_module_function(mrb, t, "mountinfo_favors?", t_mountinfo_favors_p, MRB_ARGS_REQ(1));
  mrb_define_module_function(mrb, t, "remount", t_remount, MRB_ARGS_REQ(2));
  mrb_define_module_function(mrb, t, "forks_stuck", t_forks_stuck, MRB_ARGS_REQ(1));
  mrb_define_module_function(mrb, t, "arena_growth", t_arena_growth, MRB_ARGS_BLOCK());
}
