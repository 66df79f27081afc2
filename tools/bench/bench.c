/*
 * The same cgroup work done three ways, for `rake bench` to set beside the
 * gem (which it runs through example/embed): raw open/write/close of the
 * cgroup files (the floor), libcgroup called directly the obvious way, and
 * (cycles only) raw pwrite on descriptors opened once, with the task's home
 * group known in advance: the least the kernel can be asked to do.
 *
 *   bench raw|lib|kept cpu|memory|create|read N
 *   bench calls N
 *
 * Prints the microseconds per operation; `calls` prints three: what a
 * kept descriptor saves on this kernel (see calls(); what its check costs
 * the gem is kept_check.c's).
 * Groups go under $MRB_BENCH_GROUP and are removed again; the memory case
 * moves a helper child, never this process.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <libcgroup.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *group; /* e.g. /mrbcg-bench-123 */
static char home[2][256]; /* where the moved task started, per controller */
static const char *ctl_names[2] = {"cpu", "memory"};

static double
now_us(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* open, write, close: the floor's way; whether the write went through */
static int
put(const char *path, const char *value)
{
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  int ok = fd >= 0 && write(fd, value, strlen(value)) >= 0;

  if (!ok) perror(path);
  if (fd >= 0) close(fd);
  return ok;
}

static size_t
get(const char *path, char *buf, size_t size)
{
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  ssize_t n = fd < 0 ? -1 : read(fd, buf, size - 1);

  if (fd >= 0) close(fd);
  buf[n > 0 ? n : 0] = '\0';
  return n > 0 ? (size_t)n : 0;
}

/* the task's group for controller c, from /proc/PID/cgroup (read once) */
static void
find_home(int c, pid_t pid)
{
  char file[64], line[512];
  FILE *f;

  snprintf(file, sizeof file, "/proc/%d/cgroup", (int)pid);
  f = fopen(file, "r");
  while (f && fgets(line, sizeof line, f)) {
    char *ctls = strchr(line, ':'), *path = ctls ? strchr(ctls + 1, ':') : NULL;
    if (!path) continue;
    *path++ = '\0';
    path[strcspn(path, "\n")] = '\0';
    if (strstr(ctls + 1, ctl_names[c])) snprintf(home[c], sizeof home[c], "%s", path);
  }
  if (f) fclose(f);
}

static void
raw_cycle(int c, pid_t pid, long i)
{
  char path[512], value[32], task[16];

  snprintf(task, sizeof task, "%d", (int)pid);
  snprintf(path, sizeof path, "/sys/fs/cgroup/%s%s/req/%s", ctl_names[c], group,
           c ? "memory.limit_in_bytes" : "cpu.cfs_quota_us");
  snprintf(value, sizeof value, "%ld", c ? (256L << 20) + (i % 16) * 4096 : 20000 + i % 10 * 1000);
  put(path, value);
  snprintf(path, sizeof path, "/sys/fs/cgroup/%s%s/req/tasks", ctl_names[c], group);
  put(path, task);
  snprintf(path, sizeof path, "/sys/fs/cgroup/%s%s/tasks", ctl_names[c], home[c]);
  put(path, task);
}

/* raw_cycle's three writes through descriptors opened on the first call */
static void
kept_cycle(int c, pid_t pid, long i)
{
  static int fds[3] = {-1, -1, -1};
  char path[512], value[32], task[16];

  if (fds[0] < 0) {
    snprintf(path, sizeof path, "/sys/fs/cgroup/%s%s/req/%s", ctl_names[c], group,
             c ? "memory.limit_in_bytes" : "cpu.cfs_quota_us");
    fds[0] = open(path, O_WRONLY | O_CLOEXEC);
    snprintf(path, sizeof path, "/sys/fs/cgroup/%s%s/req/tasks", ctl_names[c], group);
    fds[1] = open(path, O_WRONLY | O_CLOEXEC);
    snprintf(path, sizeof path, "/sys/fs/cgroup/%s%s/tasks", ctl_names[c], home[c]);
    fds[2] = open(path, O_WRONLY | O_CLOEXEC);
  }
  snprintf(task, sizeof task, "%d", (int)pid);
  snprintf(value, sizeof value, "%ld", c ? (256L << 20) + (i % 16) * 4096 : 20000 + i % 10 * 1000);
  if (pwrite(fds[0], value, strlen(value), 0) < 0 || pwrite(fds[1], task, strlen(task), 0) < 0 ||
      pwrite(fds[2], task, strlen(task), 0) < 0)
    perror("kept cycle");
}

static void
lib_cycle(int c, pid_t pid, long i)
{
  char path[256];
  struct cgroup *cg, *back;
  struct cgroup_controller *ctl;

  snprintf(path, sizeof path, "%s/req", group);
  cg = cgroup_new_cgroup(path);
  ctl = cgroup_add_controller(cg, ctl_names[c]);
  if (c)
    cgroup_add_value_int64(ctl, "memory.limit_in_bytes", (256L << 20) + (i % 16) * 4096);
  else
    cgroup_add_value_int64(ctl, "cpu.cfs_quota_us", 20000 + i % 10 * 1000);
  if (cgroup_modify_cgroup(cg) || cgroup_attach_task_pid(cg, pid))
    fprintf(stderr, "lib cycle failed\n");
  back = cgroup_new_cgroup(home[c]);
  cgroup_add_controller(back, ctl_names[c]);
  cgroup_attach_task_pid(back, pid);
  cgroup_free(&back);
  cgroup_free(&cg);
}

static double
cycles(void (*cycle)(int, pid_t, long), int c, long n)
{
  pid_t pid = c ? fork() : (pid_t)syscall(SYS_gettid);
  char path[256];
  double t;

  if (pid == 0) {
    pause();
    _exit(0);
  }
  find_home(c, pid);
  snprintf(path, sizeof path, "/sys/fs/cgroup/%s%s", ctl_names[c], group);
  mkdir(path, 0755);
  strcat(path, "/req");
  mkdir(path, 0755);
  t = now_us();
  for (long i = 0; i < n; i++) cycle(c, pid, i);
  t = now_us() - t;
  rmdir(path);
  *strrchr(path, '/') = '\0';
  rmdir(path);
  if (c) {
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
  }
  return t / n;
}

/* create then delete n cpu groups; per group */
static double
create_delete(int lib, long n)
{
  char path[256];
  double t = now_us();

  for (int pass = 0; pass < 2; pass++) {
    for (long i = 0; i < n; i++) {
      if (lib) {
        snprintf(path, sizeof path, "%s/g%ld", group, i);
        struct cgroup *cg = cgroup_new_cgroup(path);
        cgroup_add_controller(cg, "cpu");
        if (pass == 0 ? cgroup_create_cgroup(cg, 0) : cgroup_delete_cgroup(cg, 0))
          fprintf(stderr, "lib create failed\n");
        cgroup_free(&cg);
      } else {
        snprintf(path, sizeof path, "/sys/fs/cgroup/cpu%s/g%ld", group, i);
        if (pass == 0 ? mkdir(path, 0755) : rmdir(path)) perror(path);
      }
    }
  }
  return (now_us() - t) / n;
}

/* read memory.stat and memory.usage_in_bytes n times; per pair */
static double
reads(int lib, long n)
{
  char path[256], buf[8192];
  double t;
  long sum = 0;

  snprintf(path, sizeof path, "/sys/fs/cgroup/memory%s", group);
  mkdir(path, 0755);
  t = now_us();
  for (long i = 0; i < n; i++) {
    if (lib) {
      void *h = NULL;
      struct cgroup_stat st;
      int ret = cgroup_read_stats_begin("memory", group, &h, &st);
      while (ret == 0) {
        sum += strlen(st.value);
        ret = cgroup_read_stats_next(&h, &st);
      }
      cgroup_read_stats_end(&h);
      ret = cgroup_read_value_begin("memory", group, "memory.usage_in_bytes", &h, buf, sizeof buf);
      while (ret == 0) ret = cgroup_read_value_next(&h, buf, sizeof buf);
      cgroup_read_value_end(&h);
    } else {
      char file[300];
      snprintf(file, sizeof file, "%s/memory.stat", path);
      sum += get(file, buf, sizeof buf);
      snprintf(file, sizeof file, "%s/memory.usage_in_bytes", path);
      sum += get(file, buf, sizeof buf);
    }
  }
  t = now_us() - t;
  rmdir(path);
  return sum >= 0 ? t / n : 0;
}

/* One child's share: move itself between groups a and b n times. */
static void
move_back_and_forth(const char *a, const char *b, long n)
{
  char me[16];
  int fds[2] = {open(a, O_WRONLY), open(b, O_WRONLY)};
  int len = snprintf(me, sizeof me, "%d", (int)getpid());

  for (long i = 0; i < n; i++) {
    if (pwrite(fds[i & 1], me, len, 0) != len) _exit(1);
  }
  _exit(0);
}

/* The kernel's own ceiling: procs children each move themselves between
 * two cpu groups n times with kept descriptors (nothing but the write);
 * prints the moves per second of all of them together.  Moves take a
 * lock the kernel holds for every migration, so they do not add up. */
static int
moves(int procs, long n)
{
  char dir[2][256], procs_file[2][256 + 16];
  double t;
  int ok = 1;

  for (int i = 0; i < 2; i++) {
    snprintf(dir[i], sizeof dir[i], "/sys/fs/cgroup/cpu%s-m%d", group, i);
    snprintf(procs_file[i], sizeof procs_file[i], "%.250s/cgroup.procs", dir[i]);
    mkdir(dir[i], 0755);
  }
  t = now_us();
  for (int p = 0; p < procs; p++) {
    if (fork() == 0) move_back_and_forth(procs_file[0], procs_file[1], n);
  }
  for (int p = 0, status; p < procs; p++) {
    wait(&status);
    ok = ok && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }
  t = now_us() - t;
  for (int i = 0; i < 2; i++) rmdir(dir[i]);
  if (!ok) return 1;
  printf("%.0f\n", procs * n / (t / 1e6));
  return 0;
}

/* What a kept descriptor saves on this kernel, in us per call, n times
 * each: a null system call; open, write and close of a group file (put, as
 * the floor does it); pwrite alone.  Keeping pays where the check before
 * a use (kept_check.c, through the gem) and the pwrite add up to less than
 * the second. */
static int
calls(long n)
{
  char dir[256], file[256 + 32];
  double t[3];
  int fd, ok;

  snprintf(dir, sizeof dir, "/sys/fs/cgroup/cpu%s", group);
  snprintf(file, sizeof file, "%.250s/cpu.shares", dir);
  mkdir(dir, 0755);
  fd = open(file, O_WRONLY | O_CLOEXEC);
  ok = fd >= 0;
  t[0] = now_us();
  for (long i = 0; i < n; i++) syscall(SYS_getpid);
  t[1] = now_us();
  for (long i = 0; i < n && ok; i++) ok = put(file, "1024");
  t[2] = now_us();
  for (long i = 0; i < n && ok; i++) ok = pwrite(fd, "1024", 4, 0) == 4;
  if (fd >= 0) close(fd);
  rmdir(dir);
  if (!ok) return 1;
  printf("%.2f %.2f %.2f\n", (t[1] - t[0]) / n, (t[2] - t[1]) / n, (now_us() - t[2]) / n);
  return 0;
}

int
main(int argc, char **argv)
{
  int lib;
  long n;
  double us;
  void (*cycle)(int, pid_t, long);

  if (argc == 4 && strcmp(argv[1], "moves") == 0 && (group = getenv("MRB_BENCH_GROUP")))
    return moves(atoi(argv[2]), atol(argv[3]));
  if (argc == 3 && strcmp(argv[1], "calls") == 0 && (group = getenv("MRB_BENCH_GROUP")))
    return calls(atol(argv[2]));
  if (argc != 4 || !(group = getenv("MRB_BENCH_GROUP"))) {
    fprintf(stderr,
            "usage: MRB_BENCH_GROUP=/g bench raw|lib|kept cpu|memory|create|read N | calls N\n");
    return 2;
  }
  lib = strcmp(argv[1], "lib") == 0;
  cycle = lib ? lib_cycle : strcmp(argv[1], "kept") == 0 ? kept_cycle : raw_cycle;
  n = atol(argv[3]);
  if (lib && cgroup_init() != 0) return 1;
  if (strcmp(argv[2], "cpu") == 0)
    us = cycles(cycle, 0, n);
  else if (strcmp(argv[2], "memory") == 0)
    us = cycles(cycle, 1, n);
  else if (strcmp(argv[2], "create") == 0) {
    char path[256];
    snprintf(path, sizeof path, "/sys/fs/cgroup/cpu%s", group);
    mkdir(path, 0755);
    us = create_delete(lib, n);
    rmdir(path);
  } else
    us = reads(lib, n);
  printf("%.2f\n", us);
  return 0;
}
