/*
 * cgroup v1 and v2 in one place: values are staged, and read, in their v1
 * form, and converted here to and from v2's files; and the names of the
 * other files that differ between the versions.  Pure: where a conversion
 * needs a second file's text (cpu.max's other field, memory.max beside
 * memory.swap.max), the caller reads it and passes it in.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <mruby.h>
#include <mruby/string.h>

#include "cgroup.h"

/* cpu.shares <-> cpu.weight uses the log-based mapping of current container
 * runtimes: 2 <-> 1, 1024 <-> 100 (both defaults), 262144 <-> 10000, and
 * in between rounded up, with the same floating-point steps as runc and
 * crun, so that a job moved between them and this gem gets the same
 * weight.  The way back rounds to nearest: a weight stands for a range. */
static long long
weight_from_shares(long long shares)
{
  double l = log2((double)shares);

  if (shares <= 2) return 1;
  if (shares >= 262144) return 10000;
  return (long long)ceil(pow(10.0, (l * l + 125.0 * l) / 612.0 - 7.0 / 34.0));
}

static long long
shares_from_weight(long long weight)
{
  double y = log10((double)weight) + 7.0 / 34.0;
  double l = (-125.0 + sqrt(125.0 * 125.0 + 4.0 * 612.0 * y)) / 2.0;

  if (weight <= 1) return 2;
  if (weight >= 10000) return 262144;
  return llround(pow(2.0, l));
}

/* An integer in text ("max" is -1); raises on anything else. */
static long long
text_integer(mrb_state *mrb, struct cgroup_ctx *ctx, const struct attribute *attr, const char *text,
             const char *end)
{
  mrb_value v;

  while (end > text && (end[-1] == '\n' || end[-1] == ' ')) end--;
  if (!mcg_parse_integer(mrb, text, end, &v) || !mrb_integer_p(v))
    mcg_raise_unexpected(mrb, ctx, attr, text);
  return (long long)mrb_integer(v);
}

/* A byte count: a whole number or "max" (-1), nothing below. */
static long long
text_bytes(mrb_state *mrb, struct cgroup_ctx *ctx, const struct attribute *attr, const char *text,
           const char *end)
{
  long long v = text_integer(mrb, ctx, attr, text, end);

  if (v < -1) mcg_raise_unexpected(mrb, ctx, attr, text);
  return v;
}

static mrb_value
int_text(mrb_state *mrb, long long v)
{
  char buf[32];

  if (v == -1) return mrb_str_new_lit(mrb, "max");
  snprintf(buf, sizeof buf, "%lld", v);
  return mrb_str_new_cstr(mrb, buf);
}

/*
 * The file whose text a conversion of attr needs besides its own, or NULL:
 * writing one field of cpu.max keeps the other, and memory.swap.X is
 * memory+swap less memory.X (unless unlimited).  staged is the value to
 * write, NULL for a read.
 */
const char *
mcg_v2_partner_file(const struct attribute *attr, const struct staged_value *staged, char *buf,
                    size_t size)
{
  const char *file = attr->file[1];

  switch (attr->conversion) {
  case V2_FIELD0:
  case V2_FIELD1: return staged ? file : NULL;
  case V2_SWAP:
    if (staged && staged->number == -1) return NULL;
    snprintf(buf, size, "memory.%s", file + strlen("memory.swap."));
    return buf;
  default: return NULL;
  }
}

/* io.max lines "MAJ:MIN rbps=N wbps=N riops=N wiops=N" -> "MAJ:MIN N" lines
 * for the devices whose `key` is limited. */
static mrb_value
iomax_to_blkio(mrb_state *mrb, const char *key, mrb_value text)
{
  mrb_value out = mrb_str_new_capa(mrb, 32);
  const char *s = RSTRING_PTR(text), *end = RSTRING_END(text);
  size_t klen = strlen(key);

  while (s < end) {
    const char *eol = memchr(s, '\n', end - s), *dev_end = mcg_token_end(s, end), *t;
    if (!eol) eol = end;
    for (t = mcg_skip_blanks(dev_end, eol); t < eol;
         t = mcg_skip_blanks(mcg_token_end(t, eol), eol)) {
      const char *v = t + klen + 1, *v_end = mcg_token_end(t, eol);
      if (v > v_end || memcmp(t, key, klen) != 0 || t[klen] != '=' ||
          (v_end - v == 3 && !memcmp(v, "max", 3)))
        continue;
      if (RSTRING_LEN(out) > 0) mrb_str_cat_lit(mrb, out, "\n");
      mrb_str_cat(mrb, out, s, dev_end - s);
      mrb_str_cat_lit(mrb, out, " ");
      mrb_str_cat(mrb, out, v, v_end - v);
    }
    s = eol + 1;
  }
  return out;
}

/* A v2 file's text (after key selection) in the attribute's v1 form;
 * partner is the text of mcg_v2_partner_file(attr, NULL, ...). */
mrb_value
mcg_v2_to_v1(mrb_state *mrb, struct cgroup_ctx *ctx, const struct attribute *attr, mrb_value text,
             mrb_value partner)
{
  const char *s = RSTRING_PTR(text), *end = RSTRING_END(text);
  char buf[32];
  long long a, b;

  switch (attr->conversion) {
  case V2_FIELD1: s = mcg_skip_blanks(mcg_token_end(s, end), end); /* fall through */
  case V2_FIELD0: return mrb_str_new(mrb, s, mcg_token_end(s, end) - s);
  case V2_WEIGHT: return int_text(mrb, shares_from_weight(text_integer(mrb, ctx, attr, s, end)));
  case V2_USEC: /* to nanoseconds; past 2^63 (292 CPU-years) a Float, as other counters */
    a = text_integer(mrb, ctx, attr, s, end);
    if (a < 0) mcg_raise_unexpected(mrb, ctx, attr, s);
    if (!__builtin_mul_overflow(a, 1000LL, &b)) return int_text(mrb, b);
    snprintf(buf, sizeof buf, "%.0f", (double)a * 1000.0); /* digits only, in any locale */
    return mrb_str_new_cstr(mrb, buf);
  case V2_IOMAX: return iomax_to_blkio(mrb, mcg_attr_key(ctx, attr), text);
  case V2_SWAP: /* a sum past the integer range is no limit either */
    a = text_bytes(mrb, ctx, attr, s, end);
    b = text_bytes(mrb, ctx, attr, RSTRING_PTR(partner), RSTRING_END(partner));
    return int_text(mrb, a == -1 || b == -1 || __builtin_add_overflow(a, b, &a) ? -1 : a);
  default: return text;
  }
}

/* "QUOTA PERIOD" from the current cpu.max with one field replaced. */
static const char *
replace_field(mrb_state *mrb, const struct attribute *attr, long long v, mrb_value current)
{
  const char *f = RSTRING_PTR(current), *f_end = RSTRING_END(current);
  mrb_value fields[2];

  fields[0] = mrb_str_new(mrb, f, mcg_token_end(f, f_end) - f);
  f = mcg_skip_blanks(mcg_token_end(f, f_end), f_end);
  fields[1] = mrb_str_new(mrb, f, mcg_token_end(f, f_end) - f);
  fields[attr->conversion == V2_FIELD1] = int_text(mrb, v);
  return RSTRING_CSTR(mrb, mrb_format(mrb, "%v %v", fields[0], fields[1]));
}

/* memory.swap.max from a memory+swap limit and memory.max's text. */
static const char *
swap_limit(mrb_state *mrb, struct cgroup_ctx *ctx, const struct attribute *attr, long long v,
           mrb_value memory_text)
{
  long long memory;

  /* staged values are -1 or more: with memory read as 0 or more, v -
   * memory cannot overflow */
  if (v != -1) {
    memory = text_bytes(mrb, ctx, attr, RSTRING_PTR(memory_text), RSTRING_END(memory_text));
    if (memory == -1 || v < memory) {
      mcg_raise_error(
          mrb, MCG_FAILURE(.cls = "InvalidValue", .err = EINVAL, .ctx = ctx, .action = "write",
                           .file = mcg_attr_file(ctx, attr),
                           .value = RSTRING_CSTR(mrb, int_text(mrb, v)),
                           .reason = memory == -1 ? "memory+swap needs a memory limit on cgroup v2"
                                                  : "below the memory limit"));
    }
    v -= memory;
  }
  return RSTRING_CSTR(mrb, int_text(mrb, v));
}

/* The text to write on v2 for a staged value, formatted once from its
 * number or text; partner is the text of mcg_v2_partner_file(attr, sv, ...). */
const char *
mcg_v2_text(mrb_state *mrb, struct cgroup_ctx *ctx, const struct attribute *attr,
            const struct staged_value *sv, mrb_value partner)
{
  long long v = sv->number;
  const char *value;

  switch (attr->conversion) {
  case V2_FIELD0:
  case V2_FIELD1: return replace_field(mrb, attr, v, partner);
  case V2_WEIGHT: return RSTRING_CSTR(mrb, int_text(mrb, weight_from_shares(v)));
  case V2_IOMAX: /* "MAJ:MIN KEY=VALUE"; a VALUE of 0 lifts the limit on v1, "max" on v2 */
    value = strchr(sv->text, ' ') + 1; /* digits, as the kernel's u64 takes them */
    return RSTRING_CSTR(
        mrb, mrb_format(mrb, "%v %s=%s", mrb_str_new(mrb, sv->text, value - 1 - sv->text),
                        mcg_attr_key(ctx, attr), value[strspn(value, "0")] ? value : "max"));
  case V2_SWAP: return swap_limit(mrb, ctx, attr, v, partner);
  default:
    if (attr->kind == KIND_STRING) return sv->text;
    return RSTRING_CSTR(mrb, int_text(mrb, v)); /* -1 is "max"; a FLAG's 1 or 0 */
  }
}

/*
 * Files beside the attributes, [v1, v2]: the file whose write moves a task
 * (v1: that one thread; v2: the whole process, as libcgroup's attach picks
 * it), the threads of a group, and the freezer's switch.
 */
static const char *const version_files[][2] = {
    [FILE_MOVE_TASK] = {"tasks", "cgroup.procs"},
    [FILE_THREADS] = {"tasks", "cgroup.threads"},
    [FILE_FREEZE] = {"freezer.state", "cgroup.freeze"},
    [FILE_FROZEN] = {"freezer.state", "cgroup.events"}, /* where the state reached shows */
};

const char *
mcg_version_file(const struct cgroup_ctx *ctx, enum version_file file)
{
  return version_files[file][mcg_ctx_on_v2(ctx)];
}

/* What FILE_FREEZE takes to freeze or thaw. */
const char *
mcg_freeze_value(const struct cgroup_ctx *ctx, mrb_bool freeze)
{
  static const char *const values[2][2] = {{"THAWED", "0"}, {"FROZEN", "1"}};

  return values[freeze != 0][mcg_ctx_on_v2(ctx)];
}

/* Whether the controller follows threads on v2 (cgroup-v2.rst's threaded
 * controllers: cpu, cpuset, pids, perf_event), or is no controller at all
 * (FREEZER, PRESSURE: the core files).  memory and io are domain only: in
 * a threaded group their limits are the threaded domain's. */
mrb_bool
mcg_follows_threads(const struct cgroup_ctx *ctx)
{
  const char *name = ctx->host->controller;

  return strcmp(name, "cpu") == 0 || strcmp(name, "cpuset") == 0 || strcmp(name, "pids") == 0 ||
         ctx->host->core_files;
}
