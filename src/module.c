/*
 * Functions of the Cgroup module that act on a controller rather than on
 * one group: the groups of a hierarchy, the version serving a controller,
 * the controllers available here, the calling thread's group; and on the
 * host: its huge page sizes, whether favordynmods is in force.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <mruby.h>
#include <mruby/array.h>
#include <mruby/error.h>
#include <mruby/presym.h>
#include <mruby/string.h>

#include "cgroup.h"

/* The group named by (controller, name) as a Cgroup::X object's context:
 * the name checked as for X.new. */
static struct cgroup_ctx *
group_arg(mrb_state *mrb, mrb_value controller, mrb_value name)
{
  return mcg_get_ctx(mrb, mcg_group_new(mrb, mcg_controller_from(mrb, controller), name));
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

/* Cgroup._raise(group, class_name, action, reason): the gem's exception
 * about a group, for the parts written in Ruby (Cgroup::Pool), with the
 * errno its class stands for (Busy: EBUSY), so Ruby names no errno. */
static mrb_value
cgroup_s_raise(mrb_state *mrb, mrb_value self)
{
  mrb_value group;
  const char *cls, *action, *reason;
  struct cgroup_ctx *ctx;
  (void)self;

  mrb_get_args(mrb, "ozzz!", &group, &cls, &action, &reason);
  ctx = mcg_get_ctx(mrb, group);
  mcg_raise_error(mrb, MCG_FAILURE(.cls = cls, .err = mcg_errno_for_class(cls), .ctx = ctx,
                                   .action = action, .reason = reason));
}

/* Cgroup.close_kept: every descriptor the gem keeps open in this state
 * closed, opened anew at its next use (kept_files.c says when a program
 * needs it: another user or cgroup namespace, another LSM label). */
static mrb_value
cgroup_s_close_kept(mrb_state *mrb, mrb_value self)
{
  (void)self;
  mcg_close_kept(mrb);
  return mrb_nil_value();
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
  if ((err = mcg_current_group(mrb, ctx, mcg_calling_thread(), path)))
    mcg_raise_unreadable_group(mrb, ctx, mcg_calling_thread(), err, path);
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

/* Cgroup.favordynmods? => whether the kernel's moves are made without
 * waiting after a quiet spell: some cgroup or cgroup2 mount shows the
 * option favordynmods (read afresh each call: a remount changes it). */
static mrb_value
cgroup_s_favordynmods_p(mrb_state *mrb, mrb_value self)
{
  int found = mcg_favordynmods();
  (void)self;

  if (found < 0)
    mcg_raise_process_error(mrb, MCG_FAILURE(.err = -found, .action = "read /proc/self/mountinfo",
                                             .reason = strerror(-found)));
  return mrb_bool_value(found);
}

/* Cgroup.warn_moves = false: no warning about moves at a server's pace
 * without favordynmods, from this process (all its mrb_states). */
static mrb_value
cgroup_s_set_warn_moves(mrb_state *mrb, mrb_value self)
{
  mrb_bool on;
  (void)self;

  mrb_get_args(mrb, "b", &on);
  mcg_set_warn_moves(on);
  return mrb_bool_value(on);
}

static mrb_value
cgroup_s_warn_moves(mrb_state *mrb, mrb_value self)
{
  (void)mrb;
  (void)self;
  return mrb_bool_value(mcg_warn_moves());
}

void
mcg_init_module(mrb_state *mrb, struct RClass *cgroup)
{
  /* the unit of v1's cpuacct.stat */
  mrb_define_const(mrb, cgroup, "USER_HZ", mrb_int_value(mrb, sysconf(_SC_CLK_TCK)));
  mrb_define_class_method(mrb, cgroup, "groups", cgroup_s_groups, MRB_ARGS_ARG(1, 1));
  mrb_define_class_method(mrb, cgroup, "version", cgroup_s_version, MRB_ARGS_REQ(1));
  mrb_define_class_method(mrb, cgroup, "controllers", cgroup_s_controllers, MRB_ARGS_NONE());
  mrb_define_class_method(mrb, cgroup, "close_kept", cgroup_s_close_kept, MRB_ARGS_NONE());
  mrb_define_class_method(mrb, cgroup, "group", cgroup_s_group, MRB_ARGS_REQ(2));
  mrb_define_class_method(mrb, cgroup, "_raise", cgroup_s_raise, MRB_ARGS_REQ(4));
  mrb_define_class_method(mrb, cgroup, "current_path", cgroup_s_current_path, MRB_ARGS_REQ(1));
  mrb_define_class_method(mrb, cgroup, "hugepage_sizes", cgroup_s_hugepage_sizes, MRB_ARGS_NONE());
  mrb_define_class_method(mrb, cgroup, "favordynmods?", cgroup_s_favordynmods_p, MRB_ARGS_NONE());
  mrb_define_class_method(mrb, cgroup, "warn_moves=", cgroup_s_set_warn_moves, MRB_ARGS_REQ(1));
  mrb_define_class_method(mrb, cgroup, "warn_moves", cgroup_s_warn_moves, MRB_ARGS_NONE());
}
