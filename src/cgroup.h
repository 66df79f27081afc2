/*
 * What the files of src/ say to each other; private, never installed.
 *
 * The files stand on floors, and a call flows down: a file calls only
 * files on floors below its own, so nothing calls up and no calls go
 * round.  `rake calls` holds the built objects' calls (nm) against this
 * list, from the roof down:
 *
 *   roof:      mrb_cgroup.c
 *   composite: delegate.c memory.c pressure.c
 *   methods:   group.c tasks.c kill.c wait.c files.c spawn.c accounting.c worker.c scope.c
 *              module.c
 *   values:    attribute.c accounting_files.c accounting_usage.c
 *   objects:   object.c membership.c
 *   files:     kernel_io.c v2.c accounting_counters.c
 *   text:      text.c
 *   ground:    errors.c attribute_table.c deadline.c attachments.c kept_files.c pace.c
 *   host:      libcgroup.c
 *   base:      descriptors.c
 *
 * The roof is the gem's init: it makes the classes from the two tables
 * (CGROUP_CONTROLLERS below, CGROUP_ATTRIBUTES in attribute_table.h) and
 * lets each file of methods define its own; nothing calls it.  Methods are
 * what Ruby calls; composite methods are built on other methods' files
 * (delegation on group.c's levels, MEMORY's and PRESSURE's handles on
 * files.c's).  Values are an attribute read, staged and written, and
 * accounting's counters read and turned into a lease's usage.  Objects are
 * a Cgroup object's C side and the membership of groups: which group a
 * task is in, which tasks and groups a group holds.  Files are a group's
 * files under the mount, and the text of v2's and the counters' files;
 * text is kernel text <-> Ruby values, with no I/O.  The ground is what
 * everything stands on: the exceptions, the attribute table's rows,
 * deadlines, the records of attachments, descriptors kept open, and the
 * pace of moves; the host is the hierarchies libcgroup finds, which each
 * object carries from its first use (struct hierarchy); the base is a
 * descriptor kept open and checked before each use.
 *
 * Every name declared here starts with mcg_: the gem's objects end up in
 * libmruby.a beside other gems and the program that embeds mruby, and
 * libcgroup already owns cgroup_ and cg_.
 *
 * One rule for errors: a function that returns an errno says so in its
 * comment, in the form it takes ("0 or an errno", "-1 and errno", "NULL
 * and errno"), and raises nothing; any other reports a failure by raising
 * a Cgroup::Error (made in errors.c from a struct failure), and those
 * named mcg_raise_* always raise.  A caller handles the errno or the
 * exception, never both.  Beside this, any function given an mrb_state
 * may raise mruby's NoMemoryError: allocation raises it anywhere.
 */
#ifndef MRUBY_CGROUP_H
#define MRUBY_CGROUP_H

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

#include <mruby.h>

#include "attribute_table.h"

/*
 * X(Ruby class under Cgroup, its name in Ruby (CONTROLLER, Cgroup.version),
 *   cgroup v1 controller, cgroup v2 controller).
 * On v2, CPUACCT's numbers come from the cpu controller and BLKIO's from io;
 * IO and MISC exist on v2 only.  V2_CORE_FILES: files every non-root group of the
 * cgroup2 hierarchy has, whatever controllers it enables: FREEZER on v2
 * (cgroup.freeze) and PRESSURE (the PSI files, cpu.pressure and the rest),
 * which is v2 only and on a hybrid host lives in the cgroup2 mount.
 */
#define V2_CORE_FILES "cgroup"
#define CGROUP_CONTROLLERS(X)                                                                      \
  X(CPU, "cpu", "cpu", "cpu")                                                                      \
  X(CPUACCT, "cpuacct", "cpuacct", "cpu")                                                          \
  X(CPUSET, "cpuset", "cpuset", "cpuset")                                                          \
  X(BLKIO, "blkio", "blkio", "io")                                                                 \
  X(IO, "io", NULL, "io")                                                                          \
  X(MEMORY, "memory", "memory", "memory")                                                          \
  X(PIDS, "pids", "pids", "pids")                                                                  \
  X(FREEZER, "freezer", "freezer", V2_CORE_FILES)                                                  \
  X(PRESSURE, "pressure", NULL, V2_CORE_FILES)                                                     \
  X(HUGETLB, "hugetlb", "hugetlb", "hugetlb")                                                      \
  X(MISC, "misc", NULL, "misc")

enum controller_id {
#define CONTROLLER_ENUM(klass, name, v1, v2) CTL_##klass,
  CGROUP_CONTROLLERS(CONTROLLER_ENUM) CTL_COUNT
#undef CONTROLLER_ENUM
};

/* A file's format, and how a value in v1 form maps onto v2's file: the
 * one description of each is attribute_table.h's, beside the table. */
enum value_kind {
  KIND_INT,
  KIND_LIMIT,
  KIND_STRING,
  KIND_DEVLIMIT,
  KIND_FLAG,
  KIND_FLAT_KEYED,
  KIND_NESTED_KEYED,
  KIND_LIST
};
enum v2_conversion { V2_SAME, V2_FIELD0, V2_FIELD1, V2_WEIGHT, V2_USEC, V2_IOMAX, V2_SWAP };

enum access {
  ACCESS_RO = 1,
  ACCESS_WO = 2,
  ACCESS_RW = ACCESS_RO | ACCESS_WO,
  ACCESS_INHERIT = 4, /* v1: copied from the parent on create when not set */
  ACCESS_RW_INHERIT = ACCESS_RW | ACCESS_INHERIT,
};

/* One row of CGROUP_ATTRIBUTES (attribute_table.h). */
struct attribute {
  enum controller_id controller;
  const char *name;
  enum value_kind kind;
  enum access access;
  const char *file[2]; /* [0] on cgroup v1, [1] on v2; NULL: none there */
  const char *key[2];  /* the "key value" line to pick, or NULL */
  enum v2_conversion conversion;
};

/* A value set from Ruby, not yet written: checked and typed once, when
 * set (text.c), and formatted for the version in force when written. */
struct staged_value {
  long long number; /* INT, LIMIT: -1 (unlimited) or more; FLAG: 1 or 0 */
  char text[];      /* STRING, DEVLIMIT: as given ("MAJ:MIN VALUE"); else "" */
};

struct attachment {
  pid_t pid;
  pid_t owner;        /* the process that attached it: a forked child inherits the
                         record, and must not act on it (it would move the parent) */
  char *previous;     /* the group the task was in before the first of its
                         attachments, through any object (mrb_malloc) */
  int holds;          /* attaches through this object not yet detached */
  mrb_bool chained;   /* made while other objects held the task where it was */
  mrb_bool whole;     /* attach_process: the whole process moves (cgroup.procs) both ways */
  unsigned long made; /* when the record was made, and when last attached */
  unsigned long seq;  /* (mcg_next_seq): the task sits in the group attached last */
};

/*
 * What serves a controller on this host, found once per process
 * (libcgroup.c).  Each object points at its controller's from `new` (or
 * its first use, when the hierarchies could not be looked at then) and
 * reads these facts from it: nothing asks libcgroup.c again per call.
 */
struct hierarchy {
  int version;            /* 1 or 2; 0: not available here */
  const char *mount;      /* NULL: not available here */
  size_t mount_length;    /* strlen(mount) */
  const char *controller; /* the kernel's name on that version ("cpu", "io") */
  mrb_bool core_files;    /* served by v2's core files, not a controller (FREEZER on v2) */
};

/* The C side of one Cgroup::X object, owned by its Data object. */
struct cgroup_ctx {
  enum controller_id controller;
  const struct hierarchy *host; /* its controller's; filled in once the hierarchies are found */
  struct staged_value *staged[ATTR_COUNT]; /* values set from Ruby, not yet written */
  uint64_t reported; /* bit per attribute: its staged value failed to be written */
  struct attachment *attached;
  int attached_count;
  struct kept_files *kept; /* this state's kept files (mcg_kept_bind, at new) */
  mrb_bool threaded;       /* threaded!: on v2 attach and detach move threads (cgroup.threads) */
  mrb_bool domain_seen;    /* v2 memory, io: the group was seen not to be threaded */
  char path[];             /* normalised group path, "/" for the root */
};

/* The facts an object carries (struct hierarchy), read without a call. */
static inline mrb_bool
mcg_ctx_on_v2(const struct cgroup_ctx *ctx)
{
  return ctx->host->version == 2;
}

/* ==== host ============================================================ */

/* ---- libcgroup.c: the host's hierarchies; the only user of libcgroup -- */
const struct hierarchy *mcg_hierarchy(enum controller_id id, char *why, size_t size, int *err);
int mcg_version(enum controller_id id); /* 1 or 2; 0: not available */
mrb_bool mcg_on_v2(enum controller_id id);
mrb_bool mcg_served_without_controller(enum controller_id id);
const char *mcg_kernel_controller(enum controller_id id);
const char *mcg_own_controller_name(enum controller_id id);
int mcg_hierarchies_failure(char *why, size_t size, mrb_bool *none_mounted);
int mcg_mount_root(enum controller_id id, char out[PATH_MAX]);
void mcg_forget_mount_roots(void);
#ifdef CGROUP_FUZZ
void mcg_set_version(enum controller_id id, int version);
#endif
#ifdef MCG_HAVE_LIBCGROUP_SCOPE
const char *mcg_lib_create_scope(const char *name, const char *slice, pid_t pid);
#endif

/* ==== ground ========================================================== */

/* ---- errors.c: the one place exceptions are made -------------------- */
/*
 * The facts of a failed call, named at the call site:
 *   mcg_raise_error(mrb, MCG_FAILURE(.cls = "NotFound", .err = ENOENT, .ctx = ctx,
 *                                    .action = "delete", .reason = "no such group"));
 * A field left out is NULL (err 0).  An error about a group names it by
 * ctx, or without an object by controller and group;
 * mcg_raise_process_error uses only cls, err, action and reason.
 */
struct failure {
  const char *cls;              /* Cgroup::<cls>; NULL: picked from err */
  int err;                      /* the errno (@errno) */
  const struct cgroup_ctx *ctx; /* the object: its controller, and its group unless .group */
  const struct hierarchy *host; /* without ctx: the hierarchy that names the controller */
  const char *group;            /* the group named; NULL: ctx's (ctx->path) */
  const char *action;           /* what was tried: "write", "attach" */
  const char *file, *value;     /* the file and the value, if any */
  const char *reason;           /* NULL: strerror(err) */
};
#define MCG_FAILURE(...) (&(struct failure){__VA_ARGS__})
mrb_value mcg_make_error(mrb_state *mrb, const struct failure *f);
mrb_noreturn void mcg_raise_error(mrb_state *mrb, const struct failure *f);
mrb_noreturn void mcg_raise_process_error(mrb_state *mrb, const struct failure *f);
mrb_bool mcg_error_is(mrb_state *mrb, mrb_value exc, const char *cls);
int mcg_errno_for_class(const char *cls);
void mcg_init_errors(mrb_state *mrb, struct RClass *cgroup);
mrb_bool mcg_is_fiber_switch(mrb_state *mrb, mrb_value exc);
mrb_value mcg_yield_no_fiber_switch(mrb_state *mrb, mrb_value args, const struct failure *f);

/* ---- attribute_table.c: the attribute table's rows ---------------------------- */
extern const struct attribute mcg_attributes[ATTR_COUNT];
const char *mcg_attr_file(const struct cgroup_ctx *ctx, const struct attribute *attr);
const char *mcg_attr_key(const struct cgroup_ctx *ctx, const struct attribute *attr);

/* ---- deadline.c: timeouts, deadlines, back-off ---------------------- */
double mcg_timeout_arg(mrb_state *mrb, mrb_value v, double otherwise);
double mcg_deadline_after(double timeout);
int mcg_ms_left(double deadline);
void mcg_back_off(long *delay, double deadline);

/* ---- attachments.c: attachments of one task across objects ----------------- */
unsigned long mcg_next_seq(void);
mrb_bool mcg_hold(mrb_state *mrb, struct cgroup_ctx *ctx);
void mcg_release(struct cgroup_ctx *ctx);
struct attachment *mcg_find_attachment(struct cgroup_ctx *ctx, pid_t pid);
void mcg_other_holds(mrb_state *mrb, struct cgroup_ctx *ctx, pid_t pid, struct attachment **first,
                     struct attachment **last, struct cgroup_ctx **last_ctx);

/* ---- kept_files.c: descriptors kept open across calls ---------------------- */
/*
 * A descriptor kept open, with the identity of the file it was opened on.
 * The program may close it behind the gem's back (daemons close every
 * descriptor) and the number be reused for another file, which must then be
 * neither used nor closed: a use checks the identity first (an fstat, a
 * fraction of what keeping the descriptor saves; a group file's once per
 * cycle, see struct kept_cycle).  The owner and mode are kept too: a chown
 * or chmod since the open may have taken away what the open was allowed,
 * so the file is then opened anew.
 */
struct kept_fd {
  int fd; /* -1: none */
  dev_t dev;
  ino_t ino;
  uid_t uid;
  gid_t gid;
  mode_t mode;
};
/* descriptors.c: a kept descriptor's open, checks and close */
mrb_bool mcg_fd_adopt(struct kept_fd *kept, int fd);
void mcg_fd_open(struct kept_fd *kept, const char *path, int flags);
mrb_bool mcg_fd_valid(const struct kept_fd *kept);
mrb_bool mcg_fd_unchanged(const struct kept_fd *kept);
void mcg_fd_close(struct kept_fd *kept);
ssize_t mcg_pread_whole(mrb_state *mrb, int fd, char **buf, size_t *size);
/*
 * What the kernel looks at in the caller when a group file is opened, and
 * later when a task is moved through the descriptor that open made (the
 * kernel then checks the opener's credentials, not the writer's): the
 * file-system user and group (which follow the effective ones, unless
 * setfsuid/setfsgid moved them, as file servers do), supplementary groups
 * and effective capabilities (CAP_DAC_OVERRIDE lets root write a file it
 * does not own): the open's check, and on v2 a move's check of the common
 * ancestor's cgroup.procs; the effective user: v1 lets the opener of tasks
 * or cgroup.procs move another user's task only as root or as that user.
 * The effective group is looked at by neither (fsgid follows it).
 * Securebits need no entry of their own: they change only what a change
 * of ids does to the capabilities, which are compared themselves.  Not
 * looked at: the user and cgroup namespaces and an LSM label; no cheap
 * call shows them (a stat of /proc/self/ns/user costs 7 us), so a program
 * that changes one calls Cgroup.close_kept.
 */
struct opener {
  uid_t euid, fsuid;
  gid_t fsgid;
  uint64_t groups;  /* FNV-1a of the supplementary group list; 0: not known */
  uint32_t caps[2]; /* the effective capability set */
};
/*
 * A run of uses of kept group files inside one C function, with no Ruby
 * code between them (modify's values, move_all's pids, a reader and its
 * v2 partner file): the caller's credentials are read at most once in it,
 * and each file's identity checked once, as if every file it uses had been
 * opened at its start.  It lives on that function's stack and is passed
 * down: it ends when the function returns or raises, so user code never
 * runs inside one (a block, a method the user redefined, a rescue).  What
 * the program's other threads or signal handlers do meanwhile races with
 * the check, as it would with an open at the cycle's start.
 */
struct kept_cycle {
  uint64_t serial; /* the files checked in this cycle carry it */
  mrb_bool read;   /* who holds the caller's credentials */
  struct opener who;
};
/* An I/O on a group file's descriptor; 0 or an errno. */
typedef int (*fd_io)(mrb_state *mrb, int fd, void *arg);
void mcg_init_kept(mrb_state *mrb, struct RClass *cgroup);
void mcg_close_kept(mrb_state *mrb);
void mcg_kept_bind(mrb_state *mrb, struct cgroup_ctx *ctx);
int mcg_below_mount(const struct cgroup_ctx *ctx, const char *rel, char buf[PATH_MAX],
                    const char **path);
int mcg_open_below_mount(const struct cgroup_ctx *ctx, const char *rel, int flags);
struct stat;
int mcg_stat_below_mount(const struct cgroup_ctx *ctx, const char *rel, struct stat *st);
void mcg_kept_cycle_begin(const struct cgroup_ctx *ctx, struct kept_cycle *cycle);
int mcg_kept_file_io(mrb_state *mrb, struct cgroup_ctx *ctx, const char *rel, int flags, fd_io io,
                     void *arg, struct kept_cycle *cycle);
void mcg_forget_kept_under(mrb_state *mrb, const struct cgroup_ctx *ctx, const char *rel_dir);
char *mcg_read_proc_cgroup(mrb_state *mrb, const struct cgroup_ctx *ctx, pid_t pid);

/* ---- pace.c: favordynmods, and moves at a server's pace -------------- */
mrb_bool mcg_mountinfo_favors_dynmods(const char *line, size_t len);
int mcg_favordynmods(void); /* 1, 0, or -errno */
void mcg_note_move(void);
void mcg_set_warn_moves(mrb_bool on);
mrb_bool mcg_warn_moves(void);

/* ==== text ============================================================ */

/* ---- text.c: kernel text <-> Ruby values, group names (no I/O) ------- */
const char *mcg_skip_blanks(const char *s, const char *end);
const char *mcg_token_end(const char *s, const char *end);
const char *mcg_find_key(const char *s, const char *end, const char *key, const char **value_end);
mrb_bool mcg_parse_integer(mrb_state *mrb, const char *s, const char *end, mrb_value *out);
mrb_noreturn void mcg_raise_unexpected(mrb_state *mrb, struct cgroup_ctx *ctx,
                                       const struct attribute *attr, const char *text);
mrb_value mcg_select_key(mrb_state *mrb, struct cgroup_ctx *ctx, const struct attribute *attr,
                         mrb_value text);
mrb_value mcg_text_to_value(mrb_state *mrb, struct cgroup_ctx *ctx, const struct attribute *attr,
                            const char *text, size_t len);
struct staged_value *mcg_stage_value(mrb_state *mrb, struct cgroup_ctx *ctx,
                                     const struct attribute *attr, mrb_value v);
mrb_value mcg_staged_to_value(mrb_state *mrb, const struct attribute *attr,
                              const struct staged_value *sv);
const char *mcg_staged_v1_text(const struct attribute *attr, const struct staged_value *sv,
                               char buf[32]);
const char *mcg_printable(mrb_state *mrb, mrb_value str);
void mcg_normalise_name(mrb_state *mrb, const struct hierarchy *host, mrb_value name, char *out,
                        size_t size);

/* ==== files =========================================================== */

/* ---- kernel_io.c: a group's files, "0 or an errno" ------------------- */
/* How often a file is used: FILE_OFTEN keeps its descriptor open. */
enum file_use { FILE_ONCE, FILE_OFTEN };
void mcg_require_hierarchies(mrb_state *mrb);
const char *mcg_require_mount(mrb_state *mrb, struct cgroup_ctx *ctx);
mrb_bool mcg_group_path(const char *path, const char *file, char rel[PATH_MAX]);
mrb_bool mcg_mount_path(const struct cgroup_ctx *ctx, const char *path, const char *file,
                        char full[PATH_MAX]);
mrb_bool mcg_path_exists(const struct cgroup_ctx *ctx, const char *path);
int mcg_remove_group_dir(const struct cgroup_ctx *ctx, const char *path);
void mcg_require_group(mrb_state *mrb, struct cgroup_ctx *ctx, const char *action);
int mcg_open_in_mount(const struct cgroup_ctx *ctx, const char *path, const char *file, int flags);
mrb_value mcg_kernel_read(mrb_state *mrb, struct cgroup_ctx *ctx, const char *path,
                          const char *file, enum file_use use);
const char *mcg_kernel_read_line(mrb_state *mrb, struct cgroup_ctx *ctx, const char *path,
                                 const char *file);
int mcg_kernel_write(mrb_state *mrb, struct cgroup_ctx *ctx, const char *path, const char *file,
                     const char *value, enum file_use use);
/* The same through a kept descriptor, in a cycle (struct kept_cycle). */
mrb_value mcg_kernel_read_in(mrb_state *mrb, struct cgroup_ctx *ctx, const char *path,
                             const char *file, struct kept_cycle *cycle);
int mcg_kernel_write_in(mrb_state *mrb, struct cgroup_ctx *ctx, const char *path, const char *file,
                        const char *value, struct kept_cycle *cycle);
void mcg_parent_of(const char *path, char parent[PATH_MAX]);
mrb_bool mcg_lists_word(mrb_value text, const char *word);
int mcg_enable_in_parent(mrb_state *mrb, struct cgroup_ctx *ctx, const char *path);
/* What a file of a group that could not be opened (ENOENT) turns out to be:
 * back (the group was removed and made again meanwhile), its group gone,
 * its controller off for the group (v2), or lacking from the group. */
enum file_absence { FILE_BACK, GROUP_GONE, CONTROLLER_OFF, FILE_LACKING };
enum file_absence mcg_look_again(mrb_state *mrb, struct cgroup_ctx *ctx, const char *path,
                                 const char *file);

/* ---- v2.c: cgroup v1 form <-> v2 files (no I/O) ---------------------- */
const char *mcg_v2_partner_file(const struct attribute *attr, const struct staged_value *staged,
                                char *buf, size_t size);
mrb_value mcg_v2_to_v1(mrb_state *mrb, struct cgroup_ctx *ctx, const struct attribute *attr,
                       mrb_value text, mrb_value partner);
const char *mcg_v2_text(mrb_state *mrb, struct cgroup_ctx *ctx, const struct attribute *attr,
                        const struct staged_value *sv, mrb_value partner);
/* The files beside the attributes whose names differ between versions. */
enum version_file { FILE_MOVE_TASK, FILE_THREADS, FILE_FREEZE, FILE_FROZEN };
const char *mcg_version_file(const struct cgroup_ctx *ctx, enum version_file file);
const char *mcg_freeze_value(const struct cgroup_ctx *ctx, mrb_bool freeze);
mrb_bool mcg_follows_threads(const struct cgroup_ctx *ctx);

/* ==== objects ========================================================= */

/* ---- object.c: a Cgroup object's C side ----------------------------- */
struct cgroup_ctx *mcg_get_ctx(mrb_state *mrb, mrb_value self);
mrb_value mcg_initialize(mrb_state *mrb, mrb_value self, enum controller_id controller);
const char *mcg_class_name(enum controller_id controller);
mrb_value mcg_group_new(mrb_state *mrb, enum controller_id controller, mrb_value name);
enum controller_id mcg_controller_from(mrb_state *mrb, mrb_value name);

/* ---- membership.c: where tasks and groups are ---------------------------- */
pid_t mcg_calling_thread(void);
void mcg_flush_cpu_time(pid_t pid);
void mcg_flush_own_cpu_time(void);
mrb_bool mcg_proc_stat_field(pid_t pid, int field, unsigned long long *out);
int mcg_current_group(mrb_state *mrb, struct cgroup_ctx *ctx, pid_t pid, char out[PATH_MAX]);
mrb_noreturn void mcg_raise_unreadable_group(mrb_state *mrb, struct cgroup_ctx *ctx, pid_t pid,
                                             int err, const char *seen);
mrb_bool mcg_task_is_in(mrb_state *mrb, struct cgroup_ctx *ctx, pid_t pid, const char *path);
mrb_bool mcg_caller_within(mrb_state *mrb, struct cgroup_ctx *ctx, const char *path);
mrb_value mcg_read_pids(mrb_state *mrb, struct cgroup_ctx *ctx, const char *path, const char *file);
mrb_value mcg_subtree_pids(mrb_state *mrb, struct cgroup_ctx *ctx, const char *file);
mrb_value mcg_subtree(mrb_state *mrb, struct cgroup_ctx *ctx, const char *action);

/* ==== values ========================================================== */

/* ---- attribute.c: an attribute read, staged, written ---------------- */
mrb_value mcg_attr_get(mrb_state *mrb, mrb_value self, enum attribute_id id);
mrb_value mcg_attr_set(mrb_state *mrb, mrb_value self, enum attribute_id id);
void mcg_attr_stage(mrb_state *mrb, mrb_value self, enum attribute_id id, mrb_value v);
void mcg_attr_check(mrb_state *mrb, mrb_value self, enum attribute_id id, mrb_value v);
mrb_bool mcg_has_staged(const struct cgroup_ctx *ctx);
void mcg_staged_told(struct cgroup_ctx *ctx);
/* Who writes the staged values, which decides what a failure leaves staged. */
enum staged_write {
  STAGED_MODIFY,         /* modify, create of a group that was there */
  STAGED_INTO_NEW_GROUP, /* create, which removes the group it made on failure */
  STAGED_BEFORE_MOVE,    /* attach, spawn: a refused value stays, and raises again */
};
void mcg_write_staged(mrb_state *mrb, struct cgroup_ctx *ctx, enum staged_write how);
void mcg_copy_inherited_settings(mrb_state *mrb, struct cgroup_ctx *ctx, const char *path,
                                 mrb_bool target);

/* ==== methods: each file defines its own (mcg_init_*) ================= */
void mcg_init_group(mrb_state *mrb, struct RClass *cgroup);
void mcg_make_level(mrb_state *mrb, struct cgroup_ctx *ctx, const char *path, mrb_bool target);
void mcg_require_enabled_in_parent(mrb_state *mrb, struct cgroup_ctx *ctx, const char *path);
void mcg_init_tasks(mrb_state *mrb, struct RClass *cgroup);
void mcg_init_kill(mrb_state *mrb, struct RClass *cgroup);
void mcg_init_wait(mrb_state *mrb, struct RClass *cgroup);
void mcg_init_spawn(mrb_state *mrb, struct RClass *cgroup);
void mcg_init_accounting(mrb_state *mrb, struct RClass *cgroup);
void mcg_init_worker(mrb_state *mrb, struct RClass *cgroup);
void mcg_init_scope(mrb_state *mrb, struct RClass *cgroup);
void mcg_init_module(mrb_state *mrb, struct RClass *cgroup);
void mcg_init_files(mrb_state *mrb, struct RClass *cgroup);
/* files.c: the checks of a file's name and value (the fuzz target calls them too) */
const char *mcg_file_name_fault(const char *name, size_t len, int version,
                                const char *v1_controller, mrb_bool *other_version);
const char *mcg_file_value_fault(const char *s, size_t len);
/* files.c: Cgroup::GroupFile, a group file's descriptor owned by one object */
mrb_value mcg_group_file_new(mrb_state *mrb, const char *klass, mrb_value group, const char *file,
                             const char *what, int fd);
int mcg_group_file_fd(mrb_state *mrb, mrb_value self, const char *action);
struct RClass *mcg_define_group_file_class(mrb_state *mrb, struct RClass *cgroup, const char *name);
mrb_noreturn void mcg_raise_for_group_file(mrb_state *mrb, mrb_value self, const struct failure *f);

/* ==== composite methods ============================================== */
void mcg_init_delegate(mrb_state *mrb, struct RClass *cgroup);
void mcg_init_memory(mrb_state *mrb, struct RClass *cgroup);
void mcg_init_pressure(mrb_state *mrb, struct RClass *cgroup);

#endif
