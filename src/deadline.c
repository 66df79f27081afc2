/*
 * Deadlines and back-off for every call that waits: a timeout argument, the
 * milliseconds left for poll(2), and a growing sleep for states the kernel
 * gives no notification of.
 */
#include <limits.h>
#include <time.h>

#include <mruby.h>

#include "cgroup.h"

static double
monotonic_seconds(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A timeout argument in seconds (undef: otherwise); nil waits for ever (-1). */
double
mcg_timeout_arg(mrb_state *mrb, mrb_value v, double otherwise)
{
  double t;

  if (mrb_undef_p(v)) return otherwise;
  if (mrb_nil_p(v)) return -1;
  t = mrb_as_float(mrb, v);
  if (!(t >= 0)) mrb_raisef(mrb, E_ARGUMENT_ERROR, "timeout must be >= 0 or nil, got %v", v);
  return t;
}

double
mcg_deadline_after(double timeout)
{
  return timeout < 0 ? -1 : monotonic_seconds() + timeout;
}

/* Milliseconds left before deadline (-1: none), for poll(). */
int
mcg_ms_left(double deadline)
{
  double left;

  if (deadline < 0) return -1;
  left = (deadline - monotonic_seconds()) * 1000;
  return left <= 0 ? 0 : left >= INT_MAX ? INT_MAX : (int)left + 1;
}

/* Sleep *delay ms (not past the deadline), then double it up to 16 ms: for
 * states the kernel gives no notification of, looked at again and again.
 * A delay below 1 ms counts as 1: from 0 it would never sleep or grow. */
void
mcg_back_off(long *delay, double deadline)
{
  struct timespec ts;
  long ms;

  if (*delay < 1) *delay = 1;
  ms = deadline < 0 || *delay < mcg_ms_left(deadline) ? *delay : mcg_ms_left(deadline);
  ts.tv_sec = ms / 1000;
  ts.tv_nsec = (ms % 1000) * 1000000L;

  nanosleep(&ts, NULL);
  if (*delay < 16) *delay *= 2;
}
