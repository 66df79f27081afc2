/*
 * What the gem's check before a kept group file costs per use, measured
 * through the gem's own code (src/kept_files.c, from libmruby.a), for `rake
 * bench`'s last line.  Each use goes through mcg_kept_file_io with an I/O
 * that does nothing, so what it costs is the look-up of the kept file and
 * its check; the same uses inside one cycle, after their first (checked
 * already: no call), cost the look-up alone; the difference is the check,
 * given in null calls (getpid) timed alongside.  Three cases:
 *   root, one use per call: attach, detach, a modify of one value;
 *   root, three files in one call: a modify of three values;
 *   a worker that dropped root for good (a forked child become nobody):
 *     its credentials settled, one use per call.
 * Each is the median of 5 rounds.
 *
 *   MRB_BENCH_GROUP=/g kept_check N
 *
 * prints the three figures and the null call's microseconds.  The group
 * /g-kept-check (cpu) is made and removed again.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mruby.h>
#include <mruby/compile.h>
#include <mruby/string.h>

#include "../../src/cgroup.h"

#define ROUNDS 5
#define FILES 3

struct bench {
  mrb_state *mrb;
  struct cgroup_ctx *ctx;
  char rel[FILES][PATH_MAX]; /* each file's path below the mount */
  long n;
};

static double
now_us(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int
no_io(mrb_state *mrb, int fd, void *arg)
{
  (void)mrb, (void)fd, (void)arg;
  return 0;
}

static int
use(struct bench *b, int file, struct kept_cycle *cycle)
{
  return mcg_kept_file_io(b->mrb, b->ctx, b->rel[file], O_RDONLY, no_io, NULL, cycle);
}

/* us per use of the first `files` files: each use a call of its own
 * (cycles 0), `files` uses per cycle (1), or all in one cycle (2, after
 * the first round checked already: the look-up alone). */
static double
per_use(struct bench *b, int files, int cycles)
{
  struct kept_cycle cycle;
  double t = now_us();
  int err = 0;

  if (cycles == 2) mcg_kept_cycle_begin(b->ctx, &cycle);
  for (long i = 0; i < b->n; i++) {
    if (cycles == 1) mcg_kept_cycle_begin(b->ctx, &cycle);
    for (int f = 0; f < files; f++) err |= use(b, f, cycles ? &cycle : NULL);
  }
  t = now_us() - t;
  if (err) {
    fprintf(stderr, "kept_check: a use failed\n");
    exit(1);
  }
  return t / ((double)b->n * files);
}

static double
null_call(long n)
{
  double t = now_us();

  for (long i = 0; i < n; i++) syscall(SYS_getpid);
  return (now_us() - t) / n;
}

static int
by_value(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* The check's cost per use in null calls, median of the rounds: uses of
 * `files` files, one per call (cycles 0) or `files` per call (1). */
static double
check_cost(struct bench *b, int files, int cycles, double *null_us)
{
  double ratio[ROUNDS], nulls[ROUNDS];

  per_use(b, files, cycles); /* opened as this caller, and warm */
  for (int r = 0; r < ROUNDS; r++) {
    double checked = per_use(b, files, cycles), looked_up = per_use(b, files, 2);
    nulls[r] = null_call(b->n);
    ratio[r] = (checked - looked_up) / nulls[r];
  }
  qsort(ratio, ROUNDS, sizeof ratio[0], by_value);
  qsort(nulls, ROUNDS, sizeof nulls[0], by_value);
  if (null_us) *null_us = nulls[ROUNDS / 2];
  return ratio[ROUNDS / 2];
}

/* The settled worker's figure, from a child that becomes nobody for good. */
static double
worker_cost(struct bench *b)
{
  double cost = -1;
  int fds[2], status;
  pid_t pid;

  if (pipe(fds) != 0 || (pid = fork()) < 0) return -1;
  if (pid == 0) {
    close(fds[0]);
    if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0) _exit(1);
    cost = check_cost(b, 1, 0, NULL);
    _exit(write(fds[1], &cost, sizeof cost) == sizeof cost ? 0 : 1);
  }
  close(fds[1]);
  if (read(fds[0], &cost, sizeof cost) != sizeof cost) cost = -1;
  close(fds[0]);
  waitpid(pid, &status, 0);
  return cost;
}

int
main(int argc, char **argv)
{
  const char *group = getenv("MRB_BENCH_GROUP");
  const char *files[FILES] = {"cgroup.procs", "cpu.stat", "notify_on_release"};
  struct bench b;
  char code[PATH_MAX + 64];
  double one, three, worker, null_us;
  mrb_value obj;

  if (argc != 2 || !group) {
    fprintf(stderr, "usage: MRB_BENCH_GROUP=/g kept_check N\n");
    return 2;
  }
  b.n = atol(argv[1]);
  b.mrb = mrb_open();
  snprintf(code, sizeof code, "Cgroup::CPU.new('%s-kept-check').create", group);
  obj = mrb_load_string(b.mrb, code);
  if (b.mrb->exc) {
    mrb_print_error(b.mrb);
    return 1;
  }
  b.ctx = mcg_get_ctx(b.mrb, obj);
  if (mcg_ctx_on_v2(b.ctx)) files[2] = "cgroup.type"; /* v2 has no notify_on_release */
  for (int f = 0; f < FILES; f++) mcg_group_path(b.ctx->path, files[f], b.rel[f]);
  one = check_cost(&b, 1, 0, &null_us);
  three = check_cost(&b, FILES, 1, NULL);
  worker = worker_cost(&b);
  mrb_funcall(b.mrb, obj, "delete", 0);
  mrb_close(b.mrb);
  if (worker < 0) return 1;
  printf("%.2f %.2f %.2f %.3f\n", one, three, worker, null_us);
  return 0;
}
