/*
 * mruby-cgroup: control groups for mruby, on top of libcgroup.
 *
 * The Ruby surface of the attributes: CGROUP_ATTRIBUTES (one reader and/or
 * writer per cgroup file, on v1 and on v2) and CGROUP_CONTROLLERS (one
 * class per controller, in cgroup.h) are turned by macros into the C
 * wrappers and their definitions; adding an attribute is one line here.
 * The objects' C side, and the staging of values until they are written,
 * are here too.  The methods beside the attributes are defined by the
 * file that holds their code (mcg_init_* below); the Ruby parts in mrblib/.
 *
 * Copyright (c) mruby-cgroup developers.  MIT License, see LICENSE.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mruby.h>
#include <mruby/array.h>
#include <mruby/class.h>
#include <mruby/data.h>
#include <mruby/error.h>
#include <mruby/presym.h>
#include <mruby/string.h>
#include <mruby/variable.h>
#include <mruby/version.h>

#include "cgroup.h"

#if MRUBY_RELEASE_NO < 30200
#define CGROUP_DATA_TT MRB_TT_DATA
#else
#define CGROUP_DATA_TT MRB_TT_CDATA
#endif

/*
 * X(class, Ruby name, kind, access, v1 file, v1 key, v2 file, v2 key, v2 conversion)
 *
 * A NULL file means the attribute does not exist on that cgroup version
 * (Cgroup::Unsupported).  "key" picks one "key value" line of the file.
 * kind (enum value_kind in cgroup.h):
 *         INT    decimal integer; the kernel's "max" reads as -1
 *         LIMIT  integer where Ruby's -1 is written as "max"
 *         STRING text, one value (trailing newline dropped)
 *         DEVLIMIT  a STRING "MAJ:MIN VALUE" (digits only), checked before writing
 *         FLAG   true/false, written as 1/0
 *         FLAT_KEYED    "key value" lines, read as a Hash of Integers
 *         NESTED_KEYED  "KEY key=value ..." lines, a Hash of Hashes (io.stat's
 *                       devices; PSI's "some"/"full" with Float averages)
 *         LIST   space separated integers, read as an Array
 * access: RO, WO, RW; RW_INHERIT is RW plus "copied from the parent on
 *         create when not set" on v1 (a v1 cpuset with empty cpus or mems
 *         refuses every task; on v2 an empty one inherits).
 * v2 conversion (values are staged in v1 form and translated when written
 * or read on v2, by v2.c):
 *         SAME   as is ("-1" is written as "max")
 *         FIELD0, FIELD1  one field of a two-field file (cpu.max)
 *         WEIGHT cpu.shares <-> cpu.weight
 *         USEC   microseconds on v2, nanoseconds in Ruby (read only)
 *         IOMAX  "MAJ:MIN N" <-> the io.max entry named by the v2 key
 *         SWAP   memory+swap <-> memory.swap.X plus memory.X
 * Staged values are written in table order, so a memory limit goes in before
 * the memory+swap limit that must not be lower than it.
 */
#define CGROUP_ATTRIBUTES(X)                                                                       \
  X(CPU, cfs_period_us, INT, RW, "cpu.cfs_period_us", NULL, "cpu.max", NULL, FIELD1)               \
  X(CPU, cfs_quota_us, INT, RW, "cpu.cfs_quota_us", NULL, "cpu.max", NULL, FIELD0)                 \
  X(CPU, rt_period_us, INT, RW, "cpu.rt_period_us", NULL, NULL, NULL, SAME)                        \
  X(CPU, rt_runtime_us, INT, RW, "cpu.rt_runtime_us", NULL, NULL, NULL, SAME)                      \
  X(CPU, shares, INT, RW, "cpu.shares", NULL, "cpu.weight", NULL, WEIGHT)                          \
  X(CPU, cfs_burst_us, INT, RW, "cpu.cfs_burst_us", NULL, "cpu.max.burst", NULL, SAME)             \
  X(CPU, idle, FLAG, RW, "cpu.idle", NULL, "cpu.idle", NULL, SAME)                                 \
  X(CPU, raw_stat, FLAT_KEYED, RO, "cpu.stat", NULL, "cpu.stat", NULL, SAME)                       \
  X(CPU, max, STRING, RW, NULL, NULL, "cpu.max", NULL, SAME)                                       \
  X(CPU, weight, INT, RW, NULL, NULL, "cpu.weight", NULL, SAME)                                    \
  X(CPUACCT, usage, INT, RW, "cpuacct.usage", NULL, "cpu.stat", "usage_usec", USEC)                \
  X(CPUACCT, raw_stat, FLAT_KEYED, RO, "cpuacct.stat", NULL, "cpu.stat", NULL, SAME)               \
  X(CPUACCT, usage_percpu, LIST, RO, "cpuacct.usage_percpu", NULL, NULL, NULL, SAME)               \
  X(CPUSET, cpus, STRING, RW_INHERIT, "cpuset.cpus", NULL, "cpuset.cpus", NULL, SAME)              \
  X(CPUSET, mems, STRING, RW_INHERIT, "cpuset.mems", NULL, "cpuset.mems", NULL, SAME)              \
  X(CPUSET, effective_cpus, STRING, RO, "cpuset.effective_cpus", NULL, "cpuset.cpus.effective",    \
    NULL, SAME)                                                                                    \
  X(CPUSET, effective_mems, STRING, RO, "cpuset.effective_mems", NULL, "cpuset.mems.effective",    \
    NULL, SAME)                                                                                    \
  X(BLKIO, throttle_read_bps_device, DEVLIMIT, RW, "blkio.throttle.read_bps_device", NULL,         \
    "io.max", "rbps", IOMAX)                                                                       \
  X(BLKIO, throttle_write_bps_device, DEVLIMIT, RW, "blkio.throttle.write_bps_device", NULL,       \
    "io.max", "wbps", IOMAX)                                                                       \
  X(BLKIO, throttle_read_iops_device, DEVLIMIT, RW, "blkio.throttle.read_iops_device", NULL,       \
    "io.max", "riops", IOMAX)                                                                      \
  X(BLKIO, throttle_write_iops_device, DEVLIMIT, RW, "blkio.throttle.write_iops_device", NULL,     \
    "io.max", "wiops", IOMAX)                                                                      \
  X(BLKIO, io_service_bytes, STRING, RO, "blkio.throttle.io_service_bytes", NULL, NULL, NULL,      \
    SAME)                                                                                          \
  X(BLKIO, io_serviced, STRING, RO, "blkio.throttle.io_serviced", NULL, NULL, NULL, SAME)          \
  X(IO, max, STRING, RW, NULL, NULL, "io.max", NULL, SAME)                                         \
  X(IO, weight, INT, RW, NULL, NULL, "io.weight", "default", SAME)                                 \
  X(IO, stat, NESTED_KEYED, RO, NULL, NULL, "io.stat", NULL, SAME)                                 \
  X(MEMORY, limit_in_bytes, INT, RW, "memory.limit_in_bytes", NULL, "memory.max", NULL, SAME)      \
  X(MEMORY, memsw_limit_in_bytes, INT, RW, "memory.memsw.limit_in_bytes", NULL, "memory.swap.max", \
    NULL, SWAP)                                                                                    \
  X(MEMORY, soft_limit_in_bytes, INT, RW, "memory.soft_limit_in_bytes", NULL, "memory.low", NULL,  \
    SAME)                                                                                          \
  X(MEMORY, swappiness, INT, RW, "memory.swappiness", NULL, NULL, NULL, SAME)                      \
  X(MEMORY, move_charge_at_immigrate, INT, RW, "memory.move_charge_at_immigrate", NULL, NULL,      \
    NULL, SAME)                                                                                    \
  X(MEMORY, oom_control, FLAG, RW, "memory.oom_control", "oom_kill_disable", NULL, NULL, SAME)     \
  X(MEMORY, cgroup_event_control, STRING, WO, "cgroup.event_control", NULL, NULL, NULL, SAME)      \
  X(MEMORY, max, INT, RW, NULL, NULL, "memory.max", NULL, SAME)                                    \
  X(MEMORY, high, INT, RW, NULL, NULL, "memory.high", NULL, SAME)                                  \
  X(MEMORY, low, INT, RW, NULL, NULL, "memory.low", NULL, SAME)                                    \
  X(MEMORY, min, INT, RW, NULL, NULL, "memory.min", NULL, SAME)                                    \
  X(MEMORY, swap_max, INT, RW, NULL, NULL, "memory.swap.max", NULL, SAME)                          \
  X(MEMORY, zswap_max, INT, RW, NULL, NULL, "memory.zswap.max", NULL, SAME)                        \
  X(MEMORY, oom_group, FLAG, RW, NULL, NULL, "memory.oom.group", NULL, SAME)                       \
  X(MEMORY, usage_in_bytes, INT, RO, "memory.usage_in_bytes", NULL, "memory.current", NULL, SAME)  \
  X(MEMORY, max_usage_in_bytes, INT, RO, "memory.max_usage_in_bytes", NULL, "memory.peak", NULL,   \
    SAME)                                                                                          \
  X(MEMORY, memsw_usage_in_bytes, INT, RO, "memory.memsw.usage_in_bytes", NULL,                    \
    "memory.swap.current", NULL, SWAP)                                                             \
  X(MEMORY, memsw_max_usage_in_bytes, INT, RO, "memory.memsw.max_usage_in_bytes", NULL, NULL,      \
    NULL, SAME)                                                                                    \
  X(MEMORY, failcnt, INT, RO, "memory.failcnt", NULL, "memory.events", "max", SAME)                \
  X(MEMORY, oom_kill_count, INT, RO, "memory.oom_control", "oom_kill", "memory.events",            \
    "oom_kill", SAME)                                                                              \
  X(MEMORY, current, INT, RO, NULL, NULL, "memory.current", NULL, SAME)                            \
  X(MEMORY, peak, INT, RO, NULL, NULL, "memory.peak", NULL, SAME)                                  \
  X(MEMORY, raw_events, FLAT_KEYED, RO, NULL, NULL, "memory.events", NULL, SAME)                   \
  X(MEMORY, raw_stat, FLAT_KEYED, RO, "memory.stat", NULL, "memory.stat", NULL, SAME)              \
  X(PIDS, max, LIMIT, RW, "pids.max", NULL, "pids.max", NULL, SAME)                                \
  X(PIDS, current, INT, RO, "pids.current", NULL, "pids.current", NULL, SAME)                      \
  X(PIDS, events, FLAT_KEYED, RO, "pids.events", NULL, "pids.events", NULL, SAME)                  \
  X(PRESSURE, cpu, NESTED_KEYED, RO, NULL, NULL, "cpu.pressure", NULL, SAME)                       \
  X(PRESSURE, memory, NESTED_KEYED, RO, NULL, NULL, "memory.pressure", NULL, SAME)                 \
  X(PRESSURE, io, NESTED_KEYED, RO, NULL, NULL, "io.pressure", NULL, SAME)                         \
  X(PRESSURE, irq, NESTED_KEYED, RO, NULL, NULL, "irq.pressure", NULL, SAME)                       \
  X(MISC, max, FLAT_KEYED, RO, NULL, NULL, "misc.max", NULL, SAME)                                 \
  X(MISC, current, FLAT_KEYED, RO, NULL, NULL, "misc.current", NULL, SAME)                         \
  X(MISC, events, FLAT_KEYED, RO, NULL, NULL, "misc.events", NULL, SAME)

enum attribute_id {
#define ATTRIBUTE_ENUM(klass, rname, kind, access, f1, k1, f2, k2, conv) ATTR_##klass##_##rname,
  CGROUP_ATTRIBUTES(ATTRIBUTE_ENUM) ATTR_COUNT
#undef ATTRIBUTE_ENUM
};

_Static_assert(ATTR_COUNT <= CGROUP_MAX_ATTRIBUTES, "raise CGROUP_MAX_ATTRIBUTES in cgroup.h");
_Static_assert(CGROUP_MAX_ATTRIBUTES <= 64, "cgroup_ctx.refused has a bit per attribute");

/* ---- One C context per Ruby object ------------------------------------ */

static void
ctx_free(mrb_state *mrb, void *p)
{
  struct cgroup_ctx *ctx = (struct cgroup_ctx *)p;
  int i;

  if (!ctx) return;
  for (i = 0; i < ATTR_COUNT; i++) {
    if (!ctx->staged[i]) continue;
    /* A limit that was set but never written must not pass silently; one
     * the kernel refused was said by the exception of that write. */
    if (!(ctx->refused & (UINT64_C(1) << i)))
      fprintf(stderr,
              "mruby-cgroup: warning: %s:%s: %s = %s was set but never written "
              "(call modify or create)\n",
              mcg_kernel_controller(ctx->controller), ctx->path, mcg_attributes[i].name,
              ctx->staged[i]);
    mrb_free(mrb, ctx->staged[i]);
  }
  mcg_release(ctx);
  for (i = 0; i < ctx->attached_count; i++) mrb_free(mrb, ctx->attached[i].previous);
  mrb_free(mrb, ctx->attached);
  mrb_free(mrb, ctx);
}

static const struct mrb_data_type ctx_type = {"Cgroup", ctx_free};

struct cgroup_ctx *
mcg_get_ctx(mrb_state *mrb, mrb_value self)
{
  struct cgroup_ctx *ctx = (struct cgroup_ctx *)mrb_data_get_ptr(mrb, self, &ctx_type);

  if (!ctx) {
    mrb_raisef(mrb, E_TYPE_ERROR, "uninitialized %s (initialize was not called)",
               mrb_obj_classname(mrb, self));
  }
  return ctx;
}

static mrb_value
cgroup_initialize(mrb_state *mrb, mrb_value self, enum controller_id controller)
{
  char path[PATH_MAX];
  mrb_value name;
  struct cgroup_ctx *ctx;
  size_t len;

  mrb_get_args(mrb, "S", &name);
  /* room for the mount before the name and any file name after it: a name
   * that leaves less could be made, but its files never reached */
  mcg_normalise_name(mrb, controller, name, path,
                     PATH_MAX - mcg_mount_length(controller) - 1 - NAME_MAX);
  len = strlen(path);
  ctx = (struct cgroup_ctx *)mrb_calloc(mrb, 1, sizeof *ctx + len + 1);
  ctx->controller = controller;
  memcpy(ctx->path, path, len + 1);
  ctx_free(mrb, DATA_PTR(self)); /* initialize called again */
  mrb_data_init(self, ctx, &ctx_type);
  mrb_iv_set(mrb, self, MRB_IVSYM(group_name), mrb_str_new(mrb, path, len));
  return self;
}

#define DEFINE_INITIALIZE(klass, name, v1, v2)                                                     \
  static mrb_value klass##_initialize(mrb_state *mrb, mrb_value self)                              \
  {                                                                                                \
    return cgroup_initialize(mrb, self, CTL_##klass);                                              \
  }
CGROUP_CONTROLLERS(DEFINE_INITIALIZE)
#undef DEFINE_INITIALIZE

static const struct {
  const char *name;
  mrb_func_t initialize;
} controller_classes[CTL_COUNT] = {
#define CLASS_ENTRY(klass, name, v1, v2) {#klass, klass##_initialize},
    CGROUP_CONTROLLERS(CLASS_ENTRY)
#undef CLASS_ENTRY
};

/* Cgroup::<class of controller>.new(name) */
mrb_value
mcg_group_new(mrb_state *mrb, enum controller_id controller, mrb_value name)
{
  struct RClass *cgroup = mrb_module_get_id(mrb, MRB_SYM(Cgroup));

  return mrb_obj_new(mrb, mrb_class_get_under(mrb, cgroup, controller_classes[controller].name), 1,
                     &name);
}

/* ---- Attribute readers and writers ------------------------------------ */

/* An attribute's file on the version serving its controller (NULL: none). */
const char *
mcg_attr_file(const struct attribute *attr)
{
  return attr->file[mcg_on_v2(attr->controller)];
}

const char *
mcg_attr_key(const struct attribute *attr)
{
  return attr->key[mcg_on_v2(attr->controller)];
}

static struct cgroup_ctx *
attr_ctx(mrb_state *mrb, mrb_value self, const struct attribute *attr)
{
  struct cgroup_ctx *ctx = mcg_get_ctx(mrb, self);

  if (ctx->controller != attr->controller) {
    mrb_raisef(mrb, E_TYPE_ERROR, "%s is not an attribute of %s", attr->name,
               mrb_obj_classname(mrb, self));
  }
  return ctx;
}

/* The attribute's file on this host; raises Unsupported when the cgroup
 * version serving the controller has no equivalent (v2's usage in
 * microseconds cannot be set, only read). */
static const char *
require_file(mrb_state *mrb, struct cgroup_ctx *ctx, const struct attribute *attr, mrb_bool setting)
{
  const char *file;

  mcg_require_mount(mrb, ctx);
  file = mcg_attr_file(attr);
  if (!file || (setting && mcg_on_v2(ctx->controller) && attr->conversion == V2_USEC)) {
    const char *name = attr->file[0] ? attr->file[0] : attr->name;
    mcg_raise_error(mrb, "Unsupported", EOPNOTSUPP, ctx->controller, ctx->path,
                    setting ? "set" : "read", name, NULL,
                    mcg_on_v2(ctx->controller) ? "no equivalent on cgroup v2" : "cgroup v2 only");
  }
  return file;
}

/* The text of the second file a v2 conversion needs (see v2.c), or nil;
 * staged is the value being written, NULL for a read. */
static mrb_value
partner_text(mrb_state *mrb, struct cgroup_ctx *ctx, const struct attribute *attr,
             const char *staged)
{
  char buf[64];
  const char *file = mcg_v2_partner_file(attr, staged, buf, sizeof buf);

  return file ? mcg_kernel_read(mrb, ctx, ctx->path, file, FILE_OFTEN) : mrb_nil_value();
}

/* A setting reads as its staged value while one is pending, else the
 * kernel's; counters and statistics always come from the kernel. */
static mrb_value
attr_get(mrb_state *mrb, mrb_value self, enum attribute_id id)
{
  const struct attribute *attr = &mcg_attributes[id];
  struct cgroup_ctx *ctx = attr_ctx(mrb, self, attr);
  const char *file = require_file(mrb, ctx, attr, FALSE);
  mrb_value text;

  if (ctx->staged[id]) {
    return mcg_text_to_value(mrb, ctx, attr, ctx->staged[id], strlen(ctx->staged[id]));
  }
  text = mcg_select_key(mrb, ctx, attr, mcg_kernel_read(mrb, ctx, ctx->path, file, FILE_OFTEN));
  if (mcg_on_v2(ctx->controller)) {
    text = mcg_v2_to_v1(mrb, ctx, attr, text, partner_text(mrb, ctx, attr, NULL));
  }
  return mcg_text_to_value(mrb, ctx, attr, RSTRING_PTR(text), RSTRING_LEN(text));
}

/* Stage a value; create, modify or attach writes it. */
static mrb_value
attr_set(mrb_state *mrb, mrb_value self, enum attribute_id id)
{
  const struct attribute *attr = &mcg_attributes[id];
  struct cgroup_ctx *ctx = attr_ctx(mrb, self, attr);
  mrb_value v;
  char *text;

  mrb_get_args(mrb, "o", &v);
  require_file(mrb, ctx, attr, TRUE);
  text = mcg_value_to_text(mrb, ctx, attr, v);
  mrb_free(mrb, ctx->staged[id]);
  ctx->staged[id] = text;
  ctx->refused &= ~(UINT64_C(1) << id); /* a new value, not tried yet */
  return v;
}

#define DEFINE_ACCESSORS(klass, rname, kind, access, f1, k1, f2, k2, conv)                         \
  static mrb_value klass##_get_##rname(mrb_state *mrb, mrb_value self)                             \
  {                                                                                                \
    return attr_get(mrb, self, ATTR_##klass##_##rname);                                            \
  }                                                                                                \
  static mrb_value klass##_set_##rname(mrb_state *mrb, mrb_value self)                             \
  {                                                                                                \
    return attr_set(mrb, self, ATTR_##klass##_##rname);                                            \
  }
CGROUP_ATTRIBUTES(DEFINE_ACCESSORS)
#undef DEFINE_ACCESSORS

const struct attribute mcg_attributes[ATTR_COUNT] = {
#define ATTRIBUTE_ENTRY(klass, rname, kind, access, f1, k1, f2, k2, conv)                          \
  {CTL_##klass, #rname,    KIND_##kind,         ACCESS_##access,    {f1, f2},                      \
   {k1, k2},    V2_##conv, klass##_get_##rname, klass##_set_##rname},
    CGROUP_ATTRIBUTES(ATTRIBUTE_ENTRY)
#undef ATTRIBUTE_ENTRY
};
const int mcg_attribute_count = ATTR_COUNT;

/* ---- Writing staged values -------------------------------------------- */

struct staged_value {
  struct cgroup_ctx *ctx;
  const struct attribute *attr;
  const char *value;
};

/* The text to write on v2 for a staged value, as a String. */
static mrb_value
translate_staged(mrb_state *mrb, void *p)
{
  struct staged_value *sv = (struct staged_value *)p;
  mrb_value partner = partner_text(mrb, sv->ctx, sv->attr, sv->value);

  return mrb_str_new_cstr(mrb, mcg_v1_to_v2(mrb, sv->ctx, sv->attr, sv->value, partner));
}

/* Raise exc, listing in its #written the attributes written before it. */
static mrb_noreturn void
raise_after_written(mrb_state *mrb, mrb_value exc, const int *written, int count)
{
  if (count > 0) {
    mrb_value names = mrb_ary_new_capa(mrb, count);
    int i;
    for (i = 0; i < count; i++) {
      mrb_ary_push(mrb, names, mrb_str_new_cstr(mrb, mcg_attributes[written[i]].name));
    }
    mrb_iv_set(mrb, exc, MRB_IVSYM(written), names);
  }
  mrb_exc_raise(mrb, exc);
}

mrb_bool
mcg_has_staged(const struct cgroup_ctx *ctx)
{
  int i;

  for (i = 0; i < ATTR_COUNT; i++) {
    if (ctx->staged[i]) return TRUE;
  }
  return FALSE;
}

/*
 * Write every staged value, in table order.  Each is written on its own so
 * that a refusal names its file; values written before it are no longer
 * staged (the error lists them in #written), the refused one and those after
 * it stay staged.
 */
void
mcg_write_staged(mrb_state *mrb, struct cgroup_ctx *ctx)
{
  mrb_value exc = mrb_nil_value();
  int i, err, written[ATTR_COUNT], written_count = 0;

  for (i = 0; i < ATTR_COUNT; i++) {
    const struct attribute *attr = &mcg_attributes[i];
    char *value = ctx->staged[i];
    const char *text = value, *file = mcg_attr_file(attr);
    mrb_bool failed = FALSE;
    if (!value) continue;
    if (mcg_on_v2(ctx->controller)) { /* v1 writes the staged text as it is */
      exc = mrb_protect_error(mrb, translate_staged,
                              (void *)&(struct staged_value){ctx, attr, value}, &failed);
      if (!failed) text = RSTRING_PTR(exc);
    }
    if (!failed && (err = mcg_kernel_write(mrb, ctx, ctx->path, file, text, FILE_OFTEN))) {
      exc = mcg_make_error(mrb, NULL, err, ctx->controller, ctx->path, "write", file, text, NULL);
      failed = TRUE;
    }
    if (failed) {
      ctx->refused |= UINT64_C(1) << i;
      raise_after_written(mrb, exc, written, written_count);
    }
    written[written_count++] = i; /* Ruby names for them only if one fails */
    ctx->staged[i] = NULL;
    mrb_free(mrb, value);
  }
}

/*
 * cgroup v1: give the new group at path its parent's value of every
 * inheritable setting, except those staged for it when it is the target of
 * create (v2 children inherit by themselves).
 */
void
mcg_copy_inherited_settings(mrb_state *mrb, struct cgroup_ctx *ctx, const char *path,
                            mrb_bool target)
{
  char parent[PATH_MAX];
  int i, err;

  if (mcg_on_v2(ctx->controller)) return;
  mcg_parent_of(path, parent);
  for (i = 0; i < ATTR_COUNT; i++) {
    const struct attribute *attr = &mcg_attributes[i];
    const char *value, *file = mcg_attr_file(attr);
    if (attr->controller != ctx->controller || !(attr->access & ACCESS_INHERIT)) continue;
    if (target && ctx->staged[i]) continue;
    value = mcg_kernel_read_line(mrb, ctx, parent, file);
    err = mcg_kernel_write(mrb, ctx, path, file, value, FILE_ONCE);
    if (err) mcg_raise_error(mrb, NULL, err, ctx->controller, path, "write", file, value, NULL);
  }
}

/* ---- Definitions ------------------------------------------------------ */

static void
define_attribute(mrb_state *mrb, struct RClass *klass, const struct attribute *attr)
{
  char setter[64];

  if (attr->access & ACCESS_RO) {
    mrb_define_method(mrb, klass, attr->name, attr->reader, MRB_ARGS_NONE());
  }
  if (attr->access & ACCESS_WO) {
    snprintf(setter, sizeof setter, "%s=", attr->name);
    mrb_define_method(mrb, klass, setter, attr->writer, MRB_ARGS_REQ(1));
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
    classes[i] = mrb_define_class_under(mrb, cgroup, controller_classes[i].name, mrb->object_class);
    MRB_SET_INSTANCE_TT(classes[i], CGROUP_DATA_TT);
    mrb_include_module(mrb, classes[i], cgroup);
    mrb_define_method(mrb, classes[i], "initialize", controller_classes[i].initialize,
                      MRB_ARGS_REQ(1));
    mrb_define_const(mrb, classes[i], "CONTROLLER",
                     mrb_str_new_cstr(mrb, mcg_own_controller_name((enum controller_id)i)));
  }
  for (i = 0; i < ATTR_COUNT; i++) {
    define_attribute(mrb, classes[mcg_attributes[i].controller], &mcg_attributes[i]);
  }
  mcg_init_group(mrb, cgroup);
  mcg_init_tasks(mrb, cgroup);
  mcg_init_wait(mrb, cgroup);
  mcg_init_spawn(mrb, cgroup);
  mcg_init_files(mrb, cgroup);
  mcg_init_pressure(mrb, cgroup);
  mcg_init_memory(mrb, cgroup);
  mcg_init_meter(mrb, cgroup);
  mcg_init_delegate(mrb, cgroup);
  mcg_init_scope(mrb, cgroup);
  mcg_init_module(mrb, cgroup);
}

void
mrb_mruby_cgroup_gem_final(mrb_state *mrb)
{
  (void)mrb;
}
