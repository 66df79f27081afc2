/*
 * MEMORY's actions beside its attributes: reclaim (v2's memory.reclaim,
 * 5.19: shrink a worker between requests) and peak tracking (the highest
 * usage since a reset: v2's memory.peak is reset per descriptor, 6.12, so a
 * Cgroup::Peak owns one; v1's max_usage_in_bytes is reset for everyone).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mruby.h>
#include <mruby/string.h>

#include "cgroup.h"

/* MEMORY#reclaim(bytes) => true when the kernel reclaimed that much, false
 * when it could not (EAGAIN: what is left is not reclaimable, anonymous
 * memory without swap say; some may have been reclaimed). */
static mrb_value
memory_reclaim(mrb_state *mrb, mrb_value self)
{
  struct cgroup_ctx *ctx = mcg_get_ctx(mrb, self);
  mrb_int bytes;
  char text[32];
  int err;

  mrb_get_args(mrb, "i", &bytes);
  if (bytes <= 0) mrb_raisef(mrb, E_ARGUMENT_ERROR, "reclaim: bytes > 0, got %i", bytes);
  snprintf(text, sizeof text, "%lld", (long long)bytes);
  mcg_require_group(mrb, ctx, "reclaim");
  if (!mcg_ctx_on_v2(ctx)) {
    mcg_raise_error(mrb, MCG_FAILURE(.cls = "Unsupported", .err = EOPNOTSUPP, .ctx = ctx,
                                     .action = "reclaim", .file = "memory.reclaim", .value = text,
                                     .reason = "cgroup v2 only"));
  }
  err = mcg_kernel_write(mrb, ctx, ctx->path, "memory.reclaim", text, FILE_ONCE);
  if (err == EAGAIN) return mrb_false_value();
  if (err) {
    mcg_raise_error(mrb, MCG_FAILURE(.err = err, .ctx = ctx, .action = "reclaim",
                                     .file = "memory.reclaim", .value = text,
                                     .reason = err == EOPNOTSUPP
                                                   ? "this kernel has no memory.reclaim (5.19)"
                                                   : NULL));
  }
  return mrb_true_value();
}

/* The peak file of this version, and what a reset writes to it. */
static const char *
peak_file(struct cgroup_ctx *ctx)
{
  return mcg_ctx_on_v2(ctx) ? "memory.peak" : "memory.max_usage_in_bytes";
}

/* Open the peak file read-write, or raise: Unsupported where the kernel has
 * none (v2 before 5.19) or cannot reset it (before 6.12 memory.peak has no
 * write: the kernel refuses the open whoever asks). */
static int
open_peak(mrb_state *mrb, struct cgroup_ctx *ctx)
{
  const char *file;
  char rel[PATH_MAX];
  struct stat st;
  int fd, err;

  mcg_require_group(mrb, ctx, "track the peak"); /* first: the version names the file */
  file = peak_file(ctx);
  if ((fd = mcg_open_in_mount(ctx, ctx->path, file, O_RDWR)) >= 0) return fd;
  err = errno;
  if (err == ENOENT && mcg_path_exists(ctx, ctx->path)) {
    mcg_raise_error(mrb, MCG_FAILURE(.cls = "Unsupported", .err = EOPNOTSUPP, .ctx = ctx,
                                     .action = "track the peak", .file = file,
                                     .reason = "this kernel has no such file (5.19)"));
  }
  if (err == EACCES && mcg_group_path(ctx->path, file, rel) &&
      mcg_stat_below_mount(ctx, rel, &st) == 0 && !(st.st_mode & 0222)) {
    mcg_raise_error(mrb, MCG_FAILURE(.cls = "Unsupported", .err = EOPNOTSUPP, .ctx = ctx,
                                     .action = "track the peak", .file = file,
                                     .reason = "this kernel cannot reset it (6.12)"));
  }
  mcg_raise_error(mrb,
                  MCG_FAILURE(.err = err, .ctx = ctx, .action = "track the peak", .file = file));
}

/* Reset through the descriptor: v2 resets what this descriptor reads,
 * v1 the group's counter; 0 or an errno. */
static int
reset_peak(int fd, mrb_bool v2)
{
  const char *text = v2 ? "reset" : "0";

  return pwrite(fd, text, strlen(text), 0) < 0 ? errno : 0;
}

/* MEMORY#peak_tracker => a Cgroup::Peak, reset now: its #peak is the
 * highest usage since its last #reset. */
static mrb_value
memory_peak_tracker(mrb_state *mrb, mrb_value self)
{
  struct cgroup_ctx *ctx = mcg_get_ctx(mrb, self);
  int fd = open_peak(mrb, ctx);
  mrb_value peak = mcg_group_file_new(mrb, "Peak", self, peak_file(ctx), NULL, fd);
  int err = reset_peak(fd, mcg_ctx_on_v2(ctx));

  if (err == EINVAL && mcg_ctx_on_v2(ctx)) { /* 5.19 to 6.11: the file takes no write */
    mrb_funcall(mrb, peak, "close", 0);
    mcg_raise_error(mrb, MCG_FAILURE(.cls = "Unsupported", .err = EOPNOTSUPP, .ctx = ctx,
                                     .action = "track the peak", .file = "memory.peak",
                                     .reason = "this kernel cannot reset it (6.12)"));
  }
  if (err) mcg_raise_for_group_file(mrb, peak, MCG_FAILURE(.err = err, .action = "reset"));
  return peak;
}

static mrb_bool
peak_on_v2(mrb_state *mrb, mrb_value self)
{
  return strcmp(RSTRING_CSTR(mrb, mrb_funcall(mrb, self, "file", 0)), "memory.peak") == 0;
}

/* peak.reset => self */
static mrb_value
peak_reset(mrb_state *mrb, mrb_value self)
{
  int err = reset_peak(mcg_group_file_fd(mrb, self, "reset"), peak_on_v2(mrb, self));

  if (err) mcg_raise_for_group_file(mrb, self, MCG_FAILURE(.err = err, .action = "reset"));
  return self;
}

/* peak.peak => bytes: the highest usage since the last reset */
static mrb_value
peak_peak(mrb_state *mrb, mrb_value self)
{
  int fd = mcg_group_file_fd(mrb, self, "read");
  char buf[32];
  mrb_value v;
  ssize_t n = pread(fd, buf, sizeof buf - 1, 0);

  if (n < 0) mcg_raise_for_group_file(mrb, self, MCG_FAILURE(.err = errno, .action = "read"));
  while (n > 0 && buf[n - 1] == '\n') n--;
  if (!mcg_parse_integer(mrb, buf, buf + n, &v))
    mcg_raise_for_group_file(mrb, self,
                             MCG_FAILURE(.err = EIO, .action = "read", .reason = "not a number"));
  return v;
}

void
mcg_init_memory(mrb_state *mrb, struct RClass *cgroup)
{
  struct RClass *memory = mrb_class_get_under(mrb, cgroup, "MEMORY");
  struct RClass *peak = mcg_define_group_file_class(mrb, cgroup, "Peak");

  mrb_define_method(mrb, memory, "reclaim", memory_reclaim, MRB_ARGS_REQ(1));
  mrb_define_method(mrb, memory, "peak_tracker", memory_peak_tracker, MRB_ARGS_NONE());
  mrb_define_method(mrb, peak, "reset", peak_reset, MRB_ARGS_NONE());
  mrb_define_method(mrb, peak, "peak", peak_peak, MRB_ARGS_NONE());
}
