/*
 * mruby-cgroup: control groups for mruby, on top of libcgroup.
 *
 * The roof of the house: the gem's init.  It makes the classes of the two
 * tables (CGROUP_CONTROLLERS in cgroup.h, CGROUP_ATTRIBUTES in attribute_table.h),
 * with a reader and writer generated here for every attribute (their work
 * is attribute.c's), then lets each feature file define its own methods
 * (mcg_init_* below).  Nothing calls into this file; the Ruby parts are in
 * mrblib/.
 *
 * Copyright (c) mruby-cgroup developers.  MIT License, see LICENSE.
 */

#include <stdio.h>

#include <mruby.h>
#include <mruby/class.h>
#include <mruby/string.h>
#include <mruby/version.h>

#include "cgroup.h"

#if MRUBY_RELEASE_NO < 30200
#define CGROUP_DATA_TT MRB_TT_DATA
#else
#define CGROUP_DATA_TT MRB_TT_CDATA
#endif

#define DEFINE_INITIALIZE(klass, name, v1, v2)                                                     \
  static mrb_value klass##_initialize(mrb_state *mrb, mrb_value self)                              \
  {                                                                                                \
    return mcg_initialize(mrb, self, CTL_##klass);                                                 \
  }
CGROUP_CONTROLLERS(DEFINE_INITIALIZE)
#undef DEFINE_INITIALIZE

static const mrb_func_t initializers[CTL_COUNT] = {
#define INITIALIZER(klass, name, v1, v2) klass##_initialize,
    CGROUP_CONTROLLERS(INITIALIZER)
#undef INITIALIZER
};

#define DEFINE_ACCESSORS(klass, rname, kind, access, f1, k1, f2, k2, conv)                         \
  static mrb_value klass##_get_##rname(mrb_state *mrb, mrb_value self)                             \
  {                                                                                                \
    return mcg_attr_get(mrb, self, ATTR_##klass##_##rname);                                        \
  }                                                                                                \
  static mrb_value klass##_set_##rname(mrb_state *mrb, mrb_value self)                             \
  {                                                                                                \
    return mcg_attr_set(mrb, self, ATTR_##klass##_##rname);                                        \
  }
CGROUP_ATTRIBUTES(DEFINE_ACCESSORS)
#undef DEFINE_ACCESSORS

static const struct {
  mrb_func_t reader, writer;
} accessors[ATTR_COUNT] = {
#define ACCESSOR_PAIR(klass, rname, kind, access, f1, k1, f2, k2, conv)                            \
  {klass##_get_##rname, klass##_set_##rname},
    CGROUP_ATTRIBUTES(ACCESSOR_PAIR)
#undef ACCESSOR_PAIR
};

static void
define_attribute(mrb_state *mrb, struct RClass *klass, enum attribute_id id)
{
  const struct attribute *attr = &mcg_attributes[id];
  char setter[64];

  if (attr->access & ACCESS_RO) {
    mrb_define_method(mrb, klass, attr->name, accessors[id].reader, MRB_ARGS_NONE());
  }
  if (attr->access & ACCESS_WO) {
    snprintf(setter, sizeof setter, "%s=", attr->name);
    mrb_define_method(mrb, klass, setter, accessors[id].writer, MRB_ARGS_REQ(1));
  }
}

void
mrb_mruby_cgroup_gem_init(mrb_state *mrb)
{
  struct RClass *cgroup = mrb_define_module(mrb, "Cgroup");
  struct RClass *classes[CTL_COUNT];
  int i;

  mcg_init_errors(mrb, cgroup);
  mcg_init_kept(mrb, cgroup);
  for (i = 0; i < CTL_COUNT; i++) {
    enum controller_id id = (enum controller_id)i;
    classes[i] = mrb_define_class_under(mrb, cgroup, mcg_class_name(id), mrb->object_class);
    MRB_SET_INSTANCE_TT(classes[i], CGROUP_DATA_TT);
    mrb_include_module(mrb, classes[i], cgroup);
    mrb_define_method(mrb, classes[i], "initialize", initializers[i], MRB_ARGS_REQ(1));
    mrb_define_const(mrb, classes[i], "CONTROLLER",
                     mrb_str_new_cstr(mrb, mcg_own_controller_name(id)));
  }
  for (i = 0; i < ATTR_COUNT; i++) {
    define_attribute(mrb, classes[mcg_attributes[i].controller], (enum attribute_id)i);
  }
  mcg_init_group(mrb, cgroup);
  mcg_init_tasks(mrb, cgroup);
  mcg_init_kill(mrb, cgroup);
  mcg_init_wait(mrb, cgroup);
  mcg_init_spawn(mrb, cgroup);
  mcg_init_files(mrb, cgroup);
  mcg_init_pressure(mrb, cgroup);
  mcg_init_memory(mrb, cgroup);
  mcg_init_accounting(mrb, cgroup);
  mcg_init_worker(mrb, cgroup);
  mcg_init_delegate(mrb, cgroup);
  mcg_init_scope(mrb, cgroup);
  mcg_init_module(mrb, cgroup);
}

void
mrb_mruby_cgroup_gem_final(mrb_state *mrb)
{
  (void)mrb;
}
