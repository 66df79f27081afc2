/*
 * Waiting for the kernel: poll(2) on v2's notifying files, and a back-off
 * (deadline.c) for states nothing notifies of; FREEZER#freeze and #thaw,
 * which wait until the state is reached, MEMORY#wait_for_oom and
 * #wait_for_events, Cgroup#wait_empty.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <mruby.h>
#include <mruby/array.h>
#include <mruby/class.h>
#include <mruby/hash.h>
#include <mruby/string.h>

#include "cgroup.h"

/* The integer after "key " in a kernfs file read through fd; -1 if none. */
static long long
fd_key_value(int fd, const char *key)
{
  char buf[1024];
  const char *value, *end;
  ssize_t n = pread(fd, buf, sizeof buf - 1, 0);

  if (n < 0) return -1;
  buf[n] = '\0';
  value = mcg_find_key(buf, buf + n, key, &end);
  return value ? strtoll(value, NULL, 10) : -1;
}

/*
 * After a read of a v2 file that notifies (cgroup.events, memory.events),
 * wait for its next change: the kernel notifies the file on each change and
 * poll() wakes with POLLPRI; reading re-arms it, so reading before each
 * poll loses no change.  Removing the group wakes no one, so it returns at
 * least once a second for the caller to read again.  FALSE once the
 * deadline has passed, or poll() failed.
 */
static mrb_bool
await_change(int fd, double deadline)
{
  struct pollfd pfd = {fd, POLLPRI, 0};
  int ms = mcg_ms_left(deadline);

  if (ms == 0) return FALSE;
  return poll(&pfd, 1, ms < 0 || ms > 1000 ? 1000 : ms) >= 0 || errno == EINTR;
}

/* Wait until key in a v2 file satisfies done(value, arg) or the deadline
 * passes.  Returns the last value (-1: the file is gone, the group was
 * removed). */
static long long
wait_v2_key(int fd, const char *key, int (*done)(long long, long long), long long arg,
            double deadline)
{
  long long value;

  while ((value = fd_key_value(fd, key)) >= 0 && !done(value, arg) && await_change(fd, deadline)) {
  }
  return value;
}

static int
equals(long long value, long long want)
{
  return value == want;
}

static int
exceeds(long long value, long long base)
{
  return value > base;
}

/* ---- FREEZER ---------------------------------------------------------- */

/* "THAWED", "FREEZING" or "FROZEN": v1's freezer.state; on v2 from
 * cgroup.events' frozen (reached) and cgroup.freeze (asked for). */
static const char *
read_freezer_state(mrb_state *mrb, struct cgroup_ctx *ctx)
{
  mrb_value events;
  const char *v, *end, *s;

  if (!mcg_ctx_on_v2(ctx)) {
    s = mcg_kernel_read_line(mrb, ctx, ctx->path, "freezer.state");
    return strcmp(s, "FROZEN") == 0 ? "FROZEN" : strcmp(s, "FREEZING") == 0 ? "FREEZING" : "THAWED";
  }
  events = mcg_kernel_read(mrb, ctx, ctx->path, "cgroup.events", FILE_ONCE);
  v = mcg_find_key(RSTRING_PTR(events), RSTRING_END(events), "frozen", &end);
  if (v && *v == '1') return "FROZEN";
  return *mcg_kernel_read_line(mrb, ctx, ctx->path, "cgroup.freeze") == '1' ? "FREEZING" : "THAWED";
}

/* Whether v1's freezer.state, read through fd, says want: 0 if so,
 * EAGAIN if not yet, or the errno of the read. */
static int
v1_state_is(int fd, const char *want)
{
  char buf[32];
  size_t len = strlen(want);
  ssize_t n = pread(fd, buf, sizeof buf, 0);

  if (n < 0) return errno;
  return (size_t)n > len && memcmp(buf, want, len) == 0 && buf[len] == '\n' ? 0 : EAGAIN;
}

/* v1's freezer.state has no notification: read it again through one
 * descriptor after 1, 2, 4 .. 16 ms.  Returns as freezer_wait does. */
static int
freezer_wait_v1(const struct cgroup_ctx *ctx, const char *want, double deadline)
{
  int fd = mcg_open_in_mount(ctx, ctx->path, "freezer.state", O_RDONLY), err = errno;
  long delay = 1;

  if (fd < 0) return err;
  while ((err = v1_state_is(fd, want)) == EAGAIN) {
    if (mcg_ms_left(deadline) == 0) {
      err = ETIMEDOUT;
      break;
    }
    mcg_back_off(&delay, deadline);
  }
  close(fd);
  return err;
}

/* 0 once the freezer reached want, ETIMEDOUT at the deadline, or why its
 * state could not be watched (EMFILE; ENOENT: the group was removed); it
 * never raises, so that a freeze is undone whatever stopped the wait. */
static int
freezer_wait(const struct cgroup_ctx *ctx, const char *want, double deadline)
{
  if (mcg_ctx_on_v2(ctx)) {
    int fd = mcg_open_in_mount(ctx, ctx->path, "cgroup.events", O_RDONLY), err = errno;
    long long frozen;
    if (fd < 0) return err;
    frozen = wait_v2_key(fd, "frozen", equals, strcmp(want, "FROZEN") == 0, deadline);
    close(fd);
    return frozen < 0 ? ENOENT : frozen == (strcmp(want, "FROZEN") == 0) ? 0 : ETIMEDOUT;
  }
  return freezer_wait_v1(ctx, want, deadline);
}

static void
freezer_write(mrb_state *mrb, struct cgroup_ctx *ctx, mrb_bool freeze, const char *action)
{
  const char *file = mcg_version_file(ctx, FILE_FREEZE);
  const char *value = mcg_freeze_value(ctx, freeze);
  int err = mcg_kernel_write(mrb, ctx, ctx->path, file, value, FILE_ONCE);

  if (err)
    mcg_raise_error(
        mrb, MCG_FAILURE(.err = err, .ctx = ctx, .action = action, .file = file, .value = value));
}

/* FREEZER#freeze(timeout = 5) / #thaw(timeout = 5): ask, then wait until
 * the kernel reports the state reached; a freeze that times out is undone. */
static mrb_value
freezer_change(mrb_state *mrb, mrb_value self, mrb_bool freeze)
{
  struct cgroup_ctx *ctx = mcg_get_ctx(mrb, self);
  const char *action = freeze ? "freeze" : "thaw", *want = freeze ? "FROZEN" : "THAWED";
  mrb_value t = mrb_undef_value();
  double deadline;
  int err;

  mrb_get_args(mrb, "|o", &t);
  deadline = mcg_deadline_after(mcg_timeout_arg(mrb, t, 5));
  mcg_require_group(mrb, ctx, action);
  if (strcmp(ctx->path, "/") == 0) {
    mcg_raise_error(mrb,
                    MCG_FAILURE(.cls = "InvalidValue", .err = EINVAL, .ctx = ctx, .action = action,
                                .reason = "the root group cannot be frozen"));
  }
  if (freeze && mcg_caller_within(mrb, ctx, ctx->path)) { /* it would freeze, never to return */
    mcg_raise_error(
        mrb, MCG_FAILURE(.cls = "InvalidValue", .err = EINVAL, .ctx = ctx, .action = action,
                         .reason = "a thread of the calling process is in this group or below it"));
  }
  freezer_write(mrb, ctx, freeze, action);
  if ((err = freezer_wait(ctx, want, deadline)) == 0) return self;
  if (freeze) freezer_write(mrb, ctx, FALSE, "undo freeze");
  if (err != ETIMEDOUT) { /* not a timeout: why the state could not be watched */
    mcg_raise_error(
        mrb, MCG_FAILURE(.err = err, .ctx = ctx, .action = action,
                         .file = mcg_version_file(ctx, FILE_FROZEN), .value = want,
                         .reason = freeze ? "could not watch the state (thawed again)" : NULL));
  }
  mcg_raise_error(mrb, MCG_FAILURE(.err = ETIMEDOUT, .ctx = ctx, .action = action, .value = want,
                                   .reason = freeze ? "not frozen in time (thawed again)"
                                                    : "not thawed in time"));
}

static mrb_value
freezer_freeze(mrb_state *mrb, mrb_value self)
{
  return freezer_change(mrb, self, TRUE);
}

static mrb_value
freezer_thaw(mrb_state *mrb, mrb_value self)
{
  return freezer_change(mrb, self, FALSE);
}

static mrb_value
freezer_state(mrb_state *mrb, mrb_value self)
{
  struct cgroup_ctx *ctx = mcg_get_ctx(mrb, self);

  mcg_require_group(mrb, ctx, "read");
  return mrb_str_new_cstr(mrb, read_freezer_state(mrb, ctx));
}

static mrb_value
freezer_frozen_p(mrb_state *mrb, mrb_value self)
{
  struct cgroup_ctx *ctx = mcg_get_ctx(mrb, self);

  mcg_require_group(mrb, ctx, "read");
  return mrb_bool_value(strcmp(read_freezer_state(mrb, ctx), "FROZEN") == 0);
}

/* ---- MEMORY: waiting for an OOM --------------------------------------- */

/* v1: an eventfd registered through cgroup.event_control on
 * memory.oom_control; it also fires when the group is removed. */
static mrb_bool
oom_wait_v1(mrb_state *mrb, struct cgroup_ctx *ctx, double deadline)
{
  char line[64];
  int efd = eventfd(0, EFD_CLOEXEC),
      ofd = mcg_open_in_mount(ctx, ctx->path, "memory.oom_control", O_RDONLY);
  int err = efd < 0 || ofd < 0 ? errno : 0, ready = 0;
  struct pollfd pfd = {efd, POLLIN, 0};
  uint64_t count;

  if (!err) {
    snprintf(line, sizeof line, "%d %d", efd, ofd);
    err = mcg_kernel_write(mrb, ctx, ctx->path, "cgroup.event_control", line, FILE_ONCE);
  }
  if (ofd >= 0) close(ofd); /* the registration holds its own reference */
  while (!err && (ready = poll(&pfd, 1, mcg_ms_left(deadline))) < 0 && errno == EINTR) {
  }
  if (ready > 0 && read(efd, &count, sizeof count) != sizeof count) ready = 0;
  if (efd >= 0) close(efd);
  if (err) {
    mcg_raise_error(mrb, MCG_FAILURE(.err = err, .ctx = ctx, .action = "wait for OOM",
                                     .file = "cgroup.event_control"));
  }
  return ready > 0;
}

/* v2: memory.events' oom count rising; poll() wakes on each change. */
static mrb_bool
oom_wait_v2(mrb_state *mrb, struct cgroup_ctx *ctx, double deadline)
{
  int fd = mcg_open_in_mount(ctx, ctx->path, "memory.events", O_RDONLY);
  long long before, now;

  if (fd < 0) {
    mcg_raise_error(mrb, MCG_FAILURE(.err = errno, .ctx = ctx, .action = "wait for OOM",
                                     .file = "memory.events"));
  }
  before = fd_key_value(fd, "oom");
  now = before < 0 ? -1 : wait_v2_key(fd, "oom", exceeds, before, deadline);
  close(fd);
  return before >= 0 && now > before;
}

/* MEMORY#wait_for_oom(timeout = nil): block until an OOM happens in the
 * group (true) or timeout seconds pass (false); nil waits for ever. */
static mrb_value
memory_wait_for_oom(mrb_state *mrb, mrb_value self)
{
  struct cgroup_ctx *ctx = mcg_get_ctx(mrb, self);
  mrb_value t = mrb_nil_value();
  double deadline;
  mrb_bool oom;

  mrb_get_args(mrb, "|o", &t);
  deadline = mcg_deadline_after(mcg_timeout_arg(mrb, t, -1));
  mcg_require_group(mrb, ctx, "wait for OOM");
  oom = mcg_ctx_on_v2(ctx) ? oom_wait_v2(mrb, ctx, deadline) : oom_wait_v1(mrb, ctx, deadline);
  mcg_require_group(mrb, ctx, "wait for OOM"); /* removal ends the wait too */
  return mrb_bool_value(oom);
}

/* ---- Any group: waiting until it is empty ----------------------------- */

/* v1: the subtree's processes looked at again and again (nothing notifies
 * of them); TRUE once none is left or the group is gone. */
static mrb_bool
empty_wait_v1(mrb_state *mrb, struct cgroup_ctx *ctx, double deadline)
{
  int ai = mrb_gc_arena_save(mrb);
  long delay = 1;

  for (;;) {
    if (!mcg_path_exists(ctx, ctx->path)) return TRUE;
    if (RARRAY_LEN(mcg_subtree_pids(mrb, ctx, "cgroup.procs")) == 0) return TRUE;
    if (mcg_ms_left(deadline) == 0) return FALSE;
    mcg_back_off(&delay, deadline);
    mrb_gc_arena_restore(mrb, ai);
  }
}

/*
 * Cgroup#wait_empty(timeout = nil): true once no process is left in the
 * group or below it (a double-forked grandchild counts, however it came
 * there), false at the timeout (seconds; nil waits for ever).  v2:
 * cgroup.events' populated, which the kernel notifies; v1: the subtree's
 * cgroup.procs, looked at after 1, 2, 4 .. 16 ms.  A group removed
 * meanwhile is empty.
 */
static mrb_value
cgroup_wait_empty(mrb_state *mrb, mrb_value self)
{
  struct cgroup_ctx *ctx = mcg_get_ctx(mrb, self);
  mrb_value t = mrb_nil_value();
  long long populated;
  double deadline;
  int fd;

  mrb_get_args(mrb, "|o", &t);
  deadline = mcg_deadline_after(mcg_timeout_arg(mrb, t, -1));
  mcg_require_group(mrb, ctx, "wait until empty");
  if (!mcg_ctx_on_v2(ctx)) return mrb_bool_value(empty_wait_v1(mrb, ctx, deadline));
  fd = mcg_open_in_mount(ctx, ctx->path, "cgroup.events", O_RDONLY);
  if (fd < 0) {
    mcg_raise_error(mrb, MCG_FAILURE(.err = errno, .ctx = ctx, .action = "wait until empty",
                                     .file = "cgroup.events"));
  }
  populated = wait_v2_key(fd, "populated", equals, 0, deadline);
  close(fd);
  return mrb_bool_value(populated <= 0); /* -1: the group was removed */
}

/* ---- MEMORY: waiting for memory.events -------------------------------- */

/* The keys to watch: an Array of Strings or Symbols, or nil for the two
 * breaches, high (throttled over memory.high) and max (at memory.max). */
static mrb_value
event_keys(mrb_state *mrb, mrb_value keys)
{
  mrb_value list = mrb_ary_new(mrb), k;
  mrb_int i;

  if (mrb_nil_p(keys)) {
    mrb_ary_push(mrb, list, mrb_str_new_lit(mrb, "high"));
    mrb_ary_push(mrb, list, mrb_str_new_lit(mrb, "max"));
    return list;
  }
  if (!mrb_array_p(keys) || RARRAY_LEN(keys) == 0)
    mrb_raisef(mrb, E_ARGUMENT_ERROR, "keys: a non-empty Array of memory.events keys, got %v",
               keys);
  for (i = 0; i < RARRAY_LEN(keys); i++) {
    k = RARRAY_PTR(keys)[i];
    if (mrb_symbol_p(k)) k = mrb_sym_str(mrb, mrb_symbol(k));
    mrb_string_value_cstr(mrb, &k); /* a String without NUL: checked before anything is opened */
    mrb_ary_push(mrb, list, k);
  }
  return list;
}

/* Each key's count now, into counts (-1: the file was not readable). */
static void
read_event_counts(int fd, mrb_state *mrb, mrb_value keys, long long *counts)
{
  mrb_int i;

  for (i = 0; i < RARRAY_LEN(keys); i++)
    counts[i] = fd_key_value(fd, RSTRING_CSTR(mrb, RARRAY_PTR(keys)[i]));
}

/*
 * MEMORY#wait_for_events(keys = nil, timeout = nil): block until a counter
 * of memory.events named in keys (default: high and max, the breaches of
 * memory.high and memory.max) rises; returns {key => how much} for those
 * that rose, {} at the timeout.  v2 only: v1 has no such counters to wait
 * on (its usage thresholds go through cgroup.event_control).
 */
static mrb_value
memory_wait_for_events(mrb_state *mrb, mrb_value self)
{
  struct cgroup_ctx *ctx = mcg_get_ctx(mrb, self);
  mrb_value keys = mrb_nil_value(), t = mrb_nil_value(), rose = mrb_hash_new(mrb);
  long long before[16], now[16];
  double deadline;
  mrb_int i, n;
  int fd;

  mrb_get_args(mrb, "|oo", &keys, &t);
  keys = event_keys(mrb, keys);
  if ((n = RARRAY_LEN(keys)) > 16) mrb_raise(mrb, E_ARGUMENT_ERROR, "at most 16 keys");
  deadline = mcg_deadline_after(mcg_timeout_arg(mrb, t, -1));
  mcg_require_group(mrb, ctx, "wait for events");
  if (!mcg_ctx_on_v2(ctx)) {
    mcg_raise_error(mrb, MCG_FAILURE(.cls = "Unsupported", .err = EOPNOTSUPP, .ctx = ctx,
                                     .action = "wait for events", .file = "memory.events",
                                     .reason = "cgroup v2 only"));
  }
  fd = mcg_open_in_mount(ctx, ctx->path, "memory.events", O_RDONLY);
  if (fd < 0) {
    mcg_raise_error(mrb, MCG_FAILURE(.err = errno, .ctx = ctx, .action = "wait for events",
                                     .file = "memory.events"));
  }
  read_event_counts(fd, mrb, keys, before);
  for (i = 0; i < n; i++) {
    if (before[i] < 0) {
      close(fd);
      mcg_raise_error(mrb, MCG_FAILURE(.cls = "Unsupported", .err = EOPNOTSUPP, .ctx = ctx,
                                       .action = "wait for events", .file = "memory.events",
                                       .value = RSTRING_CSTR(mrb, RARRAY_PTR(keys)[i]),
                                       .reason = "no such counter in this kernel's memory.events"));
    }
  }
  do {
    read_event_counts(fd, mrb, keys, now);
    for (i = 0; i < n; i++) {
      if (now[i] > before[i])
        mrb_hash_set(mrb, rose, RARRAY_PTR(keys)[i], mrb_int_value(mrb, now[i] - before[i]));
    }
  } while (mrb_hash_size(mrb, rose) == 0 && now[0] >= 0 && await_change(fd, deadline));
  close(fd);
  mcg_require_group(mrb, ctx, "wait for events"); /* removed meanwhile: NotFound */
  return rose;
}

void
mcg_init_wait(mrb_state *mrb, struct RClass *cgroup)
{
  struct RClass *freezer = mrb_class_get_under(mrb, cgroup, "FREEZER");
  struct RClass *memory = mrb_class_get_under(mrb, cgroup, "MEMORY");

  mrb_define_method(mrb, freezer, "freeze", freezer_freeze, MRB_ARGS_OPT(1));
  mrb_define_method(mrb, freezer, "thaw", freezer_thaw, MRB_ARGS_OPT(1));
  mrb_define_method(mrb, freezer, "state", freezer_state, MRB_ARGS_NONE());
  mrb_define_method(mrb, freezer, "frozen?", freezer_frozen_p, MRB_ARGS_NONE());
  mrb_define_method(mrb, memory, "wait_for_oom", memory_wait_for_oom, MRB_ARGS_OPT(1));
  mrb_define_method(mrb, memory, "wait_for_events", memory_wait_for_events, MRB_ARGS_OPT(2));
  mrb_define_method(mrb, cgroup, "wait_empty", cgroup_wait_empty, MRB_ARGS_OPT(1));
}
