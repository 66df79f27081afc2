/*
 * Running a command in groups, as cgexec does: Cgroup.spawn_in forks, the
 * child joins each group and execs; Cgroup.waitpid reaps it (mrblib/spawn.rb
 * builds Cgroup.spawn and Cgroup.wait on them).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pipe2 */
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mruby.h>
#include <mruby/array.h>
#include <mruby/error.h>
#include <mruby/string.h>

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

/* In the forked child: join each group, then exec; on failure tell the
 * parent through the pipe.  Only async-signal-safe calls, so it writes the
 * tasks files itself rather than through kernel_io.c. */
static void
spawn_child(char **tasks_files, int groups, char **argv, int report_fd)
{
  struct spawn_report report = {-1, 0};
  char pid[16];
  size_t len = pid_digits(getpid(), pid);
  int i, fd;

  for (i = 0; i < groups; i++) {
    fd = open(tasks_files[i], O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, pid, len) != (ssize_t)len) {
      report.stage = i;
      report.err = errno;
      break;
    }
    close(fd);
  }
  if (i == groups) {
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

  for (i = 0; mcg_on_v2(ctx->controller) && i < RARRAY_LEN(groups); i++) {
    struct cgroup_ctx *other = mcg_get_ctx(mrb, RARRAY_PTR(groups)[i]);
    if (mcg_on_v2(other->controller) && strcmp(other->path, ctx->path) != 0) {
      mcg_raise_error(mrb, "InvalidValue", EINVAL, ctx->controller, ctx->path, "spawn", NULL,
                      other->path, "on cgroup v2 a process is in one group for all controllers");
    }
  }
}

/* The file the child writes its pid to for each group, each group checked
 * and its staged values written first. */
static mrb_value
tasks_files_of(mrb_state *mrb, mrb_value groups)
{
  mrb_value files = mrb_ary_new(mrb);
  char full[PATH_MAX];
  mrb_int i;

  for (i = 0; i < RARRAY_LEN(groups); i++) {
    struct cgroup_ctx *ctx = mcg_get_ctx(mrb, RARRAY_PTR(groups)[i]);
    const char *file = mcg_version_file(ctx->controller, FILE_MOVE_TASK);
    mcg_require_group(mrb, ctx, "spawn");
    require_one_v2_group(mrb, groups, ctx);
    mcg_write_staged(mrb, ctx);
    if (!mcg_mount_path(mrb, ctx, ctx->path, file, full)) {
      mcg_raise_error(mrb, NULL, ENAMETOOLONG, ctx->controller, ctx->path, "spawn", NULL, NULL,
                      NULL);
    }
    mrb_ary_push(mrb, files, mrb_str_new_cstr(mrb, full));
  }
  return files;
}

/* The C strings of an Array of Strings (NULL-terminated; the Strings stay
 * reachable from the Array). */
static char **
c_strings(mrb_state *mrb, mrb_value ary)
{
  mrb_int i, n = RARRAY_LEN(ary);
  char **out;

  for (i = 0; i < n; i++) mrb_string_value_cstr(mrb, &RARRAY_PTR(ary)[i]);
  out = (char **)mrb_malloc(mrb, sizeof *out * (n + 1));
  for (i = 0; i < n; i++) out[i] = RSTRING_PTR(RARRAY_PTR(ary)[i]);
  out[n] = NULL;
  return out;
}

/* Fork; the child joins the groups and execs argv.  The pid, with the read
 * end of the pipe the child reports a failure on in *report_fd; a failure
 * (EMFILE, EAGAIN) raises for the first group. */
static pid_t
fork_child(mrb_state *mrb, mrb_value groups, mrb_value files, mrb_value argv, int *report_fd)
{
  char **c_argv = c_strings(mrb, argv), **c_files = c_strings(mrb, files); /* argv may raise */
  int pipefd[2] = {-1, -1}, err;
  pid_t pid = -1;

  if (pipe2(pipefd, O_CLOEXEC) == 0 && (pid = fork()) == 0) {
    spawn_child(c_files, (int)RARRAY_LEN(files), c_argv, pipefd[1]);
  }
  err = errno;
  mrb_free(mrb, c_files);
  mrb_free(mrb, c_argv);
  if (pid < 0) {
    if (pipefd[0] >= 0) {
      close(pipefd[0]);
      close(pipefd[1]);
    }
    struct cgroup_ctx *ctx = mcg_get_ctx(mrb, RARRAY_PTR(groups)[0]);
    mcg_raise_error(mrb, NULL, err, ctx->controller, ctx->path, "spawn", NULL, NULL, NULL);
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
    mcg_raise_error(mrb, NULL, report.err, ctx->controller, ctx->path, "spawn: exec", NULL,
                    RSTRING_PTR(RARRAY_PTR(argv)[0]), NULL);
  }
  mcg_raise_error(mrb, NULL, report.err, ctx->controller, ctx->path, "spawn: join",
                  mcg_version_file(ctx->controller, FILE_MOVE_TASK), NULL, NULL);
}

/*
 * Cgroup.spawn_in(groups, argv): fork; the child joins every group (its own
 * pid into each tasks/cgroup.procs, staged values written first), then execs
 * argv (PATH searched); returns the pid.  A failure in the child raises here.
 */
static mrb_value
cgroup_s_spawn_in(mrb_state *mrb, mrb_value self)
{
  mrb_value groups, argv, files;
  struct spawn_report report;
  int report_fd;
  pid_t pid;
  ssize_t n;
  (void)self;

  mrb_get_args(mrb, "AA", &groups, &argv);
  if (RARRAY_LEN(groups) == 0) mrb_raise(mrb, E_ARGUMENT_ERROR, "no group to spawn in");
  if (RARRAY_LEN(argv) == 0) mrb_raise(mrb, E_ARGUMENT_ERROR, "no command to spawn");
  files = tasks_files_of(mrb, groups);
  pid = fork_child(mrb, groups, files, argv, &report_fd);
  while ((n = read(report_fd, &report, sizeof report)) < 0 && errno == EINTR) {
  }
  close(report_fd);
  if (n != (ssize_t)sizeof report) return mrb_int_value(mrb, pid); /* exec'd */
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
  int status;
  pid_t ret;
  (void)self;

  mrb_get_args(mrb, "i", &pid);
  while ((ret = waitpid((pid_t)pid, &status, 0)) < 0 && errno == EINTR) {
  }
  if (ret < 0 && errno == ECHILD && children_reaped_by_kernel()) {
    mcg_raise_process_error(mrb, "Unsupported", ECHILD, "wait",
                            "SIGCHLD is ignored here, so the kernel reaps children as they end "
                            "and their status is lost");
  }
  if (ret < 0) mrb_raisef(mrb, E_ARGUMENT_ERROR, "pid %i is not a child to wait for", pid);
  return mrb_assoc_new(
      mrb, WIFEXITED(status) ? mrb_int_value(mrb, WEXITSTATUS(status)) : mrb_nil_value(),
      WIFSIGNALED(status) ? mrb_int_value(mrb, WTERMSIG(status)) : mrb_nil_value());
}

/* Cgroup.child_started(pid) => when the child pid started (clock ticks
 * after boot, /proc/PID/stat), while it is this process's child and not
 * reaped; nil otherwise.  With the pid it names one process for good, so a
 * record of a spawned child is never taken for another that reuses its pid. */
static mrb_value
cgroup_s_child_started(mrb_state *mrb, mrb_value self)
{
  siginfo_t info = {0};
  unsigned long long started;
  char path[32], buf[1024], *close_paren;
  mrb_int pid;
  FILE *f;
  size_t n;
  (void)self;

  mrb_get_args(mrb, "i", &pid);
  if (pid <= 0 || pid > INT_MAX ||
      waitid(P_PID, (id_t)pid, &info, WEXITED | WSTOPPED | WCONTINUED | WNOHANG | WNOWAIT) != 0)
    return mrb_nil_value();
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  if (!(f = fopen(path, "re"))) return mrb_nil_value();
  n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  /* after "pid (comm)", the 20th field is starttime (proc(5)) */
  if (!(close_paren = strrchr(buf, ')')) ||
      sscanf(close_paren + 1,
             "%*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s "
             "%*s %*s %*s %llu",
             &started) != 1)
    return mrb_nil_value();
  return mrb_int_value(mrb, (mrb_int)started);
}

void
mcg_init_spawn(mrb_state *mrb, struct RClass *cgroup)
{
  mrb_define_class_method(mrb, cgroup, "child_started", cgroup_s_child_started, MRB_ARGS_REQ(1));
  mrb_define_class_method(mrb, cgroup, "spawn_in", cgroup_s_spawn_in, MRB_ARGS_REQ(2));
  mrb_define_class_method(mrb, cgroup, "waitpid", cgroup_s_waitpid, MRB_ARGS_REQ(1));
}
