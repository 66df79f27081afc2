/*
 * mruby-cgroup: control groups for mruby, on top of libcgroup.
 *
 * Two tables define everything Ruby sees: CGROUP_CONTROLLERS (one class per
 * controller) and CGROUP_ATTRIBUTES (one reader and/or writer per cgroup
 * file, on v1 and on v2).  Macros turn them into small C wrappers around a
 * handful of generic functions; adding an attribute is one line.
 *
 * libcgroup finds the mounts (once per process) and creates and deletes
 * groups.  Values, moves and reads go straight to the files under the mounts
 * it found: its modify call re-reads /proc/mounts, its attach allocates a
 * struct cgroup and its reads go through stdio, on every call.
 *
 * Copyright (c) mruby-cgroup developers.  MIT License, see LICENSE.
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* O_PATH */
#endif
#include <errno.h>
#include <fcntl.h>
#include <fts.h>
#include <poll.h>
#include <signal.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/magic.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <libcgroup.h>

#include <mruby.h>
#include <mruby/array.h>
#include <mruby/class.h>
#include <mruby/data.h>
#include <mruby/error.h>
#include <mruby/hash.h>
#include <mruby/presym.h>
#include <mruby/string.h>
#include <mruby/variable.h>
#include <mruby/version.h>

#if MRUBY_RELEASE_NO < 30200
#define CGROUP_DATA_TT MRB_TT_DATA
#else
#define CGROUP_DATA_TT MRB_TT_CDATA
#endif

/* ---- The Ruby surface ------------------------------------------------- */

/*
 * X(Ruby class under Cgroup, cgroup v1 controller, cgroup v2 controller).
 * On v2, CPUACCT's numbers come from the cpu controller and BLKIO's from io;
 * IO exists on v2 only.  V2_CORE: v2 has no freezer controller, every
 * non-root group has cgroup.freeze; such a group is a plain directory in the
 * cgroup2 hierarchy, which libcgroup found for the other controllers.
 */
#define V2_CORE "cgroup"
#define CGROUP_CONTROLLERS(X)                                                                      \
  X(CPU, "cpu", "cpu")                                                                             \
  X(CPUACCT, "cpuacct", "cpu")                                                                     \
  X(CPUSET, "cpuset", "cpuset")                                                                    \
  X(BLKIO, "blkio", "io")                                                                          \
  X(IO, NULL, "io")                                                                                \
  X(MEMORY, "memory", "memory")                                                                    \
  X(PIDS, "pids", "pids")                                                                          \
  X(FREEZER, "freezer", V2_CORE)

/*
 * X(class, Ruby name, kind, access, v1 file, v1 key, v2 file, v2 key, v2 conversion)
 *
 * A NULL file means the attribute does not exist on that cgroup version
 * (Cgroup::Unsupported).  "key" picks one "key value" line of the file.
 * kind:   INT    decimal integer; the kernel's "max" reads as -1
 *         LIMIT  integer where Ruby's -1 is written as "max"
 *         STRING text, one value (trailing newline dropped)
 *         DEVLIMIT  a STRING "MAJ:MIN VALUE" (digits only), checked before writing
 *         FLAG   true/false, written as 1/0
 *         STAT   "key value" lines, read as a Hash of Integers
 *         DEVSTAT "MAJ:MIN key=value ..." lines, a Hash of Hashes
 *         LIST   space separated integers, read as an Array
 * access: RO, WO, RW; RWI is RW plus "copied from the parent on create when
 *         not set" on v1 (a v1 cpuset with empty cpus or mems refuses every
 *         task; on v2 an empty one inherits).
 * v2 conversion (values are staged in v1 form and translated when written
 * or read on v2; see the "cgroup v2 translation" section):
 *         SAME   as is ("-1" is written as "max")
 *         FIELD0, FIELD1  one field of a two-field file (cpu.max)
 *         WEIGHT cpu.shares <-> cpu.weight
 *         USEC   microseconds on v2, nanoseconds in Ruby (read only)
 *         IOMAX  "MAJ:MIN N" <-> the io.max entry named by the v2 key
 *         SWAP   memory+swap <-> memory.swap.X plus memory.X
 * Staged values are written in table order, so a memory limit goes in before
 * the memory+swap limit that must not be lower than it.
 */
#define CGROUP_ATTRIBUTES(X)                                                                       \
  X(CPU, cfs_period_us, INT, RW, "cpu.cfs_period_us", NULL, "cpu.max", NULL, FIELD1)               \
  X(CPU, cfs_quota_us, INT, RW, "cpu.cfs_quota_us", NULL, "cpu.max", NULL, FIELD0)                 \
  X(CPU, rt_period_us, INT, RW, "cpu.rt_period_us", NULL, NULL, NULL, SAME)                        \
  X(CPU, rt_runtime_us, INT, RW, "cpu.rt_runtime_us", NULL, NULL, NULL, SAME)                      \
  X(CPU, shares, INT, RW, "cpu.shares", NULL, "cpu.weight", NULL, WEIGHT)                          \
  X(CPU, raw_stat, STAT, RO, "cpu.stat", NULL, "cpu.stat", NULL, SAME)                             \
  X(CPU, max, STRING, RW, NULL, NULL, "cpu.max", NULL, SAME)                                       \
  X(CPU, weight, INT, RW, NULL, NULL, "cpu.weight", NULL, SAME)                                    \
  X(CPUACCT, usage, INT, RW, "cpuacct.usage", NULL, "cpu.stat", "usage_usec", USEC)                \
  X(CPUACCT, raw_stat, STAT, RO, "cpuacct.stat", NULL, "cpu.stat", NULL, SAME)                     \
  X(CPUACCT, usage_percpu, LIST, RO, "cpuacct.usage_percpu", NULL, NULL, NULL, SAME)               \
  X(CPUSET, cpus, STRING, RWI, "cpuset.cpus", NULL, "cpuset.cpus", NULL, SAME)                     \
  X(CPUSET, mems, STRING, RWI, "cpuset.mems", NULL, "cpuset.mems", NULL, SAME)                     \
  X(CPUSET, effective_cpus, STRING, RO, "cpuset.effective_cpus", NULL, "cpuset.cpus.effective",    \
    NULL, SAME)                                                                                    \
  X(CPUSET, effective_mems, STRING, RO, "cpuset.effective_mems", NULL, "cpuset.mems.effective",    \
    NULL, SAME)                                                                                    \
  X(BLKIO, throttle_read_bps_device, DEVLIMIT, RW, "blkio.throttle.read_bps_device", NULL,         \
    "io.max", "rbps", IOMAX)                                                                       \
  X(BLKIO, throttle_write_bps_device, DEVLIMIT, RW, "blkio.throttle.write_bps_device", NULL,       \
    "io.max", "wbps", IOMAX)                                                                       \
  X(BLKIO, throttle_read_iops_device, DEVLIMIT, RW, "blkio.throttle.read_iops_device", NULL,       \
    "io.max", "riops", IOMAX)                                                                      \
  X(BLKIO, throttle_write_iops_device, DEVLIMIT, RW, "blkio.throttle.write_iops_device", NULL,     \
    "io.max", "wiops", IOMAX)                                                                      \
  X(BLKIO, io_service_bytes, STRING, RO, "blkio.throttle.io_service_bytes", NULL, NULL, NULL,      \
    SAME)                                                                                          \
  X(BLKIO, io_serviced, STRING, RO, "blkio.throttle.io_serviced", NULL, NULL, NULL, SAME)          \
  X(IO, max, STRING, RW, NULL, NULL, "io.max", NULL, SAME)                                         \
  X(IO, weight, INT, RW, NULL, NULL, "io.weight", "default", SAME)                                 \
  X(IO, stat, DEVSTAT, RO, NULL, NULL, "io.stat", NULL, SAME)                                      \
  X(MEMORY, limit_in_bytes, INT, RW, "memory.limit_in_bytes", NULL, "memory.max", NULL, SAME)      \
  X(MEMORY, memsw_limit_in_bytes, INT, RW, "memory.memsw.limit_in_bytes", NULL, "memory.swap.max", \
    NULL, SWAP)                                                                                    \
  X(MEMORY, soft_limit_in_bytes, INT, RW, "memory.soft_limit_in_bytes", NULL, "memory.low", NULL,  \
    SAME)                                                                                          \
  X(MEMORY, swappiness, INT, RW, "memory.swappiness", NULL, NULL, NULL, SAME)                      \
  X(MEMORY, move_charge_at_immigrate, INT, RW, "memory.move_charge_at_immigrate", NULL, NULL,      \
    NULL, SAME)                                                                                    \
  X(MEMORY, oom_control, FLAG, RW, "memory.oom_control", "oom_kill_disable", NULL, NULL, SAME)     \
  X(MEMORY, cgroup_event_control, STRING, WO, "cgroup.event_control", NULL, NULL, NULL, SAME)      \
  X(MEMORY, max, INT, RW, NULL, NULL, "memory.max", NULL, SAME)                                    \
  X(MEMORY, high, INT, RW, NULL, NULL, "memory.high", NULL, SAME)                                  \
  X(MEMORY, low, INT, RW, NULL, NULL, "memory.low", NULL, SAME)                                    \
  X(MEMORY, min, INT, RW, NULL, NULL, "memory.min", NULL, SAME)                                    \
  X(MEMORY, swap_max, INT, RW, NULL, NULL, "memory.swap.max", NULL, SAME)                          \
  X(MEMORY, usage_in_bytes, INT, RO, "memory.usage_in_bytes", NULL, "memory.current", NULL, SAME)  \
  X(MEMORY, max_usage_in_bytes, INT, RO, "memory.max_usage_in_bytes", NULL, "memory.peak", NULL,   \
    SAME)                                                                                          \
  X(MEMORY, memsw_usage_in_bytes, INT, RO, "memory.memsw.usage_in_bytes", NULL,                    \
    "memory.swap.current", NULL, SWAP)                                                             \
  X(MEMORY, memsw_max_usage_in_bytes, INT, RO, "memory.memsw.max_usage_in_bytes", NULL, NULL,      \
    NULL, SAME)                                                                                    \
  X(MEMORY, failcnt, INT, RO, "memory.failcnt", NULL, "memory.events", "max", SAME)                \
  X(MEMORY, oom_kill_count, INT, RO, "memory.oom_control", "oom_kill", "memory.events",            \
    "oom_kill", SAME)                                                                              \
  X(MEMORY, current, INT, RO, NULL, NULL, "memory.current", NULL, SAME)                            \
  X(MEMORY, peak, INT, RO, NULL, NULL, "memory.peak", NULL, SAME)                                  \
  X(MEMORY, raw_events, STAT, RO, NULL, NULL, "memory.events", NULL, SAME)                         \
  X(MEMORY, raw_stat, STAT, RO, "memory.stat", NULL, "memory.stat", NULL, SAME)                    \
  X(PIDS, max, LIMIT, RW, "pids.max", NULL, "pids.max", NULL, SAME)                                \
  X(PIDS, current, INT, RO, "pids.current", NULL, "pids.current", NULL, SAME)                      \
  X(PIDS, events, STAT, RO, "pids.events", NULL, "pids.events", NULL, SAME)

enum controller_id {
#define CONTROLLER_ENUM(klass, v1, v2) CTL_##klass,
  CGROUP_CONTROLLERS(CONTROLLER_ENUM) CTL_COUNT
#undef CONTROLLER_ENUM
};

enum attribute_id {
#define ATTRIBUTE_ENUM(klass, rname, kind, access, f1, k1, f2, k2, conv) ATTR_##klass##_##rname,
  CGROUP_ATTRIBUTES(ATTRIBUTE_ENUM) ATTR_COUNT
#undef ATTRIBUTE_ENUM
};

enum value_kind {
  KIND_INT,
  KIND_LIMIT,
  KIND_STRING,
  KIND_DEVLIMIT,
  KIND_FLAG,
  KIND_STAT,
  KIND_DEVSTAT,
  KIND_LIST
};

enum v2_conversion { V2_SAME, V2_FIELD0, V2_FIELD1, V2_WEIGHT, V2_USEC, V2_IOMAX, V2_SWAP };

enum access {
  ACCESS_RO = 1,
  ACCESS_WO = 2,
  ACCESS_RW = ACCESS_RO | ACCESS_WO,
  ACCESS_RWI = ACCESS_RW | 4,
};
#define ACCESS_INHERIT 4

struct attribute {
  enum controller_id controller;
  const char *name;
  enum value_kind kind;
  enum access access;
  const char *file[2]; /* [0] on cgroup v1, [1] on v2 */
  const char *key[2];
  enum v2_conversion conversion;
  mrb_func_t reader;
  mrb_func_t writer;
};

/* The kernel's controller names, [0] on cgroup v1, [1] on v2. */
static const char *const controller_names[CTL_COUNT][2] = {
#define CONTROLLER_NAME(klass, v1, v2) {v1, v2},
    CGROUP_CONTROLLERS(CONTROLLER_NAME)
#undef CONTROLLER_NAME
};

/* ---- Descriptors kept across calls ----------------------------------- */

/*
 * A descriptor kept open, with the identity of the file it was opened on.
 * The program may close it behind the gem's back (daemons close every
 * descriptor) and the number be reused for another file, which must then be
 * neither used nor closed: every use checks the identity first (an fstat,
 * a fraction of what keeping the descriptor saves).
 */
struct kept_fd {
  int fd; /* -1: none */
  dev_t dev;
  ino_t ino;
};

/* Keep fd (closed if its identity cannot be read); FALSE if none is kept. */
static mrb_bool
kept_adopt(struct kept_fd *kept, int fd)
{
  struct stat st;

  kept->fd = fd;
  if (fd < 0) return FALSE;
  if (fstat(fd, &st) != 0) {
    close(fd);
    kept->fd = -1;
    return FALSE;
  }
  kept->dev = st.st_dev;
  kept->ino = st.st_ino;
  return TRUE;
}

static void
kept_open(struct kept_fd *kept, const char *path, int flags)
{
  kept_adopt(kept, open(path, flags | O_CLOEXEC));
}

static mrb_bool
kept_valid(const struct kept_fd *kept)
{
  struct stat st;

  return kept->fd >= 0 && fstat(kept->fd, &st) == 0 && st.st_dev == kept->dev &&
         st.st_ino == kept->ino;
}

/* Closes the descriptor only while it is still the one that was opened. */
static void
kept_close(struct kept_fd *kept)
{
  if (kept_valid(kept)) close(kept->fd);
  kept->fd = -1;
}

/*
 * A group file kept open for the per-request path: values and tasks moves
 * written, settings and counters read, each with one pwrite or pread instead
 * of open, write or read, and close.  The kernel checks permission when a
 * cgroup file is opened, not when it is used, so a descriptor is used only
 * under the effective user and group that opened it: a program that drops
 * privileges keeps no power it would not have.
 */
struct kept_group_file {
  char *path; /* the file's full path (mrb_malloc'd); NULL: slot free */
  int flags;  /* O_RDONLY or O_WRONLY */
  struct kept_fd file;
  uid_t euid;
  gid_t egid;
  unsigned long used; /* when it was last used, for eviction */
};

/*
 * What the gem keeps open, per mrb_state (a state runs on one thread at a
 * time) and closed with it:
 * - each used controller's mount directory (O_PATH): files opened relative
 *   to it skip the walk from / through three mounts, 1.3 us of the 12 us a
 *   cgroup write costs here;
 * - /proc/PID/cgroup of the last few tasks attach looked at (once, twice
 *   for another process): a pread from offset 0 makes the kernel render it
 *   afresh for 4 us, where open/read/close costs 10 us.  A descriptor is
 *   bound to its task, not to the number: once the task is reaped pread
 *   fails with ESRCH and the pid is opened anew, so a reused pid is never
 *   read as the old task;
 * - the group files used most recently by modify, attach, detach and the
 *   attribute readers (least recently used goes first): open and close are
 *   two thirds of the cost of a write.  A removed group's file fails with
 *   ENODEV, and is then opened anew (a group made again under the same name
 *   is a new file).
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
};

static void
group_file_forget(mrb_state *mrb, struct kept_group_file *g)
{
  kept_close(&g->file);
  mrb_free(mrb, g->path);
  g->path = NULL;
  g->used = 0; /* a free slot is taken first */
}

static void
kept_files_free(mrb_state *mrb, void *p)
{
  struct kept_files *kept = (struct kept_files *)p;
  int i;

  for (i = 0; i < CTL_COUNT; i++) kept_close(&kept->mount_dir[i]);
  for (i = 0; i < KEPT_PROC_FILES; i++) kept_close(&kept->proc[i]);
  for (i = 0; i < KEPT_GROUP_FILES; i++) group_file_forget(mrb, &kept->group_file[i]);
  mrb_free(mrb, kept->buf);
  mrb_free(mrb, kept);
}

static const struct mrb_data_type kept_files_type = {"Cgroup kept files", kept_files_free};

/* Kept in an ivar of the Cgroup module that Ruby cannot name. */
static void
kept_files_init(mrb_state *mrb, struct RClass *cgroup)
{
  struct kept_files *kept = (struct kept_files *)mrb_calloc(mrb, 1, sizeof *kept);
  int i;

  for (i = 0; i < CTL_COUNT; i++) kept->mount_dir[i].fd = -1;
  for (i = 0; i < KEPT_PROC_FILES; i++) kept->proc[i].fd = -1;
  for (i = 0; i < KEPT_GROUP_FILES; i++) kept->group_file[i].file.fd = -1;
  mrb_iv_set(mrb, mrb_obj_value(cgroup), MRB_SYM(kept_files),
             mrb_obj_value(mrb_data_object_alloc(mrb, NULL, kept, &kept_files_type)));
}

static struct kept_files *
kept_files_of(mrb_state *mrb)
{
  mrb_value cgroup = mrb_obj_value(mrb_module_get_id(mrb, MRB_SYM(Cgroup)));

  return (struct kept_files *)mrb_data_get_ptr(mrb, mrb_iv_get(mrb, cgroup, MRB_SYM(kept_files)),
                                               &kept_files_type);
}

/* ---- libcgroup set-up, once per process ------------------------------- */

static pthread_once_t library_once = PTHREAD_ONCE_INIT;
static int library_status;
static char *mount_points[CTL_COUNT]; /* NULL: not available here */
static int versions[CTL_COUNT];       /* 1 or 2; 0: not available */

static mrb_bool
is_cgroup2(const char *mount)
{
  struct statfs fs;

  return statfs(mount, &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC;
}

/* Where libcgroup found the controller, if it is of the wanted version. */
static char *
find_mount(const char *controller, int version)
{
  char *mount = NULL;

  if (!controller || cgroup_get_subsys_mount_point(controller, &mount) != 0) return NULL;
  if (is_cgroup2(mount) == (version == 2)) return mount;
  free(mount);
  return NULL;
}

/*
 * cgroup_init parses the mount table (hundreds of microseconds): do it, and
 * find each controller's mount and cgroup version, once per process, on
 * first use.  A controller mounted as v1 is served by v1 (hybrid hosts keep
 * most controllers there); otherwise by the cgroup2 hierarchy if it has it.
 */
static void
library_init(void)
{
  int i, v;

  library_status = cgroup_init();
  if (library_status != 0) return;
  for (i = 0; i < CTL_COUNT; i++) {
    for (v = 1; v <= 2 && !mount_points[i]; v++) {
      mount_points[i] = find_mount(controller_names[i][v - 1], v);
      if (mount_points[i]) versions[i] = v;
    }
  }
  for (i = 0; i < CTL_COUNT; i++) { /* core files: wherever v2 serves a controller */
    if (mount_points[i] || !controller_names[i][1] || strcmp(controller_names[i][1], V2_CORE) != 0)
      continue;
    for (v = 0; v < CTL_COUNT && !mount_points[i]; v++) {
      if (versions[v] == 2) mount_points[i] = strdup(mount_points[v]);
    }
    if (mount_points[i]) versions[i] = 2;
  }
}

/* The kernel's name for a controller on the version that serves it. */
static const char *
kernel_controller(enum controller_id id)
{
  const char *v1 = controller_names[id][0];

  return versions[id] == 2 || !v1 ? controller_names[id][1] : v1;
}

static mrb_bool
on_v2(enum controller_id id)
{
  return versions[id] == 2;
}

/* Served by v2's core files rather than by a controller (FREEZER on v2). */
static mrb_bool
is_core(enum controller_id id)
{
  return on_v2(id) && strcmp(controller_names[id][1], V2_CORE) == 0;
}

/* An attribute's file on the version serving its controller (NULL: none). */
static const char *
attr_file(const struct attribute *attr)
{
  return attr->file[on_v2(attr->controller)];
}

static const char *
attr_key(const struct attribute *attr)
{
  return attr->key[on_v2(attr->controller)];
}

/* ---- One C context per Ruby object ------------------------------------ */

struct attachment {
  pid_t pid;
  char *previous; /* the group the task was in before attach (malloc) */
};

struct cgroup_ctx {
  enum controller_id controller;
  char *staged[ATTR_COUNT]; /* values set from Ruby, not yet written */
  struct attachment *attached;
  int attached_count;
  struct kept_files *kept; /* this state's kept files, looked up on first use */
  char path[];             /* normalised group path, "/" for the root */
};

static const struct attribute attributes[ATTR_COUNT];

static struct kept_files *
kept_files(mrb_state *mrb, struct cgroup_ctx *ctx)
{
  if (!ctx->kept) ctx->kept = kept_files_of(mrb);
  return ctx->kept;
}

static void
ctx_free(mrb_state *mrb, void *p)
{
  struct cgroup_ctx *ctx = (struct cgroup_ctx *)p;
  int i;

  if (!ctx) return;
  for (i = 0; i < ATTR_COUNT; i++) {
    if (!ctx->staged[i]) continue;
    /* A limit that was set but never written must not pass silently. */
    fprintf(stderr,
            "mruby-cgroup: warning: %s:%s: %s = %s was set but never written "
            "(call modify or create)\n",
            kernel_controller(ctx->controller), ctx->path, attributes[i].name, ctx->staged[i]);
    mrb_free(mrb, ctx->staged[i]);
  }
  for (i = 0; i < ctx->attached_count; i++) {
    free(ctx->attached[i].previous);
  }
  mrb_free(mrb, ctx->attached);
  mrb_free(mrb, ctx);
}

static const struct mrb_data_type ctx_type = {"Cgroup", ctx_free};

static struct cgroup_ctx *
get_ctx(mrb_state *mrb, mrb_value self)
{
  struct cgroup_ctx *ctx = (struct cgroup_ctx *)mrb_data_get_ptr(mrb, self, &ctx_type);

  if (!ctx) {
    mrb_raisef(mrb, E_TYPE_ERROR, "uninitialized %s (initialize was not called)",
               mrb_obj_classname(mrb, self));
  }
  return ctx;
}

/* ---- Errors ----------------------------------------------------------- */

/* The errno behind a libcgroup return code (0 when there is none). */
static int
errno_of(int ret)
{
  switch (ret) {
  case 0: return 0;
  case ECGOTHER:
  case ECGCANTSETVALUE: return cgroup_get_last_errno();
  case ECGROUPNOTEXIST: return ENOENT;
  case ECGROUPNOTOWNER:
  case ECGROUPNOTALLOWED: return EPERM;
  case ECGROUPNOTMOUNTED:
  case ECGROUPSUBSYSNOTMOUNTED:
  case ECGROUPUNSUPP:
  case ECGROUPVALUENOTEXIST: return EOPNOTSUPP;
  case ECGNONEMPTY: return EBUSY;
  case ECGINVAL: return EINVAL;
  default: return ret < ECGROUPNOTCOMPILED ? ret : 0;
  }
}

static const char *
error_class_for(int err)
{
  switch (err) {
  case ENOENT:
  case ESRCH:
  case ENODEV: return "NotFound"; /* ENODEV: a device that does not exist (blkio, io.max) */
  case EPERM:
  case EACCES:
  case EROFS: return "PermissionDenied";
  case EINVAL:
  case ERANGE:
  case EOVERFLOW: return "InvalidValue";
  case EBUSY:
  case ENOTEMPTY: return "Busy";
  case ENOSYS:
  case EOPNOTSUPP: return "Unsupported";
  case ETIMEDOUT: return "Timeout";
  default: return "Error";
  }
}

/*
 * A Cgroup::<class> exception with a message naming the group, the file and
 * the value, and the same facts in @errno, @controller, @group, @file and
 * @value.  cls NULL picks the class from err; reason NULL uses strerror(err).
 */
static mrb_value
make_error(mrb_state *mrb, const char *cls, int err, enum controller_id controller,
           const char *group, const char *action, const char *file, const char *value,
           const char *reason)
{
  struct RClass *module = mrb_module_get(mrb, "Cgroup");
  mrb_value msg, exc;

  if (!cls) cls = error_class_for(err);
  if (!reason) reason = err ? strerror(err) : "failed";
  msg =
      mrb_format(mrb, "%s:%s: %s%s%s%s%s: %s", kernel_controller(controller), group, action,
                 file ? " " : "", file ? file : "", value ? " = " : "", value ? value : "", reason);
  exc = mrb_exc_new_str(mrb, mrb_class_get_under(mrb, module, cls), msg);
  mrb_iv_set(mrb, exc, MRB_IVSYM(errno), mrb_int_value(mrb, err));
  mrb_iv_set(mrb, exc, MRB_IVSYM(controller), mrb_str_new_cstr(mrb, kernel_controller(controller)));
  mrb_iv_set(mrb, exc, MRB_IVSYM(group), mrb_str_new_cstr(mrb, group));
  mrb_iv_set(mrb, exc, MRB_IVSYM(file), file ? mrb_str_new_cstr(mrb, file) : mrb_nil_value());
  mrb_iv_set(mrb, exc, MRB_IVSYM(value), value ? mrb_str_new_cstr(mrb, value) : mrb_nil_value());
  mrb_iv_set(mrb, exc, MRB_IVSYM(written), mrb_ary_new(mrb));
  return exc;
}

static mrb_noreturn void
raise_error(mrb_state *mrb, const char *cls, int err, enum controller_id controller,
            const char *group, const char *action, const char *file, const char *value,
            const char *reason)
{
  mrb_exc_raise(mrb, make_error(mrb, cls, err, controller, group, action, file, value, reason));
}

/* Raise for a failed libcgroup call on ctx's group. */
static mrb_noreturn void
raise_libcgroup(mrb_state *mrb, struct cgroup_ctx *ctx, int ret, const char *action,
                const char *file, const char *value)
{
  int err = errno_of(ret);

  raise_error(mrb, NULL, err, ctx->controller, ctx->path, action, file, value,
              err ? NULL : cgroup_strerror(ret));
}

/* Make sure libcgroup is initialised and ctx's controller is mounted. */
static const char *
require_mount(mrb_state *mrb, struct cgroup_ctx *ctx)
{
  pthread_once(&library_once, library_init);
  if (library_status != 0) {
    raise_error(mrb, "Unsupported", 0, ctx->controller, ctx->path, "initialise libcgroup", NULL,
                NULL, cgroup_strerror(library_status));
  }
  if (!mount_points[ctx->controller]) {
    raise_error(mrb, "Unsupported", ENODEV, ctx->controller, ctx->path, "find controller", NULL,
                NULL, "controller is not mounted");
  }
  return mount_points[ctx->controller];
}

/* ---- Group names ------------------------------------------------------ */

/* A C string for an error message: the text itself, or its inspect form
 * when it holds NUL or other control characters. */
static mrb_bool
has_control_chars(mrb_value str)
{
  const char *p = RSTRING_PTR(str);
  mrb_int i;

  for (i = 0; i < RSTRING_LEN(str); i++) {
    if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f) return TRUE;
  }
  return FALSE;
}

static const char *
printable(mrb_state *mrb, mrb_value str)
{
  return RSTRING_CSTR(mrb, has_control_chars(str) ? mrb_inspect(mrb, str) : str);
}

/*
 * Check a group name and write its normalised form ("/a/b", or "/" for the
 * root) to out.  Names are paths below the controller's mount: no "." or
 * ".." segments, no empty segments, no control characters, so that nothing
 * can point outside the cgroup tree.
 */
static void
normalise_name(mrb_state *mrb, enum controller_id controller, mrb_value name, char *out,
               size_t size)
{
  const char *s = RSTRING_PTR(name), *end = s + RSTRING_LEN(name), *seg;
  const char *why = NULL;
  size_t n = 0;

  if (s < end && *s == '/') s++;
  if (end - s >= 2 && end[-1] == '/' && end[-2] != '/') end--; /* "/a/b/" is "/a/b" */
  if (s == end && RSTRING_LEN(name) > 0) {                     /* "/" */
    strcpy(out, "/");
    return;
  }
  while (!why) {
    for (seg = s; s < end && *s != '/'; s++) {
      if ((unsigned char)*s < 0x20 || *s == 0x7f) why = "control character in name";
    }
    if (why) break;
    if (s == seg)
      why = "empty segment in name";
    else if ((s - seg == 1 && seg[0] == '.') || (s - seg == 2 && seg[0] == '.' && seg[1] == '.'))
      why = "'.' and '..' are not allowed in names";
    else if (s - seg > NAME_MAX)
      why = "name segment longer than 255 bytes";
    else if (n + 1 + (size_t)(s - seg) >= size)
      why = "name too long";
    if (why) break;
    out[n++] = '/';
    memcpy(out + n, seg, s - seg);
    n += s - seg;
    out[n] = '\0';
    if (s == end) return;
    s++; /* the slash */
  }
  raise_error(mrb, "InvalidValue", EINVAL, controller, printable(mrb, name), "name", NULL, NULL,
              why);
}

/* ---- Kernel I/O ------------------------------------------------------- */

static struct cgroup *
new_libcgroup(struct cgroup_ctx *ctx, const char *path)
{
  struct cgroup *cg = cgroup_new_cgroup(path);

  if (cg && !cgroup_add_controller(cg, kernel_controller(ctx->controller))) cgroup_free(&cg);
  return cg;
}

/* Where a group (file NULL), or one of its files, is in the file system;
 * FALSE when that does not fit in PATH_MAX. */
static mrb_bool
mount_path(mrb_state *mrb, struct cgroup_ctx *ctx, const char *path, const char *file,
           char full[PATH_MAX])
{
  const char *mount = require_mount(mrb, ctx);
  int n = file ? snprintf(full, PATH_MAX, "%s%s/%s", mount, path, file)
               : snprintf(full, PATH_MAX, "%s%s", mount, path);

  return n < PATH_MAX;
}

static mrb_bool
path_exists(mrb_state *mrb, struct cgroup_ctx *ctx, const char *path)
{
  char full[PATH_MAX];
  struct stat st;

  return mount_path(mrb, ctx, path, NULL, full) && stat(full, &st) == 0 && S_ISDIR(st.st_mode);
}

static void
require_group(mrb_state *mrb, struct cgroup_ctx *ctx, const char *action)
{
  if (!path_exists(mrb, ctx, ctx->path)) {
    raise_error(mrb, "NotFound", ENOENT, ctx->controller, ctx->path, action, NULL, NULL,
                "no such group");
  }
}

/* Open the file at full (a path under ctx's mount) relative to the mount's
 * directory this state keeps open; -1 and errno on failure. */
static int
open_under_mount(mrb_state *mrb, struct cgroup_ctx *ctx, const char *full, int flags)
{
  struct kept_fd *dir = &kept_files(mrb, ctx)->mount_dir[ctx->controller];
  const char *relative = full + strlen(mount_points[ctx->controller]);

  while (*relative == '/') relative++;
  if (!kept_valid(dir)) {
    kept_close(dir);
    kept_open(dir, mount_points[ctx->controller], O_PATH | O_DIRECTORY);
  }
  if (!*relative || dir->fd < 0) return open(full, flags | O_CLOEXEC);
  return openat(dir->fd, relative, flags | O_CLOEXEC);
}

/* Open a file of the group at path; -1 and errno on failure. */
static int
open_in_mount(mrb_state *mrb, struct cgroup_ctx *ctx, const char *path, const char *file, int flags)
{
  char full[PATH_MAX];

  if (!mount_path(mrb, ctx, path, file, full)) {
    errno = ENAMETOOLONG;
    return -1;
  }
  return open_under_mount(mrb, ctx, full, flags);
}

/* An operation on a group file's descriptor; 0 or an errno. */
typedef int (*file_op)(mrb_state *mrb, int fd, void *arg);

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

/* The slot for the file at full opened with flags: the one that keeps it,
 * else the least recently used one, emptied. */
static struct kept_group_file *
group_file_slot(mrb_state *mrb, struct kept_files *files, const char *full, int flags)
{
  struct kept_group_file *oldest = &files->group_file[0];
  int i;

  for (i = 0; i < KEPT_GROUP_FILES; i++) {
    struct kept_group_file *g = &files->group_file[i];
    if (g->path && g->flags == flags && strcmp(g->path, full) == 0) return g;
    if (g->used < oldest->used) oldest = g;
  }
  group_file_forget(mrb, oldest);
  return oldest;
}

static mrb_bool
group_file_usable(const struct kept_group_file *g)
{
  return g->path && g->euid == geteuid() && g->egid == getegid() && kept_valid(&g->file);
}

/* Run op on the group file at full through a kept descriptor. */
static int
kept_file_op(mrb_state *mrb, struct cgroup_ctx *ctx, const char *full, int flags, file_op op,
             void *arg)
{
  struct kept_files *files = kept_files(mrb, ctx);
  struct kept_group_file *g = group_file_slot(mrb, files, full, flags);
  size_t size = strlen(full) + 1;
  int fd, err = ENODEV;

  if (group_file_usable(g)) err = op(mrb, g->file.fd, arg);
  if (err == ENODEV) { /* none kept, or its group was removed since: open anew */
    group_file_forget(mrb, g);
    if ((fd = open_under_mount(mrb, ctx, full, flags)) < 0) return errno;
    if (!kept_adopt(&g->file, fd)) return EIO; /* no identity to check it by: closed */
    g->flags = flags;
    g->euid = geteuid();
    g->egid = getegid();
    g->path = (char *)memcpy(mrb_malloc(mrb, size), full, size); /* may raise: fd is kept */
    err = op(mrb, fd, arg);
  }
  g->used = ++files->clock;
  return err;
}

/* Run op on the file at full, opened for it alone. */
static int
file_op_once(mrb_state *mrb, struct cgroup_ctx *ctx, const char *full, int flags, file_op op,
             void *arg)
{
  int fd = open_under_mount(mrb, ctx, full, flags), err;

  if (fd < 0) return errno;
  err = op(mrb, fd, arg);
  if (close(fd) != 0 && !err) err = errno;
  return err;
}

/* Close the kept files of the group at path and of the groups below it. */
static void
forget_group_files_under(mrb_state *mrb, struct cgroup_ctx *ctx, const char *path)
{
  struct kept_files *files = kept_files(mrb, ctx);
  char full[PATH_MAX];
  size_t len;
  int i;

  if (!mount_path(mrb, ctx, path, NULL, full)) return;
  len = strlen(full);
  for (i = 0; i < KEPT_GROUP_FILES; i++) {
    struct kept_group_file *g = &files->group_file[i];
    if (g->path && strncmp(g->path, full, len) == 0 && g->path[len] == '/')
      group_file_forget(mrb, g);
  }
}

/* How often a file is used: FILE_OFTEN keeps its descriptor open. */
enum file_use { FILE_ONCE, FILE_OFTEN };

/* Run op on a file of the group at path; 0 or an errno.  A file missing
 * from an existing group is one this kernel or cgroup version lacks. */
static int
group_file_op(mrb_state *mrb, struct cgroup_ctx *ctx, const char *path, const char *file, int flags,
              enum file_use use, file_op op, void *arg)
{
  char full[PATH_MAX];
  int err;

  if (!mount_path(mrb, ctx, path, file, full))
    err = ENAMETOOLONG;
  else if (use == FILE_OFTEN)
    err = kept_file_op(mrb, ctx, full, flags, op, arg);
  else
    err = file_op_once(mrb, ctx, full, flags, op, arg);
  if (err == ENOENT && path_exists(mrb, ctx, path)) err = EOPNOTSUPP;
  return err;
}

/*
 * The whole content of a cgroup file of the group at path, as a String,
 * read straight from the file under the mount libcgroup found, as values
 * are written: libcgroup's read_value goes through stdio line by line (and
 * has no controller for v2's core files), 6 us more per MEMORY#stat here.
 */
static mrb_value
kernel_read(mrb_state *mrb, struct cgroup_ctx *ctx, const char *path, const char *file,
            enum file_use use)
{
  mrb_value text = mrb_str_new_capa(mrb, 64);
  int err = group_file_op(mrb, ctx, path, file, O_RDONLY, use, read_text, &text);

  if (err == EOPNOTSUPP) {
    raise_error(mrb, "Unsupported", err, ctx->controller, path, "read", file, NULL,
                "this kernel has no such file");
  }
  if (err) raise_error(mrb, NULL, err, ctx->controller, path, "read", file, NULL, NULL);
  return text;
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
             const char *value, enum file_use use)
{
  struct text t = {value, strlen(value)};

  if (t.len == 0) t.s = "\n", t.len = 1; /* an empty write would not reach the kernel */
  return group_file_op(mrb, ctx, path, file, O_WRONLY, use, write_text, &t);
}

static const char *v1_to_v2(mrb_state *mrb, struct cgroup_ctx *ctx, const struct attribute *attr,
                            const char *text);

struct staged_value {
  struct cgroup_ctx *ctx;
  const struct attribute *attr;
  const char *value;
};

/* The text to write on v2 for a staged value, as a String. */
static mrb_value
translate_staged(mrb_state *mrb, void *p)
{
  struct staged_value *sv = (struct staged_value *)p;

  return mrb_str_new_cstr(mrb, v1_to_v2(mrb, sv->ctx, sv->attr, sv->value));
}

/* Raise exc, listing in its #written the attributes written before it. */
static mrb_noreturn void
raise_after_written(mrb_state *mrb, mrb_value exc, const int *written, int count)
{
  if (count > 0) {
    mrb_value names = mrb_ary_new_capa(mrb, count);
    int i;
    for (i = 0; i < count; i++) {
      mrb_ary_push(mrb, names, mrb_str_new_cstr(mrb, attributes[written[i]].name));
    }
    mrb_iv_set(mrb, exc, MRB_IVSYM(written), names);
  }
  mrb_exc_raise(mrb, exc);
}

/*
 * Write every staged value, in table order.  Each is written on its own so
 * that a refusal names its file; values written before it are no longer
 * staged (the error lists them in #written), the refused one and those after
 * it stay staged.
 */
static void
write_staged(mrb_state *mrb, struct cgroup_ctx *ctx)
{
  mrb_value exc = mrb_nil_value();
  int i, err, written[ATTR_COUNT], written_count = 0;

  for (i = 0; i < ATTR_COUNT; i++) {
    const struct attribute *attr = &attributes[i];
    char *value = ctx->staged[i];
    const char *text = value;
    mrb_bool failed = FALSE;
    if (!value) continue;
    if (on_v2(ctx->controller)) { /* v1 writes the staged text as it is */
      exc = mrb_protect_error(mrb, translate_staged,
                              (void *)&(struct staged_value){ctx, attr, value}, &failed);
      if (!failed) text = RSTRING_PTR(exc);
    }
    if (!failed && (err = kernel_write(mrb, ctx, ctx->path, attr_file(attr), text, FILE_OFTEN))) {
      exc = make_error(mrb, NULL, err, ctx->controller, ctx->path, "write", attr_file(attr), text,
                       NULL);
      failed = TRUE;
    }
    if (failed) raise_after_written(mrb, exc, written, written_count);
    written[written_count++] = i; /* Ruby names for them only if one fails */
    ctx->staged[i] = NULL;
    mrb_free(mrb, value);
  }
}

/* ---- Values: kernel text <-> Ruby ------------------------------------- */

/* Parse a decimal integer (or "max" = -1) from [s, end); FALSE if not one. */
static mrb_bool
parse_integer(mrb_state *mrb, const char *s, const char *end, mrb_value *out)
{
  char buf[32], *stop;
  size_t len = end - s;
  long long v;

  if (len == 3 && memcmp(s, "max", 3) == 0) {
    *out = mrb_int_value(mrb, -1);
    return TRUE;
  }
  if (len == 0 || len >= sizeof buf) return FALSE;
  memcpy(buf, s, len);
  buf[len] = '\0';
  errno = 0;
  v = strtoll(buf, &stop, 10);
  if (*stop != '\0') return FALSE;
  if (errno == ERANGE) {
#ifndef MRB_NO_FLOAT
    /* counters above 2**63 (u64 "unlimited" values) */
    *out = mrb_float_value(mrb, (mrb_float)strtoull(buf, NULL, 10));
    return TRUE;
#else
    return FALSE;
#endif
  }
  *out = mrb_int_value(mrb, (mrb_int)v);
  return TRUE;
}

static mrb_noreturn void
raise_unexpected(mrb_state *mrb, struct cgroup_ctx *ctx, const struct attribute *attr,
                 const char *text)
{
  raise_error(mrb, "Error", 0, ctx->controller, ctx->path, "parse", attr_file(attr), text,
              "unexpected content");
}

static const char *
skip_blanks(const char *s, const char *end)
{
  while (s < end && (*s == ' ' || *s == '\t' || *s == '\n')) s++;
  return s;
}

static const char *
token_end(const char *s, const char *end)
{
  while (s < end && *s != ' ' && *s != '\t' && *s != '\n') s++;
  return s;
}

/* The value after "key " on one of the lines of [s, end), or NULL. */
static const char *
find_key(const char *s, const char *end, const char *key, const char **value_end)
{
  size_t klen = strlen(key);

  while (s < end) {
    const char *eol = memchr(s, '\n', end - s);
    if (!eol) eol = end;
    if ((size_t)(eol - s) > klen && memcmp(s, key, klen) == 0 && s[klen] == ' ') {
      *value_end = eol;
      return s + klen + 1;
    }
    s = eol + 1;
  }
  return NULL;
}

static mrb_value
stat_to_hash(mrb_state *mrb, struct cgroup_ctx *ctx, const struct attribute *attr, const char *text,
             const char *end)
{
  mrb_value hash = mrb_hash_new(mrb), num;
  const char *s = skip_blanks(text, end);

  while (s < end) {
    const char *key_end = token_end(s, end);
    const char *v = skip_blanks(key_end, end), *v_end = token_end(v, end);
    if (!parse_integer(mrb, v, v_end, &num)) raise_unexpected(mrb, ctx, attr, text);
    mrb_hash_set(mrb, hash, mrb_str_new(mrb, s, key_end - s), num);
    s = skip_blanks(v_end, end);
  }
  return hash;
}

/* "MAJ:MIN key=value ..." lines (io.stat) as {"MAJ:MIN" => {"key" => value}} */
static mrb_value
devstat_to_hash(mrb_state *mrb, struct cgroup_ctx *ctx, const struct attribute *attr,
                const char *text, const char *end)
{
  mrb_value devices = mrb_hash_new(mrb), num;
  const char *s = skip_blanks(text, end);

  while (s < end) {
    const char *eol = memchr(s, '\n', end - s), *dev_end = token_end(s, end);
    mrb_value stats = mrb_hash_new(mrb);
    if (!eol) eol = end;
    mrb_hash_set(mrb, devices, mrb_str_new(mrb, s, dev_end - s), stats);
    for (s = skip_blanks(dev_end, eol); s < eol; s = skip_blanks(s, eol)) {
      const char *tok_end = token_end(s, eol), *eq = memchr(s, '=', tok_end - s);
      if (!eq || !parse_integer(mrb, eq + 1, tok_end, &num)) raise_unexpected(mrb, ctx, attr, text);
      mrb_hash_set(mrb, stats, mrb_str_new(mrb, s, eq - s), num);
      s = tok_end;
    }
    s = skip_blanks(eol, end);
  }
  return devices;
}

static mrb_value
list_to_array(mrb_state *mrb, struct cgroup_ctx *ctx, const struct attribute *attr,
              const char *text, const char *end)
{
  mrb_value ary = mrb_ary_new(mrb), num;
  const char *s = skip_blanks(text, end);

  while (s < end) {
    const char *v_end = token_end(s, end);
    if (!parse_integer(mrb, s, v_end, &num)) raise_unexpected(mrb, ctx, attr, text);
    mrb_ary_push(mrb, ary, num);
    s = skip_blanks(v_end, end);
  }
  return ary;
}

/* Convert the text of a cgroup file (or of a staged value) to Ruby. */
static mrb_value
text_to_value(mrb_state *mrb, struct cgroup_ctx *ctx, const struct attribute *attr,
              const char *text, size_t len)
{
  const char *end = text + len;
  mrb_value num;

  while (end > text && end[-1] == '\n') end--;
  switch (attr->kind) {
  case KIND_STRING:
  case KIND_DEVLIMIT: return mrb_str_new(mrb, text, end - text);
  case KIND_STAT: return stat_to_hash(mrb, ctx, attr, text, end);
  case KIND_DEVSTAT: return devstat_to_hash(mrb, ctx, attr, text, end);
  case KIND_LIST: return list_to_array(mrb, ctx, attr, text, end);
  default: break;
  }
  if (!parse_integer(mrb, text, end, &num)) raise_unexpected(mrb, ctx, attr, text);
  if (attr->kind == KIND_FLAG) return mrb_bool_value(!mrb_integer_p(num) || mrb_integer(num) != 0);
  return num;
}

static const char *
skip_digits(const char *s)
{
  const char *start = s;

  while (*s >= '0' && *s <= '9') s++;
  return s > start ? s : NULL;
}

/* "MAJ:MIN VALUE", all digits, single spaces: one device, one value. */
static mrb_bool
is_device_limit(const char *s)
{
  return (s = skip_digits(s)) && *s++ == ':' && (s = skip_digits(s)) && *s++ == ' ' &&
         (s = skip_digits(s)) && *s == '\0';
}

/* The text to write for a Ruby value; raises TypeError, RangeError or
 * InvalidValue. */
static char *
value_to_text(mrb_state *mrb, struct cgroup_ctx *ctx, const struct attribute *attr, mrb_value v)
{
  char buf[32];
  const char *text = buf;
  size_t len;

  switch (attr->kind) {
  case KIND_FLAG:
    if (!mrb_true_p(v) && !mrb_false_p(v)) goto type_error;
    text = mrb_true_p(v) ? "1" : "0";
    break;
  case KIND_STRING:
  case KIND_DEVLIMIT:
    if (!mrb_string_p(v)) goto type_error;
    text = printable(mrb, v);
    if (has_control_chars(v)) { /* one value: no NUL, no second line */
      raise_error(mrb, "InvalidValue", EINVAL, ctx->controller, ctx->path, "set", attr_file(attr),
                  text, "control character in value");
    }
    if (attr->kind == KIND_DEVLIMIT && !is_device_limit(text)) {
      raise_error(mrb, "InvalidValue", EINVAL, ctx->controller, ctx->path, "set", attr_file(attr),
                  text, "expected \"MAJ:MIN VALUE\" in digits");
    }
    break;
  default:
    if (!mrb_integer_p(v)) {
      if (!mrb_obj_is_kind_of(mrb, v, mrb->integer_class)) goto type_error;
      mrb_raisef(mrb, E_RANGE_ERROR, "%s: %v is beyond 64 bits", attr->name, v);
    }
    if (mrb_integer(v) < -1) {
      mrb_raisef(mrb, E_RANGE_ERROR, "%s must be -1 (unlimited) or 0 and above, got %v", attr->name,
                 v);
    }
    if (attr->kind == KIND_LIMIT && mrb_integer(v) == -1)
      text = "max";
    else
      snprintf(buf, sizeof buf, "%" PRId64, (int64_t)mrb_integer(v));
  }
  len = strlen(text);
  return (char *)memcpy(mrb_malloc(mrb, len + 1), text, len + 1);

type_error:
  mrb_raisef(mrb, E_TYPE_ERROR, "%s expects %s, got %s", attr->name,
             attr->kind == KIND_STRING || attr->kind == KIND_DEVLIMIT ? "String"
             : attr->kind == KIND_FLAG                                ? "true or false"
                                                                      : "Integer",
             mrb_obj_classname(mrb, v));
}

/* ---- cgroup v2 translation ------------------------------------------- */

/*
 * Values are staged, and read, in their v1 form; these convert between it
 * and v2's files.  cpu.shares <-> cpu.weight uses the log-based mapping of
 * current container runtimes: 2 <-> 1, 1024 <-> 100 (both defaults),
 * 262144 <-> 10000, rounded in between.
 */
static long long
weight_from_shares(long long shares)
{
  double l = log2((double)shares);

  if (shares <= 2) return 1;
  if (shares >= 262144) return 10000;
  return llround(pow(10.0, (l * l + 125.0 * l) / 612.0 - 7.0 / 34.0));
}

static long long
shares_from_weight(long long weight)
{
  double y = log10((double)weight) + 7.0 / 34.0;
  double l = (-125.0 + sqrt(125.0 * 125.0 + 4.0 * 612.0 * y)) / 2.0;

  if (weight <= 1) return 2;
  if (weight >= 10000) return 262144;
  return llround(pow(2.0, l));
}

/* An integer in text ("max" is -1); raises on anything else. */
static long long
text_integer(mrb_state *mrb, struct cgroup_ctx *ctx, const struct attribute *attr, const char *text,
             const char *end)
{
  mrb_value v;

  while (end > text && (end[-1] == '\n' || end[-1] == ' ')) end--;
  if (!parse_integer(mrb, text, end, &v) || !mrb_integer_p(v))
    raise_unexpected(mrb, ctx, attr, text);
  return (long long)mrb_integer(v);
}

static mrb_value
int_text(mrb_state *mrb, long long v)
{
  char buf[32];

  if (v == -1) return mrb_str_new_lit(mrb, "max");
  snprintf(buf, sizeof buf, "%lld", v);
  return mrb_str_new_cstr(mrb, buf);
}

/* memory.swap.X's partner memory.X */
static const char *
swap_partner(const char *file, char *buf, size_t size)
{
  snprintf(buf, size, "memory.%s", file + strlen("memory.swap."));
  return buf;
}

/* io.max lines "MAJ:MIN rbps=N wbps=N riops=N wiops=N" -> "MAJ:MIN N" lines
 * for the devices whose `key` is limited. */
static mrb_value
iomax_to_blkio(mrb_state *mrb, const char *key, mrb_value text)
{
  mrb_value out = mrb_str_new_capa(mrb, 32);
  const char *s = RSTRING_PTR(text), *end = RSTRING_END(text);
  size_t klen = strlen(key);

  while (s < end) {
    const char *eol = memchr(s, '\n', end - s), *dev_end = token_end(s, end), *t;
    if (!eol) eol = end;
    for (t = skip_blanks(dev_end, eol); t < eol; t = skip_blanks(token_end(t, eol), eol)) {
      const char *v = t + klen + 1, *v_end = token_end(t, eol);
      if (v > v_end || memcmp(t, key, klen) != 0 || t[klen] != '=' ||
          (v_end - v == 3 && !memcmp(v, "max", 3)))
        continue;
      if (RSTRING_LEN(out) > 0) mrb_str_cat_lit(mrb, out, "\n");
      mrb_str_cat(mrb, out, s, dev_end - s);
      mrb_str_cat_lit(mrb, out, " ");
      mrb_str_cat(mrb, out, v, v_end - v);
    }
    s = eol + 1;
  }
  return out;
}

/* A v2 file's text (after key selection) in the attribute's v1 form. */
static mrb_value
v2_to_v1(mrb_state *mrb, struct cgroup_ctx *ctx, const struct attribute *attr, mrb_value text)
{
  const char *s = RSTRING_PTR(text), *end = RSTRING_END(text);
  char partner[64];

  switch (attr->conversion) {
  case V2_FIELD1: s = skip_blanks(token_end(s, end), end); /* fall through */
  case V2_FIELD0: return mrb_str_new(mrb, s, token_end(s, end) - s);
  case V2_WEIGHT: return int_text(mrb, shares_from_weight(text_integer(mrb, ctx, attr, s, end)));
  case V2_USEC: /* times 1000 in decimal: no overflow; the parser makes a Float of huge ones */
    if (text_integer(mrb, ctx, attr, s, end) == 0) return text;
    return mrb_str_cat_lit(mrb, mrb_str_new(mrb, s, token_end(s, end) - s), "000");
  case V2_IOMAX: return iomax_to_blkio(mrb, attr_key(attr), text);
  case V2_SWAP: {
    mrb_value other =
        kernel_read(mrb, ctx, ctx->path, swap_partner(attr_file(attr), partner, 64), FILE_OFTEN);
    long long a = text_integer(mrb, ctx, attr, s, end);
    long long b = text_integer(mrb, ctx, attr, RSTRING_PTR(other), RSTRING_END(other));
    return int_text(mrb, a == -1 || b == -1 ? -1 : a + b);
  }
  default: return text;
  }
}

static mrb_noreturn void
raise_untranslatable(mrb_state *mrb, struct cgroup_ctx *ctx, const struct attribute *attr,
                     const char *text, const char *why)
{
  raise_error(mrb, "InvalidValue", EINVAL, ctx->controller, ctx->path, "write", attr_file(attr),
              text, why);
}

/* The text to write on v2 for a staged v1-form value. */
static const char *
v1_to_v2(mrb_state *mrb, struct cgroup_ctx *ctx, const struct attribute *attr, const char *text)
{
  const char *end = text + strlen(text), *sep;
  char partner[64];
  mrb_value current, out;
  long long v;

  switch (attr->conversion) {
  case V2_FIELD0:
  case V2_FIELD1: { /* rewrite one field of "QUOTA PERIOD", keep the other */
    mrb_value fields[2];
    const char *f, *f_end;
    current = kernel_read(mrb, ctx, ctx->path, attr_file(attr), FILE_OFTEN);
    f = RSTRING_PTR(current), f_end = RSTRING_END(current);
    fields[0] = mrb_str_new(mrb, f, token_end(f, f_end) - f);
    f = skip_blanks(token_end(f, f_end), f_end);
    fields[1] = mrb_str_new(mrb, f, token_end(f, f_end) - f);
    fields[attr->conversion == V2_FIELD1] = int_text(mrb, text_integer(mrb, ctx, attr, text, end));
    return RSTRING_CSTR(mrb, mrb_format(mrb, "%v %v", fields[0], fields[1]));
  }
  case V2_WEIGHT:
    return RSTRING_CSTR(mrb,
                        int_text(mrb, weight_from_shares(text_integer(mrb, ctx, attr, text, end))));
  case V2_IOMAX:
    sep = strchr(text, ' '); /* "MAJ:MIN VALUE", checked when it was set */
    v = text_integer(mrb, ctx, attr, sep + 1, end);
    out = mrb_format(mrb, "%s %s=%v", RSTRING_CSTR(mrb, mrb_str_new(mrb, text, sep - text)),
                     attr_key(attr), v == 0 ? int_text(mrb, -1) : int_text(mrb, v));
    return RSTRING_CSTR(mrb, out);
  case V2_SWAP:
    v = text_integer(mrb, ctx, attr, text, end);
    if (v != -1) {
      current =
          kernel_read(mrb, ctx, ctx->path, swap_partner(attr_file(attr), partner, 64), FILE_OFTEN);
      long long memory = text_integer(mrb, ctx, attr, RSTRING_PTR(current), RSTRING_END(current));
      if (memory == -1 || v < memory)
        raise_untranslatable(mrb, ctx, attr, text,
                             memory == -1 ? "memory+swap needs a memory limit on cgroup v2"
                                          : "below the memory limit");
      v -= memory;
    }
    return RSTRING_CSTR(mrb, int_text(mrb, v));
  default:
    return (attr->kind == KIND_INT || attr->kind == KIND_LIMIT) && strcmp(text, "-1") == 0 ? "max"
                                                                                           : text;
  }
}

/* ---- Attribute readers and writers ------------------------------------ */

static struct cgroup_ctx *
attr_ctx(mrb_state *mrb, mrb_value self, const struct attribute *attr)
{
  struct cgroup_ctx *ctx = get_ctx(mrb, self);

  if (ctx->controller != attr->controller) {
    mrb_raisef(mrb, E_TYPE_ERROR, "%s is not an attribute of %s", attr->name,
               mrb_obj_classname(mrb, self));
  }
  return ctx;
}

/* The attribute's file on this host; raises Unsupported when the cgroup
 * version serving the controller has no equivalent. */
static const char *
require_file(mrb_state *mrb, struct cgroup_ctx *ctx, const struct attribute *attr,
             const char *action)
{
  const char *file;

  require_mount(mrb, ctx);
  file = attr_file(attr);
  if (!file || (action[0] == 's' && on_v2(ctx->controller) && attr->conversion == V2_USEC)) {
    const char *name = attr->file[0] ? attr->file[0] : attr->name;
    raise_error(mrb, "Unsupported", EOPNOTSUPP, ctx->controller, ctx->path, action, name, NULL,
                on_v2(ctx->controller) ? "no equivalent on cgroup v2" : "cgroup v2 only");
  }
  return file;
}

/* The part of a file's text the attribute reads: its key's value, if any. */
static mrb_value
select_key(mrb_state *mrb, struct cgroup_ctx *ctx, const struct attribute *attr, mrb_value text)
{
  const char *key = attr_key(attr), *value, *end = RSTRING_END(text);

  if (!key || attr->conversion == V2_IOMAX) return text;
  value = find_key(RSTRING_PTR(text), end, key, &end);
  if (!value) raise_unexpected(mrb, ctx, attr, key);
  return mrb_str_new(mrb, value, end - value);
}

/* A setting reads as its staged value while one is pending, else the
 * kernel's; counters and statistics always come from the kernel. */
static mrb_value
attr_get(mrb_state *mrb, mrb_value self, enum attribute_id id)
{
  const struct attribute *attr = &attributes[id];
  struct cgroup_ctx *ctx = attr_ctx(mrb, self, attr);
  const char *file = require_file(mrb, ctx, attr, "read");
  mrb_value text;

  if (ctx->staged[id]) {
    return text_to_value(mrb, ctx, attr, ctx->staged[id], strlen(ctx->staged[id]));
  }
  text = select_key(mrb, ctx, attr, kernel_read(mrb, ctx, ctx->path, file, FILE_OFTEN));
  if (on_v2(ctx->controller)) text = v2_to_v1(mrb, ctx, attr, text);
  return text_to_value(mrb, ctx, attr, RSTRING_PTR(text), RSTRING_LEN(text));
}

/* Stage a value; create, modify or attach writes it. */
static mrb_value
attr_set(mrb_state *mrb, mrb_value self, enum attribute_id id)
{
  const struct attribute *attr = &attributes[id];
  struct cgroup_ctx *ctx = attr_ctx(mrb, self, attr);
  mrb_value v;
  char *text;

  mrb_get_args(mrb, "o", &v);
  require_file(mrb, ctx, attr, "set");
  text = value_to_text(mrb, ctx, attr, v);
  mrb_free(mrb, ctx->staged[id]);
  ctx->staged[id] = text;
  return v;
}

#define DEFINE_ACCESSORS(klass, rname, kind, access, f1, k1, f2, k2, conv)                         \
  static mrb_value klass##_get_##rname(mrb_state *mrb, mrb_value self)                             \
  {                                                                                                \
    return attr_get(mrb, self, ATTR_##klass##_##rname);                                            \
  }                                                                                                \
  static mrb_value klass##_set_##rname(mrb_state *mrb, mrb_value self)                             \
  {                                                                                                \
    return attr_set(mrb, self, ATTR_##klass##_##rname);                                            \
  }
CGROUP_ATTRIBUTES(DEFINE_ACCESSORS)
#undef DEFINE_ACCESSORS

static const struct attribute attributes[ATTR_COUNT] = {
#define ATTRIBUTE_ENTRY(klass, rname, kind, access, f1, k1, f2, k2, conv)                          \
  {CTL_##klass, #rname,    KIND_##kind,         ACCESS_##access,    {f1, f2},                      \
   {k1, k2},    V2_##conv, klass##_get_##rname, klass##_set_##rname},
    CGROUP_ATTRIBUTES(ATTRIBUTE_ENTRY)
#undef ATTRIBUTE_ENTRY
};

/* ---- Cgroup instance methods ------------------------------------------ */

static mrb_value
cgroup_initialize(mrb_state *mrb, mrb_value self, enum controller_id controller)
{
  char path[PATH_MAX];
  mrb_value name;
  struct cgroup_ctx *ctx;
  size_t len;

  mrb_get_args(mrb, "S", &name);
  normalise_name(mrb, controller, name, path, sizeof path);
  len = strlen(path);
  ctx = (struct cgroup_ctx *)mrb_calloc(mrb, 1, sizeof *ctx + len + 1);
  ctx->controller = controller;
  memcpy(ctx->path, path, len + 1);
  ctx_free(mrb, DATA_PTR(self)); /* initialize called again */
  mrb_data_init(self, ctx, &ctx_type);
  mrb_iv_set(mrb, self, MRB_IVSYM(group_name), mrb_str_new(mrb, path, len));
  return self;
}

#define DEFINE_INITIALIZE(klass, v1, v2)                                                           \
  static mrb_value klass##_initialize(mrb_state *mrb, mrb_value self)                              \
  {                                                                                                \
    return cgroup_initialize(mrb, self, CTL_##klass);                                              \
  }
CGROUP_CONTROLLERS(DEFINE_INITIALIZE)
#undef DEFINE_INITIALIZE

static const mrb_func_t controller_initializers[CTL_COUNT] = {
#define INITIALIZER_ENTRY(klass, v1, v2) klass##_initialize,
    CGROUP_CONTROLLERS(INITIALIZER_ENTRY)
#undef INITIALIZER_ENTRY
};

/* The parent group's path of a path other than "/". */
static void
parent_of(const char *path, char parent[PATH_MAX])
{
  strcpy(parent, path);
  *strrchr(parent, '/') = '\0';
  if (!parent[0]) strcpy(parent, "/");
}

/* The text of a file of the group at path, without its trailing newline,
 * as a C string owned by the returned Ruby String. */
static const char *
kernel_read_line(mrb_state *mrb, struct cgroup_ctx *ctx, const char *path, const char *file)
{
  mrb_value text = kernel_read(mrb, ctx, path, file, FILE_ONCE);
  mrb_int len = RSTRING_LEN(text);

  while (len > 0 && RSTRING_PTR(text)[len - 1] == '\n') len--;
  return RSTRING_CSTR(mrb, mrb_str_substr(mrb, text, 0, len));
}

/*
 * Make the one missing level `path` (its parent exists) and give it its
 * parent's value of every inheritable setting, except those staged for it.
 */
static void
make_level(mrb_state *mrb, struct cgroup_ctx *ctx, const char *path, mrb_bool target)
{
  struct cgroup *cg = is_core(ctx->controller) ? NULL : new_libcgroup(ctx, path);
  int ret = cg ? cgroup_create_cgroup(cg, 0) : ECGFAIL;
  char parent[PATH_MAX], full[PATH_MAX];
  int i, err;

  cgroup_free(&cg);
  if (is_core(ctx->controller) && mount_path(mrb, ctx, path, NULL, full) &&
      mkdir(full, 0755) != 0) {
    raise_error(mrb, NULL, errno, ctx->controller, path, "create", NULL, NULL, NULL);
  }
  /* libcgroup 2.0.2 may report failure for a group it did make, and on v2
   * reports a parent the caller may not write to as "value does not exist" */
  if (!path_exists(mrb, ctx, path)) {
    parent_of(path, parent);
    if (mount_path(mrb, ctx, parent, NULL, full) && access(full, W_OK) != 0) {
      raise_error(mrb, NULL, errno, ctx->controller, path, "create", NULL, NULL, NULL);
    }
    raise_libcgroup(mrb, ctx, ret, "create", NULL, NULL);
  }
  if (on_v2(ctx->controller)) return; /* v2 children inherit by themselves */
  parent_of(path, parent);
  for (i = 0; i < ATTR_COUNT; i++) {
    const struct attribute *attr = &attributes[i];
    const char *value;
    if (attr->controller != ctx->controller || !(attr->access & ACCESS_INHERIT)) continue;
    if (target && ctx->staged[i]) continue;
    value = kernel_read_line(mrb, ctx, parent, attr_file(attr));
    err = kernel_write(mrb, ctx, path, attr_file(attr), value, FILE_ONCE);
    if (err)
      raise_error(mrb, NULL, err, ctx->controller, path, "write", attr_file(attr), value, NULL);
  }
}

/*
 * cgroup v2: a group has a controller's files only if its parent lists the
 * controller in cgroup.subtree_control.  libcgroup enables it for groups it
 * creates, not for existing ones (a CPU object on a group made for MEMORY),
 * so do it here, and only for this controller.
 */
static void
enable_in_parent(mrb_state *mrb, struct cgroup_ctx *ctx, const char *path)
{
  const char *name = kernel_controller(ctx->controller);
  char parent[PATH_MAX], change[32];
  mrb_value enabled;
  const char *s, *end;
  int err;

  if (is_core(ctx->controller)) return; /* no controller to enable */
  parent_of(path, parent);
  enabled = kernel_read(mrb, ctx, parent, "cgroup.subtree_control", FILE_ONCE);
  end = RSTRING_END(enabled);
  for (s = skip_blanks(RSTRING_PTR(enabled), end); s < end;
       s = skip_blanks(token_end(s, end), end)) {
    if ((size_t)(token_end(s, end) - s) == strlen(name) && memcmp(s, name, strlen(name)) == 0)
      return;
  }
  snprintf(change, sizeof change, "+%s", name);
  err = kernel_write(mrb, ctx, parent, "cgroup.subtree_control", change, FILE_ONCE);
  if (err) {
    raise_error(mrb, NULL, err, ctx->controller, parent, "enable controller",
                "cgroup.subtree_control", change, NULL);
  }
}

struct create_args {
  struct cgroup_ctx *ctx;
  size_t first_made; /* length of the shortest path made here; 0: none */
};

static mrb_value
create_body(mrb_state *mrb, void *p)
{
  struct create_args *args = (struct create_args *)p;
  struct cgroup_ctx *ctx = args->ctx;
  char level[PATH_MAX];
  size_t len = 0, full = strlen(ctx->path);

  while (full > 1 && len < full) { /* each level from the top */
    const char *slash = strchr(ctx->path + len + 1, '/');
    len = slash ? (size_t)(slash - ctx->path) : full;
    memcpy(level, ctx->path, len);
    level[len] = '\0';
    if (on_v2(ctx->controller)) enable_in_parent(mrb, ctx, level);
    if (!args->first_made && path_exists(mrb, ctx, level)) continue;
    make_level(mrb, ctx, level, len == full);
    if (!args->first_made) args->first_made = len;
  }
  write_staged(mrb, ctx);
  return mrb_nil_value();
}

/* Remove the levels create made, deepest first. */
static void
remove_made_levels(struct cgroup_ctx *ctx, size_t first_made)
{
  char level[PATH_MAX];
  size_t len = strlen(ctx->path);

  memcpy(level, ctx->path, len + 1);
  while (first_made && len >= first_made) {
    struct cgroup *cg = is_core(ctx->controller) ? NULL : new_libcgroup(ctx, level);
    char full[PATH_MAX];
    if (cg) cgroup_delete_cgroup_ext(cg, CGFLAG_DELETE_EMPTY_ONLY);
    cgroup_free(&cg);
    if (snprintf(full, sizeof full, "%s%s", mount_points[ctx->controller], level) < PATH_MAX)
      rmdir(full); /* a v2 core group (a plain directory), or what libcgroup left */
    len = strrchr(level, '/') - level;
    level[len] = '\0';
  }
}

/*
 * Cgroup#create: make the group, and missing parents, and write the staged
 * values.  When anything is refused, the groups made here are removed again
 * before the error is raised; an existing group is left as it was found.
 */
static mrb_value
cgroup_create(mrb_state *mrb, mrb_value self)
{
  struct create_args args = {get_ctx(mrb, self), 0};
  mrb_bool failed = FALSE;
  mrb_value exc;

  require_mount(mrb, args.ctx);
  exc = mrb_protect_error(mrb, create_body, &args, &failed);
  if (failed) {
    remove_made_levels(args.ctx, args.first_made);
    mrb_exc_raise(mrb, exc);
  }
  return self;
}

/* Cgroup#modify: write the staged values to the existing group. */
static mrb_value
cgroup_modify(mrb_state *mrb, mrb_value self)
{
  struct cgroup_ctx *ctx = get_ctx(mrb, self);
  int i;

  for (i = 0; i < ATTR_COUNT && !ctx->staged[i]; i++)
    ;
  if (i == ATTR_COUNT) require_group(mrb, ctx, "modify"); /* else the writes tell */
  write_staged(mrb, ctx);
  return self;
}

static mrb_value
cgroup_exist_p(mrb_state *mrb, mrb_value self)
{
  struct cgroup_ctx *ctx = get_ctx(mrb, self);

  return mrb_bool_value(path_exists(mrb, ctx, ctx->path));
}

/* Cgroup#delete: remove the group; it must have no tasks and no children. */
static mrb_value
cgroup_delete(mrb_state *mrb, mrb_value self)
{
  struct cgroup_ctx *ctx = get_ctx(mrb, self);
  struct cgroup *cg;

  if (strcmp(ctx->path, "/") == 0) {
    raise_error(mrb, "InvalidValue", EINVAL, ctx->controller, ctx->path, "delete", NULL, NULL,
                "the root group cannot be deleted");
  }
  require_group(mrb, ctx, "delete");
  cg = is_core(ctx->controller) ? NULL : new_libcgroup(ctx, ctx->path);
  if (cg) cgroup_delete_cgroup_ext(cg, CGFLAG_DELETE_EMPTY_ONLY);
  cgroup_free(&cg);
  /* libcgroup 2.0.2 returns 0 when rmdir failed and errors when it worked:
   * the directory is the truth, and rmdir(2) tells why it is still there. */
  if (path_exists(mrb, ctx, ctx->path)) {
    char full[PATH_MAX];
    int err;
    mount_path(mrb, ctx, ctx->path, NULL, full); /* it fitted: path_exists found it */
    err = rmdir(full) == 0 ? 0 : errno;
    if (err == EBUSY || err == ENOTEMPTY) {
      raise_error(mrb, "Busy", err, ctx->controller, ctx->path, "delete", NULL, NULL,
                  "group still has tasks or child groups");
    }
    if (err) raise_error(mrb, NULL, err, ctx->controller, ctx->path, "delete", NULL, NULL, NULL);
  }
  forget_group_files_under(mrb, ctx, ctx->path);
  return self;
}

static pid_t
calling_thread(void)
{
  return (pid_t)syscall(SYS_gettid);
}

/* The file whose write moves a task: tasks (v1: that one thread) or
 * cgroup.procs (v2: the whole process), as libcgroup's attach picks it. */
static const char *
tasks_file(struct cgroup_ctx *ctx)
{
  return on_v2(ctx->controller) ? "cgroup.procs" : "tasks";
}

static pid_t
pid_arg(mrb_state *mrb, struct cgroup_ctx *ctx, mrb_value v)
{
  mrb_int pid;

  if (mrb_nil_p(v)) return calling_thread();
  if (!mrb_integer_p(v)) {
    mrb_raisef(mrb, E_TYPE_ERROR, "pid must be an Integer, got %s", mrb_obj_classname(mrb, v));
  }
  pid = mrb_integer(v);
  if (pid <= 0 || pid > INT_MAX) {
    char buf[32];
    snprintf(buf, sizeof buf, "%" PRId64, (int64_t)pid);
    raise_error(mrb, "InvalidValue", EINVAL, ctx->controller, ctx->path, "attach", tasks_file(ctx),
                buf, "pid must be positive");
  }
  return (pid_t)pid;
}

/*
 * Move a task into the group at path; 0 or an errno.  This is the write
 * cgroup_attach_task_pid makes, made directly under libcgroup's mount point
 * as kernel_write does: libcgroup 2.0.2 allocates and clears a struct
 * cgroup, opens with O_TRUNC and goes through stdio on every call.
 */
static int
move_task(mrb_state *mrb, struct cgroup_ctx *ctx, const char *path, pid_t pid)
{
  char pidtext[16];

  snprintf(pidtext, sizeof pidtext, "%d", (int)pid);
  return kernel_write(mrb, ctx, path, tasks_file(ctx), pidtext, FILE_OFTEN);
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

/* ---- Where a task is ------------------------------------------------ */

/* The whole file behind fd into files->buf; FALSE if it cannot be read.
 * The kernel renders the file whole, so a read that leaves room is all. */
static mrb_bool
pread_all(mrb_state *mrb, struct kept_files *files, int fd)
{
  size_t len = 0, room;
  ssize_t n;

  for (;;) {
    if (files->size - len < 2) {
      files->size = files->size ? files->size * 2 : 4096;
      files->buf = (char *)mrb_realloc(mrb, files->buf, files->size);
    }
    room = files->size - len - 1;
    n = pread(fd, files->buf + len, room, (off_t)len);
    if (n < 0) return FALSE;
    len += (size_t)n;
    if ((size_t)n < room) break;
  }
  files->buf[len] = '\0';
  return TRUE;
}

/* /proc/PID/cgroup's text in files->buf; NULL when there is no such task. */
static const char *
read_proc_cgroup(mrb_state *mrb, struct cgroup_ctx *ctx, pid_t pid)
{
  struct kept_files *files = kept_files(mrb, ctx);
  struct kept_fd *kept = NULL;
  char name[32];
  int i;

  for (i = 0; i < KEPT_PROC_FILES && !kept; i++) {
    if (files->proc[i].fd >= 0 && files->pid[i] == pid) kept = &files->proc[i];
  }
  if (kept && kept_valid(kept) && pread_all(mrb, files, kept->fd)) return files->buf;
  if (!kept) { /* a new task takes the next slot in turn */
    kept = &files->proc[files->next_proc];
    files->pid[files->next_proc] = pid;
    files->next_proc = (files->next_proc + 1) % KEPT_PROC_FILES;
  }
  kept_close(kept); /* its task was reaped: open the pid anew */
  snprintf(name, sizeof name, "/proc/%d/cgroup", (int)pid);
  kept_open(kept, name, O_RDONLY);
  if (kept->fd >= 0 && pread_all(mrb, files, kept->fd)) return files->buf;
  kept_close(kept);
  return NULL;
}

/*
 * The group a task is in for ctx's controller, from /proc/PID/cgroup
 * ("ID:controllers:path" lines; "0::path" is the v2 hierarchy): a malloc'd
 * path, or NULL when there is no such task.  (libcgroup 2.0.2's
 * cgroup_get_current_controller_path fails on v2.)
 */
static char *
current_group(mrb_state *mrb, struct cgroup_ctx *ctx, pid_t pid)
{
  const char *name = kernel_controller(ctx->controller), *text = read_proc_cgroup(mrb, ctx, pid);
  char *line, *next;

  if (!text) return NULL;
  for (line = (char *)text; *line; line = next) {
    char *controllers = strchr(line, ':'), *path;
    next = line + strcspn(line, "\n");
    if (*next) *next++ = '\0';
    if (!controllers || !(path = strchr(controllers + 1, ':'))) continue;
    *path++ = '\0';
    controllers++;
    if (on_v2(ctx->controller) ? !*controllers : in_list(controllers, name, ',')) {
      return strdup(path);
    }
  }
  return NULL;
}

static mrb_bool
task_is_in(mrb_state *mrb, struct cgroup_ctx *ctx, pid_t pid, const char *path)
{
  char *current = current_group(mrb, ctx, pid);
  mrb_bool inside = current && strcmp(current, path) == 0;

  free(current);
  return inside;
}

/*
 * Whether a task whose group was read as previous may be exiting, so that a
 * move must be checked: the kernel skips exiting tasks without an error.
 * cgroup v1 shows an exiting task in "/" of every v1 hierarchy, so any
 * other group means it was alive (the caller always is, so is not checked).
 */
static mrb_bool
may_be_exiting(struct cgroup_ctx *ctx, const char *previous)
{
  return on_v2(ctx->controller) || strcmp(previous, "/") == 0;
}

static struct attachment *
find_attachment(struct cgroup_ctx *ctx, pid_t pid)
{
  int i;

  for (i = 0; i < ctx->attached_count; i++) {
    if (ctx->attached[i].pid == pid) return &ctx->attached[i];
  }
  return NULL;
}

/* Room for one more attachment, made before anything is moved. */
static void
reserve_attachment(mrb_state *mrb, struct cgroup_ctx *ctx)
{
  ctx->attached = (struct attachment *)mrb_realloc(
      mrb, ctx->attached, sizeof *ctx->attached * (ctx->attached_count + 1));
}

/* Move pid into ctx's group, first writing any staged values so it never
 * runs under stale limits; FALSE if it was attached through ctx already. */
static mrb_bool
attach_task(mrb_state *mrb, struct cgroup_ctx *ctx, pid_t pid, mrb_bool other_process)
{
  char *previous = NULL, pidtext[16];
  int err;

  snprintf(pidtext, sizeof pidtext, "%d", (int)pid);
  write_staged(mrb, ctx);
  reserve_attachment(mrb, ctx);
  previous = current_group(mrb, ctx, pid);
  if (!previous) {
    raise_error(mrb, "NotFound", ESRCH, ctx->controller, ctx->path, "attach", tasks_file(ctx),
                pidtext, "no such process");
  }
  err = move_task(mrb, ctx, ctx->path, pid);
  if (err != 0) {
    free(previous);
    require_group(mrb, ctx, "attach");
    raise_error(mrb, NULL, err, ctx->controller, ctx->path, "attach", tasks_file(ctx), pidtext,
                NULL);
  }
  if (other_process && may_be_exiting(ctx, previous) && !task_is_in(mrb, ctx, pid, ctx->path)) {
    free(previous);
    raise_error(mrb, "NotFound", ESRCH, ctx->controller, ctx->path, "attach", tasks_file(ctx),
                pidtext, "process has exited");
  }
  if (find_attachment(ctx, pid)) { /* on a second attach, keep where it was before the first */
    free(previous);
    return FALSE;
  }
  ctx->attached[ctx->attached_count].pid = pid;
  ctx->attached[ctx->attached_count++].previous = previous; /* malloc'd */
  return TRUE;
}

/* [self, block, pid]: the block form's body and its ensure */
static mrb_value
attach_yield(mrb_state *mrb, mrb_value args)
{
  return mrb_yield(mrb, RARRAY_PTR(args)[1], RARRAY_PTR(args)[0]);
}

static mrb_value
attach_undo(mrb_state *mrb, mrb_value args)
{
  return mrb_funcall_id(mrb, RARRAY_PTR(args)[0], MRB_SYM(detach), 1, RARRAY_PTR(args)[2]);
}

/*
 * Cgroup#attach(pid = nil): move pid, or the calling thread, into the group.
 * With a block: yield self, and move the task back in an ensure, even when
 * the block raises (unless an outer attach through this object owns it).
 */
static mrb_value
cgroup_attach(mrb_state *mrb, mrb_value self)
{
  struct cgroup_ctx *ctx = get_ctx(mrb, self);
  mrb_value v = mrb_nil_value(), block = mrb_nil_value(), args[3];
  pid_t pid;

  mrb_get_args(mrb, "|o&", &v, &block);
  pid = pid_arg(mrb, ctx, v);
  if (!attach_task(mrb, ctx, pid, !mrb_nil_p(v)) || mrb_nil_p(block)) {
    return mrb_nil_p(block) ? self : mrb_yield(mrb, block, self);
  }
  args[0] = self;
  args[1] = block;
  args[2] = mrb_int_value(mrb, pid);
  return mrb_ensure(mrb, attach_yield, mrb_ary_new_from_values(mrb, 3, args), attach_undo,
                    mrb_ary_new_from_values(mrb, 3, args));
}

/* Move a task to the group at target (the root if that is gone). */
static void
return_task(mrb_state *mrb, struct cgroup_ctx *ctx, pid_t pid, const char *target)
{
  char pidtext[16];
  int err;

  err = move_task(mrb, ctx, target, pid);
  if (err == ENOENT && strcmp(target, "/") != 0) err = move_task(mrb, ctx, target = "/", pid);
  if (err == 0 || err == ESRCH) return; /* a task that has exited needs no move */
  snprintf(pidtext, sizeof pidtext, "%d", (int)pid);
  raise_error(mrb, NULL, err, ctx->controller, target, "detach", tasks_file(ctx), pidtext, NULL);
}

static void
detach_attachment(mrb_state *mrb, struct cgroup_ctx *ctx, struct attachment *a)
{
  return_task(mrb, ctx, a->pid, a->previous);
  free(a->previous);
  *a = ctx->attached[--ctx->attached_count];
}

/* A task this object did not attach: the classic gem moved it to the root;
 * do that only if it is in this group, else say it is not. */
static void
detach_unrecorded(mrb_state *mrb, struct cgroup_ctx *ctx, pid_t pid)
{
  char pidtext[16];

  if (task_is_in(mrb, ctx, pid, ctx->path)) {
    return_task(mrb, ctx, pid, "/");
    return;
  }
  snprintf(pidtext, sizeof pidtext, "%d", (int)pid);
  raise_error(mrb, "NotFound", ESRCH, ctx->controller, ctx->path, "detach", tasks_file(ctx),
              pidtext, "task is not attached to this group");
}

/*
 * Cgroup#detach(pid = nil): move pid, or every task attached through this
 * object, back to the group it was in before attach.
 */
static mrb_value
cgroup_detach(mrb_state *mrb, mrb_value self)
{
  struct cgroup_ctx *ctx = get_ctx(mrb, self);
  mrb_value v = mrb_nil_value();
  struct attachment *a;

  mrb_get_args(mrb, "|o", &v);
  require_mount(mrb, ctx);
  if (!mrb_nil_p(v)) {
    pid_t pid = pid_arg(mrb, ctx, v);
    if ((a = find_attachment(ctx, pid)))
      detach_attachment(mrb, ctx, a);
    else
      detach_unrecorded(mrb, ctx, pid);
    return self;
  }
  if (ctx->attached_count == 0) detach_unrecorded(mrb, ctx, calling_thread());
  while (ctx->attached_count > 0) {
    detach_attachment(mrb, ctx, &ctx->attached[ctx->attached_count - 1]);
  }
  return self;
}

/* ---- Waiting for the kernel ------------------------------------------- */

static double
monotonic_seconds(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A timeout argument in seconds: nil waits for ever (-1). */
static double
timeout_arg(mrb_state *mrb, mrb_value v, double otherwise)
{
  double t;

  if (mrb_undef_p(v)) return otherwise;
  if (mrb_nil_p(v)) return -1;
  t = mrb_as_float(mrb, v);
  if (!(t >= 0)) mrb_raisef(mrb, E_ARGUMENT_ERROR, "timeout must be >= 0 or nil, got %v", v);
  return t;
}

/* Milliseconds left before deadline (-1: none), for poll(). */
static int
ms_left(double deadline)
{
  double left;

  if (deadline < 0) return -1;
  left = (deadline - monotonic_seconds()) * 1000;
  return left <= 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left + 1;
}

static double
deadline_after(double timeout)
{
  return timeout < 0 ? -1 : monotonic_seconds() + timeout;
}

/* The integer after "key " in a kernfs file read through fd; -1 if none. */
static long long
fd_key_value(int fd, const char *key)
{
  char buf[1024];
  const char *value, *end;
  ssize_t n = pread(fd, buf, sizeof buf - 1, 0);

  if (n < 0) return -1;
  buf[n] = '\0';
  value = find_key(buf, buf + n, key, &end);
  return value ? strtoll(value, NULL, 10) : -1;
}

/*
 * Wait until key in a v2 file (cgroup.events, memory.events) satisfies
 * done(value, arg) or the deadline passes.  The kernel notifies the file on
 * each change and poll() wakes with POLLPRI; reading re-arms it, so reading
 * before each poll loses no change.  Removing the group wakes no one, so it
 * reads again at least once a second.  Returns the last value (-1: the file
 * is gone, the group was removed).
 */
static long long
wait_v2_key(int fd, const char *key, int (*done)(long long, long long), long long arg,
            double deadline)
{
  struct pollfd pfd = {fd, POLLPRI, 0};
  long long value;
  int ms;

  for (;;) {
    value = fd_key_value(fd, key);
    if (value < 0 || done(value, arg)) return value;
    if ((ms = ms_left(deadline)) == 0) return value;
    if (poll(&pfd, 1, ms < 0 || ms > 1000 ? 1000 : ms) < 0 && errno != EINTR) return value;
  }
}

static int
equals(long long value, long long want)
{
  return value == want;
}

static int
exceeds(long long value, long long base)
{
  return value > base;
}

/* Sleep *delay ms (not past the deadline), then double it up to 16 ms: for
 * states the kernel gives no notification of, looked at again and again. */
static void
back_off(long *delay, double deadline)
{
  long ms = deadline < 0 || *delay < ms_left(deadline) ? *delay : ms_left(deadline);
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

  nanosleep(&ts, NULL);
  if (*delay < 16) *delay *= 2;
}

/* ---- FREEZER ---------------------------------------------------------- */

/* "THAWED", "FREEZING" or "FROZEN": v1's freezer.state; on v2 from
 * cgroup.events' frozen (reached) and cgroup.freeze (asked for). */
static const char *
freezer_state(mrb_state *mrb, struct cgroup_ctx *ctx)
{
  mrb_value events;
  const char *v, *end, *s;

  if (!on_v2(ctx->controller)) {
    s = kernel_read_line(mrb, ctx, ctx->path, "freezer.state");
    return strcmp(s, "FROZEN") == 0 ? "FROZEN" : strcmp(s, "FREEZING") == 0 ? "FREEZING" : "THAWED";
  }
  events = kernel_read(mrb, ctx, ctx->path, "cgroup.events", FILE_ONCE);
  v = find_key(RSTRING_PTR(events), RSTRING_END(events), "frozen", &end);
  if (v && *v == '1') return "FROZEN";
  return *kernel_read_line(mrb, ctx, ctx->path, "cgroup.freeze") == '1' ? "FREEZING" : "THAWED";
}

/* Whether the freezer reached want by the deadline.  v1's freezer.state has
 * no notification: look again after 1, 2, 4 .. 16 ms. */
static mrb_bool
freezer_wait(mrb_state *mrb, struct cgroup_ctx *ctx, const char *want, double deadline)
{
  long delay = 1;

  if (on_v2(ctx->controller)) {
    int fd = open_in_mount(mrb, ctx, ctx->path, "cgroup.events", O_RDONLY);
    long long frozen;
    if (fd < 0) return FALSE;
    frozen = wait_v2_key(fd, "frozen", equals, strcmp(want, "FROZEN") == 0, deadline);
    close(fd);
    return frozen == (strcmp(want, "FROZEN") == 0);
  }
  while (strcmp(freezer_state(mrb, ctx), want) != 0) {
    if (ms_left(deadline) == 0) return FALSE;
    back_off(&delay, deadline);
  }
  return TRUE;
}

static void
freezer_write(mrb_state *mrb, struct cgroup_ctx *ctx, mrb_bool freeze, const char *action)
{
  const char *file = on_v2(ctx->controller) ? "cgroup.freeze" : "freezer.state";
  const char *value = on_v2(ctx->controller) ? (freeze ? "1" : "0") : freeze ? "FROZEN" : "THAWED";
  int err = kernel_write(mrb, ctx, ctx->path, file, value, FILE_ONCE);

  if (err) raise_error(mrb, NULL, err, ctx->controller, ctx->path, action, file, value, NULL);
}

/* FREEZER#freeze(timeout = 5) / #thaw(timeout = 5): ask, then wait until
 * the kernel reports the state reached; a freeze that times out is undone. */
static mrb_value
freezer_change(mrb_state *mrb, mrb_value self, mrb_bool freeze)
{
  struct cgroup_ctx *ctx = get_ctx(mrb, self);
  const char *action = freeze ? "freeze" : "thaw", *want = freeze ? "FROZEN" : "THAWED";
  mrb_value t = mrb_undef_value();
  double deadline;

  mrb_get_args(mrb, "|o", &t);
  deadline = deadline_after(timeout_arg(mrb, t, 5));
  require_group(mrb, ctx, action);
  if (strcmp(ctx->path, "/") == 0) {
    raise_error(mrb, "InvalidValue", EINVAL, ctx->controller, ctx->path, action, NULL, NULL,
                "the root group cannot be frozen");
  }
  freezer_write(mrb, ctx, freeze, action);
  if (freezer_wait(mrb, ctx, want, deadline)) return self;
  if (freeze) freezer_write(mrb, ctx, FALSE, "undo freeze");
  raise_error(mrb, NULL, ETIMEDOUT, ctx->controller, ctx->path, action, NULL, want,
              freeze ? "not frozen in time (thawed again)" : "not thawed in time");
}

static mrb_value
freezer_freeze(mrb_state *mrb, mrb_value self)
{
  return freezer_change(mrb, self, TRUE);
}

static mrb_value
freezer_thaw(mrb_state *mrb, mrb_value self)
{
  return freezer_change(mrb, self, FALSE);
}

static mrb_value
freezer_state_m(mrb_state *mrb, mrb_value self)
{
  struct cgroup_ctx *ctx = get_ctx(mrb, self);

  require_group(mrb, ctx, "read");
  return mrb_str_new_cstr(mrb, freezer_state(mrb, ctx));
}

static mrb_value
freezer_frozen_p(mrb_state *mrb, mrb_value self)
{
  struct cgroup_ctx *ctx = get_ctx(mrb, self);

  require_group(mrb, ctx, "read");
  return mrb_bool_value(strcmp(freezer_state(mrb, ctx), "FROZEN") == 0);
}

/* ---- MEMORY: waiting for an OOM --------------------------------------- */

/* v1: an eventfd registered through cgroup.event_control on
 * memory.oom_control; it also fires when the group is removed. */
static mrb_bool
oom_wait_v1(mrb_state *mrb, struct cgroup_ctx *ctx, double deadline)
{
  char line[64];
  int efd = eventfd(0, EFD_CLOEXEC),
      ofd = open_in_mount(mrb, ctx, ctx->path, "memory.oom_control", O_RDONLY);
  int err = efd < 0 || ofd < 0 ? errno : 0, ready = 0;
  struct pollfd pfd = {efd, POLLIN, 0};
  uint64_t count;

  if (!err) {
    snprintf(line, sizeof line, "%d %d", efd, ofd);
    err = kernel_write(mrb, ctx, ctx->path, "cgroup.event_control", line, FILE_ONCE);
  }
  if (ofd >= 0) close(ofd); /* the registration holds its own reference */
  while (!err && (ready = poll(&pfd, 1, ms_left(deadline))) < 0 && errno == EINTR) {
  }
  if (ready > 0 && read(efd, &count, sizeof count) != sizeof count) ready = 0;
  if (efd >= 0) close(efd);
  if (err) {
    raise_error(mrb, NULL, err, ctx->controller, ctx->path, "wait for OOM", "cgroup.event_control",
                NULL, NULL);
  }
  return ready > 0;
}

/* v2: memory.events' oom count rising; poll() wakes on each change. */
static mrb_bool
oom_wait_v2(mrb_state *mrb, struct cgroup_ctx *ctx, double deadline)
{
  int fd = open_in_mount(mrb, ctx, ctx->path, "memory.events", O_RDONLY);
  long long before, now;

  if (fd < 0) {
    raise_error(mrb, NULL, errno, ctx->controller, ctx->path, "wait for OOM", "memory.events", NULL,
                NULL);
  }
  before = fd_key_value(fd, "oom");
  now = before < 0 ? -1 : wait_v2_key(fd, "oom", exceeds, before, deadline);
  close(fd);
  return before >= 0 && now > before;
}

/* MEMORY#wait_for_oom(timeout = nil): block until an OOM happens in the
 * group (true) or timeout seconds pass (false); nil waits for ever. */
static mrb_value
memory_wait_for_oom(mrb_state *mrb, mrb_value self)
{
  struct cgroup_ctx *ctx = get_ctx(mrb, self);
  mrb_value t = mrb_nil_value();
  double deadline;
  mrb_bool oom;

  mrb_get_args(mrb, "|o", &t);
  deadline = deadline_after(timeout_arg(mrb, t, -1));
  require_group(mrb, ctx, "wait for OOM");
  oom = on_v2(ctx->controller) ? oom_wait_v2(mrb, ctx, deadline) : oom_wait_v1(mrb, ctx, deadline);
  require_group(mrb, ctx, "wait for OOM"); /* removal ends the wait too */
  return mrb_bool_value(oom);
}

/* ---- Tasks: listing, signalling --------------------------------------- */

/* The pids in a tasks-like file of ctx's group. */
static mrb_value
read_pids(mrb_state *mrb, struct cgroup_ctx *ctx, const char *file)
{
  mrb_value text = kernel_read(mrb, ctx, ctx->path, file, FILE_ONCE), pids = mrb_ary_new(mrb);
  const char *s = RSTRING_PTR(text), *end = RSTRING_END(text);
  char *next;

  for (s = skip_blanks(s, end); s < end; s = skip_blanks(next, end)) {
    long pid = strtol(s, &next, 10);
    if (next == s) break;
    mrb_ary_push(mrb, pids, mrb_int_value(mrb, pid));
  }
  return pids;
}

/* Cgroup#procs: the processes in the group (cgroup.procs). */
static mrb_value
cgroup_procs(mrb_state *mrb, mrb_value self)
{
  struct cgroup_ctx *ctx = get_ctx(mrb, self);

  require_group(mrb, ctx, "list processes");
  return read_pids(mrb, ctx, "cgroup.procs");
}

/* Cgroup#tasks: the threads in the group (v1 tasks, v2 cgroup.threads). */
static mrb_value
cgroup_tasks(mrb_state *mrb, mrb_value self)
{
  struct cgroup_ctx *ctx = get_ctx(mrb, self);

  require_group(mrb, ctx, "list threads");
  return read_pids(mrb, ctx, on_v2(ctx->controller) ? "cgroup.threads" : "tasks");
}

static const struct {
  const char *name;
  int number;
} signal_names[] = {{"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"ABRT", SIGABRT},
                    {"KILL", SIGKILL}, {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"ALRM", SIGALRM},
                    {"TERM", SIGTERM}, {"CONT", SIGCONT}, {"STOP", SIGSTOP}, {"TSTP", SIGTSTP}};

/* A signal given as 9, "KILL", "SIGKILL" or :KILL. */
static int
signal_arg(mrb_state *mrb, mrb_value v)
{
  const char *name;
  size_t i;

  if (mrb_integer_p(v)) {
    if (mrb_integer(v) >= 1 && mrb_integer(v) < NSIG) return (int)mrb_integer(v);
    mrb_raisef(mrb, E_ARGUMENT_ERROR, "no signal %v", v);
  }
  if (mrb_symbol_p(v)) v = mrb_sym_str(mrb, mrb_symbol(v));
  name = mrb_string_value_cstr(mrb, &v);
  if (strncmp(name, "SIG", 3) == 0) name += 3;
  for (i = 0; i < sizeof signal_names / sizeof signal_names[0]; i++) {
    if (strcmp(signal_names[i].name, name) == 0) return signal_names[i].number;
  }
  mrb_raisef(mrb, E_ARGUMENT_ERROR, "unknown signal %v", v);
}

/* Signal each process in pids once. */
static void
signal_pids(mrb_value pids, int sig)
{
  mrb_int i;

  for (i = 0; i < RARRAY_LEN(pids); i++) kill((pid_t)mrb_integer(RARRAY_PTR(pids)[i]), sig);
}

/*
 * Cgroup#kill_all(signal = :KILL, timeout = 5): signal every process in the
 * group; returns how many there were.  For SIGKILL, v2's cgroup.kill where
 * the kernel has it (5.14+; it also covers child groups), else the listed
 * processes are killed until none is left (new ones may fork meanwhile), and
 * either way it waits until the group is empty.  A group holding the
 * calling process is refused.
 */
static mrb_value
cgroup_kill_all(mrb_state *mrb, mrb_value self)
{
  struct cgroup_ctx *ctx = get_ctx(mrb, self);
  mrb_value sigv = mrb_symbol_value(MRB_SYM(KILL)), t = mrb_undef_value(), pids;
  mrb_int count, i;
  double deadline;
  int sig, err = EOPNOTSUPP;
  long delay = 1;

  mrb_get_args(mrb, "|oo", &sigv, &t);
  sig = signal_arg(mrb, sigv);
  deadline = deadline_after(timeout_arg(mrb, t, 5));
  require_group(mrb, ctx, "kill");
  pids = read_pids(mrb, ctx, "cgroup.procs");
  count = RARRAY_LEN(pids);
  for (i = 0; i < count; i++) { /* it would end the caller too, half way */
    if (mrb_integer(RARRAY_PTR(pids)[i]) == (mrb_int)getpid()) {
      raise_error(mrb, "InvalidValue", EINVAL, ctx->controller, ctx->path, "kill", "cgroup.procs",
                  NULL, "the calling process is in this group");
    }
  }
  if (sig == SIGKILL && on_v2(ctx->controller)) {
    err = kernel_write(mrb, ctx, ctx->path, "cgroup.kill", "1", FILE_ONCE);
  }
  if (err == EOPNOTSUPP)
    signal_pids(pids, sig);
  else if (err)
    raise_error(mrb, NULL, err, ctx->controller, ctx->path, "kill", "cgroup.kill", "1", NULL);
  while (sig == SIGKILL && RARRAY_LEN(pids = read_pids(mrb, ctx, "cgroup.procs")) > 0) {
    if (ms_left(deadline) == 0) {
      raise_error(mrb, NULL, ETIMEDOUT, ctx->controller, ctx->path, "kill", "cgroup.procs", NULL,
                  "processes remain");
    }
    if (err == EOPNOTSUPP) signal_pids(pids, sig); /* as read: also those forked meanwhile */
    back_off(&delay, deadline);
  }
  return mrb_int_value(mrb, count);
}

/* ---- Running a command in groups (like cgexec) ------------------------ */

struct spawn_report {
  int stage; /* index of the group whose attach failed; -1: exec */
  int err;
};

/* Async-signal-safe decimal of a pid. */
static size_t
pid_digits(pid_t pid, char out[16])
{
  char rev[16];
  size_t n = 0, i;

  do rev[n++] = (char)('0' + pid % 10);
  while ((pid /= 10) > 0);
  for (i = 0; i < n; i++) out[i] = rev[n - 1 - i];
  return n;
}

/* In the forked child: join each group, then exec; on failure tell the
 * parent through the pipe.  Only async-signal-safe calls. */
static void
spawn_child(char **tasks_files, int groups, char **argv, int report_fd)
{
  struct spawn_report report = {-1, 0};
  char pid[16];
  size_t len = pid_digits(getpid(), pid);
  int i, fd;

  for (i = 0; i < groups; i++) {
    fd = open(tasks_files[i], O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, pid, len) != (ssize_t)len) {
      report.stage = i;
      report.err = errno;
      break;
    }
    close(fd);
  }
  if (i == groups) {
    execvp(argv[0], argv);
    report.err = errno;
  }
  if (write(report_fd, &report, sizeof report) < 0) _exit(127);
  _exit(127);
}

/* On v2 a process is in one group for every controller: groups given to
 * spawn that v2 serves must all be the same one. */
static void
require_one_v2_group(mrb_state *mrb, mrb_value groups, struct cgroup_ctx *ctx)
{
  mrb_int i;

  for (i = 0; on_v2(ctx->controller) && i < RARRAY_LEN(groups); i++) {
    struct cgroup_ctx *other = get_ctx(mrb, RARRAY_PTR(groups)[i]);
    if (on_v2(other->controller) && strcmp(other->path, ctx->path) != 0) {
      raise_error(mrb, "InvalidValue", EINVAL, ctx->controller, ctx->path, "spawn", NULL,
                  other->path, "on cgroup v2 a process is in one group for all controllers");
    }
  }
}

/* The C strings of an Array of Strings (NULL-terminated; the Strings stay
 * reachable from the Array). */
static char **
c_strings(mrb_state *mrb, mrb_value ary)
{
  mrb_int i, n = RARRAY_LEN(ary);
  char **out;

  for (i = 0; i < n; i++) mrb_string_value_cstr(mrb, &RARRAY_PTR(ary)[i]);
  out = (char **)mrb_malloc(mrb, sizeof *out * (n + 1));
  for (i = 0; i < n; i++) out[i] = RSTRING_PTR(RARRAY_PTR(ary)[i]);
  out[n] = NULL;
  return out;
}

/*
 * Cgroup.spawn_in(groups, argv): fork; the child joins every group (its own
 * pid into each tasks/cgroup.procs, staged values written first), then execs
 * argv (PATH searched); returns the pid.  A failure in the child raises here.
 */
static mrb_value
cgroup_s_spawn_in(mrb_state *mrb, mrb_value self)
{
  mrb_value groups, argv, files = mrb_ary_new(mrb);
  struct spawn_report report;
  struct cgroup_ctx *ctx;
  char **c_files, **c_argv, full[PATH_MAX];
  int pipefd[2];
  mrb_int i;
  pid_t pid;
  ssize_t n;
  (void)self;

  mrb_get_args(mrb, "AA", &groups, &argv);
  if (RARRAY_LEN(groups) == 0) mrb_raise(mrb, E_ARGUMENT_ERROR, "no group to spawn in");
  if (RARRAY_LEN(argv) == 0) mrb_raise(mrb, E_ARGUMENT_ERROR, "no command to spawn");
  for (i = 0; i < RARRAY_LEN(groups); i++) {
    ctx = get_ctx(mrb, RARRAY_PTR(groups)[i]);
    require_group(mrb, ctx, "spawn");
    require_one_v2_group(mrb, groups, ctx);
    write_staged(mrb, ctx);
    if (!mount_path(mrb, ctx, ctx->path, tasks_file(ctx), full)) {
      raise_error(mrb, NULL, ENAMETOOLONG, ctx->controller, ctx->path, "spawn", NULL, NULL, NULL);
    }
    mrb_ary_push(mrb, files, mrb_str_new_cstr(mrb, full));
  }
  c_files = c_strings(mrb, files);
  c_argv = c_strings(mrb, argv);
  if (pipe2(pipefd, O_CLOEXEC) != 0) pipefd[0] = pipefd[1] = -1;
  pid = pipefd[0] >= 0 ? fork() : -1;
  if (pid == 0) spawn_child(c_files, (int)RARRAY_LEN(files), c_argv, pipefd[1]);
  mrb_free(mrb, c_files);
  mrb_free(mrb, c_argv);
  if (pid < 0) {
    int err = errno;
    if (pipefd[0] >= 0) {
      close(pipefd[0]);
      close(pipefd[1]);
    }
    errno = err;
    mrb_sys_fail(mrb, "spawn");
  }
  close(pipefd[1]);
  while ((n = read(pipefd[0], &report, sizeof report)) < 0 && errno == EINTR) {
  }
  close(pipefd[0]);
  if (n != (ssize_t)sizeof report) return mrb_int_value(mrb, pid); /* exec'd */
  while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
  }
  ctx = get_ctx(mrb, RARRAY_PTR(groups)[report.stage < 0 ? 0 : report.stage]);
  if (report.stage < 0) {
    raise_error(mrb, NULL, report.err, ctx->controller, ctx->path, "spawn: exec", NULL,
                RSTRING_PTR(RARRAY_PTR(argv)[0]), NULL);
  }
  raise_error(mrb, NULL, report.err, ctx->controller, ctx->path, "spawn: join", tasks_file(ctx),
              NULL, NULL);
}

/* Cgroup.waitpid(pid) => [exit status or nil, signal or nil] */
static mrb_value
cgroup_s_waitpid(mrb_state *mrb, mrb_value self)
{
  mrb_int pid;
  int status;
  pid_t ret;
  (void)self;

  mrb_get_args(mrb, "i", &pid);
  while ((ret = waitpid((pid_t)pid, &status, 0)) < 0 && errno == EINTR) {
  }
  if (ret < 0) mrb_raisef(mrb, E_ARGUMENT_ERROR, "pid %i is not a child to wait for", pid);
  return mrb_assoc_new(
      mrb, WIFEXITED(status) ? mrb_int_value(mrb, WEXITSTATUS(status)) : mrb_nil_value(),
      WIFSIGNALED(status) ? mrb_int_value(mrb, WTERMSIG(status)) : mrb_nil_value());
}

/* ---- The hierarchy ---------------------------------------------------- */

static enum controller_id controller_from(mrb_state *mrb, mrb_value name);

/* Cgroup.groups(controller, base = "/"): every group at and below base,
 * as paths relative to the mount, sorted (what lscgroup lists). */
static mrb_value
cgroup_s_groups(mrb_state *mrb, mrb_value self)
{
  mrb_value name, base = mrb_str_new_lit(mrb, "/"), list = mrb_ary_new(mrb);
  struct cgroup_ctx probe = {CTL_CPU, {NULL}, NULL, 0, NULL};
  char path[PATH_MAX], full[PATH_MAX];
  char *roots[2] = {full, NULL};
  size_t mount_len;
  FTSENT *e;
  FTS *fts;
  (void)self;

  mrb_get_args(mrb, "o|S", &name, &base);
  probe.controller = controller_from(mrb, name);
  normalise_name(mrb, probe.controller, base, path, sizeof path);
  if (!mount_path(mrb, &probe, path, NULL, full) || !path_exists(mrb, &probe, path)) {
    raise_error(mrb, "NotFound", ENOENT, probe.controller, path, "list groups", NULL, NULL,
                "no such group");
  }
  mount_len = strlen(mount_points[probe.controller]);
  if (!(fts = fts_open(roots, FTS_PHYSICAL | FTS_NOCHDIR, NULL))) mrb_sys_fail(mrb, full);
  while ((e = fts_read(fts))) {
    if (e->fts_info != FTS_D) continue;
    mrb_ary_push(mrb, list,
                 mrb_str_new_cstr(mrb, e->fts_path[mount_len] ? e->fts_path + mount_len : "/"));
  }
  fts_close(fts);
  return mrb_funcall_id(mrb, list, MRB_SYM(sort), 0);
}

/* ---- Cgroup module functions ------------------------------------------ */

/* The controller a name ("memory", :io, "cpuacct", ...) stands for: the
 * class served by a controller of that name here, else the class named so. */
static enum controller_id
controller_from(mrb_state *mrb, mrb_value name)
{
  const char *s;
  int i;

  if (mrb_symbol_p(name)) name = mrb_sym_str(mrb, mrb_symbol(name));
  s = mrb_string_value_cstr(mrb, &name);
  pthread_once(&library_once, library_init);
  for (i = 0; i < CTL_COUNT; i++) {
    if (versions[i] && strcmp(kernel_controller(i), s) == 0) return (enum controller_id)i;
  }
  for (i = 0; i < CTL_COUNT; i++) { /* the class's own name: "cpuacct", "io" */
    const char *own = controller_names[i][0] ? controller_names[i][0] : controller_names[i][1];
    if (strcmp(own, s) == 0) return (enum controller_id)i;
  }
  mrb_raisef(mrb, E_ARGUMENT_ERROR, "unknown controller %s", s);
}

static enum controller_id
controller_arg(mrb_state *mrb)
{
  mrb_value name;

  mrb_get_args(mrb, "o", &name);
  return controller_from(mrb, name);
}

/* Cgroup.version(controller) => 1, 2, or nil when it is not available */
static mrb_value
cgroup_s_version(mrb_state *mrb, mrb_value self)
{
  enum controller_id id = controller_arg(mrb);
  (void)self;

  return versions[id] ? mrb_int_value(mrb, versions[id]) : mrb_nil_value();
}

/* Cgroup.controllers => the controllers available here, by kernel name */
static mrb_value
cgroup_s_controllers(mrb_state *mrb, mrb_value self)
{
  mrb_value list = mrb_ary_new(mrb), name;
  int i;
  (void)self;

  pthread_once(&library_once, library_init);
  for (i = 0; i < CTL_COUNT; i++) {
    if (!versions[i]) continue;
    name = mrb_str_new_cstr(mrb, is_core(i) ? controller_names[i][0] : kernel_controller(i));
    if (!mrb_test(mrb_funcall_id(mrb, list, MRB_SYM_Q(include), 1, name)))
      mrb_ary_push(mrb, list, name);
  }
  return list;
}

/* Cgroup.current_path(controller) => the calling thread's group, e.g.
 * "/user.slice/session-1.scope", to build names inside a delegated subtree */
static mrb_value
cgroup_s_current_path(mrb_state *mrb, mrb_value self)
{
  struct cgroup_ctx probe = {controller_arg(mrb), {NULL}, NULL, 0, NULL};
  char *path;
  mrb_value result;
  (void)self;

  if (!versions[probe.controller]) {
    raise_error(mrb, "Unsupported", ENODEV, probe.controller, "/", "find controller", NULL, NULL,
                "controller is not mounted");
  }
  path = current_group(mrb, &probe, calling_thread());
  if (!path) mrb_sys_fail(mrb, "/proc/self/cgroup");
  result = mrb_str_new_cstr(mrb, path);
  free(path);
  return result;
}

/* ---- Definitions ------------------------------------------------------ */

#define ERROR_READERS(X) X(errno) X(controller) X(group) X(file) X(value) X(written)
#define DEFINE_ERROR_READER(name)                                                                  \
  static mrb_value error_##name(mrb_state *mrb, mrb_value self)                                    \
  {                                                                                                \
    return mrb_iv_get(mrb, self, mrb_intern_lit(mrb, "@" #name));                                  \
  }
ERROR_READERS(DEFINE_ERROR_READER)
#undef DEFINE_ERROR_READER

/* Cgroup::Error < StandardError and its subclasses; readers for the facts
 * make_error records (nil on an Error raised from Ruby). */
static void
define_errors(mrb_state *mrb, struct RClass *cgroup)
{
  static const char *const subclasses[] = {"NotFound", "PermissionDenied", "InvalidValue",
                                           "Busy",     "Unsupported",      "Timeout"};
  struct RClass *base = mrb_define_class_under(mrb, cgroup, "Error", mrb->eStandardError_class);
  size_t i;

#define DEFINE_ERROR_METHOD(name)                                                                  \
  mrb_define_method(mrb, base, #name, error_##name, MRB_ARGS_NONE());
  ERROR_READERS(DEFINE_ERROR_METHOD)
#undef DEFINE_ERROR_METHOD
  for (i = 0; i < sizeof subclasses / sizeof subclasses[0]; i++) {
    mrb_define_class_under(mrb, cgroup, subclasses[i], base);
  }
}

static void
define_attribute(mrb_state *mrb, struct RClass *klass, const struct attribute *attr)
{
  char setter[64];

  if (attr->access & ACCESS_RO) {
    mrb_define_method(mrb, klass, attr->name, attr->reader, MRB_ARGS_NONE());
  }
  if (attr->access & ACCESS_WO) {
    snprintf(setter, sizeof setter, "%s=", attr->name);
    mrb_define_method(mrb, klass, setter, attr->writer, MRB_ARGS_REQ(1));
  }
}

void
mrb_mruby_cgroup_gem_init(mrb_state *mrb)
{
  static const char *const class_names[CTL_COUNT] = {
#define CLASS_NAME(klass, v1, v2) #klass,
      CGROUP_CONTROLLERS(CLASS_NAME)
#undef CLASS_NAME
  };
  struct RClass *cgroup = mrb_define_module(mrb, "Cgroup");
  struct RClass *classes[CTL_COUNT];
  int i;

  define_errors(mrb, cgroup);
  /* the unit of v1's cpuacct.stat */
  mrb_define_const(mrb, cgroup, "USER_HZ", mrb_int_value(mrb, sysconf(_SC_CLK_TCK)));
  kept_files_init(mrb, cgroup);
  /* Methods on the module itself, so they stay public in including classes. */
  mrb_define_method(mrb, cgroup, "create", cgroup_create, MRB_ARGS_NONE());
  mrb_define_method(mrb, cgroup, "modify", cgroup_modify, MRB_ARGS_NONE());
  mrb_define_method(mrb, cgroup, "delete", cgroup_delete, MRB_ARGS_NONE());
  mrb_define_method(mrb, cgroup, "attach", cgroup_attach, MRB_ARGS_OPT(1));
  mrb_define_method(mrb, cgroup, "detach", cgroup_detach, MRB_ARGS_OPT(1));
  mrb_define_method(mrb, cgroup, "exist?", cgroup_exist_p, MRB_ARGS_NONE());
  mrb_define_method(mrb, cgroup, "procs", cgroup_procs, MRB_ARGS_NONE());
  mrb_define_method(mrb, cgroup, "tasks", cgroup_tasks, MRB_ARGS_NONE());
  mrb_define_method(mrb, cgroup, "kill_all", cgroup_kill_all, MRB_ARGS_OPT(2));
  mrb_define_class_method(mrb, cgroup, "spawn_in", cgroup_s_spawn_in, MRB_ARGS_REQ(2));
  mrb_define_class_method(mrb, cgroup, "waitpid", cgroup_s_waitpid, MRB_ARGS_REQ(1));
  mrb_define_class_method(mrb, cgroup, "groups", cgroup_s_groups, MRB_ARGS_ARG(1, 1));
  mrb_define_class_method(mrb, cgroup, "version", cgroup_s_version, MRB_ARGS_REQ(1));
  mrb_define_class_method(mrb, cgroup, "controllers", cgroup_s_controllers, MRB_ARGS_NONE());
  mrb_define_class_method(mrb, cgroup, "current_path", cgroup_s_current_path, MRB_ARGS_REQ(1));

  for (i = 0; i < CTL_COUNT; i++) {
    classes[i] = mrb_define_class_under(mrb, cgroup, class_names[i], mrb->object_class);
    MRB_SET_INSTANCE_TT(classes[i], CGROUP_DATA_TT);
    mrb_include_module(mrb, classes[i], cgroup);
    mrb_define_method(mrb, classes[i], "initialize", controller_initializers[i], MRB_ARGS_REQ(1));
    mrb_define_const(mrb, classes[i], "CONTROLLER",
                     mrb_str_new_cstr(mrb, controller_names[i][0] ? controller_names[i][0]
                                                                  : controller_names[i][1]));
  }
  for (i = 0; i < ATTR_COUNT; i++) {
    define_attribute(mrb, classes[attributes[i].controller], &attributes[i]);
  }
  mrb_define_method(mrb, classes[CTL_FREEZER], "freeze", freezer_freeze, MRB_ARGS_OPT(1));
  mrb_define_method(mrb, classes[CTL_FREEZER], "thaw", freezer_thaw, MRB_ARGS_OPT(1));
  mrb_define_method(mrb, classes[CTL_FREEZER], "state", freezer_state_m, MRB_ARGS_NONE());
  mrb_define_method(mrb, classes[CTL_FREEZER], "frozen?", freezer_frozen_p, MRB_ARGS_NONE());
  mrb_define_method(mrb, classes[CTL_MEMORY], "wait_for_oom", memory_wait_for_oom, MRB_ARGS_OPT(1));
}

void
mrb_mruby_cgroup_gem_final(mrb_state *mrb)
{
  (void)mrb;
}
