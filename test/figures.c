/*
 * Figures for the soaks and reports: memory, CPU time, clocks, notes.
 * Defined into CgroupTest by mrb_mruby_cgroup_gem_test (cgroup_test.c).
 */
#include "cgroup_test.h"

/* A "Field: N kB" line of /proc/self/status, in kB (-1 if missing). */
static long
status_kb(const char *field)
{
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  size_t n = strlen(field);
  long kb = -1;

  while (kb < 0 && f && fgets(line, sizeof line, f)) {
    if (strncmp(line, field, n) == 0 && line[n] == ':') kb = atol(line + n + 1);
  }
  if (f) fclose(f);
  return kb;
}

/* CgroupTest.rss_kb: this process's resident set now (VmRSS) */
static mrb_value
t_rss_kb(mrb_state *mrb, mrb_value self)
{
  (void)self;
  return mrb_int_value(mrb, status_kb("VmRSS"));
}

/* CgroupTest.peak_rss_kb: this process's VmHWM */
static mrb_value
t_peak_rss_kb(mrb_state *mrb, mrb_value self)
{
  (void)self;
  return mrb_int_value(mrb, status_kb("VmHWM"));
}

/* CgroupTest.cpu_ticks(pid) => user + system clock ticks from /proc/PID/stat */
static mrb_value
t_cpu_ticks(mrb_state *mrb, mrb_value self)
{
  char path[64], buf[1024], *p;
  unsigned long utime = 0, stime = 0;
  mrb_int pid;
  FILE *f;
  (void)self;

  mrb_get_args(mrb, "i", &pid);
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  if (!(f = fopen(path, "re"))) mcgt_raise_errno(mrb, "open", path);
  p = fgets(buf, sizeof buf, f);
  fclose(f);
  /* after "pid (comm) ": state ppid pgrp session tty tpgid flags minflt
   * cminflt majflt cmajflt utime stime */
  if (!p || !(p = strrchr(buf, ')')) ||
      sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
    mrb_raisef(mrb, E_RUNTIME_ERROR, "cannot parse %s", path);
  return mrb_int_value(mrb, (mrb_int)(utime + stime));
}

/* CgroupTest.burn(ms): spin in this process until it used ms of CPU time;
 * CgroupTest.touch(bytes): allocate and write that much, then free it (a
 * known workload for a lease, run by the leasing process itself) */
static mrb_value
t_burn(mrb_state *mrb, mrb_value self)
{
  mrb_int ms;

  mrb_get_args(mrb, "i", &ms);
  mcgt_spin_cpu((long)ms);
  return self;
}

/* CgroupTest.spin_quietly(n): n rounds of a busy loop that never reads a
 * CPU clock: such a read charges the time run so far to the task's group,
 * which is what the gem must do itself before a move (tests of that use
 * this loop, so that nothing but the gem charges the time) */
static mrb_value
t_spin_quietly(mrb_state *mrb, mrb_value self)
{
  volatile unsigned long spin = 0;
  mrb_int n;

  mrb_get_args(mrb, "i", &n);
  for (mrb_int i = 0; i < n; i++) spin++;
  return self;
}

/* CgroupTest.quiet_rounds(ms) => how many rounds of spin_quietly take about
 * ms of CPU time here, at the fastest of five tries (a try slowed by a
 * neighbour costs more time per round, never less) */
static mrb_value
t_quiet_rounds(mrb_state *mrb, mrb_value self)
{
  struct timespec a, b;
  double best = 0;
  mrb_int ms;

  mrb_get_args(mrb, "i", &ms);
  for (int i = 0; i < 5; i++) {
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
    mrb_funcall(mrb, self, "spin_quietly", 1, mrb_int_value(mrb, 1000000));
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
    double per_ms = 1000000 / ((b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6);
    if (per_ms > best) best = per_ms;
  }
  return mrb_int_value(mrb, (mrb_int)(best * (double)ms));
}

/* CgroupTest.quiet_spin_counted => [least, most] microseconds a group may
 * count for a spin of quiet_rounds(3): its 3 ms, short of a CPU clock's
 * read never (0 is what a move without the gem's flush counts, 6 ms both
 * spins' when the one before a move is charged after it).  Emulated CPUs
 * (the VMs, valgrind) charge a spin the time the host took the CPU away,
 * and their rounds, timed there, may take less than 3 ms: wide bounds,
 * which still catch a spin counted as nothing. */
static mrb_value
t_quiet_spin_counted(mrb_state *mrb, mrb_value self)
{
  const char *vm = getenv("MRB_CGROUP_VM"), *emulated = getenv("MRB_CGROUP_EMULATED");
  mrb_bool wide = (vm && *vm) || (emulated && strcmp(emulated, "1") == 0);
  mrb_value bounds[2] = {mrb_int_value(mrb, wide ? 300 : 1800),
                         mrb_int_value(mrb, wide ? 12000 : 5000)};
  (void)self;
  return mrb_ary_new_from_values(mrb, 2, bounds);
}

static mrb_value
t_touch(mrb_state *mrb, mrb_value self)
{
  mrb_int bytes;
  char *p;

  /* mmap, not malloc: pages malloc kept from an earlier call would be
   * charged already, to whichever group the process was in then */
  mrb_get_args(mrb, "i", &bytes);
  p = mmap(NULL, (size_t)bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) mcgt_raise_errno(mrb, "mmap", "touch");
  memset(p, 1, (size_t)bytes);
  munmap(p, (size_t)bytes);
  return self;
}

/* CgroupTest.cpu_usec => the CPU time this process used, in microseconds */
static mrb_value
t_cpu_usec(mrb_state *mrb, mrb_value self)
{
  struct timespec t;
  (void)self;

  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return mrb_int_value(mrb, (mrb_int)t.tv_sec * 1000000 + t.tv_nsec / 1000);
}

/* CgroupTest.block_device?(path): whether the file system holding path
 * sits on a block device (tmpfs, overlay and the like have major 0) */
static mrb_value
t_block_device_p(mrb_state *mrb, mrb_value self)
{
  char *path;
  struct stat st;
  (void)self;

  mrb_get_args(mrb, "z", &path);
  if (stat(path, &st) != 0) mcgt_raise_errno(mrb, "stat", path);
  return mrb_bool_value(major(st.st_dev) != 0);
}

/* CgroupTest.sleep(seconds) */
static mrb_value
t_sleep(mrb_state *mrb, mrb_value self)
{
  mrb_float sec;
  (void)self;

  mrb_get_args(mrb, "f", &sec);
  usleep((useconds_t)(sec * 1e6));
  return self;
}

/* CgroupTest.now: monotonic seconds, for reports (never for assertions) */
static mrb_value
t_now(mrb_state *mrb, mrb_value self)
{
  struct timespec ts;
  (void)self;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return mrb_float_value(mrb, ts.tv_sec + ts.tv_nsec / 1e9);
}

/* CgroupTest.note(text): a line for the report on stderr */
static mrb_value
t_note(mrb_state *mrb, mrb_value self)
{
  char *text;

  mrb_get_args(mrb, "z", &text);
  fprintf(stderr, "\n  note: %s\n", text);
  return self;
}

void
mcgt_init_figures(mrb_state *mrb, struct RClass *t)
{
  mrb_define_module_function(mrb, t, "rss_kb", t_rss_kb, MRB_ARGS_NONE());
  mrb_define_module_function(mrb, t, "peak_rss_kb", t_peak_rss_kb, MRB_ARGS_NONE());
  mrb_define_module_function(mrb, t, "cpu_ticks", t_cpu_ticks, MRB_ARGS_REQ(1));
  mrb_define_module_function(mrb, t, "sleep", t_sleep, MRB_ARGS_REQ(1));
  mrb_define_module_function(mrb, t, "burn", t_burn, MRB_ARGS_REQ(1));
  mrb_define_module_function(mrb, t, "spin_quietly", t_spin_quietly, MRB_ARGS_REQ(1));
  mrb_define_module_function(mrb, t, "quiet_rounds", t_quiet_rounds, MRB_ARGS_REQ(1));
  mrb_define_module_function(mrb, t, "quiet_spin_counted", t_quiet_spin_counted, MRB_ARGS_NONE());
  mrb_define_module_function(mrb, t, "block_device?", t_block_device_p, MRB_ARGS_REQ(1));
  mrb_define_module_function(mrb, t, "cpu_usec", t_cpu_usec, MRB_ARGS_NONE());
  mrb_define_module_function(mrb, t, "touch", t_touch, MRB_ARGS_REQ(1));
  mrb_define_module_function(mrb, t, "now", t_now, MRB_ARGS_NONE());
  mrb_define_module_function(mrb, t, "note", t_note, MRB_ARGS_REQ(1));
}
