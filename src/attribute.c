/*
 * One attribute of a group: read from its file (or as its staged value
 * while one is pending), staged by its writer, and the staged values
 * written by create, modify and attach in table order; on v2 through the
 * conversions of v2.c.
 */
#include <errno.h>
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
mrb_value
mcg_attr_get(mrb_state *mrb, mrb_value self, enum attribute_id id)
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
mrb_value
mcg_attr_set(mrb_state *mrb, mrb_value self, enum attribute_id id)
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
