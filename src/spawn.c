/*
 * Running a command in groups, as cgexec does: Cgroup.spawn_in starts a
 * child, which joins each group and execs; Cgroup.waitpid reaps it
 * (mrblib/spawn.rb builds Cgroup.spawn and Cgroup.wait on them).  Where a
 * group is on cgroup v2 and the kernel has clone3's CLONE_INTO_CGROUP
 * (5.7), the child is born in that group: it is never charged to the
 * parent's pids.max or memory, and writes no cgroup.procs.  Otherwise it is
 * forked and writes its pid into each group itself.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pipe2 */
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/sched.h>

#include <mruby.h>
#include <mruby/array.h>
#include <mruby/error.h>
#include <mruby/string.h>
#include <mruby/variable.h>

#include "cgroup.h"

struct spawn_report {
  int stage; /* index of the group whose attach failed; -1: exec */
  int err;
};

/* Async-signal-safe decimal of a pid. */
static size_t
pid_digits(pid_t pid, char out[16])
{
  char rev[16];
  size_t n = 0, i;

  do rev[n++] = (char)('0' + pid % 10);
  while ((pid /= 10) > 0);
  for (i = 0; i < n; i++) out[i] = rev[n - 1 - i];
  return n;
}

/*
 * The size of the kernel's signal set (its _NSIG / 8), which rt_sigaction
 * takes as its sigsetsize and refuses (EINVAL) when it is any other: 128
 * signals on MIPS, 64 on every other architecture Linux has.  An
 * architecture not listed may have another size or another order of
 * arguments (as alpha and sparc have, below): it is refused here, at build
 * time, rather than leaving every signal as the host set it (the size
 * named before this list, 8 everywhere, made every call fail on MIPS).
 */
#if defined(__mips__)
#define KERNEL_SIGSET_BYTES 16
#elif defined(__x86_64__) || defined(__i386__) || defined(__aarch64__) || defined(__arm__) ||      \
    defined(__powerpc__) || defined(__riscv) || defined(__s390__) || defined(__loongarch__) ||     \
    defined(__alpha__) || defined(__sparc__) || defined(__hppa__) || defined(__m68k__) ||          \
    defined(__sh__)
#define KERNEL_SIGSET_BYTES 8
#else
#error "spawn.c: rt_sigaction's signal set size is not known for this architecture"
#endif
_Static_assert(KERNEL_SIGSET_BYTES * 8 >= NSIG - 1, "the C library has more signals than that");

/*
 * Back to the default action for sig, in the child before exec, through
 * rt_sigaction itself: the C library's sigaction() refuses the signals it
 * keeps for its threads (glibc's 32 and 33), and a host may have inherited
 * them ignored, as make test showed.  The new action is all zero, which is
 * the default action, no flags, an empty mask and no restorer whatever the
 * kernel's struct sigaction looks like (MIPS puts the flags first, and
 * MIPS, alpha and others have no restorer); 64 bytes are more than any
 * architecture's struct, of which the kernel reads its own size.
 */
static void
default_action(int sig)
{
  static const uint64_t dfl[8];

#if defined(__sparc__) /* a restorer before the size */
  syscall(SYS_rt_sigaction, (long)sig, dfl, NULL, NULL, (long)KERNEL_SIGSET_BYTES);
#elif defined(__alpha__) /* a restorer after the size */
  syscall(SYS_rt_sigaction, (long)sig, dfl, NULL, (long)KERNEL_SIGSET_BYTES, NULL);
#else
  syscall(SYS_rt_sigaction, (long)sig, dfl, NULL, (long)KERNEL_SIGSET_BYTES);
#endif
}

/* In the child, before exec: every signal back to its default action and
 * none blocked, whatever the host program set (a server blocks some and
 * ignores SIGPIPE; exec keeps both).  The parent blocked all signals around
 * the fork, so no handler of the host's ran here in between.  The mask
 * through sigprocmask, which is async-signal-safe and sizes the set right
 * on every architecture (an empty set unblocks the C library's own too). */
static void
reset_signals(void)
{
  sigset_t none;

  for (int sig = 1; sig <= KERNEL_SIGSET_BYTES * 8; sig++) { /* each the kernel has */
    if (sig != SIGKILL && sig != SIGSTOP) default_action(sig);
  }
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
}

/* In the child: join each group whose tasks file is given (NULL: the
 * group it was born in), then exec; on failure tell the parent through the
 * pipe which group (its index in spawn's list) or exec.  Only
 * async-signal-safe calls, so it writes the tasks files itself rather than
 * through kernel_io.c. */
static void
spawn_child(char **tasks_files, int groups, char **argv, int report_fd)
{
  struct spawn_report report = {-1, 0};
  char pid[16];
  size_t len = pid_digits(getpid(), pid);
  int i, fd;

  for (i = 0; i < groups; i++) {
    if (!tasks_files[i]) continue;
    fd = open(tasks_files[i], O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, pid, len) != (ssize_t)len) {
      report.stage = i;
      report.err = errno;
      break;
    }
    close(fd);
  }
  if (i == groups) {
    reset_signals();
    execvp(argv[0], argv);
    report.err = errno;
  }
  if (write(report_fd, &report, sizeof report) < 0) _exit(127);
  _exit(127);
}

/* On v2 a process is in one group for every controller: groups given to
 * spawn that v2 serves must all be the same one. */
static void
require_one_v2_group(mrb_state *mrb, mrb_value groups, struct cgroup_ctx *ctx)
{
  mrb_int i;

  for (i = 0; mcg_ctx_on_v2(ctx) && i < RARRAY_LEN(groups); i++) {
    struct cgroup_ctx *other = mcg_get_ctx(mrb, RARRAY_PTR(groups)[i]);
    if (mcg_ctx_on_v2(other) && strcmp(other->path, ctx->path) != 0) {
      mcg_raise_error(
          mrb, MCG_FAILURE(.cls = "InvalidValue", .err = EINVAL, .ctx = ctx, .action = "spawn",
                           .value = other->path,
                           .reason = "on cgroup v2 a process is in one group for all controllers"));
    }
  }
}

/* The files the child writes its pid to: for each group (*files), and the
 * same list with nil for the v2 groups (*v1_files, for a child born in the
 * v2 group: an index names the same group in both); each group checked
 * and its staged values written first.  Returns the first group on v2, or
 * NULL. */
static struct cgroup_ctx *
tasks_files_of(mrb_state *mrb, mrb_value groups, mrb_value *files, mrb_value *v1_files)
{
  struct cgroup_ctx *v2_group = NULL;
  char full[PATH_MAX];
  mrb_int i;

  *files = mrb_ary_new(mrb);
  *v1_files = mrb_ary_new(mrb);
  for (i = 0; i < RARRAY_LEN(groups); i++) {
    struct cgroup_ctx *ctx = mcg_get_ctx(mrb, RARRAY_PTR(groups)[i]);
    const char *file;
    mcg_require_group(mrb, ctx, "spawn"); /* first: the version says which file moves it */
    file = mcg_version_file(ctx, FILE_MOVE_TASK);
    require_one_v2_group(mrb, groups, ctx);
    mcg_write_staged(mrb, ctx, STAGED_BEFORE_MOVE);
    if (!mcg_mount_path(ctx, ctx->path, file, full)) {
      mcg_raise_error(mrb, MCG_FAILURE(.err = ENAMETOOLONG, .ctx = ctx, .action = "spawn"));
    }
    mrb_ary_push(mrb, *files, mrb_str_new_cstr(mrb, full));
    mrb_ary_push(mrb, *v1_files, mcg_ctx_on_v2(ctx) ? mrb_nil_value() : RARRAY_PTR(*files)[i]);
    if (mcg_ctx_on_v2(ctx) && !v2_group) v2_group = ctx;
  }
  return v2_group;
}

/*
 * Start a child born in the v2 group whose directory cgroup_fd is open
 * (clone3 with CLONE_INTO_CGROUP): 0 in the child, its pid here, -1 with
 * errno.  ENOSYS (before 5.3), E2BIG or EINVAL (before 5.7: no such flag)
 * say the kernel cannot; the caller then forks.
 */
static pid_t
clone_into_group(int cgroup_fd)
{
#if defined(SYS_clone3) && defined(CLONE_INTO_CGROUP)
  struct clone_args args;

  memset(&args, 0, sizeof args);
  args.flags = CLONE_INTO_CGROUP;
  args.exit_signal = SIGCHLD;
  args.cgroup = (uint64_t)cgroup_fd;
  return (pid_t)syscall(SYS_clone3, &args, sizeof args);
#else
  (void)cgroup_fd;
  errno = ENOSYS;
  return -1;
#endif
}

static mrb_bool
kernel_cannot_clone_into(int err)
{
  return err == ENOSYS || err == E2BIG || err == EINVAL;
}

/* The C strings of an Array of Strings, nil as NULL (NULL-terminated; the
 * Strings stay reachable from the Array). */
static char **
c_strings(mrb_state *mrb, mrb_value ary)
{
  mrb_int i, n = RARRAY_LEN(ary);
  char **out;

  for (i = 0; i < n; i++) {
    if (!mrb_nil_p(RARRAY_PTR(ary)[i])) mrb_string_value_cstr(mrb, &RARRAY_PTR(ary)[i]);
  }
  out = (char **)mrb_malloc(mrb, sizeof *out * (n + 1));
  for (i = 0; i < n; i++)
    out[i] = mrb_nil_p(RARRAY_PTR(ary)[i]) ? NULL : RSTRING_PTR(RARRAY_PTR(ary)[i]);
  out[n] = NULL;
  return out;
}

/* How a child comes into its groups. */
struct start {
  struct cgroup_ctx *v2_group; /* the first group on v2, or NULL */
  mrb_value files;             /* every group's tasks file */
  mrb_value v1_files;          /* the same, nil for v2's: for a child born in the v2 group */
  mrb_bool born_in;            /* set: clone3 put the child in the v2 group */
};

/* The v2 group's directory for clone3 (a failure to open it, EMFILE say,
 * only means the child is forked and writes its pid there instead). */
static int
open_group_dir(const struct cgroup_ctx *v2_group)
{
  return v2_group ? mcg_open_in_mount(v2_group, v2_group->path, NULL, O_RDONLY | O_DIRECTORY) : -1;
}

/* Start the child, born in the v2 group where the kernel can, else forked;
 * it joins the (other) groups and execs argv.  The pid, with the read end
 * of the pipe the child reports a failure on in *report_fd; a failure
 * (EMFILE, EAGAIN; clone3 refused for the v2 group) raises. */
static pid_t
start_child(mrb_state *mrb, mrb_value groups, struct start *how, mrb_value argv, int *report_fd)
{
  char **c_argv = c_strings(mrb, argv), **c_files = c_strings(mrb, how->files); /* may raise */
  char **c_v1_files = c_strings(mrb, how->v1_files);
  int pipefd[2] = {-1, -1}, cgroup_fd = open_group_dir(how->v2_group), err;
  struct cgroup_ctx *blamed = mcg_get_ctx(mrb, RARRAY_PTR(groups)[0]);
  mrb_bool refused = FALSE; /* clone3 refused the v2 group (EACCES, EBUSY...) */
  sigset_t all, host_mask;
  pid_t pid = -1;

  how->born_in = FALSE;
  sigfillset(&all); /* no host handler may run in the child before it resets them */
  pthread_sigmask(SIG_SETMASK, &all, &host_mask);
  if (pipe2(pipefd, O_CLOEXEC) == 0) {
    if (cgroup_fd >= 0) {
      pid = clone_into_group(cgroup_fd);
      how->born_in = pid >= 0;
      if (pid == 0) spawn_child(c_v1_files, (int)RARRAY_LEN(how->v1_files), c_argv, pipefd[1]);
      if (pid < 0 && (refused = !kernel_cannot_clone_into(errno))) blamed = how->v2_group;
    }
    if (pid < 0 && !refused && (pid = fork()) == 0)
      spawn_child(c_files, (int)RARRAY_LEN(how->files), c_argv, pipefd[1]);
  }
  err = errno;
  pthread_sigmask(SIG_SETMASK, &host_mask, NULL);
  if (cgroup_fd >= 0) close(cgroup_fd);
  mrb_free(mrb, c_v1_files);
  mrb_free(mrb, c_files);
  mrb_free(mrb, c_argv);
  if (pid < 0) {
    if (pipefd[0] >= 0) {
      close(pipefd[0]);
      close(pipefd[1]);
    }
    mcg_raise_error(mrb, MCG_FAILURE(.err = err, .ctx = blamed, .action = "spawn"));
  }
  close(pipefd[1]);
  *report_fd = pipefd[0];
  return pid;
}

/* Raise what the child reported: which group it could not join, or exec. */
static mrb_noreturn void
raise_report(mrb_state *mrb, mrb_value groups, mrb_value argv, struct spawn_report report)
{
  struct cgroup_ctx *ctx =
      mcg_get_ctx(mrb, RARRAY_PTR(groups)[report.stage < 0 ? 0 : report.stage]);

  if (report.stage < 0) {
    mcg_raise_error(mrb, MCG_FAILURE(.err = report.err, .ctx = ctx, .action = "spawn: exec",
                                     .value = RSTRING_PTR(RARRAY_PTR(argv)[0])));
  }
  mcg_raise_error(mrb, MCG_FAILURE(.err = report.err, .ctx = ctx, .action = "spawn: join",
                                   .file = mcg_version_file(ctx, FILE_MOVE_TASK)));
}

/*
 * Cgroup._spawn_in(groups, argv): start a child in every group (staged
 * values written first): born in the v2 group with clone3 where the kernel
 * can, else forked; it writes its own pid into each (other) group's
 * tasks/cgroup.procs, then execs argv (PATH searched).  Returns [pid, how
 * it came into its groups: :clone3 or :fork]; a failure in the child raises
 * here.
 */
static mrb_value
cgroup_s_spawn_in(mrb_state *mrb, mrb_value self)
{
  mrb_value groups, argv, via;
  struct spawn_report report;
  struct start how;
  int report_fd;
  pid_t pid;
  ssize_t n;
  (void)self;

  mrb_get_args(mrb, "AA", &groups, &argv);
  if (RARRAY_LEN(groups) == 0) mrb_raise(mrb, E_ARGUMENT_ERROR, "no group to spawn in");
  if (RARRAY_LEN(argv) == 0) mrb_raise(mrb, E_ARGUMENT_ERROR, "no command to spawn");
  how.v2_group = tasks_files_of(mrb, groups, &how.files, &how.v1_files);
  pid = start_child(mrb, groups, &how, argv, &report_fd);
  via = mrb_symbol_value(how.born_in ? mrb_intern_lit(mrb, "clone3") : mrb_intern_lit(mrb, "fork"));
  while ((n = read(report_fd, &report, sizeof report)) < 0 && errno == EINTR) {
  }
  close(report_fd);
  if (n != (ssize_t)sizeof report)
    return mrb_assoc_new(mrb, mrb_int_value(mrb, pid), via); /* exec'd */
  while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
  }
  raise_report(mrb, groups, argv, report);
}

/* Whether the kernel reaps this process's children as they end (SIGCHLD
 * ignored, or SA_NOCLDWAIT, as some servers set): no status is left. */
static mrb_bool
children_reaped_by_kernel(void)
{
  struct sigaction sa;

  return sigaction(SIGCHLD, NULL, &sa) == 0 &&
         (sa.sa_handler == SIG_IGN || (sa.sa_flags & SA_NOCLDWAIT));
}

/* Cgroup.waitpid(pid) => [exit status or nil, signal or nil] */
static mrb_value
cgroup_s_waitpid(mrb_state *mrb, mrb_value self)
{
  mrb_int pid;
  int status, err;
  pid_t ret;
  (void)self;

  mrb_get_args(mrb, "i", &pid);
  if (pid <= 0 || pid > INT_MAX) /* waitpid would take any child, or a process group's */
    mcg_raise_process_error(
        mrb, MCG_FAILURE(.cls = "InvalidValue", .err = EINVAL, .action = "wait",
                         .reason = RSTRING_CSTR(
                             mrb, mrb_format(mrb, "pid %i: must be a child's pid, above 0", pid))));
  while ((ret = waitpid((pid_t)pid, &status, 0)) < 0 && errno == EINTR) {
  }
  err = ret < 0 ? errno : 0;
  if (err == ECHILD && children_reaped_by_kernel()) {
    mcg_raise_process_error(
        mrb,
        MCG_FAILURE(.cls = "Unsupported", .err = ECHILD, .action = "wait",
                    .reason = "SIGCHLD is ignored here, so the kernel reaps children as they end "
                              "and their status is lost"));
  }
  if (err == ECHILD) {
    mcg_raise_process_error(
        mrb, MCG_FAILURE(.cls = "NotFound", .err = ECHILD, .action = "wait",
                         .reason = RSTRING_CSTR(
                             mrb, mrb_format(mrb,
                                             "pid %i is not a child of this process, or was reaped "
                                             "already",
                                             pid))));
  }
  if (err)
    mcg_raise_process_error(mrb,
                            MCG_FAILURE(.err = err, .action = "wait", .reason = strerror(err)));
  return mrb_assoc_new(
      mrb, WIFEXITED(status) ? mrb_int_value(mrb, WEXITSTATUS(status)) : mrb_nil_value(),
      WIFSIGNALED(status) ? mrb_int_value(mrb, WTERMSIG(status)) : mrb_nil_value());
}

/* Cgroup._child_started(pid) => when the child pid started (clock ticks
 * after boot, /proc/PID/stat), while it is this process's child and not
 * reaped; nil otherwise.  With the pid it names one process for good, so a
 * record of a spawned child is never taken for another that reuses its pid. */
static mrb_value
cgroup_s_child_started(mrb_state *mrb, mrb_value self)
{
  siginfo_t info = {0};
  unsigned long long started;
  mrb_int pid;
  (void)self;

  mrb_get_args(mrb, "i", &pid);
  if (pid <= 0 || pid > INT_MAX ||
      waitid(P_PID, (id_t)pid, &info, WEXITED | WSTOPPED | WCONTINUED | WNOHANG | WNOWAIT) != 0)
    return mrb_nil_value();
  if (!mcg_proc_stat_field((pid_t)pid, 22, &started)) return mrb_nil_value(); /* starttime */
  return mrb_int_value(mrb, (mrb_int)started);
}

void
mcg_init_spawn(mrb_state *mrb, struct RClass *cgroup)
{
  mrb_define_class_method(mrb, cgroup, "_child_started", cgroup_s_child_started, MRB_ARGS_REQ(1));
  mrb_define_class_method(mrb, cgroup, "_spawn_in", cgroup_s_spawn_in, MRB_ARGS_REQ(2));
  mrb_define_class_method(mrb, cgroup, "waitpid", cgroup_s_waitpid, MRB_ARGS_REQ(1));
}
