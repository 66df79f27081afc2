/*
 * The objects of this process that hold a task attached, across objects.
 * An event-loop server (ngx_mruby) runs requests interleaved in one worker:
 * request A attaches the worker to its group, waits, request B attaches it
 * to another, A detaches, then B.  Each object keeps its own records
 * (struct attachment, in tasks.c); this list lets a record see the others
 * of the same task, state and hierarchy, so that the task sits in the
 * group attached last of those still held, and goes back to where it was
 * before the first only when the last has ended, whatever the order.
 *
 * A plain array under a mutex: a process has a handful of such objects at
 * a time, and the list is process-wide because an object's context can be
 * freed after its mrb_state's other data (mrb_close), so it cannot live in
 * the state.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mruby.h>

#include "cgroup.h"

struct holder {
  mrb_state *mrb;
  struct cgroup_ctx *ctx;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t fork_handlers_once = PTHREAD_ONCE_INIT;
static struct holder *holders;
static size_t holder_count, holder_room;
static unsigned long last_seq;

static void
take_at_fork(void)
{
  pthread_mutex_lock(&lock);
}

static void
give_at_fork(void)
{
  pthread_mutex_unlock(&lock);
}

/* A fork while another thread holds the lock would leave the child a lock
 * no thread of its own will give back (its first attach would hang): the
 * forking thread takes it first, and parent and child each give it back.
 * (glibc drops these handlers when a module that registered them is
 * unloaded, as Apache does with mod_mruby on a restart.) */
static void
register_fork_handlers(void)
{
  pthread_atfork(take_at_fork, give_at_fork, give_at_fork);
}

static void
take_lock(void)
{
  pthread_once(&fork_handlers_once, register_fork_handlers);
  pthread_mutex_lock(&lock);
}

unsigned long
mcg_next_seq(void)
{
  unsigned long seq;

  take_lock();
  seq = ++last_seq;
  pthread_mutex_unlock(&lock);
  return seq;
}

/* ctx has records now; FALSE only when there was no memory for the list. */
mrb_bool
mcg_hold(mrb_state *mrb, struct cgroup_ctx *ctx)
{
  mrb_bool ok = TRUE;

  take_lock();
  for (size_t i = 0; i < holder_count; i++) {
    if (holders[i].ctx == ctx) goto done;
  }
  if (holder_count == holder_room) {
    size_t room = holder_room ? holder_room * 2 : 16;
    struct holder *grown = (struct holder *)realloc(holders, room * sizeof *grown);
    if (!grown) {
      ok = FALSE;
      goto done;
    }
    holders = grown;
    holder_room = room;
  }
  holders[holder_count].mrb = mrb;
  holders[holder_count++].ctx = ctx;
done:
  pthread_mutex_unlock(&lock);
  return ok;
}

/* ctx has no records left, or is being freed. */
void
mcg_release(struct cgroup_ctx *ctx)
{
  take_lock();
  for (size_t i = 0; i < holder_count; i++) {
    if (holders[i].ctx == ctx) {
      holders[i] = holders[--holder_count];
      break;
    }
  }
  pthread_mutex_unlock(&lock);
}

/* This process's record of pid in ctx (a forked child inherits its
 * parent's records, which are not its own), or NULL. */
struct attachment *
mcg_find_attachment(struct cgroup_ctx *ctx, pid_t pid)
{
  for (int i = 0; i < ctx->attached_count; i++) {
    struct attachment *a = &ctx->attached[i];
    if (a->pid == pid && a->owner == getpid()) return a;
  }
  return NULL;
}

/* Of the records of pid in the other objects of this state on ctx's
 * hierarchy: the one made first (it knows where the task was before any)
 * and the one attached last (where the task is), with its object. */
void
mcg_other_holds(mrb_state *mrb, struct cgroup_ctx *ctx, pid_t pid, struct attachment **first,
                struct attachment **last, struct cgroup_ctx **last_ctx)
{
  const char *mount = ctx->host->mount;

  *first = *last = NULL;
  *last_ctx = NULL;
  take_lock();
  for (size_t i = 0; i < holder_count; i++) {
    struct cgroup_ctx *other = holders[i].ctx;
    struct attachment *a;
    if (holders[i].mrb != mrb || other == ctx || strcmp(other->host->mount, mount)) continue;
    if (!(a = mcg_find_attachment(other, pid))) continue;
    if (!*first || a->made < (*first)->made) *first = a;
    if (!*last || a->seq > (*last)->seq) *last = a, *last_ctx = other;
  }
  pthread_mutex_unlock(&lock);
}
