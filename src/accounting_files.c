/*
 * The counter files of a Cgroup::Meter (accounting.c): which of mcg_counters'
 * files its groups have here, each kept open once opened, read whole with
 * a check of the descriptor only when the text is not what the file holds,
 * and the peaks the kernel lets a descriptor reset.  `groups` is the
 * meter's Array of Cgroup objects; a file names its group by index.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include <mruby.h>
#include <mruby/array.h>

#include "accounting.h"

static struct cgroup_ctx *
group_ctx(mrb_state *mrb, mrb_value groups, int i)
{
  return mcg_get_ctx(mrb, mrb_ary_ref(mrb, groups, i));
}

/* Whether a counter of `row` is read from the group of ctx: the same
 * controller (v2: CPUACCT is cpu's, BLKIO io's), or v1's cpuacct mounted
 * together with cpu. */
static mrb_bool
counter_in(const struct counter *row, const struct cgroup_ctx *ctx)
{
  const struct hierarchy *own = ctx->host, *h;
  int err;

  if (row->controller == CTL_COUNT) return own->version == row->version;
  h = mcg_hierarchy(row->controller, NULL, 0, &err);
  if (!h || !h->version || (row->version && row->version != h->version) ||
      own->version != h->version)
    return FALSE;
  if (strcmp(h->controller, own->controller) == 0) return TRUE;
  return h->version == 1 && strcmp(h->mount, own->mount) == 0;
}

static int
file_index(mrb_state *mrb, struct counter_files *cf, int group, const struct counter *row)
{
  int i;

  for (i = 0; i < cf->count; i++) {
    if (cf->file[i].group == group && strcmp(cf->file[i].name, row->file) == 0) return i;
  }
  if (cf->count == MCG_COUNTER_FILES)
    mrb_raise(mrb, E_RUNTIME_ERROR, "Cgroup::Meter: too many files");
  cf->file[i].name = row->file;
  cf->file[i].group = group;
  cf->file[i].flags = row->kind == K_PEAK ? O_RDWR : O_RDONLY;
  cf->file[i].fd.fd = -1;
  return cf->count++;
}

/* The files of the counters the groups' controllers have here; a counter
 * is read from the first group that has it. */
void
mcg_counter_files_init(mrb_state *mrb, struct counter_files *cf, mrb_value groups)
{
  mrb_int g;
  int i;

  for (g = 0; g < RARRAY_LEN(groups); g++) mcg_require_mount(mrb, group_ctx(mrb, groups, (int)g));
  for (i = 0; i < mcg_counter_count; i++) {
    cf->file_of[i] = -1;
    for (g = 0; g < RARRAY_LEN(groups) && cf->file_of[i] < 0; g++) {
      if (counter_in(&mcg_counters[i], group_ctx(mrb, groups, (int)g)))
        cf->file_of[i] = file_index(mrb, cf, (int)g, &mcg_counters[i]);
    }
  }
}

/* The descriptors (a forked child closes its copies only). */
void
mcg_counter_files_close(struct counter_files *cf)
{
  int i;

  for (i = 0; i < cf->count; i++) mcg_fd_close(&cf->file[i].fd);
}

/* Raise for a file of the slot: a group gone (ENODEV, ENOENT) is NotFound,
 * which the pool answers by making the slot anew. */
static mrb_noreturn void
raise_for_file(mrb_state *mrb, mrb_value groups, struct counter_file *f, const char *action,
               int err)
{
  struct cgroup_ctx *ctx = group_ctx(mrb, groups, f->group);

  mcg_raise_error(mrb, MCG_FAILURE(.cls = err == ENODEV ? "NotFound" : NULL, .err = err, .ctx = ctx,
                                   .action = action, .file = f->name,
                                   .reason = err == ENODEV ? "the group was removed" : NULL));
}

/* Open counter file f of the group of ctx; a peak file that cannot be
 * opened for writing is read only from then on: its peak is the group's
 * since it was made.  A descriptor, or -1 with errno. */
static int
open_counter_file(const struct cgroup_ctx *ctx, struct counter_file *f)
{
  int fd = mcg_open_in_mount(ctx, ctx->path, f->name, f->flags);

  if (fd < 0 && f->flags == O_RDWR && errno == EACCES) { /* before 6.12 memory.peak is 0444 */
    f->flags = O_RDONLY;
    fd = mcg_open_in_mount(ctx, ctx->path, f->name, f->flags);
  }
  return fd;
}

/* Open f unless it is open; FALSE when this kernel has no such file
 * (memory.peak before 5.19, pids.peak before 6.1), which holds for good.
 * A file missing while another process removes the group and makes it
 * again is not that: kernel_io.c's mcg_look_again tells them apart, and a
 * file back is opened again, a group gone is NotFound (the pool makes the
 * slot anew).  With verify, an open descriptor is first checked to be the
 * file it was opened on (it may have been closed behind the meter's back
 * and its number reused). */
static mrb_bool
open_file(mrb_state *mrb, mrb_value groups, struct counter_file *f, const char *action,
          mrb_bool verify)
{
  struct cgroup_ctx *ctx;
  int fd;

  if (f->absent) return FALSE;
  if (f->fd.fd >= 0 && (!verify || mcg_fd_unchanged(&f->fd))) return TRUE;
  mcg_fd_close(&f->fd); /* closed only while it is still ours */
  ctx = group_ctx(mrb, groups, f->group);
  fd = open_counter_file(ctx, f);
  if (fd < 0 && errno == ENOENT) {
    switch (mcg_look_again(mrb, ctx, ctx->path, f->name)) {
    case FILE_BACK: fd = open_counter_file(ctx, f); break;
    case GROUP_GONE: errno = ENOENT; break;
    default: return !(f->absent = TRUE); /* lacking here, or its controller off (v2) */
    }
  }
  if (fd < 0) raise_for_file(mrb, groups, f, action, errno);
  if (!mcg_fd_adopt(&f->fd, fd)) raise_for_file(mrb, groups, f, action, EBADF);
  f->resets = f->flags == O_RDWR;
  return TRUE;
}

/* Whether text is what file f holds (its first counter's kind). */
static mrb_bool
text_fits(const struct counter_files *cf, int f, const char *text, ssize_t len)
{
  int i;

  for (i = 0; i < mcg_counter_count; i++) {
    if (cf->file_of[i] == f) return mcg_counter_fits(&mcg_counters[i], text, (size_t)len);
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
read_file(mrb_state *mrb, mrb_value groups, struct counter_files *cf, int f, const char *action,
          size_t *len)
{
  struct counter_file *file = &cf->file[f];
  ssize_t n;

  if (!open_file(mrb, groups, file, action, FALSE)) return NULL;
  n = mcg_pread_whole(mrb, file->fd.fd, &cf->buf, &cf->size);
  if (n < 0 && errno == ENODEV && mcg_fd_unchanged(&file->fd))
    raise_for_file(mrb, groups, file, action, ENODEV); /* the group was removed */
  if (n < 0 || !text_fits(cf, f, cf->buf, n)) {
    if (!open_file(mrb, groups, file, action, TRUE)) return NULL;
    if ((n = mcg_pread_whole(mrb, file->fd.fd, &cf->buf, &cf->size)) < 0)
      raise_for_file(mrb, groups, file, action, errno);
  }
  *len = (size_t)n;
  return cf->buf;
}

static mrb_bool
file_has(const struct counter_files *cf, int f, unsigned fields)
{
  int i;

  for (i = 0; i < mcg_counter_count; i++) {
    if (cf->file_of[i] == f && (fields & MCG_FIELD(mcg_counters[i].field))) return TRUE;
  }
  return FALSE;
}

/* The counters of `fields` into out[], each file that holds one read once. */
void
mcg_read_counters(mrb_state *mrb, mrb_value groups, struct counter_files *cf, int64_t *out,
                  unsigned fields, const char *action)
{
  int f, i;

  for (f = 0; f < cf->count; f++) {
    size_t len;
    const char *text;
    if (fields != MCG_ALL_FIELDS && !file_has(cf, f, fields)) continue;
    text = read_file(mrb, groups, cf, f, action, &len);
    if (!text) continue;
    for (i = 0; i < mcg_counter_count; i++) {
      if (cf->file_of[i] == f)
        out[mcg_counters[i].field] = mcg_counter_value(&mcg_counters[i], text, text + len);
    }
  }
}

/* Reset the peaks the kernel lets a descriptor reset: v1 writes 0 (the
 * group's counter, this slot's alone), v2 "reset" (this descriptor's). */
void
mcg_reset_peaks(mrb_state *mrb, mrb_value groups, struct counter_files *cf)
{
  int i;

  for (i = 0; i < mcg_counter_count; i++) {
    struct counter_file *f = cf->file_of[i] < 0 ? NULL : &cf->file[cf->file_of[i]];
    const char *text;
    if (!f || mcg_counters[i].kind != K_PEAK || !open_file(mrb, groups, f, "reset", TRUE) ||
        !f->resets)
      continue;
    text = mcg_ctx_on_v2(group_ctx(mrb, groups, f->group)) ? "reset" : "0";
    if (pwrite(f->fd.fd, text, strlen(text), 0) >= 0) continue;
    if (errno != EINVAL) raise_for_file(mrb, groups, f, "reset", errno);
    f->resets = FALSE; /* 5.19 to 6.11: memory.peak opens for writing, takes no write */
  }
}

/* One counter (a row mcg_counter_row gave) into *out; FALSE when this
 * kernel has no such file. */
mrb_bool
mcg_read_counter(mrb_state *mrb, mrb_value groups, struct counter_files *cf, int row,
                 const char *action, int64_t *out)
{
  size_t len;
  const char *text = read_file(mrb, groups, cf, cf->file_of[row], action, &len);

  if (text) *out = mcg_counter_value(&mcg_counters[row], text, text + len);
  return text != NULL;
}
