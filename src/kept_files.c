/*
 * Descriptors the gem keeps open across calls, per mrb_state: mount
 * directories, the group files of the per-request path, and /proc/PID/cgroup
 * of the tasks attach looks at.  A descriptor is used only after a check
 * that it is still the file it was opened on (a group file's, and that the
 * caller may still use it, once per cycle: see struct kept_cycle).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* O_PATH */
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <stdint.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/capability.h>

#include <mruby.h>
#include <mruby/data.h>
#include <mruby/presym.h>
#include <mruby/variable.h>

#include "cgroup.h"

/* FNV-1a of the caller's supplementary groups; 0 when they cannot be read
 * (over 64: such a caller's files are never the same, opened anew each time). */
static uint64_t
groups_hash(void)
{
  gid_t list[64];
  int i, n = getgroups(64, list);
  uint64_t hash = 14695981039346656037ULL;

  for (i = 0; i < n; i++) hash = (hash ^ (uint64_t)list[i]) * 1099511628211ULL;
  return n < 0 ? 0 : hash;
}

/*
 * The calling thread's credentials (struct opener): five calls, capget,
 * setfsuid(-1) and setfsgid(-1) (which change nothing and return the
 * current ids), getgroups, and geteuid; where no capability is permitted,
 * getresuid and getresgid instead of geteuid.  TRUE if they can never
 * change again (see settled).
 */
static mrb_bool
read_opener(struct opener *who)
{
  struct __user_cap_header_struct head = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct caps[2] = {{0, 0, 0}, {0, 0, 0}};
  mrb_bool caps_read = syscall(SYS_capget, &head, caps) == 0;
  mrb_bool capless = caps_read && !caps[0].permitted && !caps[1].permitted;
  uid_t ruid, suid;
  gid_t rgid, egid, sgid;

  who->caps[0] = caps[0].effective;
  who->caps[1] = caps[1].effective;
  who->fsuid = (uid_t)setfsuid((uid_t)-1);
  who->fsgid = (gid_t)setfsgid((gid_t)-1);
  /* capabilities that could not be read are never the same as before */
  who->groups = caps_read ? groups_hash() : 0;
  if (!capless) {
    who->euid = geteuid();
    return FALSE;
  }
  if (getresuid(&ruid, &who->euid, &suid) != 0 || getresgid(&rgid, &egid, &sgid) != 0) return FALSE;
  return who->groups && ruid == who->euid && suid == who->euid && who->fsuid == who->euid &&
         rgid == egid && sgid == egid && who->fsgid == egid;
}

static mrb_bool
same_opener(const struct opener *a, const struct opener *b)
{
  return a->euid == b->euid && a->fsuid == b->fsuid && a->fsgid == b->fsgid && a->groups &&
         a->groups == b->groups && a->caps[0] == b->caps[0] && a->caps[1] == b->caps[1];
}

/*
 * A thread whose user ids are all one (real, effective, saved and
 * file-system), whose group ids are all one, and which has no capability
 * permitted, can change none of its credentials again: set*uid, set*gid,
 * setfsuid and setfsgid may then only pick among its own ids, setgroups
 * needs CAP_SETGID, capset can only take away, and only an execve, which
 * ends this process's mruby, gives capabilities back.  A server's worker
 * that dropped root for good (nginx's, Apache's) is such a thread: its
 * credentials, read once, are kept here and never read again.  Credentials
 * belong to a thread in Linux (glibc's setuid makes every thread call it),
 * hence thread-local: another thread, or a new one reusing this one's
 * storage, reads its own.  The epoch is Cgroup.close_kept's: a program
 * that entered a user namespace (where it holds capabilities again) calls
 * it, and every thread then reads its credentials anew.
 */
static __thread struct {
  unsigned long epoch; /* kept_epoch when who was read; 0: not settled */
  struct opener who;
} settled;
static unsigned long kept_epoch = 1;

/* The caller's credentials: a settled thread's, else those read once in
 * the cycle. */
static const struct opener *
caller(struct kept_cycle *cycle)
{
  unsigned long epoch = __atomic_load_n(&kept_epoch, __ATOMIC_RELAXED);

  if (settled.epoch == epoch) return &settled.who;
  if (!cycle->read) {
    if (read_opener(&cycle->who)) {
      settled.who = cycle->who;
      settled.epoch = epoch;
    }
    cycle->read = TRUE;
  }
  return &cycle->who;
}

/*
 * A group file kept open for the per-request path: values and tasks moves
 * written, settings and counters read, each with one pwrite or pread instead
 * of open, write or read, and close.  The kernel checks permission when a
 * cgroup file is opened (and a move with the opener's credentials), not
 * when it is used, so a descriptor is used only while the caller is, for
 * those checks, who opened it, and the file has the owner and mode it had:
 * a program that drops privileges (its user, its groups or a capability),
 * or whose group an operator takes back, keeps no power a fresh open would
 * not give it.  Both are checked at the file's first use in a cycle (struct
 * kept_cycle): the credentials as caller() has them (no call for a settled
 * thread, five once per cycle otherwise), the file with one fstat.
 */
struct kept_group_file {
  const char *mount; /* the mount it is below (a hierarchy's) */
  char *path;        /* the file's path below it (mrb_malloc'd); NULL: slot free */
  int flags;         /* O_RDONLY or O_WRONLY */
  struct kept_fd file;
  struct opener opener;
  uint64_t checked;   /* the cycle that last found it usable; 0: none */
  unsigned long used; /* when it was last used, for eviction */
};

/*
 * What the gem keeps open, per mrb_state (a state runs on one thread at a
 * time) and closed with it:
 * - each used controller's mount directory (O_PATH): files opened relative
 *   to it skip the walk from / through the mounts;
 * - /proc/PID/cgroup of the last few tasks attach looked at (once, twice
 *   for another process): a pread from offset 0 makes the kernel render it
 *   afresh, without the open and close.  A descriptor is bound to its task,
 *   not to the number: once the task is reaped pread fails with ESRCH and
 *   the pid is opened anew, so a reused pid is never read as the old task;
 * - the group files used most recently by modify, attach, detach and the
 *   attribute readers (least recently used goes first): open and close are
 *   most of the cost of a write.  A removed group's file fails with ENODEV,
 *   and is then opened anew (a group made again under the same name is a
 *   new file).
 * doc/speed.md has the figures.
 */
#define KEPT_PROC_FILES 4
#define KEPT_GROUP_FILES 16

struct kept_files {
  struct kept_fd mount_dir[CTL_COUNT];
  pid_t pid[KEPT_PROC_FILES];
  struct kept_fd proc[KEPT_PROC_FILES];
  int next_proc; /* the slot a new task takes */
  char *buf;     /* the last /proc text read, grown as needed */
  size_t size;
  struct kept_group_file group_file[KEPT_GROUP_FILES];
  unsigned long clock; /* counts group file uses */
  uint64_t cycles;     /* counts cycles: the serial of the last one begun */
};

static void
group_file_forget(mrb_state *mrb, struct kept_group_file *g)
{
  mcg_fd_close(&g->file);
  mrb_free(mrb, g->path);
  g->path = NULL;
  g->checked = 0;
  g->used = 0; /* a free slot is taken first */
}

/* Close every descriptor kept: mount directories, /proc files, group files. */
static void
close_all(mrb_state *mrb, struct kept_files *kept)
{
  int i;

  for (i = 0; i < CTL_COUNT; i++) mcg_fd_close(&kept->mount_dir[i]);
  for (i = 0; i < KEPT_PROC_FILES; i++) mcg_fd_close(&kept->proc[i]);
  for (i = 0; i < KEPT_GROUP_FILES; i++) group_file_forget(mrb, &kept->group_file[i]);
}

static void
kept_files_free(mrb_state *mrb, void *p)
{
  struct kept_files *kept = (struct kept_files *)p;

  close_all(mrb, kept);
  mrb_free(mrb, kept->buf);
  mrb_free(mrb, kept);
}

static const struct mrb_data_type kept_files_type = {"Cgroup kept files", kept_files_free};

/*
 * Close every descriptor this state keeps (the next call opens what it
 * needs anew), have every thread read its credentials anew (a settled one
 * too), and the mounts' roots be read anew: Cgroup.close_kept (module.c),
 * for a program that enters another user or cgroup namespace or changes
 * its LSM label, which a kept descriptor cannot tell (see struct opener);
 * a change of user, group or capability needs nothing.
 */
void
mcg_close_kept(mrb_state *mrb)
{
  mrb_value cgroup = mrb_obj_value(mrb_module_get_id(mrb, MRB_SYM(Cgroup)));
  struct kept_files *kept = (struct kept_files *)mrb_data_get_ptr(
      mrb, mrb_iv_get(mrb, cgroup, MRB_SYM(kept_files)), &kept_files_type);

  __atomic_add_fetch(&kept_epoch, 1, __ATOMIC_RELAXED);
  mcg_forget_mount_roots();
  if (kept) close_all(mrb, kept);
}

/* Kept in an ivar of the Cgroup module that Ruby cannot name. */
void
mcg_init_kept(mrb_state *mrb, struct RClass *cgroup)
{
  struct kept_files *kept = (struct kept_files *)mrb_calloc(mrb, 1, sizeof *kept);
  int i;

  for (i = 0; i < CTL_COUNT; i++) kept->mount_dir[i].fd = -1;
  for (i = 0; i < KEPT_PROC_FILES; i++) kept->proc[i].fd = -1;
  for (i = 0; i < KEPT_GROUP_FILES; i++) kept->group_file[i].file.fd = -1;
  mrb_iv_set(mrb, mrb_obj_value(cgroup), MRB_SYM(kept_files),
             mrb_obj_value(mrb_data_object_alloc(mrb, NULL, kept, &kept_files_type)));
}

/* This state's kept files, for ctx to carry from its making on. */
void
mcg_kept_bind(mrb_state *mrb, struct cgroup_ctx *ctx)
{
  mrb_value cgroup = mrb_obj_value(mrb_module_get_id(mrb, MRB_SYM(Cgroup)));

  ctx->kept = (struct kept_files *)mrb_data_get_ptr(
      mrb, mrb_iv_get(mrb, cgroup, MRB_SYM(kept_files)), &kept_files_type);
}

/* The directory of ctx's mount this state keeps open (O_PATH), which every
 * path below the mount is resolved from (openat, fstatat, mkdirat, ...);
 * -1 and errno when it cannot be opened. */
static int
mount_dir(const struct cgroup_ctx *ctx)
{
  struct kept_fd *dir = &ctx->kept->mount_dir[ctx->controller];

  if (!ctx->host->mount) { /* mcg_require_mount raises for it first */
    errno = ENODEV;
    return -1;
  }
  if (!mcg_fd_valid(dir)) {
    mcg_fd_close(dir);
    mcg_fd_open(dir, ctx->host->mount, O_PATH | O_DIRECTORY);
  }
  return dir->fd;
}

/* Where an *at call resolves rel, a path below ctx's mount, from: the
 * mount's kept directory, rel as it is in *path; or, when that cannot be
 * kept open (no descriptor free), AT_FDCWD with the whole path in buf, as
 * a call without the directory would.  -1 and errno when neither can be. */
int
mcg_below_mount(const struct cgroup_ctx *ctx, const char *rel, char buf[PATH_MAX],
                const char **path)
{
  int dir = mount_dir(ctx);

  *path = rel;
  if (dir >= 0 || !ctx->host->mount) return dir;
  if (snprintf(buf, PATH_MAX, "%s/%s", ctx->host->mount, rel) >= PATH_MAX) {
    errno = ENAMETOOLONG;
    return -1;
  }
  *path = buf;
  return AT_FDCWD;
}

/* Open the file at rel, a path below ctx's mount; -1 and errno. */
int
mcg_open_below_mount(const struct cgroup_ctx *ctx, const char *rel, int flags)
{
  char buf[PATH_MAX];
  const char *path;
  int dir = mcg_below_mount(ctx, rel, buf, &path);

  return dir == -1 ? -1 : openat(dir, path, flags | O_CLOEXEC);
}

/* fstatat of the file at rel, a path below ctx's mount; 0, or -1 and errno. */
int
mcg_stat_below_mount(const struct cgroup_ctx *ctx, const char *rel, struct stat *st)
{
  char buf[PATH_MAX];
  const char *path;
  int dir = mcg_below_mount(ctx, rel, buf, &path);

  return dir == -1 ? -1 : fstatat(dir, path, st, 0);
}

/* Whether g keeps the file at rel below mount, opened with flags. */
static mrb_bool
keeps(const struct kept_group_file *g, const char *mount, const char *rel, int flags)
{
  return g->path && g->flags == flags && strcmp(g->path, rel) == 0 &&
         (g->mount == mount || strcmp(g->mount, mount) == 0);
}

/* The slot for the file at rel below mount opened with flags: the one that
 * keeps it, else the least recently used one, emptied. */
static struct kept_group_file *
group_file_slot(mrb_state *mrb, struct kept_files *files, const char *mount, const char *rel,
                int flags)
{
  struct kept_group_file *oldest = &files->group_file[0];
  int i;

  for (i = 0; i < KEPT_GROUP_FILES; i++) {
    struct kept_group_file *g = &files->group_file[i];
    if (keeps(g, mount, rel, flags)) return g;
    if (g->used < oldest->used) oldest = g;
  }
  group_file_forget(mrb, oldest);
  return oldest;
}

/* Whether the file at rel is still the one kept open: its group was not
 * removed (a removed group's files fail with ENODEV, and so does a write
 * naming a device that does not exist). */
static mrb_bool
still_at(const struct cgroup_ctx *ctx, const struct kept_fd *kept, const char *rel)
{
  struct stat st;

  return mcg_stat_below_mount(ctx, rel, &st) == 0 && st.st_dev == kept->dev &&
         st.st_ino == kept->ino;
}

/* Begin a cycle (struct kept_cycle) on the stack of the function that
 * makes its uses. */
void
mcg_kept_cycle_begin(const struct cgroup_ctx *ctx, struct kept_cycle *cycle)
{
  cycle->serial = ++ctx->kept->cycles;
  cycle->read = FALSE;
}

/* Whether the kept file g may be used in cycle: found so earlier in it,
 * or opened by the caller as it is now and still the file, as it was. */
static mrb_bool
group_file_usable(struct kept_group_file *g, struct kept_cycle *cycle)
{
  if (!g->path) return FALSE;
  if (g->checked == cycle->serial) return TRUE;
  if (!same_opener(&g->opener, caller(cycle)) || !mcg_fd_valid(&g->file)) return FALSE;
  g->checked = cycle->serial;
  return TRUE;
}

/* Run io on the group file at rel (below ctx's mount) through a kept
 * descriptor, in cycle (NULL: a cycle of this one use); 0 or an errno. */
int
mcg_kept_file_io(mrb_state *mrb, struct cgroup_ctx *ctx, const char *rel, int flags, fd_io io,
                 void *arg, struct kept_cycle *cycle)
{
  struct kept_files *files = ctx->kept;
  struct kept_group_file *g = group_file_slot(mrb, files, ctx->host->mount, rel, flags);
  size_t size = strlen(rel) + 1;
  struct kept_cycle own;
  mrb_bool answered = FALSE;
  int fd, err;

  if (!cycle) mcg_kept_cycle_begin(ctx, cycle = &own);
  if (group_file_usable(g, cycle)) {
    err = io(mrb, g->file.fd, arg);
    answered = err != ENODEV || still_at(ctx, &g->file, rel); /* ENODEV for a missing device */
  }
  if (!answered) { /* none kept, or its group was removed since: open anew */
    group_file_forget(mrb, g);
    g->opener = *caller(cycle); /* who opens it: read before the open */
    if ((fd = mcg_open_below_mount(ctx, rel, flags)) < 0) return errno;
    if (!mcg_fd_adopt(&g->file, fd)) return EIO; /* no identity to check it by: closed */
    g->flags = flags;
    g->checked = cycle->serial;
    g->mount = ctx->host->mount;
    g->path = (char *)memcpy(mrb_malloc(mrb, size), rel, size); /* may raise: fd is kept */
    err = io(mrb, fd, arg);
  }
  g->used = ++files->clock;
  return err;
}

/* Close the kept files of the group whose directory is rel_dir (below
 * ctx's mount), and of the groups below it. */
void
mcg_forget_kept_under(mrb_state *mrb, const struct cgroup_ctx *ctx, const char *rel_dir)
{
  size_t len = strlen(rel_dir);
  int i;

  for (i = 0; i < KEPT_GROUP_FILES; i++) {
    struct kept_group_file *g = &ctx->kept->group_file[i];
    if (g->path && strcmp(g->mount, ctx->host->mount) == 0 && strncmp(g->path, rel_dir, len) == 0 &&
        g->path[len] == '/')
      group_file_forget(mrb, g);
  }
}

/* /proc/PID/cgroup's text, in a buffer of this state's that the caller may
 * cut up and the next call reuses; NULL and errno when it cannot be read:
 * ESRCH when there is no such task, else what kept it (EMFILE). */
char *
mcg_read_proc_cgroup(mrb_state *mrb, const struct cgroup_ctx *ctx, pid_t pid)
{
  struct kept_files *files = ctx->kept;
  struct kept_fd *kept = NULL;
  char name[32];
  int i, err;

  for (i = 0; i < KEPT_PROC_FILES && !kept; i++) {
    if (files->proc[i].fd >= 0 && files->pid[i] == pid) kept = &files->proc[i];
  }
  if (kept && mcg_fd_valid(kept) && mcg_pread_whole(mrb, kept->fd, &files->buf, &files->size) >= 0)
    return files->buf;
  if (!kept) { /* a new task takes the next slot in turn */
    kept = &files->proc[files->next_proc];
    files->pid[files->next_proc] = pid;
    files->next_proc = (files->next_proc + 1) % KEPT_PROC_FILES;
  }
  mcg_fd_close(kept); /* its task was reaped: open the pid anew */
  snprintf(name, sizeof name, "/proc/%d/cgroup", (int)pid);
  mcg_fd_open(kept, name, O_RDONLY);
  if (kept->fd >= 0 && mcg_pread_whole(mrb, kept->fd, &files->buf, &files->size) >= 0)
    return files->buf;
  err = errno;
  mcg_fd_close(kept);
  errno = err == ENOENT ? ESRCH : err; /* no /proc entry: no such task */
  return NULL;
}
