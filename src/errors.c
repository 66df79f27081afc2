/*
 * The exceptions: Cgroup::Error and its subclasses, made in one place from
 * an errno and the facts of the failed call (group, action, file, value).
 */
#include <errno.h>
#include <string.h>

#include <mruby.h>
#include <mruby/array.h>
#include <mruby/class.h>
#include <mruby/error.h>
#include <mruby/presym.h>
#include <mruby/string.h>
#include <mruby/variable.h>

#include "cgroup.h"

static const char *
error_class_for(int err)
{
  switch (err) {
  case ENOENT:
  case ESRCH:
  case ENODEV: return "NotFound"; /* ENODEV: a device that does not exist (blkio, io.max) */
  case EPERM:
  case EACCES:
  case EROFS: return "PermissionDenied";
  case EINVAL:
  case ERANGE:
  case EOVERFLOW: return "InvalidValue";
  case EBUSY:
  case ENOTEMPTY: return "Busy";
  case ENOSYS:
  case EOPNOTSUPP: return "Unsupported";
  case ETIMEDOUT: return "Timeout";
  default: return "Error";
  }
}

/* The errno of a Cgroup::<cls> raised with no failed call behind it (from
 * Ruby, through Cgroup._raise): error_class_for's first for cls; 0 for
 * Error itself. */
int
mcg_errno_for_class(const char *cls)
{
  static const int errnos[] = {ENOENT, EACCES, EINVAL, EBUSY, EOPNOTSUPP, ETIMEDOUT};
  size_t i;

  for (i = 0; i < sizeof errnos / sizeof errnos[0]; i++) {
    if (strcmp(error_class_for(errnos[i]), cls) == 0) return errnos[i];
  }
  return 0;
}

/*
 * A Cgroup::<class> exception with a message naming the group, the file and
 * the value, and the same facts in @errno, @controller, @group, @file and
 * @value (struct failure says which fact comes from where).
 */
mrb_value
mcg_make_error(mrb_state *mrb, const struct failure *f)
{
  struct RClass *module = mrb_module_get(mrb, "Cgroup");
  const struct hierarchy *host = f->ctx ? f->ctx->host : f->host;
  /* atomic: another thread may be finding the hierarchies (libcgroup.c) */
  const char *name = host ? __atomic_load_n(&host->controller, __ATOMIC_RELAXED) : "cgroup";
  const char *group = f->group ? f->group : f->ctx->path;
  const char *cls = f->cls, *reason = f->reason, *file = f->file, *value = f->value;
  int err = f->err;
  mrb_value msg, exc;

  if (err == ENOSPC && f->ctx && f->ctx->controller == CTL_CPUSET &&
      !reason) { /* not "No space left on device" */
    if (!cls) cls = "InvalidValue";
    reason = "the group has no CPU or no memory node to run a task on (cpuset.cpus or "
             "cpuset.mems is empty)";
  }
  if (!cls) cls = error_class_for(err);
  if (!reason) reason = err ? strerror(err) : "failed";
  msg = mrb_format(mrb, "%s:%s: %s%s%s%s%s: %s", name, group, f->action, file ? " " : "",
                   file ? file : "", value ? " = " : "", value ? value : "", reason);
  exc = mrb_exc_new_str(mrb, mrb_class_get_under(mrb, module, cls), msg);
  mrb_iv_set(mrb, exc, MRB_IVSYM(errno), mrb_int_value(mrb, err));
  mrb_iv_set(mrb, exc, MRB_IVSYM(controller), mrb_str_new_cstr(mrb, name));
  mrb_iv_set(mrb, exc, MRB_IVSYM(group), mrb_str_new_cstr(mrb, group));
  mrb_iv_set(mrb, exc, MRB_IVSYM(file), file ? mrb_str_new_cstr(mrb, file) : mrb_nil_value());
  mrb_iv_set(mrb, exc, MRB_IVSYM(value), value ? mrb_str_new_cstr(mrb, value) : mrb_nil_value());
  mrb_iv_set(mrb, exc, MRB_IVSYM(written), mrb_ary_new(mrb));
  return exc;
}

mrb_noreturn void
mcg_raise_error(mrb_state *mrb, const struct failure *f)
{
  mrb_exc_raise(mrb, mcg_make_error(mrb, f));
}

/* Whether exc is a Cgroup::<cls> (or of a subclass of it). */
mrb_bool
mcg_error_is(mrb_state *mrb, mrb_value exc, const char *cls)
{
  return mrb_obj_is_kind_of(mrb, exc, mrb_class_get_under(mrb, mrb_module_get(mrb, "Cgroup"), cls));
}

/* A Cgroup::<cls> exception about this process rather than a group (waiting
 * for a child, finding the hierarchies): "action: reason", with @errno;
 * only f's cls, err, action and reason are used. */
mrb_noreturn void
mcg_raise_process_error(mrb_state *mrb, const struct failure *f)
{
  struct RClass *module = mrb_module_get(mrb, "Cgroup");
  const char *cls = f->cls ? f->cls : error_class_for(f->err);
  mrb_value exc;

  exc = mrb_exc_new_str(mrb, mrb_class_get_under(mrb, module, cls),
                        mrb_format(mrb, "%s: %s", f->action, f->reason));

  mrb_iv_set(mrb, exc, MRB_IVSYM(errno), mrb_int_value(mrb, f->err));
  mrb_iv_set(mrb, exc, MRB_IVSYM(written), mrb_ary_new(mrb));
  mrb_exc_raise(mrb, exc);
}

#define ERROR_READERS(X) X(errno) X(controller) X(group) X(file) X(value) X(written)
#define DEFINE_ERROR_READER(name)                                                                  \
  static mrb_value error_##name(mrb_state *mrb, mrb_value self)                                    \
  {                                                                                                \
    return mrb_iv_get(mrb, self, mrb_intern_lit(mrb, "@" #name));                                  \
  }
ERROR_READERS(DEFINE_ERROR_READER)
#undef DEFINE_ERROR_READER

/* Cgroup::Error < StandardError and its subclasses; readers for the facts
 * mcg_make_error records (nil on an Error raised from Ruby). */
void
mcg_init_errors(mrb_state *mrb, struct RClass *cgroup)
{
  static const char *const subclasses[] = {"NotFound",   "PermissionDenied", "InvalidValue",
                                           "Busy",       "Unsupported",      "Timeout",
                                           "FiberSwitch"};
  struct RClass *base = mrb_define_class_under(mrb, cgroup, "Error", mrb->eStandardError_class);
  size_t i;

#define DEFINE_ERROR_METHOD(name)                                                                  \
  mrb_define_method(mrb, base, #name, error_##name, MRB_ARGS_NONE());
  ERROR_READERS(DEFINE_ERROR_METHOD)
#undef DEFINE_ERROR_METHOD
  for (i = 0; i < sizeof subclasses / sizeof subclasses[0]; i++) {
    mrb_define_class_under(mrb, cgroup, subclasses[i], base);
  }
}

/* Whether exc is mruby's refusal to switch fibers across a C frame: a
 * Fiber.yield, or an event loop's async call, inside a block the gem
 * yields to (attach's, Worker#run's). */
mrb_bool
mcg_is_fiber_switch(mrb_state *mrb, mrb_value exc)
{
  mrb_value msg = mrb_funcall_id(mrb, exc, MRB_SYM(message), 0);

  return strcmp(mrb_obj_classname(mrb, exc), "FiberError") == 0 && mrb_string_p(msg) &&
         strstr(RSTRING_CSTR(mrb, msg), "C function boundary") != NULL;
}

static mrb_value
yield_pair(mrb_state *mrb, void *args)
{
  mrb_value *v = RARRAY_PTR(*(mrb_value *)args);
  return mrb_yield(mrb, v[1], v[0]);
}

/* Yield args[0] to the block args[1] (an Array's first two), and raise
 * mruby's refusal of a fiber switch inside it as Cgroup::FiberSwitch
 * (EDEADLK) with the facts in f: the group, the action and, as the reason,
 * why the switch cannot be allowed there: attach's and Worker#run's blocks. */
mrb_value
mcg_yield_no_fiber_switch(mrb_state *mrb, mrb_value args, const struct failure *f)
{
  mrb_bool failed = FALSE;
  mrb_value result = mrb_protect_error(mrb, yield_pair, &args, &failed);
  struct failure switched = *f;

  if (!failed) return result;
  if (!mcg_is_fiber_switch(mrb, result)) mrb_exc_raise(mrb, result);
  switched.cls = "FiberSwitch";
  switched.err = EDEADLK;
  mcg_raise_error(mrb, &switched);
}
