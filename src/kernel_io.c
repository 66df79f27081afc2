/*
 * A group's files: the check that the hierarchies are there, where a
 * group's files are under the mount libcgroup found, and their whole text
 * read or a value written, through a kept descriptor or one opened for the
 * call.  Helpers return 0 or an errno; the readers and the checks raise.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mruby.h>
#include <mruby/error.h>
#include <mruby/string.h>

#include "cgroup.h"

/* For calls on no one group (Cgroup.version, .controllers): raise if the
 * hierarchies could not be looked at (EMFILE, ...).  None mounted is no
 * error here: every controller then reads as not available. */
void
mcg_require_hierarchies(mrb_state *mrb)
{
  char why[PATH_MAX + 160];
  mrb_bool none_mounted;
  int err = mcg_hierarchies_failure(why, sizeof why, &none_mounted);

  if (err && !none_mounted)
    mcg_raise_process_error(
        mrb, MCG_FAILURE(.err = err, .action = "initialise libcgroup", .reason = why));
}

/* The mount of ctx's controller, found once: raises if the hierarchies
 * could not be looked at, or the controller is not mounted here. */
const char *
mcg_require_mount(mrb_state *mrb, struct cgroup_ctx *ctx)
{
  const char *mount = __atomic_load_n(&ctx->host->mount, __ATOMIC_ACQUIRE);
  char why[PATH_MAX + 160];
  int err;

  if (mount) return mount;
  mcg_hierarchy(ctx->controller, why, sizeof why, &err); /* found now, or why not */
  if (err) {
    mcg_raise_error(
        mrb, MCG_FAILURE(.err = err, .ctx = ctx, .action = "initialise libcgroup", .reason = why));
  }
  if (!(mount = __atomic_load_n(&ctx->host->mount, __ATOMIC_ACQUIRE))) {
    mcg_raise_error(mrb, MCG_FAILURE(.cls = "Unsupported", .err = ENODEV, .ctx = ctx,
                                     .action = "find controller",
                                     .reason = "controller is not mounted"));
  }
  return mount;
}

/* The path of a group (file NULL), or of one of its files, below the
 * mount ("a/b/file"; "." for the root group itself): what the *at calls
 * resolve from the mount's kept directory (mcg_below_mount).  FALSE when it
 * does not fit in PATH_MAX. */
mrb_bool
mcg_group_path(const char *path, const char *file, char rel[PATH_MAX])
{
  const char *parts[3] = {path + 1, path[1] && file ? "/" : "", file ? file : ""};
  size_t n = 0;

  /* not snprintf: on the per-request path, after a quiet spell, its code
   * is cold, and this runs for every file used */
  for (int i = 0; i < 3; i++) {
    size_t len = strlen(parts[i]);
    if (n + len >= PATH_MAX) return FALSE;
    memcpy(rel + n, parts[i], len);
    n += len;
  }
  if (n == 0) rel[n++] = '.';
  rel[n] = '\0';
  return TRUE;
}

/* The whole path of a group or one of its files, for what cannot start
 * from the mount's directory (a forked child's opens, a walk of the
 * subtree); FALSE when it does not fit, or the mount is not known yet
 * (mcg_require_mount has not been called).  It is resolved in the
 * caller's mount namespace now, where the kept directory was opened in
 * the one of its time: a program that changes namespace calls
 * Cgroup.close_kept (kept_files.c). */
mrb_bool
mcg_mount_path(const struct cgroup_ctx *ctx, const char *path, const char *file,
               char full[PATH_MAX])
{
  const char *mount = ctx->host->mount;
  int n;

  if (!mount) return FALSE;
  n = snprintf(full, PATH_MAX, "%s%s%s%s", mount, path, file ? "/" : "", file ? file : "");
  return n >= 0 && n < PATH_MAX;
}

/* Remove the (empty) group at path with rmdir(2); 0 or an errno.
 * libcgroup 2.0.2's delete returned 0 when rmdir failed and errors when it
 * worked. */
int
mcg_remove_group_dir(const struct cgroup_ctx *ctx, const char *path)
{
  char rel[PATH_MAX], buf[PATH_MAX];
  const char *at;
  int dir;

  if (!mcg_group_path(path, NULL, rel)) return ENAMETOOLONG;
  if ((dir = mcg_below_mount(ctx, rel, buf, &at)) == -1) return errno;
  return unlinkat(dir, at, AT_REMOVEDIR) == 0 ? 0 : errno;
}

/* Whether the group at path is there (a directory below the mount). */
mrb_bool
mcg_path_exists(const struct cgroup_ctx *ctx, const char *path)
{
  char rel[PATH_MAX];
  struct stat st;

  return mcg_group_path(path, NULL, rel) && mcg_stat_below_mount(ctx, rel, &st) == 0 &&
         S_ISDIR(st.st_mode);
}

void
mcg_require_group(mrb_state *mrb, struct cgroup_ctx *ctx, const char *action)
{
  mcg_require_mount(mrb, ctx);
  if (!mcg_path_exists(ctx, ctx->path)) {
    mcg_raise_error(mrb, MCG_FAILURE(.cls = "NotFound", .err = ENOENT, .ctx = ctx, .action = action,
                                     .reason = "no such group"));
  }
}

/* The parent group's path of a path other than "/"; parent may be path
 * itself, cut in place (detach climbing, claim finding its base). */
void
mcg_parent_of(const char *path, char parent[PATH_MAX])
{
  size_t len = (size_t)(strrchr(path, '/') - path);

  memmove(parent, path, len);
  parent[len] = '\0';
  if (len == 0) strcpy(parent, "/");
}

/* Open a file of the group at path; -1 and errno on failure. */
int
mcg_open_in_mount(const struct cgroup_ctx *ctx, const char *path, const char *file, int flags)
{
  char rel[PATH_MAX];

  if (!mcg_group_path(path, file, rel)) {
    errno = ENAMETOOLONG;
    return -1;
  }
  return mcg_open_below_mount(ctx, rel, flags);
}

struct text {
  const char *s;
  size_t len;
};

/* Write the text at arg, at offset 0 (a kept descriptor is used again). */
static int
write_text(mrb_state *mrb, int fd, void *arg)
{
  struct text *t = (struct text *)arg;
  ssize_t n = pwrite(fd, t->s, t->len, 0);

  (void)mrb;
  return n == (ssize_t)t->len ? 0 : n < 0 ? errno : EIO;
}

/* The whole file, from offset 0, into the String at arg (emptied first:
 * a read that failed part way is tried again on a descriptor opened anew). */
static int
read_text(mrb_state *mrb, int fd, void *arg)
{
  char buf[4096];
  off_t offset = 0;
  ssize_t n;

  mrb_str_resize(mrb, *(mrb_value *)arg, 0);
  while ((n = pread(fd, buf, sizeof buf, offset)) > 0) {
    mrb_str_cat(mrb, *(mrb_value *)arg, buf, (size_t)n);
    offset += n;
  }
  return n < 0 ? errno : 0;
}

struct io_call {
  int fd;
  fd_io io;
  void *arg;
  int err;
};

static mrb_value
io_call_body(mrb_state *mrb, void *p)
{
  struct io_call *call = (struct io_call *)p;

  call->err = call->io(mrb, call->fd, call->arg);
  return mrb_nil_value();
}

/* Run io on the file at rel, opened for it alone, and closed also when io
 * raises (read_text's String may not grow: NoMemoryError). */
static int
io_on_file_once(mrb_state *mrb, const struct cgroup_ctx *ctx, const char *rel, int flags, fd_io io,
                void *arg)
{
  struct io_call call = {mcg_open_below_mount(ctx, rel, flags), io, arg, 0};
  mrb_bool failed;
  mrb_value exc;

  if (call.fd < 0) return errno;
  exc = mrb_protect_error(mrb, io_call_body, &call, &failed);
  if (close(call.fd) != 0 && !call.err) call.err = errno;
  if (failed) mrb_exc_raise(mrb, exc);
  return call.err;
}

static int group_file_io(mrb_state *mrb, struct cgroup_ctx *ctx, const char *path, const char *file,
                         int flags, enum file_use use, fd_io io, void *arg,
                         struct kept_cycle *cycle);

/* Whether a space-separated list (cgroup.controllers, subtree_control)
 * has word in it. */
mrb_bool
mcg_lists_word(mrb_value text, const char *word)
{
  const char *s, *end = RSTRING_END(text);
  size_t len = strlen(word);

  for (s = mcg_skip_blanks(RSTRING_PTR(text), end); s < end;
       s = mcg_skip_blanks(mcg_token_end(s, end), end)) {
    if ((size_t)(mcg_token_end(s, end) - s) == len && memcmp(s, word, len) == 0) return TRUE;
  }
  return FALSE;
}

/* Whether the controller is off for the group at path: on v2, its parent
 * does not list it in cgroup.subtree_control (never on v1, nor for the
 * root or a group served without a controller).  0 or an errno. */
static int
controller_off(mrb_state *mrb, struct cgroup_ctx *ctx, const char *path, mrb_bool *off)
{
  mrb_value listed = mrb_str_new_capa(mrb, 64);
  char parent[PATH_MAX];
  int err;

  *off = FALSE;
  if (!mcg_ctx_on_v2(ctx) || ctx->host->core_files || strcmp(path, "/") == 0) return 0;
  mcg_parent_of(path, parent);
  err = group_file_io(mrb, ctx, parent, "cgroup.subtree_control", O_RDONLY, FILE_ONCE, read_text,
                      &listed, NULL);
  if (!err) *off = !mcg_lists_word(listed, ctx->host->controller);
  return err;
}

/* Add the controller to the subtree_control of path's parent; 0 or an errno. */
static int
turn_controller_on(mrb_state *mrb, struct cgroup_ctx *ctx, const char *path)
{
  char parent[PATH_MAX], change[32];

  mcg_parent_of(path, parent);
  snprintf(change, sizeof change, "+%s", ctx->host->controller);
  return mcg_kernel_write(mrb, ctx, parent, "cgroup.subtree_control", change, FILE_ONCE);
}

/*
 * cgroup v2: a group has a controller's files only if its parent lists the
 * controller in cgroup.subtree_control.  libcgroup enables it for groups it
 * creates, not for existing ones (a CPU object on a group made for MEMORY),
 * so create does it for each level, and a write that finds its file missing
 * for its group (group_file_io); only for this controller, only where it is
 * off (nothing to do on v1 and for the root).  0 or an errno.
 */
int
mcg_enable_in_parent(mrb_state *mrb, struct cgroup_ctx *ctx, const char *path)
{
  mrb_bool off;
  int err = controller_off(mrb, ctx, path, &off);

  return err || !off ? err : turn_controller_on(mrb, ctx, path);
}

/* cycle: the kept_cycle of a FILE_OFTEN use, or NULL for one of its own. */
static int
file_io(mrb_state *mrb, struct cgroup_ctx *ctx, const char *rel, int flags, enum file_use use,
        fd_io io, void *arg, struct kept_cycle *cycle)
{
  if (use == FILE_OFTEN) return mcg_kept_file_io(mrb, ctx, rel, flags, io, arg, cycle);
  return io_on_file_once(mrb, ctx, rel, flags, io, arg);
}

/* Whether file is one of ctx's controller's own ("pids.max"), which the
 * controller being off for the group would explain; a core file
 * ("cgroup.threads") missing from a group that is there is one being made
 * or removed by another process. */
static mrb_bool
controller_file(struct cgroup_ctx *ctx, const char *file)
{
  const char *name = ctx->host->controller;
  size_t len = strlen(name);

  return strncmp(file, name, len) == 0 && file[len] == '.';
}

/*
 * Look again at a file of the group at path that could not be opened, here and for a meter's
 * counter files (accounting_files.c): back (another process removed the group and made it again
 * meanwhile), its group gone, its controller off for the group (v2), or the group without it.  A
 * group being removed loses its controllers' files, then its own, then its directory, all within
 * another process's rmdir, so "without it" needs more: its parent, which cannot be removed
 * meanwhile, lacks the file too; or, for a child of the root (which lacks many files), it still
 * holds a millisecond later.
 */
enum file_absence
mcg_look_again(mrb_state *mrb, struct cgroup_ctx *ctx, const char *path, const char *file)
{
  struct timespec ms = {0, 1000000};
  char parent[PATH_MAX], rel[PATH_MAX];
  mrb_bool off;
  struct stat st;

  if (!mcg_group_path(path, file, rel)) return FILE_LACKING;
  if (mcg_stat_below_mount(ctx, rel, &st) == 0) return FILE_BACK;
  if (!mcg_path_exists(ctx, path)) return GROUP_GONE;
  if (controller_file(ctx, file) && controller_off(mrb, ctx, path, &off) == 0 && off)
    return CONTROLLER_OFF;
  mcg_parent_of(path, parent);
  if (strcmp(parent, "/") != 0) {
    if (!mcg_group_path(parent, file, rel)) return FILE_LACKING;
    return mcg_stat_below_mount(ctx, rel, &st) == 0 ? GROUP_GONE : FILE_LACKING;
  }
  nanosleep(&ms, NULL);
  if (mcg_stat_below_mount(ctx, rel, &st) == 0) return FILE_BACK; /* rel: still the file's */
  return mcg_path_exists(ctx, path) ? FILE_LACKING : GROUP_GONE;
}

/*
 * Run io on a file of the group at path; 0 or an errno.  A file that is
 * not there (see mcg_look_again): tried once more if it is back; NotFound
 * (ENOENT) if its group is gone; on v2, if its controller is off for the
 * group, a write enables it, as create does, and is tried again; else this
 * kernel or cgroup version lacks the file (EOPNOTSUPP).
 */
static int
group_file_io(mrb_state *mrb, struct cgroup_ctx *ctx, const char *path, const char *file, int flags,
              enum file_use use, fd_io io, void *arg, struct kept_cycle *cycle)
{
  char rel[PATH_MAX];
  int err;

  if (!mcg_group_path(path, file, rel)) return ENAMETOOLONG;
  err = file_io(mrb, ctx, rel, flags, use, io, arg, cycle);
  if (err != ENOENT) return err;
  switch (mcg_look_again(mrb, ctx, path, file)) {
  case FILE_BACK: return file_io(mrb, ctx, rel, flags, use, io, arg, cycle);
  case GROUP_GONE: return ENOENT;
  case CONTROLLER_OFF:
    if (flags != O_WRONLY) return EOPNOTSUPP;                   /* reads never enable */
    if ((err = turn_controller_on(mrb, ctx, path))) return err; /* seen off */
    return file_io(mrb, ctx, rel, flags, use, io, arg, cycle);
  default: return EOPNOTSUPP;
  }
}

/*
 * The whole content of a cgroup file of the group at path, as a String,
 * read straight from the file under the mount libcgroup found, as values
 * are written: libcgroup's read_value goes through stdio line by line (and
 * has no controller for v2's core files).
 */
static mrb_value
kernel_read(mrb_state *mrb, struct cgroup_ctx *ctx, const char *path, const char *file,
            enum file_use use, struct kept_cycle *cycle)
{
  mrb_value text = mrb_str_new_capa(mrb, 64);
  int err = group_file_io(mrb, ctx, path, file, O_RDONLY, use, read_text, &text, cycle);

  if (err == EOPNOTSUPP) {
    mcg_raise_error(mrb, MCG_FAILURE(.cls = "Unsupported", .err = err, .ctx = ctx, .group = path,
                                     .action = "read", .file = file,
                                     .reason = "this kernel has no such file"));
  }
  if (err)
    mcg_raise_error(
        mrb, MCG_FAILURE(.err = err, .ctx = ctx, .group = path, .action = "read", .file = file));
  return text;
}

mrb_value
mcg_kernel_read(mrb_state *mrb, struct cgroup_ctx *ctx, const char *path, const char *file,
                enum file_use use)
{
  return kernel_read(mrb, ctx, path, file, use, NULL);
}

/* mcg_kernel_read through a kept descriptor, checked once in cycle. */
mrb_value
mcg_kernel_read_in(mrb_state *mrb, struct cgroup_ctx *ctx, const char *path, const char *file,
                   struct kept_cycle *cycle)
{
  return kernel_read(mrb, ctx, path, file, FILE_OFTEN, cycle);
}

/* The text of a file of the group at path, without its trailing newline,
 * as a C string owned by a Ruby String (live until the arena is restored). */
const char *
mcg_kernel_read_line(mrb_state *mrb, struct cgroup_ctx *ctx, const char *path, const char *file)
{
  mrb_value text = mcg_kernel_read(mrb, ctx, path, file, FILE_ONCE);
  mrb_int len = RSTRING_LEN(text);

  while (len > 0 && RSTRING_PTR(text)[len - 1] == '\n') len--;
  return RSTRING_CSTR(mrb, mrb_str_substr(mrb, text, 0, len));
}

/*
 * Write one value to a cgroup file; returns 0 or an errno.  This is the
 * per-request path, and libcgroup 2.0.2's cgroup_modify_cgroup re-reads
 * /proc/mounts on every call (and reports a file the caller may not write
 * as "value does not exist"), so the value goes straight to the file under
 * the mount point libcgroup found once.
 */
static int
kernel_write(mrb_state *mrb, struct cgroup_ctx *ctx, const char *path, const char *file,
             const char *value, enum file_use use, struct kept_cycle *cycle)
{
  struct text t = {value, strlen(value)};

  if (t.len == 0) t.s = "\n", t.len = 1; /* an empty write would not reach the kernel */
  return group_file_io(mrb, ctx, path, file, O_WRONLY, use, write_text, &t, cycle);
}

int
mcg_kernel_write(mrb_state *mrb, struct cgroup_ctx *ctx, const char *path, const char *file,
                 const char *value, enum file_use use)
{
  return kernel_write(mrb, ctx, path, file, value, use, NULL);
}

/* mcg_kernel_write through a kept descriptor, checked once in cycle. */
int
mcg_kernel_write_in(mrb_state *mrb, struct cgroup_ctx *ctx, const char *path, const char *file,
                    const char *value, struct kept_cycle *cycle)
{
  return kernel_write(mrb, ctx, path, file, value, FILE_OFTEN, cycle);
}
