/*
 * A group's life: Cgroup#create (with missing parents, undone on failure),
 * #modify, #exist? and #delete.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mruby.h>
#include <mruby/array.h>
#include <mruby/error.h>
#include <mruby/string.h>

#include "cgroup.h"

/* mkdir(2) of the group at path: 0, EEXIST when a group is there already,
 * or another errno (ENOENT: its parent is missing; ENOTDIR: a file of the
 * parent has that name). */
static int
mkdir_level(const struct cgroup_ctx *ctx, const char *path)
{
  char rel[PATH_MAX], buf[PATH_MAX];
  const char *at;
  int dir;

  if (!mcg_group_path(path, NULL, rel)) return ENAMETOOLONG;
  if ((dir = mcg_below_mount(ctx, rel, buf, &at)) == -1) return errno;
  if (mkdirat(dir, at, 0755) == 0) return 0;
  return errno == EEXIST && !mcg_path_exists(ctx, path) ? ENOTDIR : errno;
}

/*
 * Make the one missing level `path` (its parent exists) with mkdir(2): the
 * kernel makes the group's files, owned by the caller.  (libcgroup 2.0.2's
 * create re-read the mount table, chowned every file of the new group and
 * reported failures for groups it did make: five times the cost of the
 * mkdir, and wrong errors.)  On v2 create_body has enabled the controller
 * in the parent first; on v1 the inheritable settings are copied in.
 */
void
mcg_make_level(mrb_state *mrb, struct cgroup_ctx *ctx, const char *path, mrb_bool target)
{
  int err = mkdir_level(ctx, path);

  if (err && err != EEXIST) /* EEXIST: made meanwhile */
    mcg_raise_error(mrb, MCG_FAILURE(.err = err, .ctx = ctx, .group = path, .action = "create"));
  mcg_copy_inherited_settings(mrb, ctx, path, target);
}

/* The raising half of mcg_enable_in_parent, for create and claim. */
void
mcg_require_enabled_in_parent(mrb_state *mrb, struct cgroup_ctx *ctx, const char *path)
{
  int err = mcg_enable_in_parent(mrb, ctx, path);
  char parent[PATH_MAX], change[32];

  if (!err) return;
  mcg_parent_of(path, parent);
  snprintf(change, sizeof change, "+%s", ctx->host->controller);
  mcg_raise_error(mrb, MCG_FAILURE(.err = err, .ctx = ctx, .group = parent,
                                   .action = "enable controller", .file = "cgroup.subtree_control",
                                   .value = change));
}

struct create_args {
  struct cgroup_ctx *ctx;
  size_t first_made; /* length of the shortest path made here; 0: none */
};

/* v2: write "threaded" to the group's cgroup.type, unless it is already. */
static void
make_threaded(mrb_state *mrb, struct cgroup_ctx *ctx, const char *path)
{
  int err;

  if (strcmp(mcg_kernel_read_line(mrb, ctx, path, "cgroup.type"), "threaded") == 0) return;
  if ((err = mcg_kernel_write(mrb, ctx, path, "cgroup.type", "threaded", FILE_ONCE))) {
    mcg_raise_error(
        mrb, MCG_FAILURE(.err = err, .ctx = ctx, .group = path, .action = "make threaded",
                         .file = "cgroup.type", .value = "threaded",
                         .reason = err == EOPNOTSUPP
                                       ? "the kernel refuses: a domain controller (memory, io) "
                                         "is enabled for it, or a child is not threaded"
                                       : NULL));
  }
}

/* Whether create makes the group threaded: threaded! came first, on v2. */
static mrb_bool
staged_threaded(struct cgroup_ctx *ctx)
{
  return ctx->threaded && mcg_ctx_on_v2(ctx);
}

/* The last level of a group that threaded! came before: mkdir, threaded,
 * and only then the controller in the parent.  A parent with processes in
 * it (a server's child in its leaf) refuses a controller for a domain
 * child ("no internal processes"), and takes it for a threaded one: the
 * parent becomes the threaded subtree's root. */
static void
make_threaded_level(mrb_state *mrb, struct create_args *args, const char *path)
{
  if (!mcg_path_exists(args->ctx, path)) {
    mcg_make_level(mrb, args->ctx, path, TRUE);
    if (!args->first_made) args->first_made = strlen(path);
  }
  make_threaded(mrb, args->ctx, path);
  mcg_require_enabled_in_parent(mrb, args->ctx, path);
}

/* The common case in one mkdir, without a stat: the parent exists and (v2)
 * offers the controller.  TRUE when the group is there now; FALSE sends
 * create to the walk from the top, which also says why where it fails. */
static mrb_bool
create_in_parent(mrb_state *mrb, struct create_args *args)
{
  struct cgroup_ctx *ctx = args->ctx;
  int err;

  if (mcg_ctx_on_v2(ctx) && mcg_enable_in_parent(mrb, ctx, ctx->path) != 0) return FALSE;
  if ((err = mkdir_level(ctx, ctx->path)) == 0) {
    args->first_made = strlen(ctx->path);
    mcg_copy_inherited_settings(mrb, ctx, ctx->path, TRUE);
  }
  return err == 0 || err == EEXIST;
}

static mrb_value
create_body(mrb_state *mrb, void *p)
{
  struct create_args *args = (struct create_args *)p;
  struct cgroup_ctx *ctx = args->ctx;
  char level[PATH_MAX];
  size_t len = 0, full = strlen(ctx->path);

  if (full > 1 && create_in_parent(mrb, args)) len = full;
  while (full > 1 && len < full) { /* each level from the top */
    const char *slash = strchr(ctx->path + len + 1, '/');
    len = slash ? (size_t)(slash - ctx->path) : full;
    memcpy(level, ctx->path, len);
    level[len] = '\0';
    if (len == full && staged_threaded(ctx)) {
      make_threaded_level(mrb, args, level);
      break;
    }
    mcg_require_enabled_in_parent(mrb, ctx, level);
    if (!args->first_made && mcg_path_exists(ctx, level)) continue;
    mcg_make_level(mrb, ctx, level, len == full);
    if (!args->first_made) args->first_made = len;
  }
  if (staged_threaded(ctx)) make_threaded(mrb, ctx, ctx->path); /* made by create_in_parent */
  mcg_write_staged(mrb, ctx, args->first_made ? STAGED_INTO_NEW_GROUP : STAGED_MODIFY);
  return mrb_nil_value();
}

/* Remove the levels create made, deepest first. */
static void
remove_made_levels(const struct cgroup_ctx *ctx, size_t first_made)
{
  char level[PATH_MAX];
  size_t len = strlen(ctx->path);

  memcpy(level, ctx->path, len + 1);
  while (first_made && len >= first_made) {
    mcg_remove_group_dir(ctx, level);
    len = strrchr(level, '/') - level;
    level[len] = '\0';
  }
}

/*
 * Cgroup#create: make the group, and missing parents, and write the staged
 * values.  When anything is refused, the groups made here are removed again
 * before the error is raised; an existing group is left as it was found.
 */
static mrb_value
cgroup_create(mrb_state *mrb, mrb_value self)
{
  struct create_args args = {mcg_get_ctx(mrb, self), 0};
  mrb_bool failed = FALSE;
  mrb_value exc;

  mcg_require_mount(mrb, args.ctx);
  exc = mrb_protect_error(mrb, create_body, &args, &failed);
  if (failed) {
    remove_made_levels(args.ctx, args.first_made);
    mcg_staged_told(args.ctx); /* a create that failed before its writes: a read-only mount */
    mrb_exc_raise(mrb, exc);
  }
  return self;
}

/* Cgroup#modify: write the staged values to the existing group. */
static mrb_value
cgroup_modify(mrb_state *mrb, mrb_value self)
{
  struct cgroup_ctx *ctx = mcg_get_ctx(mrb, self);

  if (!mcg_has_staged(ctx)) mcg_require_group(mrb, ctx, "modify"); /* else the writes tell */
  mcg_write_staged(mrb, ctx, STAGED_MODIFY);
  return self;
}

static mrb_value
cgroup_exist_p(mrb_state *mrb, mrb_value self)
{
  struct cgroup_ctx *ctx = mcg_get_ctx(mrb, self);

  mcg_require_mount(mrb, ctx);
  return mrb_bool_value(mcg_path_exists(ctx, ctx->path));
}

/* Cgroup#delete: remove the group; it must have no tasks and no children.
 * A group already gone is deleted (ENOENT is success), as runc and
 * containerd take it: on v2 the objects of one name for several
 * controllers are one directory, and code written for v1 deletes each. */
static mrb_value
cgroup_delete(mrb_state *mrb, mrb_value self)
{
  struct cgroup_ctx *ctx = mcg_get_ctx(mrb, self);
  char rel[PATH_MAX];
  int err;

  if (strcmp(ctx->path, "/") == 0) {
    mcg_raise_error(mrb,
                    MCG_FAILURE(.cls = "InvalidValue", .err = EINVAL, .ctx = ctx,
                                .action = "delete", .reason = "the root group cannot be deleted"));
  }
  mcg_require_mount(mrb, ctx);
  err = mcg_remove_group_dir(ctx, ctx->path); /* no stat first: rmdir says whether it is there */
  if (err == ENOTDIR) {
    mcg_raise_error(mrb, MCG_FAILURE(.cls = "NotFound", .err = ENOENT, .ctx = ctx,
                                     .action = "delete", .reason = "no such group"));
  }
  if (err == EBUSY || err == ENOTEMPTY) {
    mcg_raise_error(mrb, MCG_FAILURE(.cls = "Busy", .err = err, .ctx = ctx, .action = "delete",
                                     .reason = "group still has tasks or child groups"));
  }
  if (err && err != ENOENT) /* ENOENT: gone already, which is what delete asks */
    mcg_raise_error(mrb, MCG_FAILURE(.err = err, .ctx = ctx, .action = "delete"));
  if (mcg_group_path(ctx->path, NULL, rel)) mcg_forget_kept_under(mrb, ctx, rel);
  return self;
}

/* Remove one group of a subtree, again while it is busy; 0 when it is
 * gone (also when another process removed it), else the errno of the last
 * try. */
static int
remove_busy_level(const struct cgroup_ctx *ctx, const char *path, double deadline)
{
  long delay = 1;
  int err;

  while ((err = mcg_remove_group_dir(ctx, path)) == EBUSY || err == ENOTEMPTY) {
    if (mcg_ms_left(deadline) == 0) return err;
    mcg_back_off(&delay, deadline);
  }
  return err == ENOENT ? 0 : err;
}

/*
 * Cgroup#delete_tree(timeout = 5): remove the group and every group below
 * it, children first.  A group that is busy is tried again until the
 * timeout: the kernel keeps a group busy while a process in it is still
 * exiting, which is what follows a kill_all.  Processes are never killed
 * or moved here: every group that can go goes, then Busy names the deepest
 * that still held a process at the timeout (it and its ancestors stay).
 * Returns how many groups went.
 */
static mrb_value
cgroup_delete_tree(mrb_state *mrb, mrb_value self)
{
  struct cgroup_ctx *ctx = mcg_get_ctx(mrb, self);
  mrb_value t = mrb_undef_value(), groups;
  const char *failed = NULL;
  char rel[PATH_MAX];
  double deadline;
  mrb_int i, removed = 0;
  int err, first_err = 0;

  mrb_get_args(mrb, "|o", &t);
  deadline = mcg_deadline_after(mcg_timeout_arg(mrb, t, 5));
  if (strcmp(ctx->path, "/") == 0) {
    mcg_raise_error(mrb,
                    MCG_FAILURE(.cls = "InvalidValue", .err = EINVAL, .ctx = ctx,
                                .action = "delete", .reason = "the root group cannot be deleted"));
  }
  mcg_require_mount(mrb, ctx);
  if (!mcg_path_exists(ctx, ctx->path)) return mrb_int_value(mrb, 0); /* gone: as delete */
  groups = mcg_subtree(mrb, ctx, "delete"); /* sorted: a parent before its children */
  mcg_group_path(ctx->path, NULL, rel);
  for (i = RARRAY_LEN(groups) - 1; i >= 0; i--) { /* each child before its parent */
    const char *path = RSTRING_CSTR(mrb, RARRAY_PTR(groups)[i]);
    if ((err = remove_busy_level(ctx, path, deadline)) == 0)
      removed++;
    else if (!first_err) /* the deepest: its ancestors fail because of it */
      first_err = err, failed = path;
  }
  mcg_forget_kept_under(mrb, ctx, rel);
  if (first_err) {
    mcg_raise_error(mrb,
                    MCG_FAILURE(.cls = first_err == ENOTEMPTY ? "Busy" : NULL, .err = first_err,
                                .ctx = ctx, .group = failed, .action = "delete",
                                .reason = first_err == EBUSY || first_err == ENOTEMPTY
                                              ? "the group still has processes"
                                              : NULL));
  }
  return mrb_int_value(mrb, removed);
}

/*
 * Cgroup#threaded!: on v2, make the group threaded (cgroup.type; its parent
 * becomes the root of a threaded subtree, "domain threaded"), and have
 * attach and detach through this object move threads (cgroup.threads): a
 * request's thread under the request's limits while the process's other
 * threads stay where they are.  Its process must be in the threaded subtree
 * (its root, say) first.  Before create it is staged: create makes the
 * group threaded before it enables the controller, which a parent with
 * processes in it needs.  On v1 every hierarchy moves threads already
 * (tasks): only the object is marked.  memory and io follow processes
 * only: their objects raise Unsupported.
 */
static mrb_value
cgroup_threaded_bang(mrb_state *mrb, mrb_value self)
{
  struct cgroup_ctx *ctx = mcg_get_ctx(mrb, self);

  mcg_require_mount(mrb, ctx);
  if (mcg_ctx_on_v2(ctx)) {
    if (!mcg_follows_threads(ctx)) {
      mcg_raise_error(
          mrb,
          MCG_FAILURE(.cls = "Unsupported", .err = EOPNOTSUPP, .ctx = ctx,
                      .action = "make threaded", .file = "cgroup.type", .value = "threaded",
                      .reason =
                          "not a threaded controller: only cpu, cpuset and pids follow threads"));
    }
    if (mcg_path_exists(ctx, ctx->path)) make_threaded(mrb, ctx, ctx->path);
  }
  ctx->threaded = TRUE;
  return self;
}

void
mcg_init_group(mrb_state *mrb, struct RClass *cgroup)
{
  /* On the module itself, so they stay public in including classes. */
  mrb_define_method(mrb, cgroup, "create", cgroup_create, MRB_ARGS_NONE());
  mrb_define_method(mrb, cgroup, "modify", cgroup_modify, MRB_ARGS_NONE());
  mrb_define_method(mrb, cgroup, "delete", cgroup_delete, MRB_ARGS_NONE());
  mrb_define_method(mrb, cgroup, "delete_tree", cgroup_delete_tree, MRB_ARGS_OPT(1));
  mrb_define_method(mrb, cgroup, "threaded!", cgroup_threaded_bang, MRB_ARGS_NONE());
  mrb_define_method(mrb, cgroup, "exist?", cgroup_exist_p, MRB_ARGS_NONE());
}
