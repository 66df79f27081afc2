/*
 * Files and mounts seen without the gem: cgroup files read and written
 * directly, the mounts from /proc/self/mountinfo (not libcgroup), a group's
 * directory and pids, the group a task is in.
 * Defined into CgroupTest by mrb_mruby_cgroup_gem_test (cgroup_test.c).
 */
#include "cgroup_test.h"

/* ---- Files, read and written without the gem --------------------------- */

mrb_noreturn void
mcgt_raise_errno(mrb_state *mrb, const char *what, const char *path)
{
  mrb_raisef(mrb, E_RUNTIME_ERROR, "%s %s: %s", what, path, strerror(errno));
}

/* The body of the helpers that run a block with an ensure (mrb_ensure). */
mrb_value
mcgt_yield_block(mrb_state *mrb, mrb_value block)
{
  return mrb_yield_argv(mrb, block, 0, NULL);
}

/* A file's whole content as a String; raises RuntimeError naming it. */
mrb_value
mcgt_read_whole(mrb_state *mrb, const char *path)
{
  char buf[8192];
  int fd;
  ssize_t n;
  mrb_value out;

  if ((fd = open(path, O_RDONLY)) < 0) mcgt_raise_errno(mrb, "open", path);
  out = mrb_str_new_capa(mrb, 64);
  while ((n = read(fd, buf, sizeof buf)) > 0) mrb_str_cat(mrb, out, buf, n);
  close(fd);
  if (n < 0) mcgt_raise_errno(mrb, "read", path);
  return out;
}

/* CgroupTest.read(path) => the file's whole content */
static mrb_value
t_read(mrb_state *mrb, mrb_value self)
{
  char *path;
  (void)self;

  mrb_get_args(mrb, "z", &path);
  return mcgt_read_whole(mrb, path);
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
  if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) < 0)
    mcgt_raise_errno(mrb, "open", path);
  if (write(fd, text, len) != len) {
    close(fd);
    mcgt_raise_errno(mrb, "write", path);
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
  content = mcgt_read_whole(mrb, src);
  if ((mkdir(dir, 0755) != 0 && errno != EEXIST) || chmod(dir, 0755) != 0)
    mcgt_raise_errno(mrb, "mkdir", dir);
  if ((fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0755)) < 0) mcgt_raise_errno(mrb, "open", dst);
  if (write(fd, RSTRING_PTR(content), RSTRING_LEN(content)) != RSTRING_LEN(content) ||
      fchmod(fd, 0755) != 0) {
    close(fd);
    mcgt_raise_errno(mrb, "write", dst);
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
  if ((fd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC)) < 0) mcgt_raise_errno(mrb, "open", path);
  if (posix_memalign(&buf, 4096, 65536) != 0) {
    close(fd);
    mcgt_raise_errno(mrb, "posix_memalign", path);
  }
  while (done < bytes && (n = read(fd, buf, 65536)) > 0) done += n;
  free(buf);
  close(fd);
  if (n < 0) mcgt_raise_errno(mrb, "read", path);
  return mrb_int_value(mrb, done);
}

/* ---- Mounts and group files, from /proc/self/mountinfo, not libcgroup -- */

/* The mount point of a v1 controller (or "unified" for cgroup2), read from
 * /proc/self/mountinfo; NULL when not mounted. */
char *
mcgt_find_mount(const char *controller, char *out, size_t size)
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
int
mcgt_controller_mount(const char *controller, char *out, size_t size)
{
  char mnt[PATH_MAX], file[PATH_MAX + 32], list[512], *tok, *save = NULL;
  FILE *f;
  size_t n;

  if (mcgt_find_mount(controller, out, size)) return 1;
  if (!mcgt_find_mount("unified", mnt, sizeof mnt)) return 0;
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
    return mcgt_find_mount(name, buf, sizeof buf) ? mrb_str_new_cstr(mrb, buf) : mrb_nil_value();
  }
  return mcgt_controller_mount(name, buf, sizeof buf) ? mrb_str_new_cstr(mrb, buf)
                                                      : mrb_nil_value();
}

/* CgroupTest.version(controller) => 1, 2 or nil, found independently of the gem */
static mrb_value
t_version(mrb_state *mrb, mrb_value self)
{
  char *name, buf[PATH_MAX];
  int v;
  (void)self;

  mrb_get_args(mrb, "z", &name);
  v = mcgt_controller_mount(name, buf, sizeof buf);
  return v ? mrb_int_value(mrb, v) : mrb_nil_value();
}

/* The directory of group in the hierarchy serving controller, found without
 * the gem; raises when no hierarchy serves it. */
static const char *
group_dir(mrb_state *mrb, const char *controller, const char *group, char *out, size_t size)
{
  char mnt[PATH_MAX];

  if (!mcgt_controller_mount(controller, mnt, sizeof mnt)) {
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
  return mcgt_read_whole(mrb, path);
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
  if (!file)
    file = mcgt_controller_mount(controller, path, sizeof path) == 2 ? "cgroup.procs" : "tasks";
  snprintf(path, sizeof path, "%s/%s", dir, file);
  for (s = RSTRING_CSTR(mrb, mcgt_read_whole(mrb, path));; s = next) {
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
  v = mcgt_controller_mount(name, buf, sizeof buf);
  snprintf(file, sizeof file, "/proc/%d/cgroup", (int)pid);
  if (!(f = fopen(file, "r"))) mcgt_raise_errno(mrb, "open", file);
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

void
mcgt_init_kernel_files(mrb_state *mrb, struct RClass *t)
{
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
}
