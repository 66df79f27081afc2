/*
 * The C side of a Cgroup::X object: its context (struct cgroup_ctx), made
 * by X.new(name) and freed with the object; which controller a Ruby value
 * names, and X.new called from C.
 */
#include <stdio.h>
#include <string.h>

#include <mruby.h>
#include <mruby/class.h>
#include <mruby/data.h>
#include <mruby/presym.h>
#include <mruby/string.h>
#include <mruby/variable.h>

#include "cgroup.h"

static const char *const class_names[CTL_COUNT] = {
#define CLASS_NAME(klass, name, v1, v2) #klass,
    CGROUP_CONTROLLERS(CLASS_NAME)
#undef CLASS_NAME
};

static void
ctx_free(mrb_state *mrb, void *p)
{
  struct cgroup_ctx *ctx = (struct cgroup_ctx *)p;
  int i;

  if (!ctx) return;
  for (i = 0; i < ATTR_COUNT; i++) {
    char buf[32];
    if (!ctx->staged[i]) continue;
    /* A limit that was set but never written must not pass silently; one
     * that failed to be written was named by the exception of that write. */
    if (!(ctx->reported & (UINT64_C(1) << i)))
      fprintf(stderr,
              "mruby-cgroup: warning: %s:%s: %s = %s was set but never written "
              "(call modify or create)\n",
              ctx->host->controller, ctx->path, mcg_attributes[i].name,
              mcg_staged_v1_text(&mcg_attributes[i], ctx->staged[i], buf));
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

/* X#initialize(name): the name checked and normalised, the context made. */
mrb_value
mcg_initialize(mrb_state *mrb, mrb_value self, enum controller_id controller)
{
  char path[PATH_MAX];
  mrb_value name;
  struct cgroup_ctx *ctx;
  size_t len;

  int err; /* the hierarchies not found: the first use raises why */
  const struct hierarchy *host = mcg_hierarchy(controller, NULL, 0, &err);

  mrb_get_args(mrb, "S", &name);
  /* room for the mount before the name and any file name after it: a name
   * that leaves less could be made, but its files never reached */
  mcg_normalise_name(
      mrb, host, name, path,
      PATH_MAX - (__atomic_load_n(&host->mount, __ATOMIC_ACQUIRE) ? host->mount_length : 0) - 1 -
          NAME_MAX);
  len = strlen(path);
  ctx = (struct cgroup_ctx *)mrb_calloc(mrb, 1, sizeof *ctx + len + 1);
  ctx->controller = controller;
  ctx->host = host;
  mcg_kept_bind(mrb, ctx);
  memcpy(ctx->path, path, len + 1);
  ctx_free(mrb, DATA_PTR(self)); /* initialize called again */
  mrb_data_init(self, ctx, &ctx_type);
  mrb_iv_set(mrb, self, MRB_IVSYM(group_name), mrb_str_new(mrb, path, len));
  return self;
}

/* The name of the class under Cgroup for a controller ("CPU", "MEMORY"). */
const char *
mcg_class_name(enum controller_id controller)
{
  return class_names[controller];
}

/* Cgroup::<class of controller>.new(name) */
mrb_value
mcg_group_new(mrb_state *mrb, enum controller_id controller, mrb_value name)
{
  struct RClass *cgroup = mrb_module_get_id(mrb, MRB_SYM(Cgroup));

  return mrb_obj_new(mrb, mrb_class_get_under(mrb, cgroup, class_names[controller]), 1, &name);
}

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
