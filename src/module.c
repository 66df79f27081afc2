/*
 * Functions of the Cgroup module that act on a controller rather than on
 * one group: the groups of a hierarchy, the version serving a controller,
 * the controllers available here, the calling thread's group.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <fts.h>
#include <string.h>
#include <unistd.h>

#include <mruby.h>
#include <mruby/array.h>
#include <mruby/error.h>
#include <mruby/presym.h>
#include <mruby/string.h>

#include "cgroup.h"

/* The controller a name ("memory", :io, "cpuacct", ...) stands for: the
 * class served by a controller of that name here, else the class named so. */
enum controller_id
mcg_controller_from(mrb_state *mrb, mrb_value name)
{
  const char *s;
  int i;

  if (mrb_symbol_p(name)) name = mrb_sym_str(mrb, mrb_symbol(name));
  s = mrb_string_value_cstr(mrb, &name);
  mcg_require_hierarchies(mrb);
  for (i = 0; i < CTL_COUNT; i++) {
    if (mcg_version(i) && strcmp(mcg_kernel_controller(i), s) == 0) return (enum controller_id)i;
  }
  for (i = 0; i < CTL_COUNT; i++) { /* the class's own name: "cpuacct", "io" */
    if (strcmp(mcg_own_controller_name(i), s) == 0) return (enum controller_id)i;
  }
  mrb_raisef(mrb, E_ARGUMENT_ERROR, "unknown controller %s", s);
}

/* The group named by (controller, name) as a Cgroup::X object's context:
 * the name checked as for X.new. */
static struct cgroup_ctx *
group_arg(mrb_state *mrb, mrb_value controller, mrb_value name)
{
  return mcg_get_ctx(mrb, mcg_group_new(mrb, mcg_controller_from(mrb, controller), name));
}

struct walk {
  FTS *fts;
  size_t mount_len;
  mrb_value list;
  int err;
};

/* fts over the tree into walk->list (may raise NoMemoryError: the caller
 * closes the fts).  A directory below the top that cannot be read because
 * it is gone (ENOENT) was removed by another process during the walk: it
 * held nothing, and is left out; any other failure stops the walk, since a
 * partial list would pass for the whole. */
static mrb_value
walk_body(mrb_state *mrb, void *arg)
{
  struct walk *w = (struct walk *)arg;
  FTSENT *e;

  for (errno = 0; !w->err && (e = fts_read(w->fts)); errno = 0) {
    if (e->fts_info == FTS_DNR || e->fts_info == FTS_ERR) {
      if (e->fts_level == FTS_ROOTLEVEL || e->fts_errno != ENOENT) w->err = e->fts_errno;
    } else if (e->fts_info == FTS_D) {
      const char *below = e->fts_path + w->mount_len;
      mrb_ary_push(mrb, w->list, mrb_str_new_cstr(mrb, *below ? below : "/"));
    }
  }
  if (!w->err && errno != ENOENT) w->err = errno; /* fts_read's own failure; 0 at the end */
  return mrb_nil_value();
}

/* The directories at and below full into list, as paths below the mount;
 * 0 or the errno of a directory that could not be read. */
static int
walk_groups(mrb_state *mrb, char *full, size_t mount_len, mrb_value list)
{
  char *roots[2] = {full, NULL};
  struct walk w = {fts_open(roots, FTS_PHYSICAL | FTS_NOCHDIR, NULL), mount_len, list, 0};
  mrb_bool failed;
  mrb_value exc;

  if (!w.fts) return errno;
  exc = mrb_protect_error(mrb, walk_body, &w, &failed);
  fts_close(w.fts);
  if (failed) mrb_exc_raise(mrb, exc);
  return w.err;
}

/* The paths of ctx's group and every group below it, sorted (so a parent
 * comes before its children); NotFound if the group is not there. */
mrb_value
mcg_subtree(mrb_state *mrb, struct cgroup_ctx *ctx, const char *action)
{
  mrb_value list = mrb_ary_new(mrb);
  char full[PATH_MAX];
  int err;

  mcg_require_mount(mrb, ctx);
  if (!mcg_mount_path(mrb, ctx, ctx->path, NULL, full) || !mcg_path_exists(mrb, ctx, ctx->path)) {
    mcg_raise_error(mrb, "NotFound", ENOENT, ctx->controller, ctx->path, action, NULL, NULL,
                    "no such group");
  }
  err = walk_groups(mrb, full, strlen(mcg_mount_point(ctx->controller)), list);
  if (err) mcg_raise_error(mrb, NULL, err, ctx->controller, ctx->path, action, NULL, NULL, NULL);
  return mrb_funcall_id(mrb, list, MRB_SYM(sort), 0);
}

/* Cgroup.groups(controller, base = "/"): every group at and below base,
 * as paths relative to the mount, sorted (what lscgroup lists). */
static mrb_value
cgroup_s_groups(mrb_state *mrb, mrb_value self)
{
  mrb_value name, base = mrb_str_new_lit(mrb, "/");
  (void)self;

  mrb_get_args(mrb, "o|S", &name, &base);
  return mcg_subtree(mrb, group_arg(mrb, name, base), "list groups");
}

/* Cgroup.version(controller) => 1, 2, or nil when it is not available */
static mrb_value
cgroup_s_version(mrb_state *mrb, mrb_value self)
{
  mrb_value name;
  enum controller_id id;
  (void)self;

  mrb_get_args(mrb, "o", &name);
  id = mcg_controller_from(mrb, name);
  return mcg_version(id) ? mrb_int_value(mrb, mcg_version(id)) : mrb_nil_value();
}

/* Cgroup.group(controller, name) => the Cgroup::X object of that group
 * (Cgroup.group(:memory, "/web") is Cgroup::MEMORY.new("/web")) */
static mrb_value
cgroup_s_group(mrb_state *mrb, mrb_value self)
{
  mrb_value controller, name;
  (void)self;

  mrb_get_args(mrb, "oS", &controller, &name);
  return mcg_group_new(mrb, mcg_controller_from(mrb, controller), name);
}

/* Cgroup.__raise(group, class_name, errno, action, reason): the gem's
 * exception about a group, for the parts written in Ruby (Cgroup::Pool). */
static mrb_value
cgroup_s_raise(mrb_state *mrb, mrb_value self)
{
  mrb_value group;
  const char *cls, *action, *reason;
  mrb_int err;
  struct cgroup_ctx *ctx;
  (void)self;

  mrb_get_args(mrb, "ozizz!", &group, &cls, &err, &action, &reason);
  ctx = mcg_get_ctx(mrb, group);
  mcg_raise_error(mrb, cls, (int)err, ctx->controller, ctx->path, action, NULL, NULL, reason);
}

/* Cgroup.controllers => the controllers available here, by kernel name */
static mrb_value
cgroup_s_controllers(mrb_state *mrb, mrb_value self)
{
  mrb_value list = mrb_ary_new(mrb), name;
  int i;
  (void)self;

  mcg_require_hierarchies(mrb);
  for (i = 0; i < CTL_COUNT; i++) {
    if (!mcg_version(i)) continue;
    name = mrb_str_new_cstr(mrb, mcg_served_without_controller(i) ? mcg_own_controller_name(i)
                                                                  : mcg_kernel_controller(i));
    if (!mrb_test(mrb_funcall_id(mrb, list, MRB_SYM_Q(include), 1, name)))
      mrb_ary_push(mrb, list, name);
  }
  return list;
}

/* Cgroup.current_path(controller) => the calling thread's group, e.g.
 * "/user.slice/session-1.scope", to build names inside a delegated subtree */
static mrb_value
cgroup_s_current_path(mrb_state *mrb, mrb_value self)
{
  mrb_value name;
  struct cgroup_ctx *ctx;
  char path[PATH_MAX];
  int err;
  (void)self;

  mrb_get_args(mrb, "o", &name);
  ctx = group_arg(mrb, name, mrb_str_new_lit(mrb, "/"));
  mcg_require_mount(mrb, ctx);
  if ((err = mcg_current_group(mrb, ctx, mcg_calling_thread(), path))) {
    mcg_raise_error(mrb, NULL, err, ctx->controller, ctx->path, "read", "/proc/thread-self/cgroup",
                    NULL, NULL);
  }
  return mrb_str_new_cstr(mrb, path);
}

/* Cgroup.hugepage_sizes => the huge page sizes of this kernel as the hugetlb
 * controller names its files ("2MB", "1GB"), smallest first; [] if none */
static mrb_value
cgroup_s_hugepage_sizes(mrb_state *mrb, mrb_value self)
{
  DIR *dir = opendir("/sys/kernel/mm/hugepages");
  unsigned long kb[8];
  int n = 0, i, j;
  struct dirent *e;
  mrb_value list = mrb_ary_new(mrb);
  char name[32];
  (void)self;

  while (dir && n < 8 && (e = readdir(dir))) {
    if (sscanf(e->d_name, "hugepages-%lukB", &kb[n]) == 1) n++;
  }
  if (dir) closedir(dir);
  for (i = 1; i < n; i++) { /* a few entries: insertion sort */
    unsigned long v = kb[i];
    for (j = i; j > 0 && kb[j - 1] > v; j--) kb[j] = kb[j - 1];
    kb[j] = v;
  }
  for (i = 0; i < n; i++) { /* the kernel's names: GB from 1 GiB, MB from 1 MiB, else KB */
    if (kb[i] >= 1024 * 1024)
      snprintf(name, sizeof name, "%luGB", kb[i] / (1024 * 1024));
    else if (kb[i] >= 1024)
      snprintf(name, sizeof name, "%luMB", kb[i] / 1024);
    else
      snprintf(name, sizeof name, "%luKB", kb[i]);
    mrb_ary_push(mrb, list, mrb_str_new_cstr(mrb, name));
  }
  return list;
}

void
mcg_init_module(mrb_state *mrb, struct RClass *cgroup)
{
  /* the unit of v1's cpuacct.stat */
  mrb_define_const(mrb, cgroup, "USER_HZ", mrb_int_value(mrb, sysconf(_SC_CLK_TCK)));
  mrb_define_class_method(mrb, cgroup, "groups", cgroup_s_groups, MRB_ARGS_ARG(1, 1));
  mrb_define_class_method(mrb, cgroup, "version", cgroup_s_version, MRB_ARGS_REQ(1));
  mrb_define_class_method(mrb, cgroup, "controllers", cgroup_s_controllers, MRB_ARGS_NONE());
  mrb_define_class_method(mrb, cgroup, "group", cgroup_s_group, MRB_ARGS_REQ(2));
  mrb_define_class_method(mrb, cgroup, "__raise", cgroup_s_raise, MRB_ARGS_REQ(5));
  mrb_define_class_method(mrb, cgroup, "current_path", cgroup_s_current_path, MRB_ARGS_REQ(1));
  mrb_define_class_method(mrb, cgroup, "hugepage_sizes", cgroup_s_hugepage_sizes, MRB_ARGS_NONE());
}
