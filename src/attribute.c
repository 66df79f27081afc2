/*
 * One attribute of a group: read from its file (or as its staged value
 * while one is pending), staged by its writer, and the staged values
 * written by create, modify and attach in table order; on v2 through the
 * conversions of v2.c.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include <mruby.h>
#include <mruby/array.h>
#include <mruby/error.h>
#include <mruby/presym.h>
#include <mruby/string.h>
#include <mruby/variable.h>

#include "cgroup.h"

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
  file = mcg_attr_file(ctx, attr);
  if (!file || (setting && mcg_ctx_on_v2(ctx) && attr->conversion == V2_USEC)) {
    const char *name = attr->file[0] ? attr->file[0] : attr->name;
    mcg_raise_error(mrb, MCG_FAILURE(.cls = "Unsupported", .err = EOPNOTSUPP, .ctx = ctx,
                                     .action = setting ? "set" : "read", .file = name,
                                     .reason = mcg_ctx_on_v2(ctx) ? "no equivalent on cgroup v2"
                                                                  : "cgroup v2 only"));
  }
  return file;
}

/* The text of the second file a v2 conversion needs (see v2.c), or nil;
 * staged is the value being written, NULL for a read. */
static mrb_value
partner_text(mrb_state *mrb, struct cgroup_ctx *ctx, const struct attribute *attr,
             const struct staged_value *staged, struct kept_cycle *cycle)
{
  char buf[64];
  const char *file = mcg_v2_partner_file(attr, staged, buf, sizeof buf);

  return file ? mcg_kernel_read_in(mrb, ctx, ctx->path, file, cycle) : mrb_nil_value();
}

/* A setting reads as its staged value while one is pending, else the
 * kernel's; counters and statistics always come from the kernel. */
mrb_value
mcg_attr_get(mrb_state *mrb, mrb_value self, enum attribute_id id)
{
  const struct attribute *attr = &mcg_attributes[id];
  struct cgroup_ctx *ctx = attr_ctx(mrb, self, attr);
  const char *file = require_file(mrb, ctx, attr, FALSE);
  struct kept_cycle cycle; /* the file and its v2 partner */
  mrb_value text;

  if (ctx->staged[id]) return mcg_staged_to_value(mrb, attr, ctx->staged[id]);
  mcg_kept_cycle_begin(ctx, &cycle);
  text = mcg_select_key(mrb, ctx, attr, mcg_kernel_read_in(mrb, ctx, ctx->path, file, &cycle));
  if (mcg_ctx_on_v2(ctx)) {
    text = mcg_v2_to_v1(mrb, ctx, attr, text, partner_text(mrb, ctx, attr, NULL, &cycle));
  }
  return mcg_text_to_value(mrb, ctx, attr, RSTRING_PTR(text), RSTRING_LEN(text));
}

/* Stage v as attribute id's value; create, modify or attach writes it. */
void
mcg_attr_stage(mrb_state *mrb, mrb_value self, enum attribute_id id, mrb_value v)
{
  const struct attribute *attr = &mcg_attributes[id];
  struct cgroup_ctx *ctx = attr_ctx(mrb, self, attr);
  struct staged_value *staged;

  require_file(mrb, ctx, attr, TRUE);
  staged = mcg_stage_value(mrb, ctx, attr, v);
  mrb_free(mrb, ctx->staged[id]);
  ctx->staged[id] = staged;
  ctx->reported &= ~(UINT64_C(1) << id); /* a new value, not tried yet */
}

/* Raise as staging v as attribute id's value would (the file missing in
 * this cgroup version, a value of the wrong type or out of range), without
 * staging it: Cgroup::Worker's limits, checked before it makes a group. */
void
mcg_attr_check(mrb_state *mrb, mrb_value self, enum attribute_id id, mrb_value v)
{
  const struct attribute *attr = &mcg_attributes[id];
  struct cgroup_ctx *ctx = attr_ctx(mrb, self, attr);

  require_file(mrb, ctx, attr, TRUE);
  mrb_free(mrb, mcg_stage_value(mrb, ctx, attr, v));
}

/* An attribute's writer: stage the value given. */
mrb_value
mcg_attr_set(mrb_state *mrb, mrb_value self, enum attribute_id id)
{
  mrb_value v;

  mrb_get_args(mrb, "o", &v);
  mcg_attr_stage(mrb, self, id, v);
  return v;
}

struct v2_write {
  struct cgroup_ctx *ctx;
  const struct attribute *attr;
  const struct staged_value *value;
  struct kept_cycle *cycle;
};

/* The text to write on v2 for a staged value, as a String. */
static mrb_value
v2_text(mrb_state *mrb, void *p)
{
  struct v2_write *w = (struct v2_write *)p;
  mrb_value partner = partner_text(mrb, w->ctx, w->attr, w->value, w->cycle);

  return mrb_str_new_cstr(mrb, mcg_v2_text(mrb, w->ctx, w->attr, w->value, partner));
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

/* A write of the staged values failed, and its exception told the caller
 * that they were not written: the ones still staged (kept for a retry) are
 * not warned about when the object is collected. */
void
mcg_staged_told(struct cgroup_ctx *ctx)
{
  for (int i = 0; i < ATTR_COUNT; i++) {
    if (ctx->staged[i]) ctx->reported |= UINT64_C(1) << i;
  }
}

/* A memory limit in bytes; -1 reads as LLONG_MAX (the kernel's
 * "unlimited" is a page count near it, which compares as the largest too). */
static long long
memory_bytes(long long limit)
{
  return limit >= 0 ? limit : LLONG_MAX;
}

/* The kernel's v1 memory limit text in bytes, as memory_bytes. */
static long long
kernel_memory_bytes(mrb_state *mrb, struct cgroup_ctx *ctx, enum attribute_id id, mrb_value text)
{
  mrb_value v =
      mcg_text_to_value(mrb, ctx, &mcg_attributes[id], RSTRING_PTR(text), RSTRING_LEN(text));

  return mrb_integer_p(v) ? memory_bytes((long long)mrb_integer(v)) : LLONG_MAX;
}

/* The memory+swap limit in force, as a String, for mrb_protect_error. */
static mrb_value
read_memsw_limit(mrb_state *mrb, void *p)
{
  struct cgroup_ctx *ctx = (struct cgroup_ctx *)p;
  const char *file = mcg_attributes[ATTR_MEMORY_memsw_limit_in_bytes].file[0];

  return mcg_kernel_read(mrb, ctx, ctx->path, file, FILE_OFTEN);
}

/*
 * v1 refuses, at every step, a memory limit above the memory+swap limit and
 * a memory+swap limit below the memory limit.  When both are staged, the
 * memory limit goes first unless the memory+swap limit in force is below
 * its new value (a raise): then memory+swap goes first, which the new pair
 * being valid lets in.  Where that limit cannot be read (no swap
 * accounting: no such file; the group gone) table order stands and the
 * writes say what is wrong.  v2's memory.swap.max is computed from
 * memory.max, which must be written first, and has no such rule.
 */
static mrb_bool
memsw_goes_first(mrb_state *mrb, struct cgroup_ctx *ctx)
{
  const struct staged_value *memory = ctx->staged[ATTR_MEMORY_limit_in_bytes];
  mrb_bool failed = FALSE;
  mrb_value current;

  if (!memory || !ctx->staged[ATTR_MEMORY_memsw_limit_in_bytes] || mcg_ctx_on_v2(ctx)) return FALSE;
  current = mrb_protect_error(mrb, read_memsw_limit, ctx, &failed);
  return !failed && memory_bytes(memory->number) >
                        kernel_memory_bytes(mrb, ctx, ATTR_MEMORY_memsw_limit_in_bytes, current);
}

/* The i-th attribute to write: table order, but for the memory pair. */
static int
write_order(int i, mrb_bool swap_memory_pair)
{
  if (swap_memory_pair && i == ATTR_MEMORY_limit_in_bytes) return ATTR_MEMORY_memsw_limit_in_bytes;
  if (swap_memory_pair && i == ATTR_MEMORY_memsw_limit_in_bytes) return ATTR_MEMORY_limit_in_bytes;
  return i;
}

/* Why v1 refuses a valid number for one of the memory pair (its only
 * EINVAL below the root), or NULL for strerror's word. */
static const char *
refusal_reason(struct cgroup_ctx *ctx, const struct attribute *attr, int err)
{
  if (err != EINVAL || mcg_ctx_on_v2(ctx) || strcmp(ctx->path, "/") == 0) return NULL;
  if (attr == &mcg_attributes[ATTR_MEMORY_limit_in_bytes])
    return "Invalid argument (above memory.memsw.limit_in_bytes: set both limits, then modify)";
  if (attr == &mcg_attributes[ATTR_MEMORY_memsw_limit_in_bytes])
    return "Invalid argument (below memory.limit_in_bytes)";
  return NULL;
}

/* Write one staged value; nil, or the exception of its refusal. */
static mrb_value
write_one(mrb_state *mrb, struct cgroup_ctx *ctx, const struct attribute *attr,
          const struct staged_value *value, struct kept_cycle *cycle)
{
  const char *text, *file = mcg_attr_file(ctx, attr);
  mrb_bool failed = FALSE;
  mrb_value translated;
  char buf[32];
  int err;

  if (mcg_ctx_on_v2(ctx)) {
    translated = mrb_protect_error(mrb, v2_text,
                                   (void *)&(struct v2_write){ctx, attr, value, cycle}, &failed);
    if (failed) return translated;
    text = RSTRING_PTR(translated);
  } else {
    text = mcg_staged_v1_text(attr, value, buf);
  }
  err = mcg_kernel_write_in(mrb, ctx, ctx->path, file, text, cycle);
  if (!err) return mrb_nil_value();
  return mcg_make_error(mrb, MCG_FAILURE(.err = err, .ctx = ctx, .action = "write", .file = file,
                                         .value = text, .reason = refusal_reason(ctx, attr, err)));
}

/* Whether exc says the value can never be written here (InvalidValue, or
 * Unsupported: no such file), not the moment: the group gone, no
 * permission, no descriptor free. */
static mrb_bool
value_refused(mrb_state *mrb, mrb_value exc)
{
  return mcg_error_is(mrb, exc, "InvalidValue") || mcg_error_is(mrb, exc, "Unsupported");
}

/* Unstage the values at ids: they are in the kernel (or were refused). */
static void
unstage(mrb_state *mrb, struct cgroup_ctx *ctx, const int *ids, int count)
{
  int i;

  for (i = 0; i < count; i++) {
    mrb_free(mrb, ctx->staged[ids[i]]);
    ctx->staged[ids[i]] = NULL;
  }
}

/*
 * Write every staged value, in table order (but see memsw_goes_first).
 * Each is written on its own so that a refusal names its file.  When one
 * fails, those written before it are unstaged (the error lists them in
 * #written) unless the caller removes the group they went into
 * (STAGED_INTO_NEW_GROUP), and those after it, not tried, stay staged.
 * The failed one stays staged, and with those not tried is marked as
 * reported (the exception told of them), except where modify or create
 * found the value itself refused: then it is dropped, so that the
 * readers show the kernel's value again and a later attach does not try it
 * anew.  attach and spawn keep it: a task never moves into a group without
 * a limit set for it, however often the move is tried.  The writes are one
 * cycle of kept files (no Ruby code runs between them; the first refusal
 * ends it).
 */
void
mcg_write_staged(mrb_state *mrb, struct cgroup_ctx *ctx, enum staged_write how)
{
  mrb_bool swap_memory_pair = memsw_goes_first(mrb, ctx);
  int i, written[ATTR_COUNT], written_count = 0;
  struct kept_cycle cycle;

  mcg_kept_cycle_begin(ctx, &cycle);
  for (i = 0; i < ATTR_COUNT; i++) {
    int id = write_order(i, swap_memory_pair);
    mrb_value exc;
    if (!ctx->staged[id]) continue;
    exc = write_one(mrb, ctx, &mcg_attributes[id], ctx->staged[id], &cycle);
    if (!mrb_nil_p(exc)) {
      if (how != STAGED_BEFORE_MOVE && value_refused(mrb, exc)) unstage(mrb, ctx, &id, 1);
      mcg_staged_told(ctx); /* those not tried too */
      if (how != STAGED_INTO_NEW_GROUP) unstage(mrb, ctx, written, written_count);
      raise_after_written(mrb, exc, written, written_count);
    }
    written[written_count++] = id;
  }
  unstage(mrb, ctx, written, written_count);
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

  if (mcg_ctx_on_v2(ctx)) return;
  mcg_parent_of(path, parent);
  for (i = 0; i < ATTR_COUNT; i++) {
    const struct attribute *attr = &mcg_attributes[i];
    const char *value, *file = mcg_attr_file(ctx, attr);
    if (attr->controller != ctx->controller || !(attr->access & ACCESS_INHERIT)) continue;
    if (target && ctx->staged[i]) continue;
    value = mcg_kernel_read_line(mrb, ctx, parent, file);
    err = mcg_kernel_write(mrb, ctx, path, file, value, FILE_ONCE);
    if (err)
      mcg_raise_error(mrb, MCG_FAILURE(.err = err, .ctx = ctx, .group = path, .action = "write",
                                       .file = file, .value = value));
  }
}
