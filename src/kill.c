/*
 * What acts on every task of a group at once: Cgroup#move_all, and
 * Cgroup#kill_all with the care a pid that exits and is reused needs.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <mruby.h>
#include <mruby/array.h>
#include <mruby/error.h>
#include <mruby/presym.h>
#include <mruby/string.h>

#include "cgroup.h"

/*
 * Cgroup#move_all(to, timeout = 5): move every process of the group into
 * to's group (a whole process, all its threads, through cgroup.procs on
 * both versions), again until none is left: a process forked meanwhile
 * moves too.  Returns how many were moved; one that exits meanwhile is not
 * counted.  The two groups are in the same hierarchy.
 */
static mrb_value
cgroup_move_all(mrb_state *mrb, mrb_value self)
{
  struct cgroup_ctx *ctx = mcg_get_ctx(mrb, self), *to;
  mrb_value other, t = mrb_undef_value(), pids;
  struct kept_cycle cycle;
  mrb_int moved = 0, i;
  double deadline;
  long delay = 1;
  char buf[16];
  int err, passes, ai = mrb_gc_arena_save(mrb);

  mrb_get_args(mrb, "o|o", &other, &t);
  to = mcg_get_ctx(mrb, other);
  deadline = mcg_deadline_after(mcg_timeout_arg(mrb, t, 5));
  mcg_require_group(mrb, ctx, "move processes");
  mcg_require_group(mrb, to, "move processes");
  if (strcmp(ctx->host->mount, to->host->mount) != 0) {
    mcg_raise_error(mrb, MCG_FAILURE(.cls = "InvalidValue", .err = EINVAL, .ctx = ctx,
                                     .action = "move processes", .value = to->path,
                                     .reason = "the target is in another hierarchy"));
  }
  for (passes = 0; strcmp(ctx->path, to->path) != 0; passes++) {
    mrb_gc_arena_restore(mrb, ai);
    if (RARRAY_LEN(pids = mcg_read_pids(mrb, ctx, ctx->path, "cgroup.procs")) == 0) break;
    if (passes > 0) { /* some came back, or forked meanwhile: again, not for ever */
      if (mcg_ms_left(deadline) == 0) {
        mcg_raise_error(mrb, MCG_FAILURE(.err = ETIMEDOUT, .ctx = ctx, .action = "move processes",
                                         .file = "cgroup.procs", .value = to->path,
                                         .reason = "processes remain"));
      }
      mcg_back_off(&delay, deadline);
    }
    mcg_kept_cycle_begin(to, &cycle); /* the pids read, no Ruby code till the last write */
    for (i = 0; i < RARRAY_LEN(pids); i++) {
      pid_t pid = (pid_t)mrb_integer(RARRAY_PTR(pids)[i]);
      snprintf(buf, sizeof buf, "%d", (int)pid);
      err = mcg_kernel_write_in(mrb, to, to->path, "cgroup.procs", buf, &cycle);
      if (err == ESRCH) continue; /* exited meanwhile */
      if (err) {
        mcg_raise_error(mrb, MCG_FAILURE(.err = err, .ctx = to, .action = "move processes",
                                         .file = "cgroup.procs", .value = buf));
      }
      moved++;
    }
  }
  return mrb_int_value(mrb, moved);
}

static const struct {
  const char *name;
  int number;
} signal_names[] = {{"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"ABRT", SIGABRT},
                    {"KILL", SIGKILL}, {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"ALRM", SIGALRM},
                    {"TERM", SIGTERM}, {"CONT", SIGCONT}, {"STOP", SIGSTOP}, {"TSTP", SIGTSTP}};

/* A signal given as 9, "KILL", "SIGKILL" or :KILL. */
static int
signal_arg(mrb_state *mrb, mrb_value v)
{
  const char *name;
  size_t i;

  if (mrb_integer_p(v)) {
    if (mrb_integer(v) >= 1 && mrb_integer(v) < NSIG) return (int)mrb_integer(v);
    mrb_raisef(mrb, E_ARGUMENT_ERROR, "no signal %v", v);
  }
  if (mrb_symbol_p(v)) v = mrb_sym_str(mrb, mrb_symbol(v));
  name = mrb_string_value_cstr(mrb, &v);
  if (strncmp(name, "SIG", 3) == 0) name += 3;
  for (i = 0; i < sizeof signal_names / sizeof signal_names[0]; i++) {
    if (strcmp(signal_names[i].name, name) == 0) return signal_names[i].number;
  }
  mrb_raisef(mrb, E_ARGUMENT_ERROR, "unknown signal %v", v);
}

/* The pids kill_all acts on: the group's, or its subtree's. */
static mrb_value
listed_pids(mrb_state *mrb, struct cgroup_ctx *ctx, mrb_bool subtree)
{
  return subtree ? mcg_subtree_pids(mrb, ctx, "cgroup.procs")
                 : mcg_read_pids(mrb, ctx, ctx->path, "cgroup.procs");
}

struct relisting {
  struct cgroup_ctx *ctx;
  mrb_bool subtree;
};

static mrb_value
relist_body(mrb_state *mrb, void *p)
{
  struct relisting *r = (struct relisting *)p;

  return listed_pids(mrb, r->ctx, r->subtree);
}

static mrb_bool
lists(mrb_value pids, mrb_int pid)
{
  for (mrb_int i = 0; i < RARRAY_LEN(pids); i++) {
    if (mrb_integer(RARRAY_PTR(pids)[i]) == pid) return TRUE;
  }
  return FALSE;
}

/*
 * Signal each process in pids once.  Since they were listed, one may have
 * exited and its pid gone to another process: a pidfd is opened on each
 * first, which holds whatever process has the pid now, and the group is
 * listed again; a pid still listed then is that process, in the group, and
 * gets the signal through its pidfd (one gone meanwhile gets none).  On v1
 * a process is listed while any of its threads is in the group, which this
 * keeps.  Where no pidfd can be had (before 5.3: ENOSYS; EMFILE) the pid is
 * signalled with kill(), as listed.
 */
static void
signal_pids(mrb_state *mrb, struct cgroup_ctx *ctx, mrb_value pids, int sig, mrb_bool subtree)
{
  mrb_int i, n = RARRAY_LEN(pids);
  struct relisting r = {ctx, subtree};
  int *fds = (int *)mrb_malloc(mrb, sizeof *fds * (n ? n : 1));
  mrb_value now = mrb_nil_value();
  mrb_bool failed = FALSE, held = FALSE;

  for (i = 0; i < n; i++) {
#if defined(SYS_pidfd_open) && defined(SYS_pidfd_send_signal)
    fds[i] = (int)syscall(SYS_pidfd_open, (pid_t)mrb_integer(RARRAY_PTR(pids)[i]), 0);
    if (fds[i] < 0 && errno == ESRCH) fds[i] = -2; /* exited: no signal */
#else
    fds[i] = -1;
#endif
    held |= fds[i] >= 0;
  }
  if (held) now = mrb_protect_error(mrb, relist_body, &r, &failed);
  for (i = 0; i < n; i++) {
    mrb_int pid = mrb_integer(RARRAY_PTR(pids)[i]);
    if (fds[i] == -1) kill((pid_t)pid, sig);
    if (fds[i] < 0) continue;
#if defined(SYS_pidfd_open) && defined(SYS_pidfd_send_signal)
    if (!failed && lists(now, pid)) syscall(SYS_pidfd_send_signal, fds[i], sig, NULL, 0);
#endif
    close(fds[i]);
  }
  mrb_free(mrb, fds);
  if (failed) mrb_exc_raise(mrb, now);
}

/* The processes kill_all acts on: the group's, or its whole subtree's;
 * refused when the caller is one of them (a signal to all would end it
 * too, half way). */
static mrb_value
targets_without_caller(mrb_state *mrb, struct cgroup_ctx *ctx, mrb_bool subtree)
{
  mrb_value pids;

  if (subtree && mcg_caller_within(mrb, ctx, ctx->path)) goto refuse;
  pids = listed_pids(mrb, ctx, subtree);
  for (mrb_int i = 0; i < RARRAY_LEN(pids); i++) {
    if (mrb_integer(RARRAY_PTR(pids)[i]) == (mrb_int)getpid()) goto refuse;
  }
  return pids;
refuse:
  mcg_raise_error(
      mrb,
      MCG_FAILURE(.cls = "InvalidValue", .err = EINVAL, .ctx = ctx, .action = "kill",
                  .file = "cgroup.procs",
                  .reason =
                      subtree
                          ? "the calling process is in this group or below it (cgroup.kill ends "
                            "the whole subtree)"
                          : "the calling process is in this group"));
}

/*
 * Cgroup#kill_all(signal = :KILL, timeout = 5): signal every process in the
 * group; returns how many there were.  SIGKILL on v2 takes the whole
 * subtree, as cgroup.kill does (5.14+; before it, each process listed there
 * is killed); otherwise the group's own processes.  For SIGKILL it kills
 * until none is left (new ones may fork meanwhile) and waits until they are
 * gone.  A group holding the calling process is refused.
 */
static mrb_value
cgroup_kill_all(mrb_state *mrb, mrb_value self)
{
  struct cgroup_ctx *ctx = mcg_get_ctx(mrb, self);
  mrb_value sigv = mrb_symbol_value(MRB_SYM(KILL)), t = mrb_undef_value(), pids;
  mrb_bool subtree;
  mrb_int count;
  double deadline;
  int sig, err = EOPNOTSUPP, ai;
  long delay = 1;

  mrb_get_args(mrb, "|oo", &sigv, &t);
  sig = signal_arg(mrb, sigv);
  deadline = mcg_deadline_after(mcg_timeout_arg(mrb, t, 5));
  mcg_require_group(mrb, ctx, "kill");
  subtree = sig == SIGKILL && mcg_ctx_on_v2(ctx);
  pids = targets_without_caller(mrb, ctx, subtree);
  count = RARRAY_LEN(pids);
  if (subtree) err = mcg_kernel_write(mrb, ctx, ctx->path, "cgroup.kill", "1", FILE_ONCE);
  if (err == EOPNOTSUPP)
    signal_pids(mrb, ctx, pids, sig, subtree);
  else if (err)
    mcg_raise_error(mrb, MCG_FAILURE(.err = err, .ctx = ctx, .action = "kill",
                                     .file = "cgroup.kill", .value = "1"));
  ai = mrb_gc_arena_save(mrb);
  while (sig == SIGKILL && RARRAY_LEN(pids = listed_pids(mrb, ctx, subtree)) > 0) {
    if (mcg_ms_left(deadline) == 0) {
      mcg_raise_error(mrb, MCG_FAILURE(.err = ETIMEDOUT, .ctx = ctx, .action = "kill",
                                       .file = "cgroup.procs", .reason = "processes remain"));
    }
    if (err == EOPNOTSUPP) signal_pids(mrb, ctx, pids, sig, subtree); /* also those forked since */
    mcg_back_off(&delay, deadline);
    mrb_gc_arena_restore(mrb, ai); /* a frozen v1 group may keep this loop going for ever */
  }
  return mrb_int_value(mrb, count);
}

void
mcg_init_kill(mrb_state *mrb, struct RClass *cgroup)
{
  mrb_define_method(mrb, cgroup, "move_all", cgroup_move_all, MRB_ARGS_ARG(1, 1));
  mrb_define_method(mrb, cgroup, "kill_all", cgroup_kill_all, MRB_ARGS_OPT(2));
}
