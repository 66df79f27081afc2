/*
 * Children for the tests: forked and held at a gate until released (so a
 * test can attach them first), each with a job (burn CPU, allocate, fork,
 * use huge pages), run as another user or in a group, reaped.
 * Defined into CgroupTest by mrb_mruby_cgroup_gem_test (cgroup_test.c).
 */
#include "cgroup_test.h"

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
void
mcgt_close_gate(pid_t pid, mrb_bool open_it, mrb_bool forget)
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

/* Kill and reap every child not yet waited for (the cleanup after a test). */
void
mcgt_kill_children(void)
{
  for (int i = 0; i < MAX_CHILDREN; i++) {
    pid_t pid = children[i].pid;
    if (!pid) continue;
    kill(pid, SIGKILL);
    mcgt_close_gate(pid, FALSE, TRUE);
    waitpid(pid, NULL, 0);
  }
}

/* Spin `ms` of wall clock: for a child that must stay busy (runnable) for a
 * while, frozen or crowded meanwhile, never for one whose CPU time a test
 * counts (mcgt_spin_cpu: a loaded machine gives less CPU in the same time). */
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
void
mcgt_spin_cpu(long ms)
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

/* Five times: a light load for half a second (1 ms of CPU in each 100 ms:
 * the unused quota of a CPU group builds up as burst; half a second holds two
 * refills of a 200 ms period, enough to fill quota and burst again after a
 * spike), then `ms` of CPU at once.  A spike that happens to straddle two
 * periods may fit their two quotas without burst, the more likely the longer
 * a loaded machine stretches it; five, each at another phase, make that
 * chance negligible. */
static void
child_burst(long ms)
{
  for (int spike = 0; spike < 5; spike++) {
    for (int i = 0; i < 5; i++) {
      mcgt_spin_cpu(1);
      usleep(99000);
    }
    mcgt_spin_cpu(ms);
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
  else if (strcmp(mode, "spin_cpu") == 0) /* arg ms of CPU time, however loaded the machine */
    mcgt_spin_cpu(arg);
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

  if (pipe(fds) != 0) mcgt_raise_errno(mrb, "pipe", mode);
  fflush(NULL);
  pid = fork();
  if (pid < 0) mcgt_raise_errno(mrb, "fork", mode);
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
  mcgt_close_gate((pid_t)pid, TRUE, FALSE);
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
  mcgt_close_gate(pid, TRUE, FALSE);
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
  if (mcgt_controller_mount("memory", mnt, sizeof mnt) == 2)
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
  if (pid < 0) mcgt_raise_errno(mrb, "fork", args[0]);
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
  if (pipe(fds) != 0) mcgt_raise_errno(mrb, "pipe", args[0]);
  fflush(NULL);
  if ((pid = fork()) < 0) mcgt_raise_errno(mrb, "fork", args[0]);
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
  if (waitpid(pid, &status, 0) < 0) mcgt_raise_errno(mrb, "waitpid", args[0]);
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
  if ((pid = fork()) < 0) mcgt_raise_errno(mrb, "fork", "test");
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

/* CgroupTest.ignore_sigchld(how): SIGCHLD to SIG_IGN (true), to SIG_DFL with
 * SA_NOCLDWAIT (:nocldwait), or SIG_DFL (false), as servers that never wait
 * for their children set it */
static mrb_value
t_ignore_sigchld(mrb_state *mrb, mrb_value self)
{
  struct sigaction sa;
  mrb_value how;

  mrb_get_args(mrb, "o", &how);
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = mrb_true_p(how) ? SIG_IGN : SIG_DFL;
  if (mrb_symbol_p(how) && mrb_symbol(how) == mrb_intern_lit(mrb, "nocldwait"))
    sa.sa_flags = SA_NOCLDWAIT;
  sigaction(SIGCHLD, &sa, NULL);
  return self;
}

/* CgroupTest.zombie => pid of a child that has exited and is not reaped yet */
static mrb_value
t_zombie(mrb_state *mrb, mrb_value self)
{
  char file[64], stat[256];
  pid_t pid;
  (void)self;

  if ((pid = fork()) < 0) mcgt_raise_errno(mrb, "fork", "zombie");
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
  mcgt_close_gate((pid_t)pid, FALSE, TRUE);
  while (waitpid((pid_t)pid, &status, 0) < 0) {
    if (errno != EINTR) mcgt_raise_errno(mrb, "waitpid", "child");
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

void
mcgt_init_children(mrb_state *mrb, struct RClass *t)
{
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
}
