/*
 * Cgroup::Worker's per-request path: the request's values written into the
 * worker's own group, the block, and the values in force before written
 * back (mrblib/worker.rb makes the worker and compiles its limits into
 * steps).  In C because at a server's pace every request starts with cold
 * caches, where each interpreted method call costs cache misses: the same
 * path in Ruby cost 40 us more per request after 100 ms idle.
 *
 * A step is [group, attribute id, value, allowance]: with allowance the
 * value is added to the group's memory level at the request's start.
 * @rest holds what is in force between requests, by attribute id (read from
 * the kernel at first use; nothing else is expected to write the worker's
 * own group); @written the groups and attribute ids written for the
 * request in progress, in pairs, while @busy.  The same Array serves every
 * request: only values that live as long as the worker go into it.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <mruby.h>
#include <mruby/array.h>
#include <mruby/error.h>
#include <mruby/hash.h>
#include <mruby/presym.h>
#include <mruby/string.h>
#include <mruby/variable.h>

#include "cgroup.h"

static mrb_noreturn void
refuse(mrb_state *mrb, mrb_value self, const char *action, const char *why)
{
  mrb_value groups = mrb_iv_get(mrb, self, MRB_IVSYM(groups));
  struct cgroup_ctx *ctx = mcg_get_ctx(mrb, mrb_ary_ref(mrb, groups, 0));

  mcg_raise_error(
      mrb, MCG_FAILURE(.cls = "Busy", .err = EBUSY, .ctx = ctx, .action = action, .reason = why));
}

/* What is in force for attribute id between requests. */
static mrb_value
rest_value(mrb_state *mrb, mrb_value self, mrb_value group, mrb_int id)
{
  mrb_value rest = mrb_iv_get(mrb, self, MRB_IVSYM(rest)), key = mrb_int_value(mrb, id), v;

  if (mrb_hash_key_p(mrb, rest, key)) return mrb_hash_get(mrb, rest, key);
  v = mcg_attr_get(mrb, group, (enum attribute_id)id);
  mrb_hash_set(mrb, rest, key, v);
  return v;
}

/* Add group to touched (at most one group per controller) unless there. */
static void
touch(mrb_value *touched, int *n, mrb_value group)
{
  for (int i = 0; i < *n; i++) {
    if (mrb_obj_eq(NULL, touched[i], group)) return;
  }
  if (*n < CTL_COUNT) touched[(*n)++] = group;
}

/* Step i of steps as [group, id, value, allowance]; steps come from
 * worker.rb's compile, but the method is Ruby's to call, so a malformed
 * one raises instead of being read past its end. */
static mrb_value *
step_at(mrb_state *mrb, mrb_value steps, mrb_int i)
{
  mrb_value step = RARRAY_PTR(steps)[i];
  mrb_int id;

  if (!mrb_array_p(step) || RARRAY_LEN(step) != 4 || !mrb_integer_p(RARRAY_PTR(step)[1]))
    mrb_raise(mrb, E_ARGUMENT_ERROR, "Cgroup::Worker: malformed step");
  id = mrb_integer(RARRAY_PTR(step)[1]);
  if (id < 0 || id >= ATTR_COUNT)
    mrb_raise(mrb, E_ARGUMENT_ERROR, "Cgroup::Worker: malformed step");
  return RARRAY_PTR(step);
}

/* The memory limit for an allowance: the group's level now plus it. */
static mrb_value
level_plus(mrb_state *mrb, mrb_value group, mrb_value allowance)
{
  mrb_int level = mrb_integer(mcg_attr_get(mrb, group, ATTR_MEMORY_usage_in_bytes)), limit;
  struct cgroup_ctx *ctx = mcg_get_ctx(mrb, group);

  if (!mrb_integer_p(allowance) || mrb_integer(allowance) < 0 ||
      __builtin_add_overflow(level, mrb_integer(allowance), &limit)) {
    mcg_raise_error(mrb, MCG_FAILURE(.cls = "InvalidValue", .err = EINVAL, .ctx = ctx,
                                     .action = "run", .file = "memory.limit_in_bytes",
                                     .reason = "the allowance above the level is out of range"));
  }
  return mrb_int_value(mrb, limit);
}

/* Stage the value of each step that differs from the one in force, and
 * write them, one modify per group; what was staged is in @written. */
static mrb_value
apply_body(mrb_state *mrb, void *p)
{
  mrb_value self = ((mrb_value *)p)[0], steps = ((mrb_value *)p)[1];
  mrb_value written = mrb_iv_get(mrb, self, MRB_IVSYM(written)), touched[CTL_COUNT];
  int n = 0;

  for (mrb_int i = 0; i < RARRAY_LEN(steps); i++) {
    mrb_value *step = step_at(mrb, steps, i), group = step[0], value = step[2];
    mrb_int id = mrb_integer(step[1]);
    if (mrb_test(step[3])) value = level_plus(mrb, group, value);
    if (mrb_equal(mrb, rest_value(mrb, self, group, id), value)) continue;
    mcg_attr_stage(mrb, group, (enum attribute_id)id, value);
    mrb_ary_push(mrb, written, group);
    mrb_ary_push(mrb, written, mrb_int_value(mrb, id));
    touch(touched, &n, group);
  }
  for (int t = 0; t < n; t++) mrb_funcall_id(mrb, touched[t], MRB_SYM(modify), 0);
  return mrb_nil_value();
}

static mrb_value
modify_body(mrb_state *mrb, void *group)
{
  return mrb_funcall_id(mrb, *(mrb_value *)group, MRB_SYM(modify), 0);
}

/* Write back what was in force for each value written; every group is
 * tried, and the first failure raised after. */
static mrb_value
restore(mrb_state *mrb, mrb_value self)
{
  mrb_value written = mrb_iv_get(mrb, self, MRB_IVSYM(written)), touched[CTL_COUNT];
  mrb_value meter = mrb_iv_get(mrb, self, MRB_IVSYM(meter)), first = mrb_nil_value();
  int n = 0;

  mrb_iv_set(mrb, self, MRB_IVSYM(busy), mrb_false_value());
  if (RARRAY_LEN(written) == 0) return mrb_nil_value();
  /* a child forked inside the block: the group and its limits are its parent's */
  if (!mrb_test(mrb_funcall_id(mrb, meter, MRB_SYM_Q(owner), 0))) return mrb_nil_value();
  for (mrb_int i = 0; i + 1 < RARRAY_LEN(written); i += 2) {
    mrb_value group = RARRAY_PTR(written)[i];
    mrb_int id = mrb_integer(RARRAY_PTR(written)[i + 1]);
    mcg_attr_stage(mrb, group, (enum attribute_id)id, rest_value(mrb, self, group, id));
    touch(touched, &n, group);
  }
  for (int t = 0; t < n; t++) {
    mrb_bool failed = FALSE;
    mrb_value e = mrb_protect_error(mrb, modify_body, &touched[t], &failed);
    if (failed && mrb_nil_p(first)) first = e;
  }
  if (mrb_nil_p(first)) {
    mrb_ary_resize(mrb, written, 0);
    return mrb_nil_value();
  }
  mrb_exc_raise(mrb, first); /* the pairs stay: the next request tries them again first */
}

static mrb_value
restore_body(mrb_state *mrb, void *self)
{
  return restore(mrb, *(mrb_value *)self);
}

/* Restore under protection: FALSE, and the error in *e, when it failed. */
static mrb_bool
try_restore(mrb_state *mrb, mrb_value self, mrb_value *e)
{
  mrb_bool failed = FALSE;

  *e = mrb_protect_error(mrb, restore_body, &self, &failed);
  return !failed;
}

/* The request's limits in force: refused while another request runs (a
 * nested run, or another fiber's), or in a process that does not hold the
 * group (a child forked from the worker); on a failure, what was written
 * is written back before the error goes on. */
static void
apply(mrb_state *mrb, mrb_value self, mrb_value steps, const char *action)
{
  mrb_value args[2] = {self, steps}, e;
  mrb_bool failed = FALSE;

  if (mrb_test(mrb_iv_get(mrb, self, MRB_IVSYM(busy))))
    refuse(mrb, self, action,
           "a request is running in this worker's group already (nested, or another fiber's)");
  if (!mrb_test(mrb_funcall_id(mrb, mrb_iv_get(mrb, self, MRB_IVSYM(meter)), MRB_SYM_Q(owner), 0)))
    refuse(mrb, self, action,
           "the group is not this process's (inherited over fork, or removed from outside)");
  /* values a failed restore left in force: written back first, or the error says why */
  if (RARRAY_LEN(mrb_iv_get(mrb, self, MRB_IVSYM(written))) > 0) restore(mrb, self);
  mrb_iv_set(mrb, self, MRB_IVSYM(busy), mrb_true_value());
  mrb_iv_set(mrb, self, MRB_IVSYM(returned), mrb_false_value());
  e = mrb_protect_error(mrb, apply_body, args, &failed);
  if (!failed) return;
  try_restore(mrb, self, &args[1]); /* the first error is the one to tell */
  mrb_exc_raise(mrb, e);
}

/* [worker, block]: run's body, yielding the worker.  A fiber switch
 * inside the block (mruby refuses it across this C frame) becomes
 * Cgroup::FiberSwitch, which says why it cannot be allowed: the limits in
 * force are this request's, and others would run under them meanwhile. */
static mrb_value
yield_worker(mrb_state *mrb, mrb_value args)
{
  mrb_value self = RARRAY_PTR(args)[0], result;
  struct cgroup_ctx *ctx =
      mcg_get_ctx(mrb, mrb_ary_ref(mrb, mrb_iv_get(mrb, self, MRB_IVSYM(groups)), 0));

  result = mcg_yield_no_fiber_switch(
      mrb, args,
      MCG_FAILURE(.ctx = ctx, .action = "run",
                  .reason = "a fiber switched inside the block (Fiber.yield, Nginx::Async): the "
                            "request's limits are the group's, and other work would run under "
                            "them meanwhile; wait outside the block"));
  mrb_iv_set(mrb, self, MRB_IVSYM(returned), mrb_true_value());
  return result;
}

/* [worker, block]: account's body: the counters before, the block, the
 * counters after; the Cgroup::Usage. */
static mrb_value
account_body(mrb_state *mrb, mrb_value args)
{
  mrb_value self = RARRAY_PTR(args)[0], meter = mrb_iv_get(mrb, self, MRB_IVSYM(meter));

  if (!mrb_test(mrb_funcall_id(mrb, meter, MRB_SYM(start), 0)))
    refuse(mrb, self, "account", "the group is not this process's (inherited over fork?)");
  yield_worker(mrb, args);
  return mrb_funcall_id(mrb, meter, MRB_SYM(finish), 1, mrb_iv_get(mrb, self, MRB_IVSYM(name)));
}

/* The ensure of run and account.  When the block raised, its exception
 * goes on: a failure to restore after it is told on stderr, not put in
 * its place (the next request writes the values back first). */
static mrb_value
restore_ensure(mrb_state *mrb, mrb_value self)
{
  mrb_value e;

  if (mrb_test(mrb_iv_get(mrb, self, MRB_IVSYM(returned)))) return restore(mrb, self);
  if (!try_restore(mrb, self, &e)) {
    mrb_value msg = mrb_funcall_id(mrb, e, MRB_SYM(message), 0);
    fprintf(stderr,
            "mruby-cgroup: warning: the limits in force before a request that raised could "
            "not be restored: %s\n",
            mrb_string_p(msg) ? RSTRING_CSTR(mrb, msg) : mrb_obj_classname(mrb, e));
  }
  return mrb_nil_value();
}

/* A request: the steps' limits in force, body (the block, or the block
 * between the counters), what was in force before written back after.
 * The block travels in a new Array, not in the worker: stored into that
 * long-lived object each request's block would be kept until a major
 * collection (the write barrier promotes it), and the heap would grow by
 * about 10 bytes a request meanwhile. */
static mrb_value
request(mrb_state *mrb, mrb_value self, const char *action, mrb_func_t body)
{
  mrb_value steps, pair[2];

  mrb_get_args(mrb, "A&!", &steps, &pair[1]);
  apply(mrb, self, steps, action);
  pair[0] = self;
  return mrb_ensure(mrb, body, mrb_ary_new_from_values(mrb, 2, pair), restore_ensure, self);
}

/* worker._run(steps) { |worker| }: the block under the steps' limits. */
static mrb_value
worker_run(mrb_state *mrb, mrb_value self)
{
  return request(mrb, self, "run", yield_worker);
}

/* worker._account(steps) { |worker| } => the Cgroup::Usage of the block. */
static mrb_value
worker_account(mrb_state *mrb, mrb_value self)
{
  return request(mrb, self, "account", account_body);
}

/* worker._read_rest(steps): what is in force for each step's attribute,
 * read now (Worker.new, in its new group). */
static mrb_value
worker_read_rest(mrb_state *mrb, mrb_value self)
{
  mrb_value steps;

  mrb_get_args(mrb, "A", &steps);
  for (mrb_int i = 0; i < RARRAY_LEN(steps); i++) {
    mrb_value *step = step_at(mrb, steps, i);
    rest_value(mrb, self, step[0], mrb_integer(step[1]));
  }
  return mrb_nil_value();
}

/* Cgroup::Worker.attribute_id(group, name, value = nil) => the row in the
 * table of the setting name of group's class, nil when it has no such
 * setting to write; with a value, raises as staging it would (the file
 * missing in this cgroup version, the wrong type), staging nothing. */
static mrb_value
worker_s_attribute_id(mrb_state *mrb, mrb_value self)
{
  mrb_value group, value = mrb_nil_value();
  mrb_sym name;
  struct cgroup_ctx *ctx;

  (void)self;
  mrb_get_args(mrb, "on|o", &group, &name, &value);
  ctx = mcg_get_ctx(mrb, group);
  for (int i = 0; i < ATTR_COUNT; i++) {
    const struct attribute *a = &mcg_attributes[i];
    if (a->controller != ctx->controller || !(a->access & ACCESS_WO) ||
        strcmp(a->name, mrb_sym_name(mrb, name)) != 0)
      continue;
    if (!mrb_nil_p(value)) mcg_attr_check(mrb, group, (enum attribute_id)i, value);
    return mrb_int_value(mrb, i);
  }
  return mrb_nil_value();
}

/*
 * The worker group this process lives in, for every mrb_state of it: a
 * process is in one group per hierarchy, so a second worker (another
 * state's, or the same script run twice) would take it out of the first's,
 * whose requests would then limit an empty group.  A forked child is
 * another process, and may make its own.
 */
static struct {
  pid_t pid;
  char name[PATH_MAX];
} process_worker;

/* Cgroup::Worker.claim_process(name): the process's worker is now name;
 * Busy when it lives in another's (name nil: only that check). */
static mrb_value
worker_s_claim_process(mrb_state *mrb, mrb_value self)
{
  const char *name = NULL;

  (void)self;
  mrb_get_args(mrb, "z!", &name);
  if (process_worker.pid == getpid()) {
    char why[PATH_MAX + 80];
    int err; /* a worker lives in a cpu group, which names the error */
    const struct hierarchy *cpu = mcg_hierarchy(CTL_CPU, NULL, 0, &err);
    snprintf(why, sizeof why,
             "this process lives in %s already (one Cgroup::Worker per process; close it first)",
             process_worker.name);
    mcg_raise_error(mrb, MCG_FAILURE(.cls = "Busy", .err = EBUSY, .host = cpu,
                                     .group = process_worker.name, .action = "make a worker",
                                     .reason = why));
  }
  if (name) {
    process_worker.pid = getpid();
    snprintf(process_worker.name, sizeof process_worker.name, "%s", name);
  }
  return mrb_nil_value();
}

/* Cgroup::Worker.release_process: the process no longer lives in a
 * worker's group (close). */
static mrb_value
worker_s_release_process(mrb_state *mrb, mrb_value self)
{
  (void)mrb;
  (void)self;
  if (process_worker.pid == getpid()) process_worker.pid = 0;
  return mrb_nil_value();
}

void
mcg_init_worker(mrb_state *mrb, struct RClass *cgroup)
{
  struct RClass *worker = mrb_define_class_under(mrb, cgroup, "Worker", mrb->object_class);

  mrb_define_method(mrb, worker, "_run", worker_run, MRB_ARGS_REQ(1) | MRB_ARGS_BLOCK());
  mrb_define_method(mrb, worker, "_account", worker_account, MRB_ARGS_REQ(1) | MRB_ARGS_BLOCK());
  mrb_define_method(mrb, worker, "_read_rest", worker_read_rest, MRB_ARGS_REQ(1));
  mrb_define_class_method(mrb, worker, "attribute_id", worker_s_attribute_id, MRB_ARGS_ARG(2, 1));
  mrb_define_class_method(mrb, worker, "claim_process", worker_s_claim_process, MRB_ARGS_REQ(1));
  mrb_define_class_method(mrb, worker, "release_process", worker_s_release_process,
                          MRB_ARGS_NONE());
}
