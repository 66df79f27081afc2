/*
 * Where tasks and groups are, as read from the kernel: the group a task is
 * in (/proc/PID/cgroup), whether the caller is within a subtree, the pids
 * in a group or a whole subtree, and the groups of a subtree.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fts.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <mruby.h>
#include <mruby/array.h>
#include <mruby/error.h>
#include <mruby/presym.h>
#include <mruby/string.h>

#include "cgroup.h"

pid_t
mcg_calling_thread(void)
{
  return (pid_t)syscall(SYS_gettid);
}

/*
 * Charge the CPU time the calling thread has run so far to the group it is
 * in now, when it is the task pid that is about to move.  The kernel
 * charges a running task's time to its group at the task's next scheduler
 * update (a tick, a switch, or a read of its own CPU clock), not as it
 * runs: without this, the time a request ran before a move out is counted
 * in the group it moves to, and a short lease reads 0.  Another process's
 * running threads cannot be charged so (its process clock updates only
 * the reader's own thread, since Linux 4.8): theirs is charged at their
 * next tick, up to one tick late; a task that sleeps was charged when it
 * stopped running.
 */
void
mcg_flush_own_cpu_time(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
}

void
mcg_flush_cpu_time(pid_t pid)
{
  if (pid == mcg_calling_thread()) mcg_flush_own_cpu_time();
}

static mrb_bool
in_list(const char *list, const char *word, char sep)
{
  size_t n = strlen(word);

  for (const char *s = list; s; s = strchr(s, sep) ? strchr(s, sep) + 1 : NULL) {
    if (strncmp(s, word, n) == 0 && (s[n] == sep || s[n] == '\0')) return TRUE;
  }
  return FALSE;
}

/* Whether a path holds a ".." segment. */
static mrb_bool
climbs(const char *path)
{
  for (const char *s = strstr(path, ".."); s; s = strstr(s + 1, "..")) {
    if (s > path && s[-1] == '/' && (s[2] == '/' || s[2] == '\0')) return TRUE;
  }
  return FALSE;
}

/* The root of ctx's mount as this process's cgroup namespace names it,
 * into root (libcgroup.c reads it once per process); 0 or an errno. */
static int
mount_root(const struct cgroup_ctx *ctx, char root[PATH_MAX])
{
  return mcg_mount_root(ctx->controller, root);
}

/*
 * path, as /proc/PID/cgroup names it from the cgroup namespace's root,
 * made relative to the root of ctx's mount, in place: the group's name
 * under the mount.  A container that shares the host's namespace (Docker's
 * and Podman's default on v1) is shown its host path, /docker/ID, while its
 * mount's root is that very group.  EXDEV when the group is outside the
 * mount (a mount made in another namespace, which shows "/.." paths), or
 * why mountinfo could not be read.
 */
static int
below_mount_root(struct cgroup_ctx *ctx, char path[PATH_MAX])
{
  char root[PATH_MAX];
  size_t len;
  int err = mount_root(ctx, root);

  if (err) return err;
  len = strcmp(root, "/") == 0 ? 0 : strlen(root);
  if (strncmp(path, root, len) != 0 || (path[len] != '/' && path[len] != '\0')) return EXDEV;
  if (climbs(path + len)) return EXDEV;
  if (path[len] == '\0') return snprintf(path, PATH_MAX, "/"), 0;
  memmove(path, path + len, strlen(path + len) + 1);
  return 0;
}

/* Field `field` of /proc/PID/stat as proc(5) numbers them (3, the state,
 * is the first after the command's name, which may hold anything), into
 * out; FALSE when the task is gone or the field is not a number. */
mrb_bool
mcg_proc_stat_field(pid_t pid, int field, unsigned long long *out)
{
  char name[32], text[1024], *s;
  ssize_t n;
  int fd;

  snprintf(name, sizeof name, "/proc/%d/stat", (int)pid);
  if ((fd = open(name, O_RDONLY | O_CLOEXEC)) < 0) return FALSE;
  n = read(fd, text, sizeof text - 1);
  close(fd);
  if (n <= 0) return FALSE;
  text[n] = '\0';
  s = strrchr(text, ')');
  for (int i = 2; i < field && s; i++) s = strchr(s + 1, ' ');
  return s && sscanf(s, " %llu", out) == 1;
}

/* Whether the task is exiting (PF_EXITING in its flags, field 9) or gone. */
static mrb_bool
exiting(pid_t pid)
{
  unsigned long long flags;

  return !mcg_proc_stat_field(pid, 9, &flags) || (flags & 0x4);
}

/*
 * The group a task is in for ctx's controller, from /proc/PID/cgroup
 * ("ID:controllers:path" lines; "0::path" is the v2 hierarchy), as its name
 * under the mount, into out; 0, ESRCH when there is no such task (or it is
 * exiting, on v1), EXDEV when its group is outside the mount (out: the path
 * the kernel gave), or why it could not be read (EMFILE).  (libcgroup 2.0.2's
 * cgroup_get_current_controller_path fails on v2.)
 */
int
mcg_current_group(mrb_state *mrb, struct cgroup_ctx *ctx, pid_t pid, char out[PATH_MAX])
{
  const char *name = ctx->host->controller;
  char *line, *next, *text = mcg_read_proc_cgroup(mrb, ctx, pid);

  if (!text) return errno;
  for (line = text; *line; line = next) {
    char *controllers = strchr(line, ':'), *path;
    next = line + strcspn(line, "\n");
    if (*next) *next++ = '\0';
    if (!controllers || !(path = strchr(controllers + 1, ':'))) continue;
    *path++ = '\0';
    controllers++;
    if (mcg_ctx_on_v2(ctx) ? !*controllers : in_list(controllers, name, ',')) {
      int err;
      if (snprintf(out, PATH_MAX, "%s", path) >= PATH_MAX) return ENAMETOOLONG;
      err = below_mount_root(ctx, out);
      /* v1 shows a task that is exiting in the root group whatever its group */
      if (err == EXDEV && !mcg_ctx_on_v2(ctx) && strcmp(out, "/") == 0 && exiting(pid))
        return ESRCH;
      return err;
    }
  }
  return ESRCH;
}

/* Raise for a task's group that could not be read (not for ESRCH); seen:
 * the path /proc/PID/cgroup gave, when it is outside the mount (EXDEV). */
mrb_noreturn void
mcg_raise_unreadable_group(mrb_state *mrb, struct cgroup_ctx *ctx, pid_t pid, int err,
                           const char *seen)
{
  char file[32], root[PATH_MAX];

  snprintf(file, sizeof file, "/proc/%d/cgroup", (int)pid);
  if (err != EXDEV)
    mcg_raise_error(mrb, MCG_FAILURE(.err = err, .ctx = ctx, .action = "read", .file = file));
  if (mount_root(ctx, root)) snprintf(root, sizeof root, "(unreadable)");
  mcg_raise_error(
      mrb,
      MCG_FAILURE(.cls = "NotFound", .err = ENOENT, .ctx = ctx, .group = seen, .action = "find",
                  .file = file,
                  .reason = RSTRING_CSTR(
                      mrb,
                      mrb_format(mrb,
                                 "the task's group is outside the cgroup mount at %s, whose root "
                                 "is %s here: the mount shows another cgroup namespace's tree "
                                 "(a bind of the host's cgroup tree: use the engine's own cgroup "
                                 "mount, or the host's cgroup namespace)",
                                 ctx->host->mount, root))));
}

/* Whether the task is in the group at path (not when it has exited). */
mrb_bool
mcg_task_is_in(mrb_state *mrb, struct cgroup_ctx *ctx, pid_t pid, const char *path)
{
  char current[PATH_MAX];
  int err = mcg_current_group(mrb, ctx, pid, current);

  if (err && err != ESRCH && err != EXDEV) mcg_raise_unreadable_group(mrb, ctx, pid, err, current);
  return !err && strcmp(current, path) == 0; /* EXDEV: outside the mount, in none of its groups */
}

/* Whether group is path or below it. */
static mrb_bool
is_within(const char *group, const char *path)
{
  size_t len = strlen(path);

  if (strcmp(path, "/") == 0) return TRUE;
  return strncmp(group, path, len) == 0 && (group[len] == '\0' || group[len] == '/');
}

#define CALLER_THREADS_LOOKED_AT 1024

/*
 * Whether a thread of the calling process is in the group at path or below
 * it, in ctx's hierarchy: each thread's own entry is read, since on v1 (and
 * in v2's threaded subtrees) the threads of one process may be in different
 * groups.  The thread ids are read first, so that nothing that may raise
 * runs while the directory is open.
 */
mrb_bool
mcg_caller_within(mrb_state *mrb, struct cgroup_ctx *ctx, const char *path)
{
  pid_t tids[CALLER_THREADS_LOOKED_AT];
  char group[PATH_MAX];
  DIR *dir = opendir("/proc/self/task");
  struct dirent *e;
  int n = 0;

  tids[n++] = getpid(); /* the whole process on v2; the main thread, listed below too */
  while (dir && n < CALLER_THREADS_LOOKED_AT && (e = readdir(dir))) {
    pid_t tid = (pid_t)atoi(e->d_name);
    if (tid > 0 && tid != tids[0]) tids[n++] = tid;
  }
  if (dir) closedir(dir);
  for (int i = 0; i < n; i++) {
    int err = mcg_current_group(mrb, ctx, tids[i], group);
    if (err && err != ESRCH && err != EXDEV) /* EXDEV: outside the mount, so not within */
      mcg_raise_unreadable_group(mrb, ctx, tids[i], err, group); /* EMFILE: not "no" */
    if (!err && is_within(group, path)) return TRUE;
  }
  return FALSE;
}

/* The pids in a tasks-like file of the group at path. */
mrb_value
mcg_read_pids(mrb_state *mrb, struct cgroup_ctx *ctx, const char *path, const char *file)
{
  mrb_value text = mcg_kernel_read(mrb, ctx, path, file, FILE_ONCE), pids = mrb_ary_new(mrb);
  const char *s = RSTRING_PTR(text), *end = RSTRING_END(text);
  char *next;

  for (s = mcg_skip_blanks(s, end); s < end; s = mcg_skip_blanks(next, end)) {
    long pid = strtol(s, &next, 10);
    if (next == s) break;
    mrb_ary_push(mrb, pids, mrb_int_value(mrb, pid));
  }
  return pids;
}

struct pids_read {
  struct cgroup_ctx *ctx;
  const char *path, *file;
};

static mrb_value
read_pids_body(mrb_state *mrb, void *p)
{
  struct pids_read *r = (struct pids_read *)p;

  return mcg_read_pids(mrb, r->ctx, r->path, r->file);
}

/* The pids in file of ctx's group and of every group below it.  A group
 * removed during the walk holds none; any other failure is raised. */
mrb_value
mcg_subtree_pids(mrb_state *mrb, struct cgroup_ctx *ctx, const char *file)
{
  mrb_value groups = mcg_subtree(mrb, ctx, "list the subtree's tasks"), all = mrb_ary_new(mrb);
  struct pids_read r = {ctx, NULL, file};
  mrb_value pids;
  mrb_bool failed;
  mrb_int i;

  for (i = 0; i < RARRAY_LEN(groups); i++) {
    r.path = RSTRING_CSTR(mrb, RARRAY_PTR(groups)[i]);
    pids = mrb_protect_error(mrb, read_pids_body, &r, &failed);
    if (failed && mcg_error_is(mrb, pids, "NotFound")) continue;
    if (failed) mrb_exc_raise(mrb, pids);
    mrb_ary_concat(mrb, all, pids);
  }
  return all;
}

struct walk {
  FTS *fts;
  size_t mount_len;
  mrb_value list;
  int err;
};

/* fts over the tree into walk->list (may raise NoMemoryError: the caller
 * closes the fts).  A directory below the top that cannot be read because
 * it is gone (ENOENT) was removed by another process during the walk: it
 * held nothing, and is left out; any other failure stops the walk, since a
 * partial list would pass for the whole. */
static mrb_value
walk_body(mrb_state *mrb, void *arg)
{
  struct walk *w = (struct walk *)arg;
  FTSENT *e;

  for (errno = 0; !w->err && (e = fts_read(w->fts)); errno = 0) {
    if (e->fts_info == FTS_DNR || e->fts_info == FTS_ERR) {
      if (e->fts_level == FTS_ROOTLEVEL || e->fts_errno != ENOENT) w->err = e->fts_errno;
    } else if (e->fts_info == FTS_D) {
      const char *below = e->fts_path + w->mount_len;
      mrb_ary_push(mrb, w->list, mrb_str_new_cstr(mrb, *below ? below : "/"));
    }
  }
  if (!w->err && errno != ENOENT) w->err = errno; /* fts_read's own failure; 0 at the end */
  return mrb_nil_value();
}

/* The directories at and below full into list, as paths below the mount;
 * 0 or the errno of a directory that could not be read. */
static int
walk_groups(mrb_state *mrb, char *full, size_t mount_len, mrb_value list)
{
  char *roots[2] = {full, NULL};
  struct walk w = {fts_open(roots, FTS_PHYSICAL | FTS_NOCHDIR, NULL), mount_len, list, 0};
  mrb_bool failed;
  mrb_value exc;

  if (!w.fts) return errno;
  exc = mrb_protect_error(mrb, walk_body, &w, &failed);
  fts_close(w.fts);
  if (failed) mrb_exc_raise(mrb, exc);
  return w.err;
}

/* The paths of ctx's group and every group below it, sorted (so a parent
 * comes before its children); NotFound if the group is not there. */
mrb_value
mcg_subtree(mrb_state *mrb, struct cgroup_ctx *ctx, const char *action)
{
  mrb_value list = mrb_ary_new(mrb);
  char full[PATH_MAX];
  int err;

  mcg_require_mount(mrb, ctx);
  if (!mcg_mount_path(ctx, ctx->path, NULL, full) || !mcg_path_exists(ctx, ctx->path)) {
    mcg_raise_error(mrb, MCG_FAILURE(.cls = "NotFound", .err = ENOENT, .ctx = ctx, .action = action,
                                     .reason = "no such group"));
  }
  err = walk_groups(mrb, full, ctx->host->mount_length, list);
  if (err) mcg_raise_error(mrb, MCG_FAILURE(.err = err, .ctx = ctx, .action = action));
  return mrb_funcall_id(mrb, list, MRB_SYM(sort), 0);
}
