/*
 * Pressure stall information (PSI, kernel 4.20; triggers 5.2): the readers
 * are rows of the attribute table (Cgroup::PRESSURE#cpu, #memory, #io,
 * #irq); here are the triggers.  A trigger is the pressure file opened
 * read-write with "some|full STALL_US WINDOW_US" written to it; the kernel
 * then flags the descriptor (POLLPRI) whenever the group's tasks stalled
 * that long within a window, at most once a window, for as long as it is
 * open.  Cgroup::Trigger owns the descriptor: #wait(timeout) polls it,
 * #close (or the garbage collector) closes it (Cgroup::GroupFile, files.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <mruby.h>
#include <mruby/class.h>
#include <mruby/data.h>
#include <mruby/string.h>
#include <mruby/variable.h>
#include <mruby/version.h>

#include "cgroup.h"

/* The resources with a pressure file, and the two kinds of stall. */
static const char *const resources[] = {"cpu", "memory", "io", "irq"};
static const char *const kinds[] = {"some", "full"};

/* The name in names that v (a Symbol or String) is; else ArgumentError. */
static const char *
pick(mrb_state *mrb, mrb_value v, const char *const *names, size_t count, const char *what)
{
  size_t i;

  if (mrb_symbol_p(v)) v = mrb_sym_str(mrb, mrb_symbol(v));
  if (mrb_string_p(v)) {
    for (i = 0; i < count; i++) {
      if ((size_t)RSTRING_LEN(v) == strlen(names[i]) &&
          memcmp(RSTRING_PTR(v), names[i], RSTRING_LEN(v)) == 0)
        return names[i];
    }
  }
  mrb_raisef(mrb, E_ARGUMENT_ERROR, "expected %s, got %v", what, v);
}

/* Open the group's pressure file for a trigger and write its spec; the
 * descriptor, or raises (InvalidValue for what the kernel refuses: a window
 * outside 500 ms..10 s, a stall longer than the window; for a process
 * without CAP_SYS_RESOURCE, kernels from 6.5 take only windows of whole 2 s,
 * as this host's root in its container finds). */
static int
open_trigger(mrb_state *mrb, struct cgroup_ctx *ctx, const char *file, const char *spec)
{
  int fd, err;

  mcg_require_mount(mrb, ctx);
  mcg_require_group(mrb, ctx, "set a trigger on");
  fd = mcg_open_in_mount(ctx, ctx->path, file, O_RDWR | O_NONBLOCK);
  if (fd < 0) {
    err = errno;
    if (err == ENOENT && mcg_path_exists(ctx, ctx->path)) {
      mcg_raise_error(mrb, MCG_FAILURE(.cls = "Unsupported", .err = EOPNOTSUPP, .ctx = ctx,
                                       .action = "set a trigger on", .file = file, .value = spec,
                                       .reason = "this kernel has no such file"));
    }
    mcg_raise_error(mrb, MCG_FAILURE(.err = err, .ctx = ctx, .action = "set a trigger on",
                                     .file = file, .value = spec));
  }
  if (write(fd, spec, strlen(spec) + 1) < 0) { /* the kernel's example writes the NUL too */
    err = errno;
    close(fd);
    mcg_raise_error(
        mrb,
        MCG_FAILURE(.err = err, .ctx = ctx, .action = "set a trigger on", .file = file,
                    .value = spec,
                    .reason = err == EINVAL
                                  ? "the kernel takes a window of 500 ms to 10 s and a stall "
                                    "within it; without CAP_SYS_RESOURCE (kernel 6.5 and later) "
                                    "a window of whole 2 s"
                                  : NULL));
  }
  return fd;
}

/* pressure.trigger(resource, kind, stall_us, window_us) => a Cgroup::Trigger */
static mrb_value
pressure_trigger(mrb_state *mrb, mrb_value self)
{
  struct cgroup_ctx *ctx = mcg_get_ctx(mrb, self);
  mrb_value resource, kind;
  mrb_int stall, window;
  char file[32], spec[96];
  const char *res;

  mrb_get_args(mrb, "ooii", &resource, &kind, &stall, &window);
  res = pick(mrb, resource, resources, 4, "cpu, memory, io or irq");
  if (stall <= 0 || window <= 0)
    mrb_raisef(mrb, E_ARGUMENT_ERROR, "stall and window are microseconds > 0");
  snprintf(file, sizeof file, "%s.pressure", res);
  snprintf(spec, sizeof spec, "%s %lld %lld", pick(mrb, kind, kinds, 2, "some or full"),
           (long long)stall, (long long)window);
  return mcg_group_file_new(mrb, "Trigger", self, file, spec, open_trigger(mrb, ctx, file, spec));
}

/* trigger.wait(timeout = nil) => true when the stall happened, false at
 * the timeout (seconds; nil waits for ever).  NotFound once the group is
 * removed; Cgroup::Error (EBADF) when closed. */
static mrb_value
trigger_wait(mrb_state *mrb, mrb_value self)
{
  mrb_value timeout = mrb_nil_value();
  struct pollfd pfd;
  double deadline;
  int ready, fd;

  mrb_get_args(mrb, "|o", &timeout);
  fd = mcg_group_file_fd(mrb, self, "wait for");
  deadline = mcg_deadline_after(mcg_timeout_arg(mrb, timeout, -1));
  do {
    pfd.fd = fd;
    pfd.events = POLLPRI;
    pfd.revents = 0;
    ready = poll(&pfd, 1, mcg_ms_left(deadline));
  } while (ready < 0 && errno == EINTR);
  if (ready < 0)
    mcg_raise_for_group_file(mrb, self, MCG_FAILURE(.err = errno, .action = "wait for"));
  if (pfd.revents & (POLLERR | POLLNVAL)) /* the group was removed */
    mcg_raise_for_group_file(mrb, self,
                             MCG_FAILURE(.cls = "NotFound", .err = ENOENT, .action = "wait for",
                                         .reason = "the group was removed"));
  return mrb_bool_value(ready > 0 && (pfd.revents & POLLPRI));
}

void
mcg_init_pressure(mrb_state *mrb, struct RClass *cgroup)
{
  struct RClass *pressure = mrb_class_get_under(mrb, cgroup, "PRESSURE");
  struct RClass *trigger = mcg_define_group_file_class(mrb, cgroup, "Trigger");

  mrb_define_method(mrb, pressure, "trigger", pressure_trigger, MRB_ARGS_REQ(4));
  mrb_define_method(mrb, trigger, "wait", trigger_wait, MRB_ARGS_OPT(1));
}
