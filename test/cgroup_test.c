/*
 * Test-only helpers, the CgroupTest module, loaded into the mrb_state of
 * every test file (mruby runs each file in its own state, so this is the
 * one place the files share).  By subject:
 *
 *   kernel_files.c  cgroup files and mounts found and read without the gem
 *   children.c      children held at a gate until released, so a test can
 *                   attach them first (CgroupTest.spawn, .release), and reaped
 *   this_process.c  this process's thread, user, environment, descriptors
 *   figures.c       memory, CPU time and clocks for the soaks and reports
 *   host_state.c    the host a server makes around the gem, and the few gem
 *                   internals a test reaches directly
 *
 * This file: the run's prefix, and the cleanup of the run's groups that
 * CgroupTest.isolate { } runs after each test.
 */

#include "cgroup_test.h"

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

/* CgroupTest.vm? => whether the suite runs in one of the VMs
 * (MRB_CGROUP_VM: v2 or v1 from tools/vm-test, systemd from
 * vm-systemd-suite): qemu's emulated CPUs charge a task's CPU time for the
 * moments the host took the CPU away, so CPU figures vary more there */
static mrb_value
t_vm_p(mrb_state *mrb, mrb_value self)
{
  const char *v = getenv("MRB_CGROUP_VM");
  (void)mrb;
  (void)self;
  return mrb_bool_value(v && *v);
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

  mcgt_kill_children();
  for (size_t i = 0; i < sizeof mounts / sizeof mounts[0]; i++) {
    if (!mcgt_find_mount(mounts[i], mnt, sizeof mnt)) continue;
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
  return mrb_ensure(mrb, mcgt_yield_block, block, cleanup_after, mrb_nil_value());
}

void
mrb_mruby_cgroup_gem_test(mrb_state *mrb)
{
  struct RClass *t = mrb_define_module(mrb, "CgroupTest");

  mcg_test_init_host_state(mrb, t);
  mcgt_init_kernel_files(mrb, t);
  mcgt_init_children(mrb, t);
  mcgt_init_this_process(mrb, t);
  mcgt_init_figures(mrb, t);
  mrb_define_module_function(mrb, t, "prefix", t_prefix, MRB_ARGS_NONE());
  mrb_define_module_function(mrb, t, "scratch", t_scratch, MRB_ARGS_REQ(1));
  mrb_define_module_function(mrb, t, "uid", t_uid, MRB_ARGS_NONE());
  mrb_define_module_function(mrb, t, "clone3?", t_clone3_p, MRB_ARGS_NONE());
  mrb_define_module_function(mrb, t, "emulated?", t_emulated_p, MRB_ARGS_NONE());
  mrb_define_module_function(mrb, t, "vm?", t_vm_p, MRB_ARGS_NONE());
  mrb_define_module_function(mrb, t, "cleanup", t_cleanup, MRB_ARGS_NONE());
  mrb_define_module_function(mrb, t, "isolate", t_isolate, MRB_ARGS_BLOCK());
}
