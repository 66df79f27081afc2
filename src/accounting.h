/*
 * Accounting: what Cgroup::Pool's slots (mrblib/pool.rb) measure of a
 * lease, for the files of src/ that measure it (the floors are those of
 * cgroup.h): the counters, one row per number of a counter file
 * (accounting_counters.c); the files a slot's meter keeps open and reads
 * (accounting_files.c); a lease's counters turned into its Cgroup::Usage
 * (accounting_usage.c); Cgroup::Meter itself (accounting.c).
 */
#ifndef MRUBY_CGROUP_ACCOUNTING_H
#define MRUBY_CGROUP_ACCOUNTING_H

#include "cgroup.h"

/* ---- accounting_counters.c: the counter files a pool slot's meter reads (no I/O) -- */
/* What a lease reports (Cgroup::Usage); then the events (memory.events'
 * keys, pids.events' max); then what the meter keeps for itself: the levels
 * where a lease begins, and whether tasks are in the slot (v2). */
enum usage_field {
  F_CPU,
  F_USER,
  F_SYSTEM,
  F_RBYTES,
  F_WBYTES,
  F_RIOS,
  F_WIOS,
  F_MEM_PEAK,
  F_PIDS_PEAK,
  F_FIRST_EVENT,
  F_MEM_LOW = F_FIRST_EVENT,
  F_MEM_HIGH,
  F_MEM_MAX,
  F_MEM_OOM,
  F_MEM_OOM_KILL,
  F_MEM_OOM_GROUP_KILL,
  F_PIDS_MAX,
  F_MEM_LEVEL,
  F_PIDS_LEVEL,
  F_POPULATED,
  F_COUNT
};
enum counter_kind {
  K_NUMBER, /* the file's number, or the value of its line `key` */
  K_NANO,   /* nanoseconds, reported in microseconds */
  K_IO_V1,  /* v1 blkio lines "MAJ:MIN Op N": the sum over devices of Op `key` */
  K_IO_V2,  /* io.stat lines "MAJ:MIN key=N ...": the sum over devices */
  K_COLUMN, /* a table whose first line names the columns: the sum of column
               `key` over the rows, nanoseconds (cpuacct.usage_all's per CPU) */
  K_PEAK    /* a high-water mark: reset at the start where the kernel can */
};

/* One number of one file; version 0: the same file on both versions. */
struct counter {
  enum controller_id controller;
  int version;
  const char *file, *key;
  enum usage_field field;
  enum counter_kind kind;
};

#define MCG_MAX_COUNTERS 40 /* room for mcg_counters' rows; accounting_counters.c checks it */
extern const struct counter mcg_counters[];
extern const int mcg_counter_count;
const char *mcg_event_name(enum usage_field field);
int64_t mcg_counter_value(const struct counter *row, const char *s, const char *end);
mrb_bool mcg_counter_fits(const struct counter *row, const char *text, size_t len);

/* ---- accounting_files.c: a meter's counter files ----------------------- */
#define MCG_COUNTER_FILES 16
#define MCG_FIELD(field) (1u << (field))
#define MCG_ALL_FIELDS (MCG_FIELD(F_COUNT) - 1)
/* A file the meter keeps open, in the group (of its groups) that holds it. */
struct counter_file {
  const char *name;
  int group;
  int flags;
  mrb_bool resets; /* a K_PEAK file the kernel lets this descriptor reset */
  mrb_bool absent; /* this kernel has no such file: its counters are not measured */
  struct kept_fd fd;
};
struct counter_files {
  struct counter_file file[MCG_COUNTER_FILES];
  int count;
  int file_of[MCG_MAX_COUNTERS]; /* each counter's file; -1: not measured here */
  char *buf;                     /* the last file read (mrb_malloc) */
  size_t size;
};
void mcg_counter_files_init(mrb_state *mrb, struct counter_files *cf, mrb_value groups);
void mcg_counter_files_close(struct counter_files *cf);
void mcg_read_counters(mrb_state *mrb, mrb_value groups, struct counter_files *cf, int64_t *out,
                       unsigned fields, const char *action);
mrb_bool mcg_read_counter(mrb_state *mrb, mrb_value groups, struct counter_files *cf, int row,
                          const char *action, int64_t *out);
void mcg_reset_peaks(mrb_state *mrb, mrb_value groups, struct counter_files *cf);

/* ---- accounting_usage.c: a lease's Cgroup::Usage (no I/O) ------------ */
/* A lease's counters: where it began and where it ended. */
struct lease {
  int64_t before[F_COUNT], after[F_COUNT];
  int64_t pids_floor; /* pids.current once the lease's tasks are in */
  mrb_bool spent;     /* a peak the next lease could not read exactly */
};
int mcg_counter_row(const struct counter_files *cf, enum usage_field field);
mrb_bool mcg_counter_resets(const struct counter_files *cf, int row);
mrb_value mcg_lease_usage(mrb_state *mrb, const struct counter_files *cf, struct lease *lease,
                          mrb_value slot);

#endif
