/*
 * Cgroup::Meter: the counters of one slot of a Cgroup::Pool (mrblib/pool.rb),
 * read before and after a lease through descriptors the meter keeps open,
 * and the slot's lock.  A lease costs a pread per counter file at its end,
 * and at its start a few (a slot holds no task between leases, so most
 * counters start where the last lease ended) and the write that resets the
 * peak: instead of a mkdir, the new group's first opens and an rmdir.
 *
 * What each number means where the kernel cannot reset a peak
 * (doc/accounting.md): v1's max_usage_in_bytes and v2's memory.peak
 * since 6.12 are reset when a lease starts; v2's memory.peak before 6.12
 * and pids.peak are the group's highest since it was made, so a lease's peak
 * is exact when it rose above that, or when that was no higher than where
 * the lease began; otherwise the slot is "spent" and the pool makes it anew.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <mruby.h>
#include <mruby/array.h>
#include <mruby/class.h>
#include <mruby/data.h>
#include <mruby/error.h>
#include <mruby/hash.h>
#include <mruby/presym.h>
#include <mruby/variable.h>

#include "accounting.h"

/* What a lease that follows a finished one reads at its start: the other
 * counters cannot move while the slot holds no task, so the last lease's
 * end is this one's start.  The CPU time is read to see that no task ran
 * in the slot meanwhile; io, because writeback can come after a lease. */
#define QUICK_FIELDS                                                                               \
  (MCG_FIELD(F_CPU) | MCG_FIELD(F_RBYTES) | MCG_FIELD(F_WBYTES) | MCG_FIELD(F_RIOS) |              \
   MCG_FIELD(F_WIOS) | MCG_FIELD(F_MEM_LEVEL) | MCG_FIELD(F_POPULATED))

struct meter {
  struct counter_files files;
  struct lease lease;  /* where the lease began and ended */
  mrb_bool finished;   /* finish ran since the last start */
  mrb_bool carried;    /* lease.after holds the last lease's end, and no lease ran since */
  mrb_bool populated;  /* tasks stayed behind in the slot */
  mrb_bool inhabited;  /* a Cgroup::Worker's group: its process lives in it */
  struct kept_fd lock; /* the slot's directory, flock'ed */
  pid_t owner;         /* the process that took the lock */
};

static void
meter_close_all(struct meter *m)
{
  mcg_counter_files_close(&m->files);
  mcg_fd_close(&m->lock);
}

static void
meter_free(mrb_state *mrb, void *p)
{
  struct meter *m = (struct meter *)p;

  if (!m) return;
  meter_close_all(m); /* a forked child's copies: the parent's lock holds while it keeps its own */
  mrb_free(mrb, m->files.buf);
  mrb_free(mrb, m);
}

static const struct mrb_data_type meter_type = {"Cgroup::Meter", meter_free};

static struct meter *
get_meter(mrb_state *mrb, mrb_value self)
{
  struct meter *m = (struct meter *)mrb_data_get_ptr(mrb, self, &meter_type);

  if (!m) mrb_raise(mrb, E_TYPE_ERROR, "uninitialized Cgroup::Meter");
  return m;
}

static mrb_value
groups_of(mrb_state *mrb, mrb_value self)
{
  return mrb_iv_get(mrb, self, MRB_IVSYM(groups));
}

static struct cgroup_ctx *
group_ctx(mrb_state *mrb, mrb_value self, int i)
{
  return mcg_get_ctx(mrb, mrb_ary_ref(mrb, groups_of(mrb, self), i));
}

/* The counters of `fields` into out[] (accounting_files.c). */
static void
read_counters(mrb_state *mrb, mrb_value self, struct meter *m, int64_t *out, unsigned fields,
              const char *action)
{
  mcg_read_counters(mrb, groups_of(mrb, self), &m->files, out, fields, action);
}

/* Meter.new(groups): the counters the groups' controllers have here. */
static mrb_value
meter_initialize(mrb_state *mrb, mrb_value self)
{
  struct meter *m;
  mrb_value groups;
  mrb_int g, n;

  mrb_get_args(mrb, "A", &groups);
  if (DATA_PTR(self)) mrb_raise(mrb, E_RUNTIME_ERROR, "Cgroup::Meter: initialized twice");
  n = RARRAY_LEN(groups);
  if (n == 0) mrb_raise(mrb, E_ARGUMENT_ERROR, "Cgroup::Meter needs a group");
  for (g = 0; g < n; g++) mcg_get_ctx(mrb, RARRAY_PTR(groups)[g]); /* Cgroup objects only */
  mrb_iv_set(mrb, self, MRB_IVSYM(groups),
             mrb_ary_new_from_values(mrb, RARRAY_LEN(groups), RARRAY_PTR(groups)));
  mcg_require_hierarchies(mrb);
  m = (struct meter *)mrb_calloc(mrb, 1, sizeof *m);
  m->lock.fd = -1;
  DATA_PTR(self) = m;
  DATA_TYPE(self) = &meter_type;
  mcg_counter_files_init(mrb, &m->files, groups_of(mrb, self));
  return self;
}

/* Whether group g of the slot is the directory of an earlier one. */
static mrb_bool
seen_before(mrb_state *mrb, mrb_value self, int g)
{
  struct cgroup_ctx *ctx = group_ctx(mrb, self, g);
  int i;

  for (i = 0; i < g; i++) {
    struct cgroup_ctx *other = group_ctx(mrb, self, i);
    if (strcmp(other->host->mount, ctx->host->mount) == 0 && strcmp(other->path, ctx->path) == 0)
      return TRUE;
  }
  return FALSE;
}

/* Whether tasks stayed in any of the slot's groups (a child the request
 * forked): such a slot is not leased again until it is empty. */
static mrb_bool
slot_populated(mrb_state *mrb, mrb_value self)
{
  mrb_value groups = mrb_iv_get(mrb, self, MRB_IVSYM(groups));
  mrb_int g;

  for (g = 0; g < RARRAY_LEN(groups); g++) {
    struct cgroup_ctx *ctx = group_ctx(mrb, self, (int)g);
    char c;
    int fd;
    if (seen_before(mrb, self, (int)g)) continue; /* v2: CPU and MEMORY are one directory */
    fd = mcg_open_in_mount(ctx, ctx->path, "cgroup.procs", O_RDONLY);
    ssize_t n = fd < 0 ? 0 : read(fd, &c, 1);
    if (fd >= 0) close(fd);
    if (n > 0) return TRUE;
  }
  return FALSE;
}

/* Whether tasks are in the slot or below it, from counters read into c[]:
 * v2's cgroup.events and pids.current count the subtree; where neither is
 * read, the groups' own cgroup.procs (only if look_at_procs). */
static mrb_bool
tasks_in_slot(mrb_state *mrb, mrb_value self, struct meter *m, const int64_t *c,
              mrb_bool look_at_procs)
{
  if (c[F_POPULATED] > 0 || c[F_PIDS_LEVEL] > 0) return TRUE;
  return look_at_procs && mcg_counter_row(&m->files, F_POPULATED) < 0 &&
         mcg_counter_row(&m->files, F_PIDS_LEVEL) < 0 && slot_populated(mrb, self);
}

/* Whether tasks a lease left in the slot are still there, looked at now. */
static mrb_bool
tasks_still_in_slot(mrb_state *mrb, mrb_value self, struct meter *m)
{
  int64_t now[F_COUNT] = {0};

  read_counters(mrb, self, m, now, MCG_FIELD(F_POPULATED) | MCG_FIELD(F_PIDS_LEVEL),
                "look at the slot");
  return tasks_in_slot(mrb, self, m, now, TRUE);
}

/* meter.directories => the slot's groups, one per directory: on v2, and
 * where v1 mounts controllers together, several groups are one directory,
 * and a second rmdir of it would remove the slot another process has just
 * made again under the same name. */
static mrb_value
meter_directories(mrb_state *mrb, mrb_value self)
{
  mrb_value groups = groups_of(mrb, self), out = mrb_ary_new(mrb);
  mrb_int g;

  for (g = 0; g < RARRAY_LEN(groups); g++) {
    if (!seen_before(mrb, self, (int)g)) mrb_ary_push(mrb, out, RARRAY_PTR(groups)[g]);
  }
  return out;
}

static mrb_bool
held_here(struct meter *m)
{
  return m->owner == getpid() && mcg_fd_unchanged(&m->lock);
}

/* Whether the locked directory is still there: once removed (and maybe
 * made again by another process) it has no files through the old
 * descriptor. */
static mrb_bool
lock_dir_there(const struct meter *m)
{
  return faccessat(m->lock.fd, "cgroup.procs", F_OK, 0) == 0;
}

/* Whether each of the slot's directories is still there: the locked one
 * still at its place (a directory removed, or removed and made again by
 * another process, has no files through the old descriptor), the others
 * by their path.  A pool whose lease starts without reading a counter
 * (freezer, cpuset, pids alone) would not see it otherwise. */
static mrb_bool
slot_still_there(mrb_state *mrb, mrb_value self, struct meter *m)
{
  mrb_value groups = groups_of(mrb, self);
  mrb_int g;

  if (!lock_dir_there(m)) return FALSE;
  for (g = 1; g < RARRAY_LEN(groups); g++) {
    struct cgroup_ctx *ctx = group_ctx(mrb, self, (int)g);
    if (!seen_before(mrb, self, (int)g) && !mcg_path_exists(ctx, ctx->path)) return FALSE;
  }
  return TRUE;
}

/* The start of a request in a Worker's group: its process is in it, so
 * every counter is read (the process ran since the last request) and
 * nothing is asked about tasks in it.  The CPU time the caller ran so far
 * is charged first, so that it falls before the request. */
static mrb_value
start_inhabited(mrb_state *mrb, mrb_value self, struct meter *m)
{
  mcg_flush_own_cpu_time();
  read_counters(mrb, self, m, m->lease.before, MCG_ALL_FIELDS, "start a request");
  mcg_reset_peaks(mrb, groups_of(mrb, self), &m->files);
  m->lease.pids_floor = m->lease.before[F_PIDS_LEVEL];
  return mrb_true_value();
}

/* The start of a lease, for mrb_protect_error: TRUE when it may begin. */
static mrb_value
start_body(mrb_state *mrb, void *p)
{
  mrb_value self = *(mrb_value *)p;
  struct meter *m = get_meter(mrb, self);
  mrb_bool quick = m->carried, was_run;

  m->finished = m->carried = FALSE;
  if (m->inhabited) return start_inhabited(mrb, self, m);
  if (!slot_still_there(mrb, self, m)) return mrb_false_value();
  if (quick) {
    memcpy(m->lease.before, m->lease.after, sizeof m->lease.before);
    read_counters(mrb, self, m, m->lease.before, QUICK_FIELDS, "start a lease");
  }
  was_run = quick &&
            m->lease.before[F_CPU] != m->lease.after[F_CPU]; /* a task ran in the slot meanwhile */
  if (!quick || was_run)
    read_counters(mrb, self, m, m->lease.before, MCG_ALL_FIELDS, "start a lease");
  if (m->lease.before[F_POPULATED] > 0 || ((!quick || was_run) && slot_populated(mrb, self)))
    return mrb_false_value();
  mcg_reset_peaks(mrb, groups_of(mrb, self), &m->files);
  m->lease.pids_floor = 0;
  return mrb_true_value();
}

/* meter.start => true with the counters where the lease begins read and
 * the peaks reset; false when the slot is not this process's (inherited
 * over fork, its lock closed behind the pool's back), was removed from
 * outside, or has tasks in it: the pool takes another. */
static mrb_value
meter_start(mrb_state *mrb, mrb_value self)
{
  mrb_bool failed = FALSE;
  mrb_value result;

  if (!held_here(get_meter(mrb, self))) return mrb_false_value();
  result = mrb_protect_error(mrb, start_body, &self, &failed);
  if (!failed) return result;
  if (mcg_error_is(mrb, result, "NotFound")) return mrb_false_value();
  mrb_exc_raise(mrb, result);
}

/* meter.entered: the tasks the lease moved in are there: pids' floor. */
static mrb_value
meter_entered(mrb_state *mrb, mrb_value self)
{
  struct meter *m = get_meter(mrb, self);
  int row = mcg_counter_row(&m->files, F_PIDS_LEVEL);

  if (row >= 0)
    mcg_read_counter(mrb, groups_of(mrb, self), &m->files, row, "enter a lease",
                     &m->lease.pids_floor);
  return mrb_nil_value();
}

/* Fields finish reads: all but memory's level where its peak resets (the
 * level then only tells where a spent peak's next lease begins). */
static unsigned
finish_fields(const struct meter *m)
{
  return mcg_counter_resets(&m->files, mcg_counter_row(&m->files, F_MEM_PEAK))
             ? MCG_ALL_FIELDS & ~MCG_FIELD(F_MEM_LEVEL)
             : MCG_ALL_FIELDS;
}

/* meter.finish(slot) => the Cgroup::Usage of the lease that ran in slot. */
static mrb_value
meter_finish(mrb_state *mrb, mrb_value self)
{
  struct meter *m = get_meter(mrb, self);
  mrb_value slot;

  mrb_get_args(mrb, "S", &slot);
  if (m->inhabited) mcg_flush_own_cpu_time(); /* the request's CPU time, charged */
  read_counters(mrb, self, m, m->lease.after, finish_fields(m), "finish a lease");
  /* v2 says so in cgroup.events, pids counts them; on v1 without pids a
   * task that stayed is seen at the next start if it ran meanwhile (its CPU
   * time moved), and without cpuacct either by reading cgroup.procs now */
  m->populated = !m->inhabited &&
                 tasks_in_slot(mrb, self, m, m->lease.after, mcg_counter_row(&m->files, F_CPU) < 0);
  m->finished = m->carried = TRUE;
  return mcg_lease_usage(mrb, &m->files, &m->lease, slot);
}

/* Whether a peak the kernel does not reset hides the next lease's, from
 * the counters now (out of a lease: memory's level is where the next one
 * begins; pids' floor is not known, so any task seen counts). */
static mrb_bool
peak_spent(mrb_state *mrb, mrb_value self, struct meter *m)
{
  int mem = mcg_counter_row(&m->files, F_MEM_PEAK), pids = mcg_counter_row(&m->files, F_PIDS_PEAK);
  mrb_bool mem_kept = mem >= 0 && !mcg_counter_resets(&m->files, mem);
  mrb_bool pids_kept = pids >= 0 && !mcg_counter_resets(&m->files, pids);

  if (!mem_kept && !pids_kept) return FALSE;
  read_counters(mrb, self, m, m->lease.after, MCG_ALL_FIELDS, "look at the slot");
  return (mem_kept && m->lease.after[F_MEM_PEAK] > m->lease.after[F_MEM_LEVEL]) ||
         (pids_kept && m->lease.after[F_PIDS_PEAK] > 0);
}

/* meter.state => :ready (the next lease may have the slot as it is),
 * :spent (a peak the kernel does not reset would hide the next lease's:
 * make the slot anew), :populated (tasks are in it) or :foreign (not
 * this process's: a child forked inside a lease). */
static mrb_value
meter_state(mrb_state *mrb, mrb_value self)
{
  struct meter *m = get_meter(mrb, self);

  /* a child forked inside the block (the lock was checked at the start) */
  if (m->owner != getpid()) return mrb_symbol_value(MRB_SYM(foreign));
  if (m->inhabited) return mrb_symbol_value(MRB_SYM(ready));
  /* a slot taken over, a lease that raised, or tasks a lease left (they may
   * have ended since, after moving counters the next start must read) */
  if (!m->finished || m->populated) {
    m->populated = m->finished ? tasks_still_in_slot(mrb, self, m) : slot_populated(mrb, self);
    m->lease.spent = !m->populated && peak_spent(mrb, self, m);
    m->carried = FALSE;
  }
  return mrb_symbol_value(m->populated     ? MRB_SYM(populated)
                          : m->lease.spent ? MRB_SYM(spent)
                                           : MRB_SYM(ready));
}

/* Whether the directory locked is still the one at the slot's path.  A
 * holder making its slot anew removes it before letting go of the lock, so
 * a directory opened just before that rmdir and locked just after is gone:
 * its lock would guard nothing while another process takes the new one. */
static mrb_bool
lock_is_slot(const struct cgroup_ctx *ctx, const struct kept_fd *lock)
{
  struct kept_fd now;
  mrb_bool same;

  if (!mcg_fd_adopt(&now, mcg_open_in_mount(ctx, ctx->path, NULL, O_RDONLY | O_DIRECTORY)))
    return FALSE;
  same = now.dev == lock->dev && now.ino == lock->ino;
  mcg_fd_close(&now);
  return same;
}

/* meter.lock => true when this process now holds the slot (an flock of its
 * first group's directory, which the kernel drops when the holder dies),
 * false when another holds it or is removing it (to make it anew). */
static mrb_value
meter_lock(mrb_state *mrb, mrb_value self)
{
  struct meter *m = get_meter(mrb, self);
  struct cgroup_ctx *ctx = group_ctx(mrb, self, 0);
  int fd;

  if (held_here(m)) return mrb_true_value();
  meter_close_all(m); /* copies inherited over fork: the lock stays the parent's, and a
                         counter's descriptor (v2's peak reset) must not be shared */
  fd = mcg_open_in_mount(ctx, ctx->path, NULL, O_RDONLY | O_DIRECTORY);
  if (fd < 0 && errno == ENOENT) return mrb_false_value(); /* its holder removed it just now */
  if (fd < 0) mcg_raise_error(mrb, MCG_FAILURE(.err = errno, .ctx = ctx, .action = "lock"));
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    close(fd);
    if (err == EWOULDBLOCK) return mrb_false_value();
    mcg_raise_error(mrb, MCG_FAILURE(.err = err, .ctx = ctx, .action = "lock"));
  }
  if (!mcg_fd_adopt(&m->lock, fd))
    mcg_raise_error(mrb, MCG_FAILURE(.err = EBADF, .ctx = ctx, .action = "lock"));
  if (!lock_is_slot(ctx, &m->lock)) {
    mcg_fd_close(&m->lock);
    return mrb_false_value();
  }
  m->owner = getpid();
  return mrb_true_value();
}

/* meter.mine? => whether this process holds the slot's lock. */
static mrb_value
meter_mine_p(mrb_state *mrb, mrb_value self)
{
  struct meter *m = get_meter(mrb, self);

  return mrb_bool_value(held_here(m));
}

/* meter.inhabit: the process now lives in the slot (Cgroup::Worker): its
 * tasks no longer make the slot populated, and each start reads all. */
static mrb_value
meter_inhabit(mrb_state *mrb, mrb_value self)
{
  get_meter(mrb, self)->inhabited = TRUE;
  return mrb_nil_value();
}

/* meter.owner? => whether this process took the slot (not a child forked
 * since) and the directory it locked is still there (not removed from
 * outside, whence another process could make and hold a new one under the
 * same name): a Worker's check before it writes limits.  The descriptor's
 * number is not checked (a host that closes descriptors behind the gem
 * leaves the Worker its group); faccessat through it finds nothing once
 * the directory is gone. */
static mrb_value
meter_owner_p(mrb_state *mrb, mrb_value self)
{
  struct meter *m = get_meter(mrb, self);

  return mrb_bool_value(m->owner == getpid() && lock_dir_there(m));
}

/* meter.close: the counters' descriptors, and the lock with them.  In a
 * forked child these are copies: closing them leaves the parent's lock. */
static mrb_value
meter_close(mrb_state *mrb, mrb_value self)
{
  struct meter *m = get_meter(mrb, self);

  meter_close_all(m);
  m->owner = 0;
  m->finished = m->carried = m->inhabited = FALSE; /* a slot made anew is looked at afresh */
  return mrb_nil_value();
}

void
mcg_init_accounting(mrb_state *mrb, struct RClass *cgroup)
{
  struct RClass *meter = mrb_define_class_under(mrb, cgroup, "Meter", mrb->object_class);

  MRB_SET_INSTANCE_TT(meter, MRB_TT_DATA);
  mrb_define_method(mrb, meter, "initialize", meter_initialize, MRB_ARGS_REQ(1));
  mrb_define_method(mrb, meter, "lock", meter_lock, MRB_ARGS_NONE());
  mrb_define_method(mrb, meter, "mine?", meter_mine_p, MRB_ARGS_NONE());
  mrb_define_method(mrb, meter, "owner?", meter_owner_p, MRB_ARGS_NONE());
  mrb_define_method(mrb, meter, "start", meter_start, MRB_ARGS_NONE());
  mrb_define_method(mrb, meter, "entered", meter_entered, MRB_ARGS_NONE());
  mrb_define_method(mrb, meter, "finish", meter_finish, MRB_ARGS_REQ(1));
  mrb_define_method(mrb, meter, "state", meter_state, MRB_ARGS_NONE());
  mrb_define_method(mrb, meter, "directories", meter_directories, MRB_ARGS_NONE());
  mrb_define_method(mrb, meter, "inhabit", meter_inhabit, MRB_ARGS_NONE());
  mrb_define_method(mrb, meter, "close", meter_close, MRB_ARGS_NONE());
}
