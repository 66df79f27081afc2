/*
 * The pace of moves.  Since Linux 6.0 a move (a write to tasks,
 * cgroup.procs or cgroup.threads) write-locks the kernel's
 * cgroup_threadgroup_rwsem, and one made after a quiet spell first waits
 * for an RCU grace period (milliseconds), unless favordynmods is in force:
 * the mount option, one switch for the whole kernel, which every cgroup and
 * cgroup2 mount then shows among its super options.  A process that moves
 * at a server's pace without it is told so once, on stderr; a script that
 * attaches once is not.  See doc/speed.md, "At a server's pace".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mruby.h>

#include "cgroup.h"

/* A move made at least QUIET_MS after the process's previous one is made
 * "after a quiet spell": the kernel made moves wait after 20 ms of quiet
 * now and then, after 30 ms and more nearly always, never after 10 ms, in
 * the VMs and on a host (tools/bench/moves.c, doc/speed.md).  The
 * PACE_MOVESth such move is a server's pace: a script that attaches once,
 * and detaches at its end, makes one; a server makes one or two a request. */
#define QUIET_MS 20
#define PACE_MOVES 10

static const char warning[] =
    "mruby-cgroup: warning: this process moves tasks between cgroups at a server's pace "
    "(attach/detach per request), and favordynmods is not in force: since Linux 6.0 a move "
    "made after 20 ms or more without one waits for an RCU grace period, 6 to 16 ms where "
    "measured (0.2 to 0.5 ms with favordynmods). Turn it on for the host: "
    "mount -o remount,favordynmods on the cgroup2 mount (/sys/fs/cgroup, or "
    "/sys/fs/cgroup/unified on a hybrid host), or boot with cgroup_favordynmods=1 (Linux 6.7 "
    "and later); forks and exits then take the slower side of the kernel's lock. See "
    "mruby-cgroup's doc/speed.md, \"At a server's pace\". Cgroup.warn_moves = false silences "
    "this.\n";

/* Process-wide, as the kernel's switch is: one warning per process however
 * many mrb_states it runs, and a forked worker inherits what its parent
 * saw.  Threads with a state each move too: atomics. */
static int decided;       /* warned, or found no need: no more looking */
static int silenced;      /* Cgroup.warn_moves = false */
static long long last_ms; /* the previous move, CLOCK_MONOTONIC; 0: none yet */
static int quiet_moves;   /* moves made after a quiet spell */

/* Whether the comma-separated options in [s, end) include name. */
static mrb_bool
lists_option(const char *s, const char *end, const char *name)
{
  size_t n = strlen(name);

  while (s < end) {
    const char *comma = memchr(s, ',', (size_t)(end - s));
    const char *stop = comma ? comma : end;
    if ((size_t)(stop - s) == n && memcmp(s, name, n) == 0) return TRUE;
    s = stop + 1;
  }
  return FALSE;
}

/* The end of the space-separated field that starts at s. */
static const char *
field_end(const char *s, const char *end)
{
  const char *space = memchr(s, ' ', (size_t)(end - s));
  return space ? space : end;
}

/*
 * Whether a line of /proc/self/mountinfo is a cgroup or cgroup2 mount whose
 * super options list favordynmods.  The line: ID PARENT MAJ:MIN ROOT POINT
 * OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER_OPTIONS; the kernel escapes
 * spaces inside fields (\040), so the first " - " is the separator.  Pure,
 * so the fuzz target covers it.
 */
mrb_bool
mcg_mountinfo_favors_dynmods(const char *line, size_t len)
{
  const char *end = line + len, *s, *type_end, *source_end;

  if (len > 0 && end[-1] == '\n') end--;
  s = line;
  while (s + 3 <= end && memcmp(s, " - ", 3) != 0) s++;
  if (s + 3 > end) return FALSE;
  s += 3;
  type_end = field_end(s, end);
  if (!((type_end - s == 6 && memcmp(s, "cgroup", 6) == 0) ||
        (type_end - s == 7 && memcmp(s, "cgroup2", 7) == 0)))
    return FALSE;
  if (type_end == end) return FALSE;
  source_end = field_end(type_end + 1, end);
  if (source_end == end) return FALSE;
  return lists_option(source_end + 1, field_end(source_end + 1, end), "favordynmods");
}

/* Whether favordynmods is in force: 1 or 0, or -errno when /proc/self/
 * mountinfo cannot be read.  Read afresh on every call (a remount changes
 * it), about as dear as reading a small file. */
int
mcg_favordynmods(void)
{
  FILE *f = fopen("/proc/self/mountinfo", "re");
  char *line = NULL;
  size_t size = 0;
  ssize_t n;
  int found = 0;

  if (!f) return -errno;
  while (!found && (n = getline(&line, &size, f)) > 0)
    found = mcg_mountinfo_favors_dynmods(line, (size_t)n);
  free(line);
  fclose(f);
  return found;
}

/* Whether moves on this kernel wait after a quiet spell unless favordynmods
 * is on: whether it knows the option (cgroup2's features list it, from 6.0;
 * an older kernel never makes a move wait so). */
static mrb_bool
moves_may_wait(void)
{
  FILE *f = fopen("/sys/kernel/cgroup/features", "re");
  char line[64];
  mrb_bool knows = FALSE;

  while (f && !knows && fgets(line, sizeof line, f)) knows = strcmp(line, "favordynmods\n") == 0;
  if (f) fclose(f);
  return knows;
}

static long long
now_ms(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * A move is about to be made (tasks.c, attach and detach).  At the
 * PACE_MOVESth made after a quiet spell, look once whether moves wait here
 * and favordynmods is off, and if so say it, once per process.  Until then
 * a clock read and two atomics; after it, one load.
 */
void
mcg_note_move(void)
{
  long long now, last;

  if (__atomic_load_n(&decided, __ATOMIC_RELAXED) || __atomic_load_n(&silenced, __ATOMIC_RELAXED))
    return;
  now = now_ms();
  last = __atomic_exchange_n(&last_ms, now, __ATOMIC_RELAXED);
  if (last == 0 || now - last < QUIET_MS) return;
  if (__atomic_add_fetch(&quiet_moves, 1, __ATOMIC_RELAXED) < PACE_MOVES) return;
  if (__atomic_exchange_n(&decided, 1, __ATOMIC_RELAXED)) return; /* another thread's */
  if (moves_may_wait() && mcg_favordynmods() == 0) fputs(warning, stderr);
}

/* Cgroup.warn_moves = false: no warning from this process from now on. */
void
mcg_set_warn_moves(mrb_bool on)
{
  __atomic_store_n(&silenced, !on, __ATOMIC_RELAXED);
}

mrb_bool
mcg_warn_moves(void)
{
  return !__atomic_load_n(&silenced, __ATOMIC_RELAXED);
}
