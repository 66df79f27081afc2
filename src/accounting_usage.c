/*
 * A lease's Cgroup::Usage from its counters (struct lease: where it began
 * and ended): the differences, the peaks where the kernel resets them or
 * where the group's own peak does not hide the lease's, and the events.
 * No I/O: accounting_files.c reads the counters.  And which counter row
 * measures a field here, and whether its peak resets.
 */
#include <mruby.h>
#include <mruby/class.h>
#include <mruby/hash.h>
#include <mruby/presym.h>
#include <mruby/variable.h>

#include "accounting.h"

/* The row of mcg_counters measured here for field, or -1 (none here, or
 * this kernel has no such file). */
int
mcg_counter_row(const struct counter_files *cf, enum usage_field field)
{
  int i;

  for (i = 0; i < mcg_counter_count; i++) {
    if (mcg_counters[i].field == field && cf->file_of[i] >= 0 && !cf->file[cf->file_of[i]].absent)
      return i;
  }
  return -1;
}

/* Whether the peak of counter row is reset at a lease's start here. */
mrb_bool
mcg_counter_resets(const struct counter_files *cf, int row)
{
  return row >= 0 && cf->file[cf->file_of[row]].resets;
}

/* The peak a lease reached, above `floor` where it began; -1 when the
 * group's own peak hides it.  Sets lease->spent when the next lease's would
 * be hidden (next_floor: where that lease is expected to begin). */
static int64_t
lease_peak(const struct counter_files *cf, struct lease *l, enum usage_field field, int64_t floor,
           int64_t next_floor, mrb_bool relative)
{
  int row = mcg_counter_row(cf, field);
  int64_t peak = l->after[field];

  if (row < 0) return -1;
  if (!mcg_counter_resets(cf, row)) {
    if (peak > next_floor) l->spent = TRUE;
    if (peak <= l->before[field] && l->before[field] > floor) return -1;
  }
  if (!relative) return peak;
  return peak > floor ? peak - floor : 0;
}

static mrb_value
number_or_nil(mrb_state *mrb, const struct counter_files *cf, enum usage_field field, int64_t v)
{
  return mcg_counter_row(cf, field) < 0 || v < 0 ? mrb_nil_value() : mrb_int_value(mrb, (mrb_int)v);
}

/* The Cgroup::Usage of the lease, from delta[] (mrblib/pool.rb names the
 * instance variables). */
static mrb_value
usage_new(mrb_state *mrb, const struct counter_files *cf, mrb_value slot, const int64_t *delta)
{
  struct RClass *cls =
      mrb_class_get_under_id(mrb, mrb_module_get_id(mrb, MRB_SYM(Cgroup)), MRB_SYM(Usage));
  mrb_value usage = mrb_obj_value(mrb_obj_alloc(mrb, MRB_TT_OBJECT, cls));
  mrb_value events = mrb_nil_value(), io = mrb_nil_value();
  int i;

  mrb_iv_set(mrb, usage, MRB_IVSYM(slot), slot);
  mrb_iv_set(mrb, usage, MRB_IVSYM(cpu_usec), number_or_nil(mrb, cf, F_CPU, delta[F_CPU]));
  mrb_iv_set(mrb, usage, MRB_IVSYM(user_usec), number_or_nil(mrb, cf, F_USER, delta[F_USER]));
  mrb_iv_set(mrb, usage, MRB_IVSYM(system_usec), number_or_nil(mrb, cf, F_SYSTEM, delta[F_SYSTEM]));
  mrb_iv_set(mrb, usage, MRB_IVSYM(memory_peak),
             number_or_nil(mrb, cf, F_MEM_PEAK, delta[F_MEM_PEAK]));
  mrb_iv_set(mrb, usage, MRB_IVSYM(pids_peak),
             number_or_nil(mrb, cf, F_PIDS_PEAK, delta[F_PIDS_PEAK]));
  if (mcg_counter_row(cf, F_RBYTES) >= 0) {
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

/* The Cgroup::Usage of the lease that ran in slot; sets lease->spent when
 * the next lease's peak would be hidden by this one's. */
mrb_value
mcg_lease_usage(mrb_state *mrb, const struct counter_files *cf, struct lease *l, mrb_value slot)
{
  int64_t delta[F_COUNT];
  int i;

  l->spent = FALSE;
  for (i = 0; i < F_COUNT; i++)
    delta[i] = l->after[i] > l->before[i] ? l->after[i] - l->before[i] : 0;
  delta[F_MEM_PEAK] =
      lease_peak(cf, l, F_MEM_PEAK, l->before[F_MEM_LEVEL], l->after[F_MEM_LEVEL], TRUE);
  delta[F_PIDS_PEAK] = lease_peak(cf, l, F_PIDS_PEAK, l->pids_floor, l->pids_floor, FALSE);
  return usage_new(mrb, cf, slot, delta);
}
