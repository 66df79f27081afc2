/*
 * Test-only helpers, the CgroupTest module, loaded into the mrb_state of
 * every test file (mruby runs each file in its own state, so this is the
 * one place the files share): the kernel's cgroup files found and read
 * independently of the gem, children to put into groups, and the cleanup
 * of the run's groups that CgroupTest.isolate { } runs after each test.
 *
 * CgroupTest.spawn(mode, arg) forks a child that waits on a pipe until
 * CgroupTest.release(pid), so the test can attach it to groups first.
 */

#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/capability.h>

#include <mruby.h>
#include <mruby/array.h>
#include <mruby/class.h>
#include <mruby/error.h>
#include <mruby/string.h>

/* ---- Files, read and written without the gem --------------------------- */

static mrb_noreturn void
raise_errno(mrb_state *mrb, const char *what, const char *path)
{
  mrb_raisef(mrb, E_RUNTIME_ERROR, "%s %s: %s", what, path, strerror(errno));
}

/* The body of the helpers that run a block with an ensure (mrb_ensure). */
static mrb_value
yield_block(mrb_state *mrb, mrb_value block)
{
  return mrb_yield_argv(mrb, block, 0, NULL);
}

/* A file's whole content as a String; raises RuntimeError naming it. */
static mrb_value
read_whole(mrb_state *mrb, const char *path)
{
  char buf[8192];
  int fd;
  ssize_t n;
  mrb_value out;

  if ((fd = open(path, O_RDONLY)) < 0) raise_errno(mrb, "open", path);
  out = mrb_str_new_capa(mrb, 64);
  while ((n = read(fd, buf, sizeof buf)) > 0) mrb_str_cat(mrb, out, buf, n);
  close(fd);
  if (n < 0) raise_errno(mrb, "read", path);
  return out;
}

/* CgroupTest.read(path) => the file's whole content */
static mrb_value
t_read(mrb_state *mrb, mrb_value self)
{
  char *path;
  (void)self;

  mrb_get_args(mrb, "z", &path);
  return read_whole(mrb, path);
}

/* CgroupTest.dir?(path) */
static mrb_value
t_dir_p(mrb_state *mrb, mrb_value self)
{
  char *path;
  struct stat st;
  (void)self;

  mrb_get_args(mrb, "z", &path);
  return mrb_bool_value(stat(path, &st) == 0 && S_ISDIR(st.st_mode));
}

/* CgroupTest.file?(path) */
static mrb_value
t_file_p(mrb_state *mrb, mrb_value self)
{
  char *path;
  struct stat st;
  (void)self;

  mrb_get_args(mrb, "z", &path);
  return mrb_bool_value(stat(path, &st) == 0 && S_ISREG(st.st_mode));
}

/* CgroupTest.write(path, text): create or replace a file */
static mrb_value
t_write(mrb_state *mrb, mrb_value self)
{
  char *path, *text;
  mrb_int len;
  int fd;

  mrb_get_args(mrb, "zs", &path, &text, &len);
  if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) < 0) raise_errno(mrb, "open", path);
  if (write(fd, text, len) != len) {
    close(fd);
    raise_errno(mrb, "write", path);
  }
  close(fd);
  return self;
}

/* CgroupTest.install(src, dir) => dir/basename(src): a copy any user can run,
 * in a directory of mode 0755 made for it (the checkout may sit where other
 * users cannot traverse, as /root does) */
static mrb_value
t_install(mrb_state *mrb, mrb_value self)
{
  const char *src, *dir, *base;
  char dst[PATH_MAX];
  mrb_value content;
  int fd;
  (void)self;

  mrb_get_args(mrb, "zz", &src, &dir);
  base = strrchr(src, '/') ? strrchr(src, '/') + 1 : src;
  snprintf(dst, sizeof dst, "%s/%s", dir, base);
  content = read_whole(mrb, src);
  if ((mkdir(dir, 0755) != 0 && errno != EEXIST) || chmod(dir, 0755) != 0)
    raise_errno(mrb, "mkdir", dir);
  if ((fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0755)) < 0) raise_errno(mrb, "open", dst);
  if (write(fd, RSTRING_PTR(content), RSTRING_LEN(content)) != RSTRING_LEN(content) ||
      fchmod(fd, 0755) != 0) {
    close(fd);
    raise_errno(mrb, "write", dst);
  }
  close(fd);
  return mrb_str_new_cstr(mrb, dst);
}

/* CgroupTest.unlink(path) */
static mrb_value
t_unlink(mrb_state *mrb, mrb_value self)
{
  char *path;

  mrb_get_args(mrb, "z", &path);
  unlink(path);
  return self;
}

/* CgroupTest.entries(dir) => names in a directory, sorted, without . and .. */
static mrb_value
t_entries(mrb_state *mrb, mrb_value self)
{
  char *path;
  DIR *d;
  struct dirent *e;
  mrb_value list = mrb_ary_new(mrb);
  (void)self;

  mrb_get_args(mrb, "z", &path);
  if (!(d = opendir(path))) return list;
  while ((e = readdir(d))) {
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
      mrb_ary_push(mrb, list, mrb_str_new_cstr(mrb, e->d_name));
    }
  }
  closedir(d);
  return mrb_funcall(mrb, list, "sort", 0);
}

/* CgroupTest.read_direct(device, bytes): read past the page cache (O_DIRECT),
 * so the block layer counts it for the calling thread's group */
static mrb_value
t_read_direct(mrb_state *mrb, mrb_value self)
{
  char *path;
  mrb_int bytes, done = 0;
  void *buf;
  int fd;
  ssize_t n = 0;
  (void)self;

  mrb_get_args(mrb, "zi", &path, &bytes);
  if ((fd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC)) < 0) raise_errno(mrb, "open", path);
  if (posix_memalign(&buf, 4096, 65536) != 0) {
    close(fd);
    raise_errno(mrb, "posix_memalign", path);
  }
  while (done < bytes && (n = read(fd, buf, 65536)) > 0) done += n;
  free(buf);
  close(fd);
  if (n < 0) raise_errno(mrb, "read", path);
  return mrb_int_value(mrb, done);
}

/* ---- Mounts and group files, from /proc/self/mountinfo, not libcgroup -- */

/* The mount point of a v1 controller (or "unified" for cgroup2), read from
 * /proc/self/mountinfo; NULL when not mounted. */
static char *
find_mount(const char *controller, char *out, size_t size)
{
  FILE *f = fopen("/proc/self/mountinfo", "r");
  char line[4096];
  mrb_bool found = FALSE;

  if (!f) return NULL;
  while (!found && fgets(line, sizeof line, f)) {
    char mnt[PATH_MAX], fstype[64], source[256], opts[1024], *sep = strstr(line, " - ");
    char *tok, *save = NULL;
    if (!sep || sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1) continue;
    if (sscanf(sep + 3, "%63s %255s %1023s", fstype, source, opts) != 3) continue;
    if (strcmp(fstype, "cgroup2") == 0)
      found = strcmp(controller, "unified") == 0;
    else if (strcmp(fstype, "cgroup") == 0) {
      for (tok = strtok_r(opts, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (strcmp(tok, controller) == 0) found = TRUE;
      }
    }
    if (found) snprintf(out, size, "%s", mnt);
  }
  fclose(f);
  return found ? out : NULL;
}

/* The controller's name on cgroup v2 (cpuacct's numbers live in cpu, blkio's in io). */
static const char *
v2_name(const char *controller)
{
  if (strcmp(controller, "cpuacct") == 0) return "cpu";
  if (strcmp(controller, "blkio") == 0) return "io";
  return controller;
}

/* 1 or 2 for the version serving a controller here (0: none), and its mount:
 * a v1 hierarchy with it, else the cgroup2 mount if its root offers it. */
static int
controller_mount(const char *controller, char *out, size_t size)
{
  char mnt[PATH_MAX], file[PATH_MAX + 32], list[512], *tok, *save = NULL;
  FILE *f;
  size_t n;

  if (find_mount(controller, out, size)) return 1;
  if (!find_mount("unified", mnt, sizeof mnt)) return 0;
  if (strcmp(controller, "freezer") == 0 || strcmp(controller, "pressure") == 0) {
    /* v2's core files, cgroup.freeze and the PSI files, in every group: no controller */
    snprintf(out, size, "%s", mnt);
    return 2;
  }
  snprintf(file, sizeof file, "%s/cgroup.controllers", mnt);
  if (!(f = fopen(file, "r"))) return 0;
  n = fread(list, 1, sizeof list - 1, f);
  fclose(f);
  list[n] = '\0';
  for (tok = strtok_r(list, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
    if (strcmp(tok, v2_name(controller)) == 0) {
      snprintf(out, size, "%s", mnt);
      return 2;
    }
  }
  return 0;
}

/* CgroupTest.mount(controller) => "/sys/fs/cgroup/memory", the cgroup2
 * mount if v2 serves it, or nil; CgroupTest.mount("unified") => cgroup2 */
static mrb_value
t_mount(mrb_state *mrb, mrb_value self)
{
  char *name, buf[PATH_MAX];
  (void)self;

  mrb_get_args(mrb, "z", &name);
  if (strcmp(name, "unified") == 0) {
    return find_mount(name, buf, sizeof buf) ? mrb_str_new_cstr(mrb, buf) : mrb_nil_value();
  }
  return controller_mount(name, buf, sizeof buf) ? mrb_str_new_cstr(mrb, buf) : mrb_nil_value();
}

/* CgroupTest.version(controller) => 1, 2 or nil, found independently of the gem */
static mrb_value
t_version(mrb_state *mrb, mrb_value self)
{
  char *name, buf[PATH_MAX];
  int v;
  (void)self;

  mrb_get_args(mrb, "z", &name);
  v = controller_mount(name, buf, sizeof buf);
  return v ? mrb_int_value(mrb, v) : mrb_nil_value();
}

/* The directory of group in the hierarchy serving controller, found without
 * the gem; raises when no hierarchy serves it. */
static const char *
group_dir(mrb_state *mrb, const char *controller, const char *group, char *out, size_t size)
{
  char mnt[PATH_MAX];

  if (!controller_mount(controller, mnt, sizeof mnt)) {
    mrb_raisef(mrb, E_RUNTIME_ERROR, "no hierarchy serves %s here", controller);
  }
  snprintf(out, size, "%s%s", mnt, strcmp(group, "/") == 0 ? "" : group);
  return out;
}

/* CgroupTest.group_dir(controller, group) => "/sys/fs/cgroup/pids/a/b" */
static mrb_value
t_group_dir(mrb_state *mrb, mrb_value self)
{
  char *controller, *group, dir[PATH_MAX];
  (void)self;

  mrb_get_args(mrb, "zz", &controller, &group);
  return mrb_str_new_cstr(mrb, group_dir(mrb, controller, group, dir, sizeof dir));
}

/* CgroupTest.kernel_file(controller, group, file) => what the kernel says
 * in a file of the group, read without the gem */
static mrb_value
t_kernel_file(mrb_state *mrb, mrb_value self)
{
  char *controller, *group, *file, dir[PATH_MAX], path[PATH_MAX * 2];
  (void)self;

  mrb_get_args(mrb, "zzz", &controller, &group, &file);
  snprintf(path, sizeof path, "%s/%s", group_dir(mrb, controller, group, dir, sizeof dir), file);
  return read_whole(mrb, path);
}

/* CgroupTest.pids_in(controller, group, file = nil) => the pids listed in a
 * file of the group; by default the one attach writes to: tasks on v1,
 * cgroup.procs on v2 (which moves whole processes) */
static mrb_value
t_pids_in(mrb_state *mrb, mrb_value self)
{
  const char *controller, *group, *file = NULL, *s;
  char dir[PATH_MAX], path[PATH_MAX * 2], *next;
  mrb_value pids = mrb_ary_new(mrb);
  (void)self;

  mrb_get_args(mrb, "zz|z!", &controller, &group, &file);
  group_dir(mrb, controller, group, dir, sizeof dir);
  if (!file) file = controller_mount(controller, path, sizeof path) == 2 ? "cgroup.procs" : "tasks";
  snprintf(path, sizeof path, "%s/%s", dir, file);
  for (s = RSTRING_CSTR(mrb, read_whole(mrb, path));; s = next) {
    long pid = strtol(s, &next, 10);
    if (next == s) break;
    mrb_ary_push(mrb, pids, mrb_int_value(mrb, pid));
  }
  return pids;
}

/* CgroupTest.group_of(pid, controller) => the task's group from /proc/PID/cgroup */
static mrb_value
t_group_of(mrb_state *mrb, mrb_value self)
{
  mrb_int pid;
  char *name, file[64], line[PATH_MAX + 128], buf[PATH_MAX];
  int v;
  FILE *f;
  mrb_value found = mrb_nil_value();
  (void)self;

  mrb_get_args(mrb, "iz", &pid, &name);
  v = controller_mount(name, buf, sizeof buf);
  snprintf(file, sizeof file, "/proc/%d/cgroup", (int)pid);
  if (!(f = fopen(file, "r"))) raise_errno(mrb, "open", file);
  while (mrb_nil_p(found) && fgets(line, sizeof line, f)) {
    char *ctls = strchr(line, ':'), *path = ctls ? strchr(ctls + 1, ':') : NULL, *tok, *save;
    if (!path) continue;
    *path++ = '\0';
    path[strcspn(path, "\n")] = '\0';
    if (v == 2 && ctls[1] == '\0') found = mrb_str_new_cstr(mrb, path);
    for (tok = strtok_r(ctls + 1, ",", &save); v == 1 && tok; tok = strtok_r(NULL, ",", &save)) {
      if (strcmp(tok, name) == 0) found = mrb_str_new_cstr(mrb, path);
    }
  }
  fclose(f);
  return found;
}

/* ---- Children: held at a gate until released, run, reaped -------------- */

#define MAX_CHILDREN 64

/* Children not yet waited for; gate is the pipe that releases them (-1: none). */
static struct {
  pid_t pid;
  int gate;
} children[MAX_CHILDREN];

static void
remember_child(mrb_state *mrb, pid_t pid, int gate)
{
  for (int i = 0; i < MAX_CHILDREN; i++) {
    if (children[i].pid) continue;
    children[i].pid = pid;
    children[i].gate = gate;
    return;
  }
  kill(pid, SIGKILL);
  mrb_raise(mrb, E_RUNTIME_ERROR, "too many children");
}

/* Open (or just close) a child's gate, and optionally forget the child. */
static void
close_gate(pid_t pid, mrb_bool open_it, mrb_bool forget)
{
  for (int i = 0; i < MAX_CHILDREN; i++) {
    if (children[i].pid != pid) continue;
    if (children[i].gate >= 0) {
      if (open_it && write(children[i].gate, "g", 1) != 1) perror("release");
      close(children[i].gate);
      children[i].gate = -1;
    }
    if (forget) children[i].pid = 0;
  }
}

static void
busy_for(long ms)
{
  struct timespec start, now;
  volatile unsigned long spin = 0;

  clock_gettime(CLOCK_MONOTONIC, &start);
  do {
    for (int i = 0; i < 100000; i++) spin++;
    clock_gettime(CLOCK_MONOTONIC, &now);
  } while ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 < ms);
}

/* Spin until this process has used `ms` more milliseconds of CPU time (a
 * throttled process waits without using any). */
static void
spin_cpu(long ms)
{
  struct timespec t;
  volatile unsigned long spin = 0;
  long end;

  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  end = t.tv_sec * 1000 + t.tv_nsec / 1000000 + ms;
  do {
    for (int i = 0; i < 10000; i++) spin++;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  } while (t.tv_sec * 1000 + t.tv_nsec / 1000000 < end);
}

/* Three times: a light load for half a second (1 ms of CPU in each 100 ms:
 * the unused quota of a CPU group builds up as burst; half a second holds two
 * refills of a 200 ms period, enough to fill quota and burst again after a
 * spike), then `ms` of CPU at once.  A spike that happens to straddle two
 * periods may fit their two quotas without burst; three make that chance
 * negligible. */
static void
child_burst(long ms)
{
  for (int spike = 0; spike < 3; spike++) {
    for (int i = 0; i < 5; i++) {
      spin_cpu(1);
      usleep(99000);
    }
    spin_cpu(ms);
  }
}

/* Allocate and touch `bytes` of memory in 1 MiB blocks, then free them;
 * returns 0 if the kernel allowed it all (a group's limit kills it first). */
static int
child_alloc(long bytes)
{
  long count = bytes >> 20, i;
  char **blocks = calloc(count + 1, sizeof *blocks);
  int code = 0;

  if (!blocks) return 2;
  for (i = 0; i < count; i++) {
    if (!(blocks[i] = malloc(1 << 20))) {
      code = 2;
      break;
    }
    memset(blocks[i], 1, 1 << 20);
  }
  for (i = 0; i < count; i++) free(blocks[i]);
  free(blocks);
  return code;
}

/* Try n forks; exit code = how many succeeded (the forks wait, then go). */
static int
child_forks(long n)
{
  pid_t kids[64];
  int ok = 0;

  for (long i = 0; i < n && i < 64; i++) {
    pid_t k = fork();
    if (k == 0) {
      pause();
      _exit(0);
    }
    if (k > 0) kids[ok++] = k;
  }
  for (int i = 0; i < ok; i++) {
    kill(kids[i], SIGKILL);
    waitpid(kids[i], NULL, 0);
  }
  return ok;
}

/* Three sleeping children, then an allocation of `bytes`: a job of four
 * tasks of which one makes the group run out of memory. */
static int
child_family(long bytes)
{
  for (int i = 0; i < 3; i++) {
    if (fork() == 0) {
      for (;;) pause();
    }
  }
  return child_alloc(bytes);
}

/* Fault in `pages` huge pages of 2 MiB: 0 when all were given; 2 when the
 * pool has none to map; a hugetlb limit reached kills with SIGBUS. */
static int
child_huge(long pages)
{
  size_t size = (size_t)pages << 21;
  char *p =
      mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);

  if (p == MAP_FAILED) return 2;
  for (long i = 0; i < pages; i++) p[(size_t)i << 21] = 1;
  return 0;
}

/* Spin `ms` of wall clock on CPU 0 alone (set here, not by a cpuset: the
 * test is about the scheduler, not the pinning). */
static int
child_spin_cpu0(long ms)
{
  cpu_set_t set;

  CPU_ZERO(&set);
  CPU_SET(0, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0) return 3;
  busy_for(ms);
  return 0;
}

/* Exit code = the CPUs this child may run on, as a bit mask of CPUs 0-7. */
static int
child_affinity(void)
{
  cpu_set_t set;
  int mask = 0;

  if (sched_getaffinity(0, sizeof set, &set) != 0) return 255;
  for (int cpu = 0; cpu < 8; cpu++) {
    if (CPU_ISSET(cpu, &set)) mask |= 1 << cpu;
  }
  return mask;
}

static void
run_child(const char *mode, long arg, int gate)
{
  char go;
  int code = 0;

  if (read(gate, &go, 1) != 1) _exit(100);
  if (strcmp(mode, "sleep") == 0) {
    for (;;) pause();
  } else if (strcmp(mode, "alloc") == 0)
    code = child_alloc(arg);
  else if (strcmp(mode, "late_alloc") == 0) { /* for a waiter to be in place first */
    usleep(300000);
    code = child_alloc(arg);
  } else if (strcmp(mode, "spin") == 0)
    busy_for(arg);
  else if (strcmp(mode, "burst") == 0)
    child_burst(arg);
  else if (strcmp(mode, "family") == 0)
    code = child_family(arg);
  else if (strcmp(mode, "huge") == 0)
    code = child_huge(arg);
  else if (strcmp(mode, "spin_cpu0") == 0)
    code = child_spin_cpu0(arg);
  else if (strcmp(mode, "fork") == 0)
    code = child_forks(arg);
  else if (strcmp(mode, "affinity") == 0)
    code = child_affinity();
  else
    code = 101;
  _exit(code);
}

/* Fork a child of the given mode that waits on a pipe until released. */
static pid_t
spawn_held(mrb_state *mrb, const char *mode, long arg)
{
  int fds[2];
  pid_t pid;

  if (pipe(fds) != 0) raise_errno(mrb, "pipe", mode);
  fflush(NULL);
  pid = fork();
  if (pid < 0) raise_errno(mrb, "fork", mode);
  if (pid == 0) {
    close(fds[1]);
    run_child(mode, arg, fds[0]);
  }
  close(fds[0]);
  remember_child(mrb, pid, fds[1]);
  return pid;
}

/* CgroupTest.spawn(mode, arg = 0) => pid of a child waiting for release */
static mrb_value
t_spawn(mrb_state *mrb, mrb_value self)
{
  const char *mode;
  mrb_int arg = 0;
  (void)self;

  mrb_get_args(mrb, "z|i", &mode, &arg);
  return mrb_int_value(mrb, spawn_held(mrb, mode, (long)arg));
}

/* CgroupTest.release(pid): let a spawned child start its work. */
static mrb_value
t_release(mrb_state *mrb, mrb_value self)
{
  mrb_int pid;

  mrb_get_args(mrb, "i", &pid);
  close_gate((pid_t)pid, TRUE, FALSE);
  return self;
}

/* CgroupTest.start_in(group, mode, arg = 0) => pid: a child attached to the
 * group (group.attach(pid)) before it is released to do its work */
static mrb_value
t_start_in(mrb_state *mrb, mrb_value self)
{
  mrb_value group;
  const char *mode;
  mrb_int arg = 0;
  pid_t pid;
  (void)self;

  mrb_get_args(mrb, "oz|i", &group, &mode, &arg);
  pid = spawn_held(mrb, mode, (long)arg);
  mrb_funcall(mrb, group, "attach", 1, mrb_int_value(mrb, pid));
  close_gate(pid, TRUE, FALSE);
  return mrb_int_value(mrb, pid);
}

/* CgroupTest.oom_group(name, bytes) => a Cgroup::MEMORY group, made, with a
 * limit swap cannot dodge, so that past it the OOM killer acts: v2 limits
 * memory+swap to the same (memory.swap.max 0), v1 sets swappiness 0 */
static mrb_value
t_oom_group(mrb_state *mrb, mrb_value self)
{
  struct RClass *memory = mrb_class_get_under(mrb, mrb_module_get(mrb, "Cgroup"), "MEMORY");
  mrb_value name, bytes, g;
  char mnt[PATH_MAX];
  (void)self;

  mrb_get_args(mrb, "So", &name, &bytes);
  g = mrb_obj_new(mrb, memory, 1, &name);
  mrb_funcall(mrb, g, "limit_in_bytes=", 1, bytes);
  if (controller_mount("memory", mnt, sizeof mnt) == 2)
    mrb_funcall(mrb, g, "memsw_limit_in_bytes=", 1, bytes);
  else
    mrb_funcall(mrb, g, "swappiness=", 1, mrb_int_value(mrb, 0));
  return mrb_funcall(mrb, g, "create", 0);
}

/* CgroupTest.run(argv) => pid: fork and exec a command */
static mrb_value
t_run(mrb_state *mrb, mrb_value self)
{
  mrb_value *argv;
  mrb_int argc;
  char *args[32];
  pid_t pid;
  (void)self;

  mrb_get_args(mrb, "*", &argv, &argc);
  if (argc < 1 || argc > 31) mrb_raise(mrb, E_ARGUMENT_ERROR, "1 to 31 arguments");
  for (mrb_int i = 0; i < argc; i++) args[i] = (char *)mrb_string_value_cstr(mrb, &argv[i]);
  args[argc] = NULL;
  fflush(NULL);
  pid = fork();
  if (pid < 0) raise_errno(mrb, "fork", args[0]);
  if (pid == 0) {
    execv(args[0], args);
    _exit(127);
  }
  remember_child(mrb, pid, -1);
  return mrb_int_value(mrb, pid);
}

/* Run argv as uid (no supplementary groups), first moved by root into the
 * groups whose tasks-like files procs lists, ':' between (unless NULL); [stdout, exit status
 * or nil, signal or nil].  Its stderr goes to ours. */
static mrb_value
capture(mrb_state *mrb, mrb_int uid, char *procs, mrb_value *argv, mrb_int argc)
{
  mrb_value out, result[3] = {mrb_nil_value(), mrb_nil_value(), mrb_nil_value()};
  char *args[32], buf[4096];
  int fds[2], status;
  ssize_t n;
  pid_t pid;

  if (argc < 1 || argc > 31) mrb_raise(mrb, E_ARGUMENT_ERROR, "1 to 31 arguments");
  for (mrb_int i = 0; i < argc; i++) args[i] = (char *)mrb_string_value_cstr(mrb, &argv[i]);
  args[argc] = NULL;
  if (pipe(fds) != 0) raise_errno(mrb, "pipe", args[0]);
  fflush(NULL);
  if ((pid = fork()) < 0) raise_errno(mrb, "fork", args[0]);
  if (pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    for (char *file = procs ? strtok(procs, ":") : NULL; file; file = strtok(NULL, ":")) {
      char me[16];
      int fd = open(file, O_WRONLY);
      if (fd < 0 || write(fd, me, snprintf(me, sizeof me, "%d", (int)getpid())) < 0) _exit(125);
      close(fd);
    }
    /* no transparent huge pages: khugepaged may fold a 2 MiB range of the
     * heap into one page at any moment (at most every 10 s), which shows as
     * RSS growing by up to 2 MiB at once, no leak at all (seen once in the
     * v2 VM: the embed host's RSS 5160 -> 6680 kB); the flag passes exec */
    prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);
    /* as the caller itself (CgroupTest.uid) needs no switch, and a user
     * that is not root could not make one */
    if ((uid_t)uid != getuid() &&
        (setgroups(0, NULL) != 0 || setgid((gid_t)uid) != 0 || setuid((uid_t)uid) != 0))
      _exit(126);
    execv(args[0], args);
    _exit(127);
  }
  close(fds[1]);
  out = mrb_str_new_capa(mrb, 256);
  while ((n = read(fds[0], buf, sizeof buf)) > 0) mrb_str_cat(mrb, out, buf, n);
  close(fds[0]);
  if (waitpid(pid, &status, 0) < 0) raise_errno(mrb, "waitpid", args[0]);
  result[0] = out;
  if (WIFEXITED(status)) result[1] = mrb_int_value(mrb, WEXITSTATUS(status));
  if (WIFSIGNALED(status)) result[2] = mrb_int_value(mrb, WTERMSIG(status));
  return mrb_ary_new_from_values(mrb, 3, result);
}

/* CgroupTest.capture_as(uid, argv...) => [stdout, exit status or nil, signal or nil] */
static mrb_value
t_capture_as(mrb_state *mrb, mrb_value self)
{
  mrb_int uid, argc;
  mrb_value *argv;
  (void)self;

  mrb_get_args(mrb, "i*", &uid, &argv, &argc);
  return capture(mrb, uid, NULL, argv, argc);
}

/* CgroupTest.capture_in(procs_files, uid, argv...): capture_as, started in
 * the groups of procs_files ("a/cgroup.procs:b/cgroup.procs": v1 has one
 * per hierarchy) */
static mrb_value
t_capture_in(mrb_state *mrb, mrb_value self)
{
  mrb_int uid, argc;
  mrb_value *argv;
  char *procs;
  (void)self;

  mrb_get_args(mrb, "zi*", &procs, &uid, &argv, &argc);
  return capture(mrb, uid, procs, argv, argc);
}

/* CgroupTest.fork => 0 in the child, the child's pid in the parent.  The
 * child goes on running the test's code in its copy of the state; it ends
 * with CgroupTest.exit!, never by returning to the test runner. */
static mrb_value
t_fork(mrb_state *mrb, mrb_value self)
{
  pid_t pid;
  (void)self;

  fflush(NULL);
  if ((pid = fork()) < 0) raise_errno(mrb, "fork", "test");
  if (pid > 0) remember_child(mrb, pid, -1);
  return mrb_int_value(mrb, pid);
}

/* CgroupTest.exit!(status): end this process at once (a forked child) */
static mrb_value
t_exit_bang(mrb_state *mrb, mrb_value self)
{
  mrb_int status;
  (void)self;

  mrb_get_args(mrb, "i", &status);
  _exit((int)status);
}

/* CgroupTest.ignore_sigchld(flag): SIGCHLD to SIG_IGN (true) or SIG_DFL, as
 * servers that never wait for their children set it */
static mrb_value
t_ignore_sigchld(mrb_state *mrb, mrb_value self)
{
  mrb_bool ignore;

  mrb_get_args(mrb, "b", &ignore);
  signal(SIGCHLD, ignore ? SIG_IGN : SIG_DFL);
  return self;
}

/* CgroupTest.zombie => pid of a child that has exited and is not reaped yet */
static mrb_value
t_zombie(mrb_state *mrb, mrb_value self)
{
  char file[64], stat[256];
  pid_t pid;
  (void)self;

  if ((pid = fork()) < 0) raise_errno(mrb, "fork", "zombie");
  if (pid == 0) _exit(0);
  remember_child(mrb, pid, -1);
  snprintf(file, sizeof file, "/proc/%d/stat", (int)pid);
  for (int tries = 0; tries < 500; tries++) { /* until the kernel shows it as Z */
    FILE *f = fopen(file, "r");
    char *state = NULL;
    if (f && fgets(stat, sizeof stat, f)) state = strrchr(stat, ')');
    if (f) fclose(f);
    if (state && state[2] == 'Z') return mrb_int_value(mrb, pid);
    usleep(2000);
  }
  mrb_raise(mrb, E_RUNTIME_ERROR, "child did not become a zombie");
}

/* CgroupTest.wait(pid) => [exit status or nil, signal or nil] */
static mrb_value
t_wait(mrb_state *mrb, mrb_value self)
{
  mrb_int pid;
  int status;
  mrb_value pair[2] = {mrb_nil_value(), mrb_nil_value()};
  (void)self;

  mrb_get_args(mrb, "i", &pid);
  close_gate((pid_t)pid, FALSE, TRUE);
  while (waitpid((pid_t)pid, &status, 0) < 0) {
    if (errno != EINTR) raise_errno(mrb, "waitpid", "child");
  }
  if (WIFEXITED(status)) pair[0] = mrb_int_value(mrb, WEXITSTATUS(status));
  if (WIFSIGNALED(status)) pair[1] = mrb_int_value(mrb, WTERMSIG(status));
  return mrb_ary_new_from_values(mrb, 2, pair);
}

/* CgroupTest.kill(pid, signal = SIGKILL) */
static mrb_value
t_kill(mrb_state *mrb, mrb_value self)
{
  mrb_int pid, sig = SIGKILL;

  mrb_get_args(mrb, "i|i", &pid, &sig);
  kill((pid_t)pid, (int)sig);
  return self;
}

/* ---- This process: its thread, user, environment and descriptors ------- */

/* CgroupTest.tid: the calling thread's id (what attach without a pid moves) */
static mrb_value
t_tid(mrb_state *mrb, mrb_value self)
{
  (void)self;
  return mrb_int_value(mrb, (mrb_int)syscall(SYS_gettid));
}

/* CgroupTest.set_euid(id): effective user and group id (the real ones stay
 * root, so set_euid(0) goes back) */
static mrb_value
t_set_euid(mrb_state *mrb, mrb_value self)
{
  mrb_int id;

  mrb_get_args(mrb, "i", &id);
  if (id == 0 ? seteuid(0) != 0 || setegid(0) != 0
              : setegid((gid_t)id) != 0 || seteuid((uid_t)id) != 0)
    raise_errno(mrb, "seteuid", "-");
  return self;
}

/* CgroupTest.become(id): this (forked) process becomes user and group id
 * for good, without supplementary groups, as a server's worker does */
static mrb_value
t_become(mrb_state *mrb, mrb_value self)
{
  mrb_int id;

  mrb_get_args(mrb, "i", &id);
  if (setgroups(0, NULL) != 0 || setgid((gid_t)id) != 0 || setuid((uid_t)id) != 0)
    raise_errno(mrb, "setuid", "-");
  return self;
}

/* CgroupTest.owner(path) => the file's uid */
static mrb_value
t_owner(mrb_state *mrb, mrb_value self)
{
  char *path;
  struct stat st;
  (void)self;

  mrb_get_args(mrb, "z", &path);
  if (stat(path, &st) != 0) raise_errno(mrb, "stat", path);
  return mrb_int_value(mrb, st.st_uid);
}

/* CgroupTest.setenv(name, value): for the children this process starts */
static mrb_value
t_setenv(mrb_state *mrb, mrb_value self)
{
  char *name, *value;

  mrb_get_args(mrb, "zz", &name, &value);
  setenv(name, value, 1);
  return self;
}

/* CgroupTest.getenv(name) => String or nil */
static mrb_value
t_getenv(mrb_state *mrb, mrb_value self)
{
  char *name, *v;
  (void)self;

  mrb_get_args(mrb, "z", &name);
  v = getenv(name);
  return v ? mrb_str_new_cstr(mrb, v) : mrb_nil_value();
}

/* CgroupTest.fd_count: open file descriptors of this process */
static mrb_value
t_fd_count(mrb_state *mrb, mrb_value self)
{
  DIR *d = opendir("/proc/self/fd");
  struct dirent *e;
  int n = 0;
  (void)self;

  if (!d) raise_errno(mrb, "opendir", "/proc/self/fd");
  while ((e = readdir(d))) n += e->d_name[0] != '.';
  closedir(d);
  return mrb_int_value(mrb, n - 1); /* not the one opendir holds */
}

/* CgroupTest.open_fd(path) => a read-only file descriptor */
static mrb_value
t_open_fd(mrb_state *mrb, mrb_value self)
{
  char *path;
  int fd;
  (void)self;

  mrb_get_args(mrb, "z", &path);
  if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) raise_errno(mrb, "open", path);
  return mrb_int_value(mrb, fd);
}

/* CgroupTest.eventfd => a non-blocking eventfd */
static mrb_value
t_eventfd(mrb_state *mrb, mrb_value self)
{
  int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  (void)self;

  if (fd < 0) raise_errno(mrb, "eventfd", "");
  return mrb_int_value(mrb, fd);
}

/* CgroupTest.eventfd_count(fd) => events signalled so far (0 if none) */
static mrb_value
t_eventfd_count(mrb_state *mrb, mrb_value self)
{
  mrb_int fd;
  uint64_t count = 0;
  (void)self;

  mrb_get_args(mrb, "i", &fd);
  if (read((int)fd, &count, sizeof count) != sizeof count) count = 0;
  return mrb_int_value(mrb, (mrb_int)count);
}

/* CgroupTest.fd_path(fd) => what the descriptor refers to, nil if closed */
static mrb_value
t_fd_path(mrb_state *mrb, mrb_value self)
{
  char link[64], target[PATH_MAX];
  mrb_int fd;
  ssize_t n;
  (void)self;

  mrb_get_args(mrb, "i", &fd);
  snprintf(link, sizeof link, "/proc/self/fd/%d", (int)fd);
  n = readlink(link, target, sizeof target);
  return n < 0 ? mrb_nil_value() : mrb_str_new(mrb, target, (size_t)n);
}

/* CgroupTest.open_as(fd, path, writable = false): close fd and open path
 * under that same number, as a program reusing a descriptor number would */
static mrb_value
t_open_as(mrb_state *mrb, mrb_value self)
{
  mrb_int fd;
  char *path;
  mrb_bool writable = FALSE;
  int other;

  mrb_get_args(mrb, "iz|b", &fd, &path, &writable);
  if ((other = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC)) < 0)
    raise_errno(mrb, "open", path);
  if (dup3(other, (int)fd, O_CLOEXEC) < 0) raise_errno(mrb, "dup3", path);
  close(other);
  return self;
}

/* A thread of this process parked on a pipe, for tests of what moves with
 * the caller. */
static struct {
  pthread_t id;
  pid_t tid;
  int gate[2];
} parked = {0, 0, {-1, -1}};

static void *
parked_main(void *arg)
{
  char c;

  (void)arg;
  __atomic_store_n(&parked.tid, (pid_t)syscall(SYS_gettid), __ATOMIC_RELEASE);
  while (read(parked.gate[0], &c, 1) < 0 && errno == EINTR) {
  }
  return NULL;
}

/* Threads of this process that spin together on a signal, each measuring
 * its own CPU time: two threads of one process in two groups. */
#define MAX_SPINNERS 4
static struct {
  pthread_t id[MAX_SPINNERS];
  pid_t tid[MAX_SPINNERS];
  long cpu_ms[MAX_SPINNERS];
  int count, gate[2];
  long ms;
} spinners;

static void *
spinner_main(void *arg)
{
  int i = (int)(intptr_t)arg;
  struct timespec t;
  char go;

  __atomic_store_n(&spinners.tid[i], (pid_t)syscall(SYS_gettid), __ATOMIC_RELEASE);
  if (read(spinners.gate[0], &go, 1) < 0) return NULL; /* EOF: the gate closed, go */
  busy_for(spinners.ms);
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  spinners.cpu_ms[i] = t.tv_sec * 1000 + t.tv_nsec / 1000000;
  return NULL;
}

/* CgroupTest.spinner_threads(n) => the tids of n new threads, waiting */
static mrb_value
t_spinner_threads(mrb_state *mrb, mrb_value self)
{
  mrb_int n;
  mrb_value tids = mrb_ary_new(mrb);
  (void)self;

  mrb_get_args(mrb, "i", &n);
  if (spinners.count || n < 1 || n > MAX_SPINNERS) mrb_raise(mrb, E_ARGUMENT_ERROR, "spinners");
  if (pipe(spinners.gate) != 0) raise_errno(mrb, "pipe", "spinners");
  for (int i = 0; i < n; i++) {
    spinners.tid[i] = 0;
    if (pthread_create(&spinners.id[i], NULL, spinner_main, (void *)(intptr_t)i) != 0)
      mrb_raise(mrb, E_RUNTIME_ERROR, "pthread_create failed");
    spinners.count++;
    while (!__atomic_load_n(&spinners.tid[i], __ATOMIC_ACQUIRE)) sched_yield();
    mrb_ary_push(mrb, tids, mrb_int_value(mrb, spinners.tid[i]));
  }
  return tids;
}

/* CgroupTest.spin_threads(ms) => each thread's CPU milliseconds after all
 * spun for ms of wall clock */
static mrb_value
t_spin_threads(mrb_state *mrb, mrb_value self)
{
  mrb_int ms;
  mrb_value out = mrb_ary_new(mrb);
  (void)self;

  mrb_get_args(mrb, "i", &ms);
  spinners.ms = (long)ms;
  close(spinners.gate[1]);
  for (int i = 0; i < spinners.count; i++) {
    pthread_join(spinners.id[i], NULL);
    mrb_ary_push(mrb, out, mrb_int_value(mrb, spinners.cpu_ms[i]));
  }
  close(spinners.gate[0]);
  spinners.count = 0;
  return out;
}

/* CgroupTest.park_thread => the tid of a new thread of this process that
 * waits until CgroupTest.unpark_thread */
static mrb_value
t_park_thread(mrb_state *mrb, mrb_value self)
{
  (void)self;
  if (parked.tid) mrb_raise(mrb, E_RUNTIME_ERROR, "a thread is parked already");
  if (pipe(parked.gate) != 0) raise_errno(mrb, "pipe", "park");
  if (pthread_create(&parked.id, NULL, parked_main, NULL) != 0) {
    close(parked.gate[0]);
    close(parked.gate[1]);
    mrb_raise(mrb, E_RUNTIME_ERROR, "pthread_create failed");
  }
  while (!__atomic_load_n(&parked.tid, __ATOMIC_ACQUIRE)) sched_yield();
  return mrb_int_value(mrb, parked.tid);
}

static mrb_value
t_unpark_thread(mrb_state *mrb, mrb_value self)
{
  (void)mrb;
  if (!parked.tid) return self;
  close(parked.gate[1]);
  pthread_join(parked.id, NULL);
  close(parked.gate[0]);
  parked.tid = 0;
  return self;
}

/* CgroupTest.groups => the supplementary groups; CgroupTest.set_groups(list)
 * sets them (as root: the effective user must be 0 then) */
static mrb_value
t_groups(mrb_state *mrb, mrb_value self)
{
  gid_t list[64];
  int n = getgroups(64, list);
  mrb_value out = mrb_ary_new(mrb);
  (void)self;

  if (n < 0) raise_errno(mrb, "getgroups", "-");
  for (int i = 0; i < n; i++) mrb_ary_push(mrb, out, mrb_int_value(mrb, list[i]));
  return out;
}

static mrb_value
t_set_groups(mrb_state *mrb, mrb_value self)
{
  gid_t list[64];
  mrb_value ary;
  mrb_int n;

  mrb_get_args(mrb, "A", &ary);
  n = RARRAY_LEN(ary) < 64 ? RARRAY_LEN(ary) : 64;
  for (mrb_int i = 0; i < n; i++) list[i] = (gid_t)mrb_as_int(mrb, RARRAY_PTR(ary)[i]);
  if (setgroups((size_t)n, list) != 0) raise_errno(mrb, "setgroups", "-");
  return self;
}

/* CgroupTest.dac_override(on): CAP_DAC_OVERRIDE in or out of the effective
 * set (it stays permitted, so it can come back) */
static mrb_value
t_dac_override(mrb_state *mrb, mrb_value self)
{
  struct __user_cap_header_struct head = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct caps[2];
  mrb_bool on;

  mrb_get_args(mrb, "b", &on);
  if (syscall(SYS_capget, &head, caps) != 0) raise_errno(mrb, "capget", "-");
  if (on)
    caps[0].effective |= 1u << CAP_DAC_OVERRIDE;
  else
    caps[0].effective &= ~(1u << CAP_DAC_OVERRIDE);
  if (syscall(SYS_capset, &head, caps) != 0) raise_errno(mrb, "capset", "-");
  return self;
}

/* CgroupTest.chown(path, uid, gid), CgroupTest.chmod(path, mode) */
static mrb_value
t_chown(mrb_state *mrb, mrb_value self)
{
  const char *path;
  mrb_int uid, gid;

  mrb_get_args(mrb, "zii", &path, &uid, &gid);
  if (chown(path, (uid_t)uid, (gid_t)gid) != 0) raise_errno(mrb, "chown", path);
  return self;
}

static mrb_value
t_chmod(mrb_state *mrb, mrb_value self)
{
  const char *path;
  mrb_int mode;

  mrb_get_args(mrb, "zi", &path, &mode);
  if (chmod(path, (mode_t)mode) != 0) raise_errno(mrb, "chmod", path);
  return self;
}

/* CgroupTest.close_fd(fd) */
static mrb_value
t_close_fd(mrb_state *mrb, mrb_value self)
{
  mrb_int fd;

  mrb_get_args(mrb, "i", &fd);
  close((int)fd);
  return self;
}

/* What CgroupTest.without_fds took, to give back. */
static struct {
  struct rlimit limit;
  int fds[1024];
  int count;
} starved;

static mrb_value
starved_end(mrb_state *mrb, mrb_value unused)
{
  (void)mrb;
  while (starved.count > 0) close(starved.fds[--starved.count]);
  setrlimit(RLIMIT_NOFILE, &starved.limit);
  return unused;
}

/* CgroupTest.without_fds { }: yield with no descriptor free (EMFILE on every
 * open): the soft RLIMIT_NOFILE lowered to 256 and every number below it
 * taken; then all given back, even when the block raises. */
static mrb_value
t_without_fds(mrb_state *mrb, mrb_value self)
{
  struct rlimit low;
  mrb_value block;
  int fd;
  (void)self;

  mrb_get_args(mrb, "&!", &block);
  if (starved.count > 0) mrb_raise(mrb, E_RUNTIME_ERROR, "without_fds does not nest");
  getrlimit(RLIMIT_NOFILE, &starved.limit);
  low = starved.limit;
  if (low.rlim_cur > 256) low.rlim_cur = 256;
  if (setrlimit(RLIMIT_NOFILE, &low) != 0) raise_errno(mrb, "setrlimit", "RLIMIT_NOFILE");
  while (starved.count < 1024 && (fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0) {
    starved.fds[starved.count++] = fd;
  }
  return mrb_ensure(mrb, yield_block, block, starved_end, mrb_nil_value());
}

static volatile sig_atomic_t alarms;

static void
count_alarm(int sig)
{
  (void)sig;
  alarms++;
}

static mrb_value
storm_end(mrb_state *mrb, mrb_value unused)
{
  struct itimerval off = {{0, 0}, {0, 0}};

  (void)mrb;
  /* the handler stays: an alarm still pending (valgrind delivers signals
   * late) would otherwise end the process */
  setitimer(ITIMER_REAL, &off, NULL);
  return unused;
}

/* CgroupTest.alarm_storm(usec) { } => how many SIGALRMs came: yield while
 * one arrives every usec microseconds, handled without SA_RESTART (as a
 * server's timer), so blocking calls fail with EINTR; then the timer stops */
static mrb_value
t_alarm_storm(mrb_state *mrb, mrb_value self)
{
  struct sigaction sa;
  struct itimerval every;
  mrb_value block;
  mrb_int usec;
  (void)self;

  mrb_get_args(mrb, "i&!", &usec, &block);
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = count_alarm; /* no SA_RESTART */
  sigemptyset(&sa.sa_mask);
  sigaction(SIGALRM, &sa, NULL);
  alarms = 0;
  every.it_interval.tv_sec = every.it_value.tv_sec = (time_t)(usec / 1000000);
  every.it_interval.tv_usec = every.it_value.tv_usec = (suseconds_t)(usec % 1000000);
  setitimer(ITIMER_REAL, &every, NULL);
  mrb_ensure(mrb, yield_block, block, storm_end, mrb_nil_value());
  return mrb_int_value(mrb, alarms);
}

/* ---- Figures: memory, CPU time, clocks, notes for the report ----------- */

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
  if (!(f = fopen(path, "re"))) raise_errno(mrb, "open", path);
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
  spin_cpu((long)ms);
  return self;
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
  if (p == MAP_FAILED) raise_errno(mrb, "mmap", "touch");
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
  if (stat(path, &st) != 0) raise_errno(mrb, "stat", path);
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

/* ---- The run's prefix, and cleanup ------------------------------------- */

static const char *
test_prefix(void)
{
  static char fallback[64];
  const char *p = getenv("MRB_CGROUP_TEST_PREFIX");

  if (p && *p) return p;
  if (!fallback[0]) snprintf(fallback, sizeof fallback, "/mrbcg-test-%d", (int)getpid());
  return fallback;
}

/* CgroupTest.prefix: the group every test group of this run lives under. */
static mrb_value
t_prefix(mrb_state *mrb, mrb_value self)
{
  (void)self;
  return mrb_str_new_cstr(mrb, test_prefix());
}

/* CgroupTest.scratch(name): a path in /tmp for a file of this run's, named
 * after the prefix (which may be a delegated group's deep path). */
static mrb_value
t_scratch(mrb_state *mrb, mrb_value self)
{
  char *name, path[PATH_MAX];
  (void)self;

  mrb_get_args(mrb, "z", &name);
  snprintf(path, sizeof path, "/tmp/mrbcg%s-%s", test_prefix(), name);
  for (char *c = path + 5; *c; c++)
    if (*c == '/') *c = '_';
  return mrb_str_new_cstr(mrb, path);
}

/* CgroupTest.emulated? => whether this run is under valgrind (the valgrind
 * task sets MRB_CGROUP_EMULATED=1): forked children and threads are emulated
 * too, threads one at a time, so tests that time the scheduler skip */
static mrb_value
t_emulated_p(mrb_state *mrb, mrb_value self)
{
  const char *v = getenv("MRB_CGROUP_EMULATED");
  (void)mrb;
  (void)self;
  return mrb_bool_value(v && strcmp(v, "1") == 0);
}

/* CgroupTest.clone3? => whether clone3 answers here (a kernel from 5.3,
 * and not valgrind, which does not know it): a call it must refuse for its
 * size, EINVAL, rather than ENOSYS */
static mrb_value
t_clone3_p(mrb_state *mrb, mrb_value self)
{
  (void)mrb;
  (void)self;
#ifdef SYS_clone3
  return mrb_bool_value(syscall(SYS_clone3, NULL, 0) < 0 && errno != ENOSYS);
#else
  return mrb_false_value();
#endif
}

/* CgroupTest.uid: the real user id (tests that need root skip for others) */
static mrb_value
t_uid(mrb_state *mrb, mrb_value self)
{
  (void)self;
  return mrb_int_value(mrb, getuid());
}

/* Remove a directory tree of groups, deepest first, killing what is inside
 * (only this run's own children can be).  Returns how many were removed. */
static int
remove_tree(const char *dir)
{
  DIR *d = opendir(dir);
  struct dirent *e;
  char sub[PATH_MAX];
  int removed = 0;

  if (!d) return 0;
  while ((e = readdir(d))) {
    if (e->d_type != DT_DIR || e->d_name[0] == '.') continue;
    snprintf(sub, sizeof sub, "%s/%s", dir, e->d_name);
    removed += remove_tree(sub);
  }
  closedir(d);
  snprintf(sub, sizeof sub, "%s/cgroup.procs", dir);
  for (int tries = 0; tries < 50 && rmdir(dir) != 0; tries++) {
    FILE *f = fopen(sub, "r");
    int pid;
    while (f && fscanf(f, "%d", &pid) == 1) kill(pid, SIGKILL);
    if (f) fclose(f);
    usleep(20000);
  }
  return removed + 1;
}

/* CgroupTest.cleanup: kill and reap every child not yet waited for, then
 * remove every group below the prefix in every mount. */
static mrb_value
t_cleanup(mrb_state *mrb, mrb_value self)
{
  static const char *const mounts[] = {"cpu",  "cpuacct", "cpuset",  "blkio",  "memory",
                                       "pids", "freezer", "devices", "unified"};
  char mnt[PATH_MAX], top[PATH_MAX * 2];
  int removed = 0;
  (void)self;

  for (int i = 0; i < MAX_CHILDREN; i++) {
    pid_t pid = children[i].pid;
    if (!pid) continue;
    kill(pid, SIGKILL);
    close_gate(pid, FALSE, TRUE);
    waitpid(pid, NULL, 0);
  }
  for (size_t i = 0; i < sizeof mounts / sizeof mounts[0]; i++) {
    if (!find_mount(mounts[i], mnt, sizeof mnt)) continue;
    snprintf(top, sizeof top, "%s%s", mnt, test_prefix());
    removed += remove_tree(top);
  }
  return mrb_int_value(mrb, removed);
}

static mrb_value
cleanup_after(mrb_state *mrb, mrb_value unused)
{
  (void)unused;
  return t_cleanup(mrb, mrb_nil_value());
}

/* CgroupTest.isolate { ... }: yield, then cleanup, even when the block
 * raises (a failed assert leaves no group or child behind). */
static mrb_value
t_isolate(mrb_state *mrb, mrb_value self)
{
  mrb_value block;
  (void)self;

  mrb_get_args(mrb, "&!", &block);
  return mrb_ensure(mrb, yield_block, block, cleanup_after, mrb_nil_value());
}

void mcg_test_init_host_state(mrb_state *mrb, struct RClass *t); /* host_state.c */

void
mrb_mruby_cgroup_gem_test(mrb_state *mrb)
{
  struct RClass *t = mrb_define_module(mrb, "CgroupTest");

  mcg_test_init_host_state(mrb, t);

  mrb_define_module_function(mrb, t, "read", t_read, MRB_ARGS_REQ(1));
  mrb_define_module_function(mrb, t, "dir?", t_dir_p, MRB_ARGS_REQ(1));
  mrb_define_module_function(mrb, t, "file?", t_file_p, MRB_ARGS_REQ(1));
  mrb_define_module_function(mrb, t, "write", t_write, MRB_ARGS_REQ(2));
  mrb_define_module_function(mrb, t, "install", t_install, MRB_ARGS_REQ(2));
  mrb_define_module_function(mrb, t, "unlink", t_unlink, MRB_ARGS_REQ(1));
  mrb_define_module_function(mrb, t, "entries", t_entries, MRB_ARGS_REQ(1));
  mrb_define_module_function(mrb, t, "read_direct", t_read_direct, MRB_ARGS_REQ(2));
  mrb_define_module_function(mrb, t, "mount", t_mount, MRB_ARGS_REQ(1));
  mrb_define_module_function(mrb, t, "version", t_version, MRB_ARGS_REQ(1));
  mrb_define_module_function(mrb, t, "group_dir", t_group_dir, MRB_ARGS_REQ(2));
  mrb_define_module_function(mrb, t, "kernel_file", t_kernel_file, MRB_ARGS_REQ(3));
  mrb_define_module_function(mrb, t, "pids_in", t_pids_in, MRB_ARGS_ARG(2, 1));
  mrb_define_module_function(mrb, t, "group_of", t_group_of, MRB_ARGS_REQ(2));
  mrb_define_module_function(mrb, t, "spawn", t_spawn, MRB_ARGS_ARG(1, 1));
  mrb_define_module_function(mrb, t, "release", t_release, MRB_ARGS_REQ(1));
  mrb_define_module_function(mrb, t, "start_in", t_start_in, MRB_ARGS_ARG(2, 1));
  mrb_define_module_function(mrb, t, "oom_group", t_oom_group, MRB_ARGS_REQ(2));
  mrb_define_module_function(mrb, t, "run", t_run, MRB_ARGS_ANY());
  mrb_define_module_function(mrb, t, "capture_as", t_capture_as, MRB_ARGS_ANY());
  mrb_define_module_function(mrb, t, "capture_in", t_capture_in, MRB_ARGS_ANY());
  mrb_define_module_function(mrb, t, "fork", t_fork, MRB_ARGS_NONE());
  mrb_define_module_function(mrb, t, "exit!", t_exit_bang, MRB_ARGS_REQ(1));
  mrb_define_module_function(mrb, t, "ignore_sigchld", t_ignore_sigchld, MRB_ARGS_REQ(1));
  mrb_define_module_function(mrb, t, "zombie", t_zombie, MRB_ARGS_NONE());
  mrb_define_module_function(mrb, t, "wait", t_wait, MRB_ARGS_REQ(1));
  mrb_define_module_function(mrb, t, "kill", t_kill, MRB_ARGS_ARG(1, 1));
  mrb_define_module_function(mrb, t, "tid", t_tid, MRB_ARGS_NONE());
  mrb_define_module_function(mrb, t, "set_euid", t_set_euid, MRB_ARGS_REQ(1));
  mrb_define_module_function(mrb, t, "become", t_become, MRB_ARGS_REQ(1));
  mrb_define_module_function(mrb, t, "owner", t_owner, MRB_ARGS_REQ(1));
  mrb_define_module_function(mrb, t, "setenv", t_setenv, MRB_ARGS_REQ(2));
  mrb_define_module_function(mrb, t, "getenv", t_getenv, MRB_ARGS_REQ(1));
  mrb_define_module_function(mrb, t, "fd_count", t_fd_count, MRB_ARGS_NONE());
  mrb_define_module_function(mrb, t, "alarm_storm", t_alarm_storm, MRB_ARGS_REQ(1));
  mrb_define_module_function(mrb, t, "without_fds", t_without_fds, MRB_ARGS_BLOCK());
  mrb_define_module_function(mrb, t, "open_fd", t_open_fd, MRB_ARGS_REQ(1));
  mrb_define_module_function(mrb, t, "eventfd", t_eventfd, MRB_ARGS_NONE());
  mrb_define_module_function(mrb, t, "eventfd_count", t_eventfd_count, MRB_ARGS_REQ(1));
  mrb_define_module_function(mrb, t, "fd_path", t_fd_path, MRB_ARGS_REQ(1));
  mrb_define_module_function(mrb, t, "open_as", t_open_as, MRB_ARGS_ARG(2, 1));
  mrb_define_module_function(mrb, t, "park_thread", t_park_thread, MRB_ARGS_NONE());
  mrb_define_module_function(mrb, t, "spinner_threads", t_spinner_threads, MRB_ARGS_REQ(1));
  mrb_define_module_function(mrb, t, "spin_threads", t_spin_threads, MRB_ARGS_REQ(1));
  mrb_define_module_function(mrb, t, "unpark_thread", t_unpark_thread, MRB_ARGS_NONE());
  mrb_define_module_function(mrb, t, "groups", t_groups, MRB_ARGS_NONE());
  mrb_define_module_function(mrb, t, "set_groups", t_set_groups, MRB_ARGS_REQ(1));
  mrb_define_module_function(mrb, t, "dac_override", t_dac_override, MRB_ARGS_REQ(1));
  mrb_define_module_function(mrb, t, "chown", t_chown, MRB_ARGS_REQ(3));
  mrb_define_module_function(mrb, t, "chmod", t_chmod, MRB_ARGS_REQ(2));
  mrb_define_module_function(mrb, t, "close_fd", t_close_fd, MRB_ARGS_REQ(1));
  mrb_define_module_function(mrb, t, "rss_kb", t_rss_kb, MRB_ARGS_NONE());
  mrb_define_module_function(mrb, t, "peak_rss_kb", t_peak_rss_kb, MRB_ARGS_NONE());
  mrb_define_module_function(mrb, t, "cpu_ticks", t_cpu_ticks, MRB_ARGS_REQ(1));
  mrb_define_module_function(mrb, t, "sleep", t_sleep, MRB_ARGS_REQ(1));
  mrb_define_module_function(mrb, t, "burn", t_burn, MRB_ARGS_REQ(1));
  mrb_define_module_function(mrb, t, "block_device?", t_block_device_p, MRB_ARGS_REQ(1));
  mrb_define_module_function(mrb, t, "cpu_usec", t_cpu_usec, MRB_ARGS_NONE());
  mrb_define_module_function(mrb, t, "touch", t_touch, MRB_ARGS_REQ(1));
  mrb_define_module_function(mrb, t, "now", t_now, MRB_ARGS_NONE());
  mrb_define_module_function(mrb, t, "note", t_note, MRB_ARGS_REQ(1));
  mrb_define_module_function(mrb, t, "prefix", t_prefix, MRB_ARGS_NONE());
  mrb_define_module_function(mrb, t, "scratch", t_scratch, MRB_ARGS_REQ(1));
  mrb_define_module_function(mrb, t, "uid", t_uid, MRB_ARGS_NONE());
  mrb_define_module_function(mrb, t, "clone3?", t_clone3_p, MRB_ARGS_NONE());
  mrb_define_module_function(mrb, t, "emulated?", t_emulated_p, MRB_ARGS_NONE());
  mrb_define_module_function(mrb, t, "cleanup", t_cleanup, MRB_ARGS_NONE());
  mrb_define_module_function(mrb, t, "isolate", t_isolate, MRB_ARGS_BLOCK());
}
