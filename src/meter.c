/*
 * Cgroup::Meter: the counters of one slot of a Cgroup::Pool (mrblib/pool.rb),
 * read before and after a lease through descriptors the meter keeps open,
 * and the slot's lock.  A lease costs a pread per counter file at its end,
 * and at its start a few (a slot holds no task between leases, so most
 * counters start where the last lease ended) and the write that resets the
 * peak: instead of a mkdir, the new group's first opens and an rmdir.
 *
 * What each number means where the kernel cannot reset a peak (README,
 * "Accounting per request"): v1's max_usage_in_bytes and v2's memory.peak
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

#include "cgroup.h"

#define BIT(field) (1u << (field))
#define ALL_FIELDS (BIT(F_COUNT) - 1)
/* What a lease that follows a finished one reads at its start: the other
 * counters cannot move while the slot holds no task, so the last lease's
 * end is this one's start.  The CPU time is read to see that no task ran
 * in the slot meanwhile; io, because writeback can come after a lease. */
#define QUICK_FIELDS                                                                               \
  (BIT(F_CPU) | BIT(F_RBYTES) | BIT(F_WBYTES) | BIT(F_RIOS) | BIT(F_WIOS) | BIT(F_MEM_LEVEL) |     \
   BIT(F_POPULATED))
#define REPORTED_NUMBERS F_FIRST_EVENT

#define METER_FILES 16

/* A file the meter keeps open, in the group (of @groups) that holds it. */
struct meter_file {
  const char *name;
  int group;
  int flags;
  mrb_bool resets; /* a K_PEAK file the kernel lets this descriptor reset */
  mrb_bool absent; /* this kernel has no such file: its counters are not measured */
  struct kept_fd fd;
};

struct meter {
  struct meter_file file[METER_FILES];
  int file_count;
  int file_of[MCG_MAX_COUNTERS]; /* each counter's file; -1: not measured here */
  int64_t before[F_COUNT], after[F_COUNT];
  int64_t pids_floor;  /* pids.current once the lease's tasks are in */
  mrb_bool finished;   /* finish ran since the last start */
  mrb_bool carried;    /* after[] holds the last lease's end, and no lease ran since */
  mrb_bool spent;      /* a peak the next lease could not read exactly */
  mrb_bool populated;  /* tasks stayed behind in the slot */
  struct kept_fd lock; /* the slot's directory, flock'ed */
  pid_t owner;         /* the process that took the lock */
  char *buf;
  size_t size;
};

static void
meter_close_all(struct meter *m)
{
  int i;

  for (i = 0; i < m->file_count; i++) mcg_fd_close(&m->file[i].fd);
  mcg_fd_close(&m->lock);
}

static void
meter_free(mrb_state *mrb, void *p)
{
  struct meter *m = (struct meter *)p;

  if (!m) return;
  meter_close_all(m); /* a forked child's copies: the parent's lock holds while it keeps its own */
  mrb_free(mrb, m->buf);
  mrb_free(mrb, m);
}

static const struct mrb_data_type meter_type = {"Cgroup::Meter", meter_free};

static struct RClass *
cgroup_module(mrb_state *mrb)
{
  return mrb_module_get_id(mrb, MRB_SYM(Cgroup));
}

static struct meter *
get_meter(mrb_state *mrb, mrb_value self)
{
  struct meter *m = (struct meter *)mrb_data_get_ptr(mrb, self, &meter_type);

  if (!m) mrb_raise(mrb, E_TYPE_ERROR, "uninitialized Cgroup::Meter");
  return m;
}

static struct cgroup_ctx *
group_ctx(mrb_state *mrb, mrb_value self, int i)
{
  return mcg_get_ctx(mrb, mrb_ary_ref(mrb, mrb_iv_get(mrb, self, MRB_IVSYM(groups)), i));
}

/* Whether a counter of `row` is read from a group of controller id: the
 * same controller (v2: CPUACCT is cpu's, BLKIO io's), or v1's cpuacct
 * mounted together with cpu. */
static mrb_bool
counter_in(const struct counter *row, enum controller_id id)
{
  int version;

  if (row->controller == CTL_COUNT) return mcg_version(id) == row->version;
  version = mcg_version(row->controller);
  if (!version || (row->version && row->version != version) || mcg_version(id) != version)
    return FALSE;
  if (strcmp(mcg_kernel_controller(row->controller), mcg_kernel_controller(id)) == 0) return TRUE;
  return version == 1 && strcmp(mcg_mount_point(row->controller), mcg_mount_point(id)) == 0;
}

static int
file_index(mrb_state *mrb, struct meter *m, int group, const struct counter *row)
{
  int i;

  for (i = 0; i < m->file_count; i++) {
    if (m->file[i].group == group && strcmp(m->file[i].name, row->file) == 0) return i;
  }
  if (m->file_count == METER_FILES)
    mrb_raise(mrb, E_RUNTIME_ERROR, "Cgroup::Meter: too many files");
  m->file[i].name = row->file;
  m->file[i].group = group;
  m->file[i].flags = row->kind == K_PEAK ? O_RDWR : O_RDONLY;
  m->file[i].fd.fd = -1;
  return m->file_count++;
}

/* Meter.new(groups): the counters the groups' controllers have here. */
static mrb_value
meter_initialize(mrb_state *mrb, mrb_value self)
{
  struct meter *m;
  mrb_value groups;
  mrb_int g, n;
  int i;

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
  for (i = 0; i < mcg_counter_count; i++) {
    m->file_of[i] = -1;
    for (g = 0; g < n && m->file_of[i] < 0; g++) {
      if (counter_in(&mcg_counters[i], group_ctx(mrb, self, (int)g)->controller))
        m->file_of[i] = file_index(mrb, m, (int)g, &mcg_counters[i]);
    }
  }
  return self;
}

/* Raise for a file of the slot: a group gone (ENODEV, ENOENT) is NotFound,
 * which the pool answers by making the slot anew. */
static mrb_noreturn void
raise_for_file(mrb_state *mrb, mrb_value self, struct meter_file *f, const char *action, int err)
{
  struct cgroup_ctx *ctx = group_ctx(mrb, self, f->group);

  mcg_raise_error(mrb, err == ENODEV ? "NotFound" : NULL, err, ctx->controller, ctx->path, action,
                  f->name, NULL, err == ENODEV ? "the group was removed" : NULL);
}

/* Open f unless it is open; FALSE when this kernel has no such file
 * (memory.peak before 5.19, pids.peak before 6.1).  With verify, an open
 * descriptor is first checked to be the file it was opened on (it may have
 * been closed behind the meter's back and its number reused).  A peak file
 * that cannot be opened for writing is read only: its peak is the group's
 * since it was made. */
static mrb_bool
open_file(mrb_state *mrb, mrb_value self, struct meter_file *f, const char *action, mrb_bool verify)
{
  struct cgroup_ctx *ctx;
  int fd;

  if (f->absent) return FALSE;
  if (f->fd.fd >= 0 && (!verify || mcg_fd_unchanged(&f->fd))) return TRUE;
  mcg_fd_close(&f->fd); /* closed only while it is still ours */
  ctx = group_ctx(mrb, self, f->group);
  fd = mcg_open_in_mount(mrb, ctx, ctx->path, f->name, f->flags);
  if (fd < 0 && f->flags == O_RDWR && errno == EACCES) { /* before 6.12 memory.peak is 0444 */
    f->flags = O_RDONLY;
    fd = mcg_open_in_mount(mrb, ctx, ctx->path, f->name, f->flags);
  }
  if (fd < 0 && errno == ENOENT && mcg_path_exists(mrb, ctx, ctx->path)) return !(f->absent = TRUE);
  if (fd < 0) raise_for_file(mrb, self, f, action, errno);
  if (!mcg_fd_adopt(&f->fd, fd)) raise_for_file(mrb, self, f, action, EBADF);
  f->resets = f->flags == O_RDWR;
  return TRUE;
}

/* Whether text is what file f holds (its first counter's kind). */
static mrb_bool
text_fits(const struct meter *m, int f, const char *text, ssize_t len)
{
  int i;

  for (i = 0; i < mcg_counter_count; i++) {
    if (m->file_of[i] == f) return mcg_counter_fits(&mcg_counters[i], text, (size_t)len);
  }
  return TRUE;
}

/*
 * The text of counter file number f, or NULL when the kernel has no such
 * file.  A descriptor the meter only reads is not checked before each
 * read (an fstat costs as much as the pread): pread changes nothing, not
 * even the offset, whatever file the number names now.  It is checked when
 * the read fails or the text is not what the file holds: closed behind the
 * meter's back, or its number reused; then the file is opened anew.
 */
static const char *
read_file(mrb_state *mrb, mrb_value self, struct meter *m, int f, const char *action, size_t *len)
{
  struct meter_file *file = &m->file[f];
  ssize_t n;

  if (!open_file(mrb, self, file, action, FALSE)) return NULL;
  n = mcg_pread_whole(mrb, file->fd.fd, &m->buf, &m->size);
  if (n < 0 && errno == ENODEV && mcg_fd_unchanged(&file->fd))
    raise_for_file(mrb, self, file, action, ENODEV); /* the group was removed */
  if (n < 0 || !text_fits(m, f, m->buf, n)) {
    if (!open_file(mrb, self, file, action, TRUE)) return NULL;
    if ((n = mcg_pread_whole(mrb, file->fd.fd, &m->buf, &m->size)) < 0)
      raise_for_file(mrb, self, file, action, errno);
  }
  *len = (size_t)n;
  return m->buf;
}

static mrb_bool
file_has(const struct meter *m, int f, unsigned fields)
{
  int i;

  for (i = 0; i < mcg_counter_count; i++) {
    if (m->file_of[i] == f && (fields & BIT(mcg_counters[i].field))) return TRUE;
  }
  return FALSE;
}

/* The counters of `fields` into out[], each file that holds one read once. */
static void
read_counters(mrb_state *mrb, mrb_value self, struct meter *m, int64_t *out, unsigned fields,
              const char *action)
{
  int f, i;

  for (f = 0; f < m->file_count; f++) {
    size_t len;
    const char *text;
    if (fields != ALL_FIELDS && !file_has(m, f, fields)) continue;
    text = read_file(mrb, self, m, f, action, &len);
    if (!text) continue;
    for (i = 0; i < mcg_counter_count; i++) {
      if (m->file_of[i] == f)
        out[mcg_counters[i].field] = mcg_counter_value(&mcg_counters[i], text, text + len);
    }
  }
}

/* Reset the peaks the kernel lets a descriptor reset: v1 writes 0 (the
 * group's counter, this slot's alone), v2 "reset" (this descriptor's). */
static void
reset_peaks(mrb_state *mrb, mrb_value self, struct meter *m)
{
  int i;

  for (i = 0; i < mcg_counter_count; i++) {
    struct meter_file *f = m->file_of[i] < 0 ? NULL : &m->file[m->file_of[i]];
    const char *text;
    if (!f || mcg_counters[i].kind != K_PEAK || !open_file(mrb, self, f, "reset", TRUE) ||
        !f->resets)
      continue;
    text = mcg_version(mcg_counters[i].controller) == 2 ? "reset" : "0";
    if (pwrite(f->fd.fd, text, strlen(text), 0) >= 0) continue;
    if (errno != EINVAL) raise_for_file(mrb, self, f, "reset", errno);
    f->resets = FALSE; /* 5.19 to 6.11: memory.peak opens for writing, takes no write */
  }
}

/* Whether group g of the slot is the directory of an earlier one. */
static mrb_bool
seen_before(mrb_state *mrb, mrb_value self, int g)
{
  struct cgroup_ctx *ctx = group_ctx(mrb, self, g);
  int i;

  for (i = 0; i < g; i++) {
    struct cgroup_ctx *other = group_ctx(mrb, self, i);
    if (strcmp(mcg_mount_point(other->controller), mcg_mount_point(ctx->controller)) == 0 &&
        strcmp(other->path, ctx->path) == 0)
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
    fd = mcg_open_in_mount(mrb, ctx, ctx->path, "cgroup.procs", O_RDONLY);
    ssize_t n = fd < 0 ? 0 : read(fd, &c, 1);
    if (fd >= 0) close(fd);
    if (n > 0) return TRUE;
  }
  return FALSE;
}

static mrb_bool
held_here(struct meter *m)
{
  return m->owner == getpid() && mcg_fd_unchanged(&m->lock);
}

/* The start of a lease, for mrb_protect_error: TRUE when it may begin. */
static mrb_value
start_body(mrb_state *mrb, void *p)
{
  mrb_value self = *(mrb_value *)p;
  struct meter *m = get_meter(mrb, self);
  mrb_bool quick = m->carried, was_run;

  m->finished = m->carried = FALSE;
  if (quick) {
    memcpy(m->before, m->after, sizeof m->before);
    read_counters(mrb, self, m, m->before, QUICK_FIELDS, "start a lease");
  }
  was_run = quick && m->before[F_CPU] != m->after[F_CPU]; /* a task ran in the slot meanwhile */
  if (!quick || was_run) read_counters(mrb, self, m, m->before, ALL_FIELDS, "start a lease");
  if (m->before[F_POPULATED] > 0 || ((!quick || was_run) && slot_populated(mrb, self)))
    return mrb_false_value();
  reset_peaks(mrb, self, m);
  m->pids_floor = 0;
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
  if (mrb_obj_is_kind_of(mrb, result,
                         mrb_class_get_under_id(mrb, cgroup_module(mrb), MRB_SYM(NotFound))))
    return mrb_false_value();
  mrb_exc_raise(mrb, result);
}

static int
counter_row(const struct meter *m, enum usage_field field)
{
  int i;

  for (i = 0; i < mcg_counter_count; i++) {
    if (mcg_counters[i].field == field && m->file_of[i] >= 0 && !m->file[m->file_of[i]].absent)
      return i;
  }
  return -1;
}

/* meter.entered: the tasks the lease moved in are there: pids' floor. */
static mrb_value
meter_entered(mrb_state *mrb, mrb_value self)
{
  struct meter *m = get_meter(mrb, self);
  int row = counter_row(m, F_PIDS_LEVEL);
  size_t len;
  const char *text;

  if (row < 0) return mrb_nil_value();
  text = read_file(mrb, self, m, m->file_of[row], "enter a lease", &len);
  if (text) m->pids_floor = mcg_counter_value(&mcg_counters[row], text, text + len);
  return mrb_nil_value();
}

/* The peak a lease reached, above `floor` where it began; -1 when the
 * group's own peak hides it.  Sets m->spent when the next lease's would
 * be hidden (next_floor: where that lease is expected to begin). */
static int64_t
lease_peak(struct meter *m, enum usage_field field, int64_t floor, int64_t next_floor,
           mrb_bool relative)
{
  int row = counter_row(m, field);
  int64_t peak = m->after[field];

  if (row < 0) return -1;
  if (!m->file[m->file_of[row]].resets) {
    if (peak > next_floor) m->spent = TRUE;
    if (peak <= m->before[field] && m->before[field] > floor) return -1;
  }
  if (!relative) return peak;
  return peak > floor ? peak - floor : 0;
}

static mrb_value
number_or_nil(mrb_state *mrb, const struct meter *m, enum usage_field field, int64_t v)
{
  return counter_row(m, field) < 0 || v < 0 ? mrb_nil_value() : mrb_int_value(mrb, (mrb_int)v);
}

/* The Cgroup::Usage of the lease, from delta[] (mrblib/pool.rb names the
 * instance variables). */
static mrb_value
usage_new(mrb_state *mrb, const struct meter *m, mrb_value slot, const int64_t *delta)
{
  struct RClass *cls = mrb_class_get_under_id(mrb, cgroup_module(mrb), MRB_SYM(Usage));
  mrb_value usage = mrb_obj_value(mrb_obj_alloc(mrb, MRB_TT_OBJECT, cls));
  mrb_value events = mrb_nil_value(), io = mrb_nil_value();
  int i;

  mrb_iv_set(mrb, usage, MRB_IVSYM(slot), slot);
  mrb_iv_set(mrb, usage, MRB_IVSYM(cpu_usec), number_or_nil(mrb, m, F_CPU, delta[F_CPU]));
  mrb_iv_set(mrb, usage, MRB_IVSYM(user_usec), number_or_nil(mrb, m, F_USER, delta[F_USER]));
  mrb_iv_set(mrb, usage, MRB_IVSYM(system_usec), number_or_nil(mrb, m, F_SYSTEM, delta[F_SYSTEM]));
  mrb_iv_set(mrb, usage, MRB_IVSYM(memory_peak),
             number_or_nil(mrb, m, F_MEM_PEAK, delta[F_MEM_PEAK]));
  mrb_iv_set(mrb, usage, MRB_IVSYM(pids_peak),
             number_or_nil(mrb, m, F_PIDS_PEAK, delta[F_PIDS_PEAK]));
  if (counter_row(m, F_RBYTES) >= 0) {
    static const char *const names[] = {"rbytes", "wbytes", "rios", "wios"};
    io = mrb_hash_new(mrb);
    for (i = 0; i < 4; i++)
      mrb_hash_set(mrb, io, mrb_str_new_cstr(mrb, names[i]),
                   mrb_int_value(mrb, (mrb_int)delta[F_RBYTES + i]));
  }
  mrb_iv_set(mrb, usage, MRB_IVSYM(io), io);
  for (i = F_FIRST_EVENT; i < F_MEM_LEVEL; i++) {
    if (delta[i] <= 0) continue;
    if (mrb_nil_p(events)) events = mrb_hash_new(mrb);
    mrb_hash_set(mrb, events, mrb_str_new_cstr(mrb, mcg_event_name((enum usage_field)i)),
                 mrb_int_value(mrb, (mrb_int)delta[i]));
  }
  /* most leases see none: Usage::NO_EVENTS, one frozen empty Hash */
  if (mrb_nil_p(events)) events = mrb_const_get(mrb, mrb_obj_value(cls), MRB_SYM(NO_EVENTS));
  mrb_iv_set(mrb, usage, MRB_IVSYM(events), events);
  return usage;
}

/* Fields finish reads: all but memory's level where its peak resets (the
 * level then only tells where a spent peak's next lease begins). */
static unsigned
finish_fields(const struct meter *m)
{
  int peak = counter_row(m, F_MEM_PEAK);

  return peak >= 0 && m->file[m->file_of[peak]].resets ? ALL_FIELDS & ~BIT(F_MEM_LEVEL)
                                                       : ALL_FIELDS;
}

/* meter.finish(slot) => the Cgroup::Usage of the lease that ran in slot. */
static mrb_value
meter_finish(mrb_state *mrb, mrb_value self)
{
  struct meter *m = get_meter(mrb, self);
  int64_t delta[F_COUNT];
  mrb_value slot;
  int i;

  mrb_get_args(mrb, "S", &slot);
  read_counters(mrb, self, m, m->after, finish_fields(m), "finish a lease");
  m->spent = FALSE;
  for (i = 0; i < F_COUNT; i++)
    delta[i] = m->after[i] > m->before[i] ? m->after[i] - m->before[i] : 0;
  delta[F_MEM_PEAK] =
      lease_peak(m, F_MEM_PEAK, m->before[F_MEM_LEVEL], m->after[F_MEM_LEVEL], TRUE);
  delta[F_PIDS_PEAK] = lease_peak(m, F_PIDS_PEAK, m->pids_floor, m->pids_floor, FALSE);
  /* v2 says so in cgroup.events, pids counts them; on v1 without pids a
   * task that stayed is seen at the next start if it ran meanwhile (its CPU
   * time moved), and without cpuacct either by reading cgroup.procs now */
  m->populated = m->after[F_POPULATED] > 0 || m->after[F_PIDS_LEVEL] > 0 ||
                 (counter_row(m, F_POPULATED) < 0 && counter_row(m, F_PIDS_LEVEL) < 0 &&
                  counter_row(m, F_CPU) < 0 && slot_populated(mrb, self));
  m->finished = m->carried = TRUE;
  return usage_new(mrb, m, slot, delta);
}

/* Whether a peak the kernel does not reset hides the next lease's, from
 * the counters now (out of a lease: memory's level is where the next one
 * begins; pids' floor is not known, so any task seen counts). */
static mrb_bool
peak_spent(mrb_state *mrb, mrb_value self, struct meter *m)
{
  int mem = counter_row(m, F_MEM_PEAK), pids = counter_row(m, F_PIDS_PEAK);
  mrb_bool mem_kept = mem >= 0 && !m->file[m->file_of[mem]].resets;
  mrb_bool pids_kept = pids >= 0 && !m->file[m->file_of[pids]].resets;

  if (!mem_kept && !pids_kept) return FALSE;
  read_counters(mrb, self, m, m->after, ALL_FIELDS, "look at the slot");
  return (mem_kept && m->after[F_MEM_PEAK] > m->after[F_MEM_LEVEL]) ||
         (pids_kept && m->after[F_PIDS_PEAK] > 0);
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
  if (!m->finished) { /* a slot taken over, or a lease that raised */
    m->populated = slot_populated(mrb, self);
    m->spent = !m->populated && peak_spent(mrb, self, m);
  }
  return mrb_symbol_value(m->populated ? MRB_SYM(populated)
                          : m->spent   ? MRB_SYM(spent)
                                       : MRB_SYM(ready));
}

/* meter.lock => true when this process now holds the slot (an flock of its
 * first group's directory, which the kernel drops when the holder dies),
 * false when another holds it. */
static mrb_value
meter_lock(mrb_state *mrb, mrb_value self)
{
  struct meter *m = get_meter(mrb, self);
  struct cgroup_ctx *ctx = group_ctx(mrb, self, 0);
  int fd;

  if (held_here(m)) return mrb_true_value();
  meter_close_all(m); /* copies inherited over fork: the lock stays the parent's, and a
                         counter's descriptor (v2's peak reset) must not be shared */
  fd = mcg_open_in_mount(mrb, ctx, ctx->path, NULL, O_RDONLY | O_DIRECTORY);
  if (fd < 0)
    mcg_raise_error(mrb, NULL, errno, ctx->controller, ctx->path, "lock", NULL, NULL, NULL);
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    close(fd);
    if (err == EWOULDBLOCK) return mrb_false_value();
    mcg_raise_error(mrb, NULL, err, ctx->controller, ctx->path, "lock", NULL, NULL, NULL);
  }
  if (!mcg_fd_adopt(&m->lock, fd))
    mcg_raise_error(mrb, NULL, EBADF, ctx->controller, ctx->path, "lock", NULL, NULL, NULL);
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

/* meter.close: the counters' descriptors, and the lock with them.  In a
 * forked child these are copies: closing them leaves the parent's lock. */
static mrb_value
meter_close(mrb_state *mrb, mrb_value self)
{
  struct meter *m = get_meter(mrb, self);

  meter_close_all(m);
  m->owner = 0;
  m->finished = m->carried = FALSE; /* a slot made anew is looked at afresh */
  return mrb_nil_value();
}

void
mcg_init_meter(mrb_state *mrb, struct RClass *cgroup)
{
  struct RClass *meter = mrb_define_class_under(mrb, cgroup, "Meter", mrb->object_class);

  MRB_SET_INSTANCE_TT(meter, MRB_TT_DATA);
  mrb_define_method(mrb, meter, "initialize", meter_initialize, MRB_ARGS_REQ(1));
  mrb_define_method(mrb, meter, "lock", meter_lock, MRB_ARGS_NONE());
  mrb_define_method(mrb, meter, "mine?", meter_mine_p, MRB_ARGS_NONE());
  mrb_define_method(mrb, meter, "start", meter_start, MRB_ARGS_NONE());
  mrb_define_method(mrb, meter, "entered", meter_entered, MRB_ARGS_NONE());
  mrb_define_method(mrb, meter, "finish", meter_finish, MRB_ARGS_REQ(1));
  mrb_define_method(mrb, meter, "state", meter_state, MRB_ARGS_NONE());
  mrb_define_method(mrb, meter, "close", meter_close, MRB_ARGS_NONE());
}
