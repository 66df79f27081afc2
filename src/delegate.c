/*
 * Cgroup.claim: take over the subtree a service was given (systemd's
 * Delegate=yes, or a group an administrator chowned to the caller) the way
 * cgroup v2 wants it used.  A v2 group that enables domain controllers for
 * its children may hold no processes itself ("no internal processes"), so
 * the service's own processes (a server's master and its workers) move into
 * a leaf below the delegated group first; then the controllers are enabled
 * in the delegated group, and per-request or per-job groups go beside the
 * leaf.  Nothing above the delegated group is written: that is where the
 * service's manager keeps its own settings.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <mruby.h>
#include <mruby/array.h>
#include <mruby/error.h>
#include <mruby/presym.h>
#include <mruby/string.h>

#include "cgroup.h"

/* Reads of the delegated group's tasks before claim gives up: each round
 * moves what the last read listed, and only forks made meanwhile remain. */
#define CLAIM_ROUNDS 100

struct claim {
  int count;                          /* controllers asked for */
  struct cgroup_ctx *leaf[CTL_COUNT]; /* each one's context for base/leaf */
  mrb_bool made[CTL_COUNT];           /* whether claim made that leaf */
  char base[PATH_MAX];
};

/* The name the leaf will have: one path component below base. */
static void
check_leaf_name(mrb_state *mrb, struct cgroup_ctx *ctx, const char *base, const char *leaf)
{
  if (!*leaf || strchr(leaf, '/') || strcmp(leaf, ".") == 0 || strcmp(leaf, "..") == 0) {
    mcg_raise_error(mrb, MCG_FAILURE(.cls = "InvalidValue", .err = EINVAL, .ctx = ctx,
                                     .group = base, .action = "claim", .value = leaf,
                                     .reason = "the leaf must be one group name, without '/'"));
  }
}

/* The delegated group: where the calling process is, or the parent of
 * that when it is already in a group named leaf (claimed before, or a
 * worker forked after the claim). */
static void
find_base(mrb_state *mrb, struct cgroup_ctx *ctx, const char *leaf, char base[PATH_MAX])
{
  const char *last;
  int err = mcg_current_group(mrb, ctx, getpid(), base);

  if (err) mcg_raise_unreadable_group(mrb, ctx, getpid(), err, base);
  last = strrchr(base, '/');
  if (last && strcmp(last + 1, leaf) == 0) mcg_parent_of(base, base);
}

/*
 * Whether the mount's root is the host's root group, rather than the root
 * of a cgroup namespace (a container's: Docker, Kubernetes, LXC, nspawn),
 * which is a group of the host's seen from inside and may be claimed.  The
 * host's root alone lacks cgroup.type on v2 and alone has release_agent on
 * v1.
 */
static mrb_bool
is_host_root(const struct cgroup_ctx *ctx)
{
  const char *marker = mcg_ctx_on_v2(ctx) ? "cgroup.type" : "release_agent";
  struct stat st;
  mrb_bool present = mcg_stat_below_mount(ctx, marker, &st) == 0; /* the root's own file */

  return mcg_ctx_on_v2(ctx) ? !present : present;
}

/* Controller id's group base/leaf, its context added to c. */
static mrb_value
add_leaf(mrb_state *mrb, struct claim *c, enum controller_id id, mrb_value leaf)
{
  const char *sep = strcmp(c->base, "/") == 0 ? "" : "/"; /* a namespace's root: "/leaf" */
  mrb_value group = mcg_group_new(mrb, id, mrb_format(mrb, "%s%s%v", c->base, sep, leaf));

  c->leaf[c->count] = mcg_get_ctx(mrb, group);
  c->made[c->count++] = FALSE;
  return group;
}

/* Each controller's leaf context, all in the same delegated group. */
static void
collect(mrb_state *mrb, struct claim *c, mrb_value controllers, mrb_value leaf)
{
  for (mrb_int i = 0; i < RARRAY_LEN(controllers); i++) {
    enum controller_id id = mcg_controller_from(mrb, RARRAY_PTR(controllers)[i]);
    struct cgroup_ctx *probe = mcg_get_ctx(mrb, mcg_group_new(mrb, id, mrb_str_new_lit(mrb, "/")));
    char base[PATH_MAX];

    mcg_require_mount(mrb, probe);
    find_base(mrb, probe, RSTRING_CSTR(mrb, leaf), base);
    check_leaf_name(mrb, probe, base, RSTRING_CSTR(mrb, leaf));
    if (strcmp(base, "/") == 0 && is_host_root(probe)) { /* every process of the host */
      mcg_raise_error(
          mrb,
          MCG_FAILURE(.cls = "InvalidValue", .err = EINVAL, .ctx = probe, .group = base,
                      .action = "claim",
                      .reason = "this process is in the root group: nothing was delegated to it"));
    }
    if (c->count == 0) memcpy(c->base, base, sizeof base);
    if (strcmp(base, c->base) != 0) {
      mcg_raise_error(
          mrb,
          MCG_FAILURE(.cls = "InvalidValue", .err = EINVAL, .ctx = probe, .group = base,
                      .action = "claim", .value = c->base,
                      .reason = "this process is in different groups in different hierarchies"));
    }
    add_leaf(mrb, c, id, leaf);
  }
}

/* v2: each controller must be delegated to base (its cgroup.controllers),
 * checked before anything changes. */
static void
require_delegated(mrb_state *mrb, struct claim *c)
{
  for (int i = 0; i < c->count; i++) {
    struct cgroup_ctx *ctx = c->leaf[i];
    const char *name = ctx->host->controller;

    if (!mcg_ctx_on_v2(ctx)) continue;
    if (!mcg_lists_word(mcg_kernel_read(mrb, ctx, c->base, "cgroup.controllers", FILE_ONCE),
                        name)) {
      mcg_raise_error(mrb, MCG_FAILURE(.cls = "Unsupported", .err = EOPNOTSUPP, .ctx = ctx,
                                       .group = c->base, .action = "claim",
                                       .file = "cgroup.controllers", .value = name,
                                       .reason = "controller not delegated to this group"));
    }
  }
}

/* The earlier of the contexts that share i's hierarchy (cpu and cpuacct on
 * v1, all of them on v2), or i. */
static int
first_in_hierarchy(struct claim *c, int i)
{
  for (int j = 0; j < i; j++) {
    if (strcmp(c->leaf[j]->host->mount, c->leaf[i]->host->mount) == 0) return j;
  }
  return i;
}

/* Move every task of base into the leaf until base has none. */
static void
empty_into_leaf(mrb_state *mrb, struct cgroup_ctx *ctx, const char *base)
{
  const char *file = mcg_version_file(ctx, FILE_MOVE_TASK);
  char pid[16];

  for (int round = 0; round < CLAIM_ROUNDS; round++) {
    int arena = mrb_gc_arena_save(mrb);
    mrb_value pids = mcg_read_pids(mrb, ctx, base, file);
    if (RARRAY_LEN(pids) == 0) return;
    for (mrb_int i = 0; i < RARRAY_LEN(pids); i++) {
      int err;
      snprintf(pid, sizeof pid, "%d", (int)mrb_integer(RARRAY_PTR(pids)[i]));
      err = mcg_kernel_write(mrb, ctx, ctx->path, file, pid, FILE_ONCE);
      if (err && err != ESRCH) /* ESRCH: it exited meanwhile */
        mcg_raise_error(mrb, MCG_FAILURE(.err = err, .ctx = ctx, .action = "claim", .file = file,
                                         .value = pid));
    }
    mrb_gc_arena_restore(mrb, arena);
  }
  mcg_raise_error(mrb, MCG_FAILURE(.cls = "Busy", .err = EBUSY, .ctx = ctx, .group = base,
                                   .action = "claim", .file = file,
                                   .reason = "tasks keep appearing in the delegated group"));
}

static mrb_value
claim_body(mrb_state *mrb, void *p)
{
  struct claim *c = (struct claim *)p;

  for (int i = 0; i < c->count; i++) {
    struct cgroup_ctx *ctx = c->leaf[i];
    if (first_in_hierarchy(c, i) != i) continue;
    c->made[i] = !mcg_path_exists(ctx, ctx->path);
    if (c->made[i]) mcg_make_level(mrb, ctx, ctx->path, TRUE);
    empty_into_leaf(mrb, ctx, c->base);
  }
  for (int i = 0; i < c->count; i++) { /* base is empty now: v2 lets it enable */
    if (mcg_ctx_on_v2(c->leaf[i])) mcg_require_enabled_in_parent(mrb, c->leaf[i], c->leaf[i]->path);
  }
  return mrb_nil_value();
}

/*
 * Cgroup._claim(controllers, leaf) (Cgroup.claim in mrblib): move this
 * process's group's tasks into base/leaf, enable the controllers in base,
 * return base.  A refusal before any task moved removes the leaf it made.
 */
static mrb_value
cgroup_s_claim(mrb_state *mrb, mrb_value self)
{
  mrb_value controllers, leaf, exc;
  struct claim c = {0};
  mrb_bool failed = FALSE;
  (void)self;

  mrb_get_args(mrb, "AS", &controllers, &leaf);
  if (RARRAY_LEN(controllers) < 1 || RARRAY_LEN(controllers) > CTL_COUNT)
    mrb_raise(mrb, E_ARGUMENT_ERROR, "claim: name the controllers to enable (:cpu, :memory, ...)");
  collect(mrb, &c, controllers, leaf);
  require_delegated(mrb, &c);
  exc = mrb_protect_error(mrb, claim_body, &c, &failed);
  if (failed) {
    for (int i = 0; i < c.count; i++) { /* only while empty: a task already moved keeps it */
      if (c.made[i]) mcg_remove_group_dir(c.leaf[i], c.leaf[i]->path);
    }
    mrb_exc_raise(mrb, exc);
  }
  return mrb_str_new_cstr(mrb, c.base);
}

/* ---- The other side: root hands a subtree to a user ------------------ */

/* What systemd gives a delegated unit's user: the directory, and the files
 * that move tasks and enable controllers; never the group's own limits. */
static const char *const handed_v2[] = {"", "cgroup.procs", "cgroup.subtree_control",
                                        "cgroup.threads", NULL};
static const char *const handed_v1[] = {"", "tasks", "cgroup.procs", NULL};

/* Who a subtree is handed to. */
struct owner {
  uid_t uid;
  gid_t gid;
  char name[32]; /* for messages: the user's name, or its number */
};

static void
hand_over(mrb_state *mrb, struct cgroup_ctx *ctx, const char *path, const struct owner *to)
{
  const char *const *file = mcg_ctx_on_v2(ctx) ? handed_v2 : handed_v1;
  char rel[PATH_MAX], buf[PATH_MAX];
  const char *at;
  int dir;

  for (; *file; file++) {
    int err = 0;
    if (!mcg_group_path(path, **file ? *file : NULL, rel))
      err = ENAMETOOLONG;
    else if ((dir = mcg_below_mount(ctx, rel, buf, &at)) == -1 ||
             fchownat(dir, at, to->uid, to->gid, 0) != 0)
      err = errno;
    if (err)
      mcg_raise_error(mrb, MCG_FAILURE(.err = err, .ctx = ctx, .group = path, .action = "delegate",
                                       .file = **file ? *file : NULL, .value = to->name));
  }
}

struct delegation {
  struct claim c;                /* base, the leaves' contexts, made[]: base made here */
  mrb_bool leaf_made[CTL_COUNT]; /* the leaf made here */
  mrb_value leaf_objects;        /* the leaves' Cgroup objects, for create */
  struct owner to;
};

static mrb_value
delegate_body(mrb_state *mrb, void *p)
{
  struct delegation *d = (struct delegation *)p;
  struct claim *c = &d->c;
  char pid[16];

  for (int i = 0; i < c->count; i++) { /* on v2 this enables the controller in base */
    c->made[i] = !mcg_path_exists(c->leaf[i], c->base);
    d->leaf_made[i] = !mcg_path_exists(c->leaf[i], c->leaf[i]->path);
    mrb_funcall_id(mrb, RARRAY_PTR(d->leaf_objects)[i], MRB_SYM(create), 0);
  }
  snprintf(pid, sizeof pid, "%d", (int)getpid());
  for (int i = 0; i < c->count; i++) {
    struct cgroup_ctx *ctx = c->leaf[i];
    int err;
    if (first_in_hierarchy(c, i) != i) continue;
    hand_over(mrb, ctx, c->base, &d->to);
    hand_over(mrb, ctx, ctx->path, &d->to);
    if ((err = mcg_kernel_write(mrb, ctx, ctx->path, "cgroup.procs", pid, FILE_ONCE)))
      mcg_raise_error(mrb, MCG_FAILURE(.err = err, .ctx = ctx, .action = "delegate",
                                       .file = "cgroup.procs", .value = pid));
  }
  return mrb_nil_value();
}

/* The user named (String: ArgumentError if there is none) or numbered
 * (Integer: its primary group where the user database knows it, else the
 * group of the same number). */
static void
owner_arg(mrb_state *mrb, mrb_value to, struct owner *out)
{
  struct passwd entry, *pw = NULL;
  char buf[4096]; /* the _r lookups: getpwnam's static result is not for threads */
  mrb_int uid;

  if (mrb_string_p(to)) {
    if (getpwnam_r(RSTRING_CSTR(mrb, to), &entry, buf, sizeof buf, &pw) != 0 || !pw)
      mrb_raisef(mrb, E_ARGUMENT_ERROR, "delegate: no such user %v", to);
    out->uid = pw->pw_uid;
    out->gid = pw->pw_gid;
    snprintf(out->name, sizeof out->name, "%s", pw->pw_name);
    return;
  }
  uid = mrb_as_int(mrb, to);
  if (uid < 0 || uid >= (mrb_int)(uid_t)-1)
    mrb_raisef(mrb, E_ARGUMENT_ERROR, "delegate: no such user %v", to);
  if (getpwuid_r((uid_t)uid, &entry, buf, sizeof buf, &pw) != 0) pw = NULL;
  out->uid = (uid_t)uid;
  out->gid = pw ? pw->pw_gid : (gid_t)uid;
  snprintf(out->name, sizeof out->name, "%d", (int)uid);
}

/*
 * Cgroup._delegate(base, to, controllers, leaf) (Cgroup.delegate in
 * mrblib): make base and base/leaf in each controller's hierarchy, hand
 * both to the user `to` as systemd hands a Delegate=yes unit's group, and
 * move this process into the leaf; return base.  What a root master does
 * before its workers drop privileges.  On a failure the groups it made are
 * removed again.
 */
static mrb_value
cgroup_s_delegate(mrb_state *mrb, mrb_value self)
{
  mrb_value base, to, controllers, leaf, exc;
  struct delegation d = {{0}, {0}, mrb_nil_value(), {0, 0, ""}};
  mrb_bool failed = FALSE;
  (void)self;

  mrb_get_args(mrb, "SoAS", &base, &to, &controllers, &leaf);
  if (RARRAY_LEN(controllers) < 1 || RARRAY_LEN(controllers) > CTL_COUNT)
    mrb_raise(mrb, E_ARGUMENT_ERROR, "delegate: name the controllers (:cpu, :memory, ...)");
  owner_arg(mrb, to, &d.to);
  d.leaf_objects = mrb_ary_new(mrb);
  for (mrb_int i = 0; i < RARRAY_LEN(controllers); i++) {
    enum controller_id id = mcg_controller_from(mrb, RARRAY_PTR(controllers)[i]);
    mrb_value group = mcg_group_new(mrb, id, base);
    struct cgroup_ctx *ctx = mcg_get_ctx(mrb, group);
    if (strcmp(ctx->path, "/") == 0)
      mcg_raise_error(mrb, MCG_FAILURE(.cls = "InvalidValue", .err = EINVAL, .ctx = ctx,
                                       .group = "/", .action = "delegate",
                                       .reason = "the root group cannot be handed over"));
    check_leaf_name(mrb, ctx, ctx->path, RSTRING_CSTR(mrb, leaf));
    memcpy(d.c.base, ctx->path, strlen(ctx->path) + 1);
    mrb_ary_push(mrb, d.leaf_objects, add_leaf(mrb, &d.c, id, leaf));
  }
  exc = mrb_protect_error(mrb, delegate_body, &d, &failed);
  if (failed) {
    for (int i = 0; i < d.c.count; i++) {
      if (d.leaf_made[i]) mcg_remove_group_dir(d.c.leaf[i], d.c.leaf[i]->path);
      if (d.c.made[i]) mcg_remove_group_dir(d.c.leaf[i], d.c.base);
    }
    mrb_exc_raise(mrb, exc);
  }
  return mrb_str_new_cstr(mrb, d.c.base);
}

void
mcg_init_delegate(mrb_state *mrb, struct RClass *cgroup)
{
  mrb_define_class_method(mrb, cgroup, "_claim", cgroup_s_claim, MRB_ARGS_REQ(2));
  mrb_define_class_method(mrb, cgroup, "_delegate", cgroup_s_delegate, MRB_ARGS_REQ(4));
}
