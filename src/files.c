/*
 * Any interface file of a group, by name: Cgroup#read_file and #write_file
 * (aliases [] and []=), for the files the attribute table does not list
 * (memory.oom.group's neighbours, cgroup.max.descendants, io.latency, a
 * newer kernel's files).  The name and the value are checked (text.c) so
 * that nothing is read or written outside the group's directory, and the
 * I/O goes through the same kept descriptors and exceptions as the
 * attributes.
 */
#include <errno.h>
#include <string.h>

#include <mruby.h>
#include <mruby/numeric.h>
#include <mruby/string.h>

#include "cgroup.h"

/* The file name argument, checked for this group's cgroup version. */
static const char *
file_name_arg(mrb_state *mrb, struct cgroup_ctx *ctx, mrb_value name, const char *action)
{
  mrb_bool other_version;
  const char *why;
  int version;

  mrb_ensure_string_type(mrb, name);
  mcg_require_mount(mrb, ctx);
  version = mcg_version(ctx->controller);
  why = mcg_file_name_fault(RSTRING_PTR(name), RSTRING_LEN(name), version,
                            version == 1 ? mcg_kernel_controller(ctx->controller) : NULL,
                            &other_version);
  if (why) {
    mcg_raise_error(mrb, other_version ? "Unsupported" : "InvalidValue",
                    other_version ? EOPNOTSUPP : EINVAL, ctx->controller, ctx->path, action,
                    mcg_printable(mrb, name), NULL, why);
  }
  return RSTRING_CSTR(mrb, name);
}

/* group.read_file(name) => the file's text, without its last newline */
static mrb_value
cgroup_read_file(mrb_state *mrb, mrb_value self)
{
  struct cgroup_ctx *ctx = mcg_get_ctx(mrb, self);
  mrb_value name, text;
  const char *file;
  mrb_int len;

  mrb_get_args(mrb, "o", &name);
  file = file_name_arg(mrb, ctx, name, "read");
  text = mcg_kernel_read(mrb, ctx, ctx->path, file, FILE_OFTEN);
  len = RSTRING_LEN(text);
  if (len > 0 && RSTRING_PTR(text)[len - 1] == '\n') mrb_str_resize(mrb, text, len - 1);
  return text;
}

/* group.write_file(name, value) => self: writes now (nothing is staged);
 * value is a String of one line, or an Integer */
static mrb_value
cgroup_write_file(mrb_state *mrb, mrb_value self)
{
  struct cgroup_ctx *ctx = mcg_get_ctx(mrb, self);
  mrb_value name, value;
  const char *file, *why, *text;
  int err;

  mrb_get_args(mrb, "oo", &name, &value);
  file = file_name_arg(mrb, ctx, name, "write");
  if (mrb_integer_p(value))
    value = mrb_integer_to_str(mrb, value, 10);
  else if (!mrb_string_p(value))
    mrb_raisef(mrb, E_TYPE_ERROR, "%s: the value is a String or an Integer, not %v", file, value);
  if ((why = mcg_file_value_fault(RSTRING_PTR(value), RSTRING_LEN(value)))) {
    mrb_value shown = mrb_str_substr(mrb, value, 0, 40); /* a message, not a page */
    if (RSTRING_LEN(value) > 40) mrb_str_cat_lit(mrb, shown, "...");
    mcg_raise_error(mrb, "InvalidValue", EINVAL, ctx->controller, ctx->path, "write", file,
                    mcg_printable(mrb, shown), why);
  }
  text = RSTRING_CSTR(mrb, value);
  mcg_require_group(mrb, ctx, "write");
  if ((err = mcg_kernel_write(mrb, ctx, ctx->path, file, text, FILE_OFTEN))) {
    mcg_raise_error(mrb, NULL, err, ctx->controller, ctx->path, "write", file, text,
                    err == EOPNOTSUPP ? "this kernel has no such file" : NULL);
  }
  return self;
}

void
mcg_init_files(mrb_state *mrb, struct RClass *cgroup)
{
  mrb_define_method(mrb, cgroup, "read_file", cgroup_read_file, MRB_ARGS_REQ(1));
  mrb_define_method(mrb, cgroup, "write_file", cgroup_write_file, MRB_ARGS_REQ(2));
}
