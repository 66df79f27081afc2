/*
 * What a pool slot's meter (accounting.c) reads: one row per number of a counter
 * file, per cgroup version, and the parsers of those files' text.  No I/O.
 */
#include <stdint.h>
#include <string.h>

#include <mruby.h>

#include "accounting.h"

static const char *const event_names[] = {"memory.low", "memory.high",     "memory.max",
                                          "memory.oom", "memory.oom_kill", "memory.oom_group_kill",
                                          "pids.max"};

const struct counter mcg_counters[] = {
    {CTL_CPUACCT, 1, "cpuacct.usage", NULL, F_CPU, K_NANO},
    {CTL_CPUACCT, 1, "cpuacct.usage_all", "user", F_USER, K_COLUMN},
    {CTL_CPUACCT, 1, "cpuacct.usage_all", "system", F_SYSTEM, K_COLUMN},
    {CTL_CPUACCT, 2, "cpu.stat", "usage_usec", F_CPU, K_NUMBER},
    {CTL_CPUACCT, 2, "cpu.stat", "user_usec", F_USER, K_NUMBER},
    {CTL_CPUACCT, 2, "cpu.stat", "system_usec", F_SYSTEM, K_NUMBER},
    {CTL_MEMORY, 1, "memory.usage_in_bytes", NULL, F_MEM_LEVEL, K_NUMBER},
    {CTL_MEMORY, 1, "memory.max_usage_in_bytes", NULL, F_MEM_PEAK, K_PEAK},
    {CTL_MEMORY, 1, "memory.failcnt", NULL, F_MEM_MAX, K_NUMBER},
    {CTL_MEMORY, 1, "memory.oom_control", "oom_kill", F_MEM_OOM_KILL, K_NUMBER},
    {CTL_MEMORY, 2, "memory.current", NULL, F_MEM_LEVEL, K_NUMBER},
    {CTL_MEMORY, 2, "memory.peak", NULL, F_MEM_PEAK, K_PEAK},
    {CTL_MEMORY, 2, "memory.events", "low", F_MEM_LOW, K_NUMBER},
    {CTL_MEMORY, 2, "memory.events", "high", F_MEM_HIGH, K_NUMBER},
    {CTL_MEMORY, 2, "memory.events", "max", F_MEM_MAX, K_NUMBER},
    {CTL_MEMORY, 2, "memory.events", "oom", F_MEM_OOM, K_NUMBER},
    {CTL_MEMORY, 2, "memory.events", "oom_kill", F_MEM_OOM_KILL, K_NUMBER},
    {CTL_MEMORY, 2, "memory.events", "oom_group_kill", F_MEM_OOM_GROUP_KILL, K_NUMBER},
    {CTL_BLKIO, 1, "blkio.throttle.io_service_bytes", "Read", F_RBYTES, K_IO_V1},
    {CTL_BLKIO, 1, "blkio.throttle.io_service_bytes", "Write", F_WBYTES, K_IO_V1},
    {CTL_BLKIO, 1, "blkio.throttle.io_serviced", "Read", F_RIOS, K_IO_V1},
    {CTL_BLKIO, 1, "blkio.throttle.io_serviced", "Write", F_WIOS, K_IO_V1},
    {CTL_BLKIO, 2, "io.stat", "rbytes", F_RBYTES, K_IO_V2},
    {CTL_BLKIO, 2, "io.stat", "wbytes", F_WBYTES, K_IO_V2},
    {CTL_BLKIO, 2, "io.stat", "rios", F_RIOS, K_IO_V2},
    {CTL_BLKIO, 2, "io.stat", "wios", F_WIOS, K_IO_V2},
    {CTL_PIDS, 0, "pids.current", NULL, F_PIDS_LEVEL, K_NUMBER},
    {CTL_PIDS, 0, "pids.peak", NULL, F_PIDS_PEAK, K_PEAK},
    {CTL_PIDS, 0, "pids.events", "max", F_PIDS_MAX, K_NUMBER},
    {CTL_COUNT, 2, "cgroup.events", "populated", F_POPULATED, K_NUMBER}, /* any v2 group */
};
const int mcg_counter_count = (int)(sizeof mcg_counters / sizeof mcg_counters[0]);
typedef char
    counters_fit_meter[sizeof mcg_counters / sizeof mcg_counters[0] <= MCG_MAX_COUNTERS ? 1 : -1];

/* An event field's name in Cgroup::Usage#events ("memory.oom_kill"). */
const char *
mcg_event_name(enum usage_field field)
{
  return event_names[field - F_FIRST_EVENT];
}

/* The decimal number at s (after blanks), saturated at INT64_MAX: the
 * kernel's counters are unsigned 64-bit and never come near it. */
static int64_t
number_at(const char *s, const char *end)
{
  int64_t v = 0;

  s = mcg_skip_blanks(s, end);
  for (; s < end && *s >= '0' && *s <= '9'; s++) {
    if (v > (INT64_MAX - (*s - '0')) / 10) return INT64_MAX;
    v = v * 10 + (*s - '0');
  }
  return v;
}

static int64_t
saturated_add(int64_t a, int64_t b)
{
  return a > INT64_MAX - b ? INT64_MAX : a + b;
}

/* The sum over the lines of [s, end) of the counter's value. */
static int64_t
io_sum(const struct counter *row, const char *s, const char *end)
{
  size_t klen = strlen(row->key);
  int64_t sum = 0;

  while (s < end) {
    const char *eol = memchr(s, '\n', end - s), *word = mcg_token_end(s, end);
    if (!eol) eol = end;
    while (word < eol) {
      const char *w = mcg_skip_blanks(word, eol), *w_end = mcg_token_end(w, eol);
      if (row->kind == K_IO_V1 && (size_t)(w_end - w) == klen && memcmp(w, row->key, klen) == 0)
        sum = saturated_add(sum, number_at(w_end, eol));
      if (row->kind == K_IO_V2 && (size_t)(w_end - w) > klen && memcmp(w, row->key, klen) == 0 &&
          w[klen] == '=')
        sum = saturated_add(sum, number_at(w + klen + 1, w_end));
      word = w_end;
    }
    s = eol + 1;
  }
  return sum;
}

/* The sum of the column named row->key over the rows below the header. */
static int64_t
column_sum(const struct counter *row, const char *s, const char *end)
{
  size_t klen = strlen(row->key);
  int64_t sum = 0;
  int column = -1, i = 0;
  const char *eol = memchr(s, '\n', end - s), *w;

  if (!eol) return 0;
  for (w = mcg_skip_blanks(s, eol); w < eol; w = mcg_skip_blanks(mcg_token_end(w, eol), eol), i++) {
    if ((size_t)(mcg_token_end(w, eol) - w) == klen && memcmp(w, row->key, klen) == 0) column = i;
  }
  for (s = eol + 1; column >= 0 && s < end; s = eol + 1) {
    if (!(eol = memchr(s, '\n', end - s))) eol = end;
    for (w = mcg_skip_blanks(s, eol), i = 0; w < eol && i < column; i++)
      w = mcg_skip_blanks(mcg_token_end(w, eol), eol);
    sum = saturated_add(sum, number_at(w, eol));
  }
  return sum / 1000;
}

int64_t
mcg_counter_value(const struct counter *row, const char *s, const char *end)
{
  const char *value_end;

  if (row->kind == K_COLUMN) return column_sum(row, s, end);
  if (row->kind == K_IO_V1 || row->kind == K_IO_V2) return io_sum(row, s, end);
  if (row->key && !(s = mcg_find_key(s, end, row->key, &value_end))) return 0;
  return row->kind == K_NANO ? number_at(s, end) / 1000 : number_at(s, end);
}

/* Whether text is what row's file holds: one number starts with a digit,
 * "key value" lines have the row's key, usage_all its header; io's lists
 * may be empty.  (A descriptor closed behind the meter's back may name
 * another file now.) */
mrb_bool
mcg_counter_fits(const struct counter *row, const char *text, size_t len)
{
  const char *end;

  if (row->kind == K_IO_V1 || row->kind == K_IO_V2)
    return len == 0 || (text[0] >= '0' && text[0] <= '9');
  if (len == 0) return FALSE;
  if (row->kind == K_COLUMN) return len > 4 && memcmp(text, "cpu ", 4) == 0;
  if (row->key) return mcg_find_key(text, text + len, row->key, &end) != NULL;
  return text[0] >= '0' && text[0] <= '9';
}
