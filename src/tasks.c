/*
 * One task in and out of a group: Cgroup#attach and #detach (back to where
 * it was, with the records attachments.c keeps across objects), and listing a
 * group's tasks (#procs, #tasks).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mruby.h>
#include <mruby/array.h>
#include <mruby/error.h>
#include <mruby/presym.h>
#include <mruby/string.h>

#include "cgroup.h"

static const char *
pid_text(pid_t pid, char buf[16])
{
  snprintf(buf, 16, "%d", (int)pid);
  return buf;
}

/* The file attach and detach write a task to: v1's tasks (a thread), v2's
 * cgroup.procs (a whole process), or in a group made threaded! on v2 its
 * cgroup.threads (a thread, within the threaded subtree); attach_process
 * (whole) writes cgroup.procs on both versions. */
static const char *
move_file(struct cgroup_ctx *ctx, mrb_bool whole)
{
  if (whole) return "cgroup.procs";
  if (ctx->threaded && mcg_ctx_on_v2(ctx)) return mcg_version_file(ctx, FILE_THREADS);
  return mcg_version_file(ctx, FILE_MOVE_TASK);
}

static pid_t
pid_arg(mrb_state *mrb, struct cgroup_ctx *ctx, mrb_value v, const char *action)
{
  mrb_int pid;

  if (mrb_nil_p(v)) return mcg_calling_thread();
  if (!mrb_integer_p(v)) {
    mrb_raisef(mrb, E_TYPE_ERROR, "pid must be an Integer, got %s", mrb_obj_classname(mrb, v));
  }
  pid = mrb_integer(v);
  if (pid <= 0 || pid > INT_MAX) {
    char buf[32];
    snprintf(buf, sizeof buf, "%" PRId64, (int64_t)pid);
    mcg_raise_error(mrb, MCG_FAILURE(.cls = "InvalidValue", .err = EINVAL, .ctx = ctx,
                                     .action = action, .file = move_file(ctx, FALSE), .value = buf,
                                     .reason = "pid must be positive"));
  }
  return (pid_t)pid;
}

/*
 * Move a task into the group at path; 0 or an errno.  This is the write
 * cgroup_attach_task_pid makes, made directly under libcgroup's mount point
 * as values are: libcgroup 2.0.2 allocates and clears a struct cgroup,
 * opens with O_TRUNC and goes through stdio on every call.
 */
static int
move_task(mrb_state *mrb, struct cgroup_ctx *ctx, const char *path, pid_t pid, mrb_bool whole)
{
  char buf[16];

  mcg_flush_cpu_time(pid); /* what it ran so far counts where it ran */
  mcg_note_move();         /* at a server's pace without favordynmods: warn once */
  return mcg_kernel_write(mrb, ctx, path, move_file(ctx, whole), pid_text(pid, buf), FILE_OFTEN);
}

/*
 * Whether a task whose group was read as previous may be exiting, so that a
 * move must be checked: the kernel skips exiting tasks without an error.
 * cgroup v1 shows an exiting task in "/" of every v1 hierarchy, so any
 * other group means it was alive (the caller always is, so is not checked).
 */
static mrb_bool
may_be_exiting(struct cgroup_ctx *ctx, const char *previous)
{
  return mcg_ctx_on_v2(ctx) || strcmp(previous, "/") == 0;
}

/* Forget the records a forked child inherited from its parent: they name
 * the parent's tasks and where they were, which the child must not move. */
static void
drop_inherited_attachments(mrb_state *mrb, struct cgroup_ctx *ctx)
{
  pid_t self = getpid();
  int i = 0;

  while (i < ctx->attached_count) {
    if (ctx->attached[i].owner == self) {
      i++;
      continue;
    }
    mrb_free(mrb, ctx->attached[i].previous);
    ctx->attached[i] = ctx->attached[--ctx->attached_count];
  }
  if (ctx->attached_count == 0) mcg_release(ctx);
}

/* Room for one more attachment, made before anything is moved. */
static void
reserve_attachment(mrb_state *mrb, struct cgroup_ctx *ctx)
{
  ctx->attached = (struct attachment *)mrb_realloc(
      mrb, ctx->attached, sizeof *ctx->attached * (ctx->attached_count + 1));
}

/* Raise f for a move of pid by ctx (into f's group, else ctx's): the file
 * that moves it and the pid named. */
static mrb_noreturn void
raise_for_task(mrb_state *mrb, struct cgroup_ctx *ctx, pid_t pid, mrb_bool whole,
               const struct failure *f)
{
  char buf[16];
  struct failure named = *f;

  named.ctx = ctx;
  named.file = move_file(ctx, whole);
  named.value = pid_text(pid, buf);
  mcg_raise_error(mrb, &named);
}

/* Count one attach of pid in its record in ctx, made if need be.  A new
 * record made while other objects hold the task, and it is where the last
 * of them put it, joins them: it remembers where the task was before the
 * first of them.  Else (none, or the task was moved elsewhere meanwhile)
 * it remembers where the task is. */
static void
record_attachment(mrb_state *mrb, struct cgroup_ctx *ctx, pid_t pid, const char *current,
                  mrb_bool whole)
{
  struct attachment *a = mcg_find_attachment(ctx, pid), *first, *last;
  struct cgroup_ctx *last_ctx;

  if (!a) {
    const char *home;
    size_t size;
    mcg_other_holds(mrb, ctx, pid, &first, &last, &last_ctx);
    a = &ctx->attached[ctx->attached_count];
    a->chained = last && strcmp(current, last_ctx->path) == 0;
    home = a->chained ? first->previous : current;
    size = strlen(home) + 1;
    a->previous = (char *)memcpy(mrb_malloc(mrb, size), home, size); /* only NoMemoryError */
    if (!mcg_hold(mrb, ctx)) {
      mrb_free(mrb, a->previous);
      mrb_exc_raise(mrb, mrb_obj_value(mrb->nomem_err));
    }
    a->pid = pid;
    a->owner = getpid();
    a->holds = 0;
    a->made = 0;
    a->whole = FALSE;
    ctx->attached_count++;
  }
  a->holds++;
  a->whole = a->whole || whole;
  a->seq = mcg_next_seq();
  if (!a->made) a->made = a->seq; /* seqs start at 1 */
}

/* v2's memory and io follow processes only: in a threaded group their
 * limits are not the group's but its threaded domain's, so an attach
 * through such an object is refused.  Looked at once per object. */
static void
require_domain_group(mrb_state *mrb, struct cgroup_ctx *ctx)
{
  if (ctx->domain_seen || !mcg_ctx_on_v2(ctx) || mcg_follows_threads(ctx)) return;
  if (strcmp(mcg_kernel_read_line(mrb, ctx, ctx->path, "cgroup.type"), "threaded") == 0) {
    mcg_raise_error(
        mrb,
        MCG_FAILURE(.cls = "Unsupported", .err = EOPNOTSUPP, .ctx = ctx, .action = "attach",
                    .file = "cgroup.type", .value = "threaded",
                    .reason =
                        "memory and io follow processes only: a threaded group has no limits of "
                        "theirs (its threaded domain's apply)"));
  }
  ctx->domain_seen = TRUE;
}

/* Move pid into ctx's group, first writing any staged values so it never
 * runs under stale limits, and count the attach. */
static void
attach_task(mrb_state *mrb, struct cgroup_ctx *ctx, pid_t pid, mrb_bool other_process,
            mrb_bool whole)
{
  char previous[PATH_MAX];
  int err;

  mcg_write_staged(mrb, ctx, STAGED_BEFORE_MOVE);
  require_domain_group(mrb, ctx);
  drop_inherited_attachments(mrb, ctx);
  reserve_attachment(mrb, ctx);
  if ((err = mcg_current_group(mrb, ctx, pid, previous)) == ESRCH) {
    raise_for_task(mrb, ctx, pid, whole,
                   MCG_FAILURE(.cls = "NotFound", .err = ESRCH, .action = "attach",
                               .reason = "no such process"));
  }
  if (err) mcg_raise_unreadable_group(mrb, ctx, pid, err, previous);
  /* already there (on v2 a CPU and a MEMORY object of one name are one
   * group: Cgroup.with(cpu, mem) moves once) */
  if (strcmp(previous, ctx->path) != 0 && (err = move_task(mrb, ctx, ctx->path, pid, whole))) {
    mcg_require_group(mrb, ctx, "attach");
    raise_for_task(mrb, ctx, pid, whole, MCG_FAILURE(.err = err, .action = "attach"));
  }
  if (other_process && may_be_exiting(ctx, previous) && !mcg_task_is_in(mrb, ctx, pid, ctx->path)) {
    raise_for_task(mrb, ctx, pid, whole,
                   MCG_FAILURE(.cls = "NotFound", .err = ESRCH, .action = "attach",
                               .reason = "process has exited"));
  }
  record_attachment(mrb, ctx, pid, previous, whole);
}

/* [self, block, pid, process]: the block form's body.  A fiber switch
 * inside the block (Fiber.yield, an event loop's async call) becomes
 * Cgroup::FiberSwitch, which says why: while this request's fiber waited,
 * the others of the process would run in its group (on v2, or on v1 in the
 * same thread).  A child forked inside the block leaves it without moving
 * anyone: the move back is the parent's. */
static mrb_value
attach_yield(mrb_state *mrb, mrb_value args)
{
  struct cgroup_ctx *ctx = mcg_get_ctx(mrb, RARRAY_PTR(args)[0]);

  return mcg_yield_no_fiber_switch(
      mrb, args,
      MCG_FAILURE(.ctx = ctx, .action = "attach",
                  .reason = "a fiber switched inside the block (Fiber.yield, Nginx::Async): the "
                            "process's other work would run in this group meanwhile; wait "
                            "outside the block"));
}

static mrb_value
attach_undo(mrb_state *mrb, mrb_value args)
{
  if (mrb_integer(RARRAY_PTR(args)[3]) != (mrb_int)getpid()) return mrb_nil_value();
  return mrb_funcall_id(mrb, RARRAY_PTR(args)[0], MRB_SYM(detach), 1, RARRAY_PTR(args)[2]);
}

/* attach's and attach_process's body: move the task (whole: its
 * process), and with a block move it back in an ensure. */
static mrb_value
attach_with(mrb_state *mrb, mrb_value self, mrb_bool whole)
{
  struct cgroup_ctx *ctx = mcg_get_ctx(mrb, self);
  mrb_value v = mrb_nil_value(), block = mrb_nil_value(), args[4];
  pid_t pid;

  mrb_get_args(mrb, "|o&", &v, &block);
  mcg_require_mount(mrb, ctx); /* the hierarchies found, as the move's files need */
  pid = whole && mrb_nil_p(v) ? getpid() : pid_arg(mrb, ctx, v, "attach");
  attach_task(mrb, ctx, pid, !mrb_nil_p(v), whole);
  if (mrb_nil_p(block)) return self;
  args[0] = self;
  args[1] = block;
  args[2] = mrb_int_value(mrb, pid);
  args[3] = mrb_int_value(mrb, getpid());
  return mrb_ensure(mrb, attach_yield, mrb_ary_new_from_values(mrb, 4, args), attach_undo,
                    mrb_ary_new_from_values(mrb, 4, args));
}

/*
 * Cgroup#attach(pid = nil): move pid, or the calling thread, into the group.
 * With a block: yield self, and move the task back in an ensure, even when
 * the block raises (the task stays while another attach still holds it).
 */
static mrb_value
cgroup_attach(mrb_state *mrb, mrb_value self)
{
  return attach_with(mrb, self, FALSE);
}

/*
 * Cgroup#attach_process(pid = nil): the same for the whole process of pid
 * (or of the caller), all its threads, through cgroup.procs on v1 too,
 * where attach moves one thread.  Back the same way.
 */
static mrb_value
cgroup_attach_process(mrb_state *mrb, mrb_value self)
{
  return attach_with(mrb, self, TRUE);
}

/* Move a task to the group at target; when target is gone (or, with
 * climb, refuses it), to its nearest ancestor that takes it: one that
 * exists and, on v2, has no domain controller enabled for its children
 * (EBUSY).  Inside a delegated subtree that stays below the delegation
 * point wherever the subtree allows; a group above it refuses
 * (PermissionDenied), and the task stays where it is. */
static void
return_task(mrb_state *mrb, struct cgroup_ctx *ctx, pid_t pid, const char *target, mrb_bool climb,
            mrb_bool whole)
{
  char up[PATH_MAX];
  int err;

  snprintf(up, sizeof up, "%s", target);
  err = move_task(mrb, ctx, up, pid, whole);
  while (up[1] && (err == ENOENT || (climb && err == EBUSY))) {
    mcg_parent_of(up, up);
    climb = TRUE;
    err = move_task(mrb, ctx, up, pid, whole);
  }
  if (err == 0 || err == ESRCH) return; /* a task that has exited needs no move */
  raise_for_task(mrb, ctx, pid, whole, MCG_FAILURE(.err = err, .group = up, .action = "detach"));
}

/*
 * End one attach of a->pid through ctx.  The task moves only when ctx no
 * longer holds it and was the group it sits in (attached last): to the
 * group attached last of the other objects still holding it, else back to
 * where it was before the first attach.  Requests of an event loop that
 * attach and detach interleaved so end where they began, in any order.
 */
static void
detach_attachment(mrb_state *mrb, struct cgroup_ctx *ctx, struct attachment *a)
{
  struct attachment *first, *last;
  struct cgroup_ctx *last_ctx;
  const char *target;

  if (a->holds > 1) {
    a->holds--;
    return;
  }
  mcg_other_holds(mrb, ctx, a->pid, &first, &last, &last_ctx);
  if (last && last->seq > a->seq)
    target = NULL; /* attached later through another object: it is there */
  else
    target = last && a->chained ? last_ctx->path : a->previous;
  if (target && strcmp(target, ctx->path) != 0) /* else it is there already */
    return_task(mrb, ctx, a->pid, target, FALSE, a->whole);
  mrb_free(mrb, a->previous);
  *a = ctx->attached[--ctx->attached_count];
  if (ctx->attached_count == 0) mcg_release(ctx);
}

/* A task this object did not attach (a child forked while its parent was
 * attached, say): the classic gem moved it to the root, which a delegated
 * service may not write; move it out to the nearest ancestor that takes
 * it, only if it is in this group, else say it is not. */
static void
detach_unrecorded(mrb_state *mrb, struct cgroup_ctx *ctx, pid_t pid)
{
  char parent[PATH_MAX];

  if (!mcg_task_is_in(mrb, ctx, pid, ctx->path)) {
    raise_for_task(mrb, ctx, pid, FALSE,
                   MCG_FAILURE(.cls = "NotFound", .err = ESRCH, .action = "detach",
                               .reason = "task is not attached to this group"));
  }
  mcg_parent_of(ctx->path, parent);
  return_task(mrb, ctx, pid, parent, TRUE, FALSE);
}

/*
 * Cgroup#detach(pid = nil): end one attach of pid, or of every task
 * attached through this object (by this process: not a parent before a
 * fork); a task goes back to where it was once nothing holds it.
 */
static mrb_value
cgroup_detach(mrb_state *mrb, mrb_value self)
{
  struct cgroup_ctx *ctx = mcg_get_ctx(mrb, self);
  mrb_value v = mrb_nil_value();
  struct attachment *a;

  mrb_get_args(mrb, "|o", &v);
  mcg_require_mount(mrb, ctx);
  drop_inherited_attachments(mrb, ctx);
  if (!mrb_nil_p(v)) {
    pid_t pid = pid_arg(mrb, ctx, v, "detach");
    if ((a = mcg_find_attachment(ctx, pid)))
      detach_attachment(mrb, ctx, a);
    else
      detach_unrecorded(mrb, ctx, pid);
    return self;
  }
  if (ctx->attached_count == 0) detach_unrecorded(mrb, ctx, mcg_calling_thread());
  /* one attach of each task: the record removed at i takes the last one,
   * which this loop, going down, has seen already */
  for (int i = ctx->attached_count - 1; i >= 0; i--) detach_attachment(mrb, ctx, &ctx->attached[i]);
  return self;
}

/* The pids of a tasks-like file of the group, or with subtree true of its
 * whole subtree. */
static mrb_value
list_pids(mrb_state *mrb, mrb_value self, const char *file, const char *action)
{
  struct cgroup_ctx *ctx = mcg_get_ctx(mrb, self);
  mrb_bool subtree = FALSE;

  mrb_get_args(mrb, "|b", &subtree);
  if (subtree) return mcg_subtree_pids(mrb, ctx, file);
  mcg_require_group(mrb, ctx, action);
  return mcg_read_pids(mrb, ctx, ctx->path, file);
}

/* Cgroup#procs(subtree = false): the processes in the group (cgroup.procs). */
static mrb_value
cgroup_procs(mrb_state *mrb, mrb_value self)
{
  return list_pids(mrb, self, "cgroup.procs", "list processes");
}

/* Cgroup#tasks(subtree = false): the threads (v1 tasks, v2 cgroup.threads). */
static mrb_value
cgroup_tasks(mrb_state *mrb, mrb_value self)
{
  struct cgroup_ctx *ctx = mcg_get_ctx(mrb, self);

  mcg_require_mount(mrb, ctx); /* first: the version names the file */
  return list_pids(mrb, self, mcg_version_file(ctx, FILE_THREADS), "list threads");
}

void
mcg_init_tasks(mrb_state *mrb, struct RClass *cgroup)
{
  mrb_define_method(mrb, cgroup, "attach", cgroup_attach, MRB_ARGS_OPT(1));
  mrb_define_method(mrb, cgroup, "detach", cgroup_detach, MRB_ARGS_OPT(1));
  mrb_define_method(mrb, cgroup, "attach_process", cgroup_attach_process,
                    MRB_ARGS_OPT(1) | MRB_ARGS_BLOCK());
  mrb_define_method(mrb, cgroup, "procs", cgroup_procs, MRB_ARGS_OPT(1));
  mrb_define_method(mrb, cgroup, "tasks", cgroup_tasks, MRB_ARGS_OPT(1));
}
