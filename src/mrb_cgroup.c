/*
 * mruby-cgroup: control groups for mruby, on top of libcgroup.
 *
 * Two tables define everything Ruby sees: CGROUP_CONTROLLERS (one class per
 * controller) and CGROUP_ATTRIBUTES (one reader and/or writer per cgroup
 * file).  Macros turn them into small C wrappers around a handful of generic
 * functions; adding an attribute is one line in CGROUP_ATTRIBUTES.
 *
 * Copyright (c) mruby-cgroup developers.  MIT License, see LICENSE.
 */

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <libcgroup.h>

#include <mruby.h>
#include <mruby/array.h>
#include <mruby/class.h>
#include <mruby/data.h>
#include <mruby/error.h>
#include <mruby/hash.h>
#include <mruby/presym.h>
#include <mruby/string.h>
#include <mruby/variable.h>
#include <mruby/version.h>

#if MRUBY_RELEASE_NO < 30200
#define CGROUP_DATA_TT MRB_TT_DATA
#else
#define CGROUP_DATA_TT MRB_TT_CDATA
#endif

/* ---- The Ruby surface ------------------------------------------------- */

/* X(Ruby class name under Cgroup, kernel controller name) */
#define CGROUP_CONTROLLERS(X)                                                                      \
  X(CPU, "cpu")                                                                                    \
  X(CPUACCT, "cpuacct")                                                                            \
  X(CPUSET, "cpuset")                                                                              \
  X(BLKIO, "blkio")                                                                                \
  X(MEMORY, "memory")                                                                              \
  X(PIDS, "pids")

/*
 * X(class, Ruby name, cgroup file, key inside the file or NULL, kind, access)
 *
 * kind:   INT    decimal integer
 *         LIMIT  integer where the kernel's "max" and Ruby's -1 mean unlimited
 *         STRING text, one value (trailing newline dropped)
 *         FLAG   true/false, written as 1/0
 *         STAT   "key value" lines, read as a Hash of Integers
 *         LIST   space separated integers, read as an Array
 * access: RO, WO, RW; RWI is RW plus "copied from the parent on create when
 *         not set" (a v1 cpuset with empty cpus or mems refuses every task).
 * Staged values are written in table order, so a memory limit goes in before
 * the memory+swap limit that must not be lower than it.
 */
#define CGROUP_ATTRIBUTES(X)                                                                       \
  X(CPU, cfs_period_us, "cpu.cfs_period_us", NULL, INT, RW)                                        \
  X(CPU, cfs_quota_us, "cpu.cfs_quota_us", NULL, INT, RW)                                          \
  X(CPU, rt_period_us, "cpu.rt_period_us", NULL, INT, RW)                                          \
  X(CPU, rt_runtime_us, "cpu.rt_runtime_us", NULL, INT, RW)                                        \
  X(CPU, shares, "cpu.shares", NULL, INT, RW)                                                      \
  X(CPU, stat, "cpu.stat", NULL, STAT, RO)                                                         \
  X(CPUACCT, usage, "cpuacct.usage", NULL, INT, RW)                                                \
  X(CPUACCT, stat, "cpuacct.stat", NULL, STAT, RO)                                                 \
  X(CPUACCT, usage_percpu, "cpuacct.usage_percpu", NULL, LIST, RO)                                 \
  X(CPUSET, cpus, "cpuset.cpus", NULL, STRING, RWI)                                                \
  X(CPUSET, mems, "cpuset.mems", NULL, STRING, RWI)                                                \
  X(BLKIO, throttle_read_bps_device, "blkio.throttle.read_bps_device", NULL, STRING, RW)           \
  X(BLKIO, throttle_write_bps_device, "blkio.throttle.write_bps_device", NULL, STRING, RW)         \
  X(BLKIO, throttle_read_iops_device, "blkio.throttle.read_iops_device", NULL, STRING, RW)         \
  X(BLKIO, throttle_write_iops_device, "blkio.throttle.write_iops_device", NULL, STRING, RW)       \
  X(MEMORY, limit_in_bytes, "memory.limit_in_bytes", NULL, INT, RW)                                \
  X(MEMORY, memsw_limit_in_bytes, "memory.memsw.limit_in_bytes", NULL, INT, RW)                    \
  X(MEMORY, soft_limit_in_bytes, "memory.soft_limit_in_bytes", NULL, INT, RW)                      \
  X(MEMORY, swappiness, "memory.swappiness", NULL, INT, RW)                                        \
  X(MEMORY, move_charge_at_immigrate, "memory.move_charge_at_immigrate", NULL, INT, RW)            \
  X(MEMORY, oom_control, "memory.oom_control", "oom_kill_disable", FLAG, RW)                       \
  X(MEMORY, cgroup_event_control, "cgroup.event_control", NULL, STRING, WO)                        \
  X(MEMORY, usage_in_bytes, "memory.usage_in_bytes", NULL, INT, RO)                                \
  X(MEMORY, max_usage_in_bytes, "memory.max_usage_in_bytes", NULL, INT, RO)                        \
  X(MEMORY, memsw_usage_in_bytes, "memory.memsw.usage_in_bytes", NULL, INT, RO)                    \
  X(MEMORY, memsw_max_usage_in_bytes, "memory.memsw.max_usage_in_bytes", NULL, INT, RO)            \
  X(MEMORY, failcnt, "memory.failcnt", NULL, INT, RO)                                              \
  X(MEMORY, oom_kill_count, "memory.oom_control", "oom_kill", INT, RO)                             \
  X(MEMORY, stat, "memory.stat", NULL, STAT, RO)                                                   \
  X(PIDS, max, "pids.max", NULL, LIMIT, RW)                                                        \
  X(PIDS, current, "pids.current", NULL, INT, RO)

enum controller_id {
#define CONTROLLER_ENUM(klass, name) CTL_##klass,
  CGROUP_CONTROLLERS(CONTROLLER_ENUM) CTL_COUNT
#undef CONTROLLER_ENUM
};

enum attribute_id {
#define ATTRIBUTE_ENUM(klass, rname, file, key, kind, access) ATTR_##klass##_##rname,
  CGROUP_ATTRIBUTES(ATTRIBUTE_ENUM) ATTR_COUNT
#undef ATTRIBUTE_ENUM
};

enum value_kind { KIND_INT, KIND_LIMIT, KIND_STRING, KIND_FLAG, KIND_STAT, KIND_LIST };

enum access {
  ACCESS_RO = 1,
  ACCESS_WO = 2,
  ACCESS_RW = ACCESS_RO | ACCESS_WO,
  ACCESS_RWI = ACCESS_RW | 4,
};
#define ACCESS_INHERIT 4

struct attribute {
  enum controller_id controller;
  const char *name;
  const char *file;
  const char *key;
  enum value_kind kind;
  enum access access;
  mrb_func_t reader;
  mrb_func_t writer;
};

static const char *const controller_names[CTL_COUNT] = {
#define CONTROLLER_NAME(klass, name) name,
    CGROUP_CONTROLLERS(CONTROLLER_NAME)
#undef CONTROLLER_NAME
};

/* ---- libcgroup set-up, once per process ------------------------------- */

static pthread_once_t library_once = PTHREAD_ONCE_INIT;
static int library_status;
static char *mount_points[CTL_COUNT];

/* cgroup_init parses the mount table (hundreds of microseconds): do it and
 * the mount point look-ups once per process, on first use. */
static void
library_init(void)
{
  int i;

  library_status = cgroup_init();
  if (library_status != 0) return;
  for (i = 0; i < CTL_COUNT; i++) {
    if (cgroup_get_subsys_mount_point(controller_names[i], &mount_points[i]) != 0) {
      mount_points[i] = NULL;
    }
  }
}

/* ---- One C context per Ruby object ------------------------------------ */

struct attachment {
  pid_t pid;
  char *previous; /* the group the task was in before attach (malloc) */
};

struct cgroup_ctx {
  enum controller_id controller;
  char *staged[ATTR_COUNT]; /* values set from Ruby, not yet written */
  struct attachment *attached;
  int attached_count;
  char path[]; /* normalised group path, "/" for the root */
};

static const struct attribute attributes[ATTR_COUNT];

static void
ctx_free(mrb_state *mrb, void *p)
{
  struct cgroup_ctx *ctx = (struct cgroup_ctx *)p;
  int i;

  if (!ctx) return;
  for (i = 0; i < ATTR_COUNT; i++) {
    if (!ctx->staged[i]) continue;
    /* A limit that was set but never written must not pass silently. */
    fprintf(stderr,
            "mruby-cgroup: warning: %s:%s: %s = %s was set but never written "
            "(call modify or create)\n",
            controller_names[ctx->controller], ctx->path, attributes[i].file, ctx->staged[i]);
    mrb_free(mrb, ctx->staged[i]);
  }
  for (i = 0; i < ctx->attached_count; i++) {
    free(ctx->attached[i].previous);
  }
  mrb_free(mrb, ctx->attached);
  mrb_free(mrb, ctx);
}

static const struct mrb_data_type ctx_type = {"Cgroup", ctx_free};

static struct cgroup_ctx *
get_ctx(mrb_state *mrb, mrb_value self)
{
  struct cgroup_ctx *ctx = (struct cgroup_ctx *)mrb_data_get_ptr(mrb, self, &ctx_type);

  if (!ctx) {
    mrb_raisef(mrb, E_TYPE_ERROR, "uninitialized %s (initialize was not called)",
               mrb_obj_classname(mrb, self));
  }
  return ctx;
}

/* ---- Errors ----------------------------------------------------------- */

/* The errno behind a libcgroup return code (0 when there is none). */
static int
errno_of(int ret)
{
  switch (ret) {
  case 0: return 0;
  case ECGOTHER:
  case ECGCANTSETVALUE: return cgroup_get_last_errno();
  case ECGROUPNOTEXIST: return ENOENT;
  case ECGROUPNOTOWNER:
  case ECGROUPNOTALLOWED: return EPERM;
  case ECGROUPNOTMOUNTED:
  case ECGROUPSUBSYSNOTMOUNTED:
  case ECGROUPUNSUPP:
  case ECGROUPVALUENOTEXIST: return EOPNOTSUPP;
  case ECGNONEMPTY: return EBUSY;
  case ECGINVAL: return EINVAL;
  default: return ret < ECGROUPNOTCOMPILED ? ret : 0;
  }
}

static const char *
error_class_for(int err)
{
  switch (err) {
  case ENOENT:
  case ESRCH: return "NotFound";
  case EPERM:
  case EACCES:
  case EROFS: return "PermissionDenied";
  case EINVAL:
  case ERANGE:
  case EOVERFLOW: return "InvalidValue";
  case EBUSY:
  case ENOTEMPTY: return "Busy";
  case ENODEV:
  case ENOSYS:
  case EOPNOTSUPP: return "Unsupported";
  default: return "Error";
  }
}

/*
 * Raise Cgroup::<class> with a message naming the group, the file and the
 * value, and the same facts in @errno, @controller, @group, @file, @value.
 * cls NULL picks the class from err; reason NULL uses strerror(err).
 */
static mrb_noreturn void
raise_error(mrb_state *mrb, const char *cls, int err, enum controller_id controller,
            const char *group, const char *action, const char *file, const char *value,
            const char *reason)
{
  struct RClass *module = mrb_module_get(mrb, "Cgroup");
  mrb_value msg, exc;

  if (!cls) cls = error_class_for(err);
  if (!reason) reason = err ? strerror(err) : "failed";
  msg =
      mrb_format(mrb, "%s:%s: %s%s%s%s%s: %s", controller_names[controller], group, action,
                 file ? " " : "", file ? file : "", value ? " = " : "", value ? value : "", reason);
  exc = mrb_exc_new_str(mrb, mrb_class_get_under(mrb, module, cls), msg);
  mrb_iv_set(mrb, exc, MRB_IVSYM(errno), mrb_int_value(mrb, err));
  mrb_iv_set(mrb, exc, MRB_IVSYM(controller), mrb_str_new_cstr(mrb, controller_names[controller]));
  mrb_iv_set(mrb, exc, MRB_IVSYM(group), mrb_str_new_cstr(mrb, group));
  mrb_iv_set(mrb, exc, MRB_IVSYM(file), file ? mrb_str_new_cstr(mrb, file) : mrb_nil_value());
  mrb_iv_set(mrb, exc, MRB_IVSYM(value), value ? mrb_str_new_cstr(mrb, value) : mrb_nil_value());
  mrb_exc_raise(mrb, exc);
}

/* Raise for a failed libcgroup call on ctx's group. */
static mrb_noreturn void
raise_libcgroup(mrb_state *mrb, struct cgroup_ctx *ctx, int ret, const char *action,
                const char *file, const char *value)
{
  int err = errno_of(ret);

  raise_error(mrb, NULL, err, ctx->controller, ctx->path, action, file, value,
              err ? NULL : cgroup_strerror(ret));
}

/* Make sure libcgroup is initialised and ctx's controller is mounted. */
static const char *
require_mount(mrb_state *mrb, struct cgroup_ctx *ctx)
{
  pthread_once(&library_once, library_init);
  if (library_status != 0) {
    raise_error(mrb, "Unsupported", 0, ctx->controller, ctx->path, "initialise libcgroup", NULL,
                NULL, cgroup_strerror(library_status));
  }
  if (!mount_points[ctx->controller]) {
    raise_error(mrb, "Unsupported", ENODEV, ctx->controller, ctx->path, "find controller", NULL,
                NULL, "controller is not mounted");
  }
  return mount_points[ctx->controller];
}

/* ---- Group names ------------------------------------------------------ */

/* A C string for an error message: the text itself, or its inspect form
 * when it holds NUL or other control characters. */
static mrb_bool
has_control_chars(mrb_value str)
{
  const char *p = RSTRING_PTR(str);
  mrb_int i;

  for (i = 0; i < RSTRING_LEN(str); i++) {
    if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f) return TRUE;
  }
  return FALSE;
}

static const char *
printable(mrb_state *mrb, mrb_value str)
{
  return RSTRING_CSTR(mrb, has_control_chars(str) ? mrb_inspect(mrb, str) : str);
}

/*
 * Check a group name and write its normalised form ("/a/b", or "/" for the
 * root) to out.  Names are paths below the controller's mount: no "." or
 * ".." segments, no empty segments, no control characters, so that nothing
 * can point outside the cgroup tree.
 */
static void
normalise_name(mrb_state *mrb, enum controller_id controller, mrb_value name, char *out,
               size_t size)
{
  const char *s = RSTRING_PTR(name), *end = s + RSTRING_LEN(name), *seg;
  const char *why = NULL;
  size_t n = 0;

  if (s < end && *s == '/') s++;
  if (end - s >= 2 && end[-1] == '/' && end[-2] != '/') end--; /* "/a/b/" is "/a/b" */
  if (s == end && RSTRING_LEN(name) > 0) {                     /* "/" */
    strcpy(out, "/");
    return;
  }
  while (!why) {
    for (seg = s; s < end && *s != '/'; s++) {
      if ((unsigned char)*s < 0x20 || *s == 0x7f) why = "control character in name";
    }
    if (why) break;
    if (s == seg)
      why = "empty segment in name";
    else if ((s - seg == 1 && seg[0] == '.') || (s - seg == 2 && seg[0] == '.' && seg[1] == '.'))
      why = "'.' and '..' are not allowed in names";
    else if (s - seg > NAME_MAX)
      why = "name segment longer than 255 bytes";
    else if (n + 1 + (size_t)(s - seg) >= size)
      why = "name too long";
    if (why) break;
    out[n++] = '/';
    memcpy(out + n, seg, s - seg);
    n += s - seg;
    out[n] = '\0';
    if (s == end) return;
    s++; /* the slash */
  }
  raise_error(mrb, "InvalidValue", EINVAL, controller, printable(mrb, name), "name", NULL, NULL,
              why);
}

/* ---- Kernel I/O through libcgroup ------------------------------------- */

static struct cgroup *
new_libcgroup(struct cgroup_ctx *ctx, const char *path)
{
  struct cgroup *cg = cgroup_new_cgroup(path);

  if (cg && !cgroup_add_controller(cg, controller_names[ctx->controller])) cgroup_free(&cg);
  return cg;
}

static mrb_bool
path_exists(mrb_state *mrb, struct cgroup_ctx *ctx, const char *path)
{
  char full[PATH_MAX];
  struct stat st;

  snprintf(full, sizeof full, "%s%s", require_mount(mrb, ctx), path);
  return stat(full, &st) == 0 && S_ISDIR(st.st_mode);
}

static void
require_group(mrb_state *mrb, struct cgroup_ctx *ctx, const char *action)
{
  if (!path_exists(mrb, ctx, ctx->path)) {
    raise_error(mrb, "NotFound", ENOENT, ctx->controller, ctx->path, action, NULL, NULL,
                "no such group");
  }
}

/* The whole content of a cgroup file of the group at path, as a String. */
static mrb_value
kernel_read(mrb_state *mrb, struct cgroup_ctx *ctx, const char *path, const char *file)
{
  char line[4096];
  void *handle = NULL;
  mrb_value text = mrb_str_new_capa(mrb, 64);
  int ret;

  require_mount(mrb, ctx);
  ret = cgroup_read_value_begin(controller_names[ctx->controller], path, (char *)file, &handle,
                                line, sizeof line);
  while (ret == 0) {
    mrb_str_cat_cstr(mrb, text, line);
    ret = cgroup_read_value_next(&handle, line, sizeof line);
  }
  if (handle) cgroup_read_value_end(&handle);
  if (ret != ECGEOF) {
    int err = errno_of(ret);
    raise_error(mrb, NULL, err, ctx->controller, path, "read", file, NULL,
                err ? NULL : cgroup_strerror(ret));
  }
  return text;
}

/* Write one value through cgroup_modify_cgroup; returns libcgroup's code. */
static int
kernel_write(struct cgroup_ctx *ctx, const char *path, const char *file, const char *value)
{
  struct cgroup *cg = new_libcgroup(ctx, path);
  int ret = ECGFAIL;

  if (cg) {
    ret = cgroup_add_value_string(cgroup_get_controller(cg, controller_names[ctx->controller]),
                                  file, value);
    if (ret == 0) ret = cgroup_modify_cgroup(cg);
    cgroup_free(&cg);
  }
  return ret;
}

/*
 * Write every staged value, in table order.  Each is written on its own so
 * that a refusal names its file; values written before it are no longer
 * staged, the refused one and those after it stay staged.
 */
static void
write_staged(mrb_state *mrb, struct cgroup_ctx *ctx)
{
  int i, ret;

  for (i = 0; i < ATTR_COUNT; i++) {
    char *value = ctx->staged[i];
    if (!value) continue;
    ret = kernel_write(ctx, ctx->path, attributes[i].file, value);
    if (ret != 0) raise_libcgroup(mrb, ctx, ret, "write", attributes[i].file, value);
    ctx->staged[i] = NULL;
    mrb_free(mrb, value);
  }
}

/* ---- Values: kernel text <-> Ruby ------------------------------------- */

/* Parse a decimal integer (or "max" = -1) from [s, end); FALSE if not one. */
static mrb_bool
parse_integer(mrb_state *mrb, const char *s, const char *end, mrb_value *out)
{
  char buf[32], *stop;
  size_t len = end - s;
  long long v;

  if (len == 3 && memcmp(s, "max", 3) == 0) {
    *out = mrb_int_value(mrb, -1);
    return TRUE;
  }
  if (len == 0 || len >= sizeof buf) return FALSE;
  memcpy(buf, s, len);
  buf[len] = '\0';
  errno = 0;
  v = strtoll(buf, &stop, 10);
  if (*stop != '\0') return FALSE;
  if (errno == ERANGE) {
#ifndef MRB_NO_FLOAT
    /* counters above 2**63 (u64 "unlimited" values) */
    *out = mrb_float_value(mrb, (mrb_float)strtoull(buf, NULL, 10));
    return TRUE;
#else
    return FALSE;
#endif
  }
  *out = mrb_int_value(mrb, (mrb_int)v);
  return TRUE;
}

static mrb_noreturn void
raise_unexpected(mrb_state *mrb, struct cgroup_ctx *ctx, const struct attribute *attr,
                 const char *text)
{
  raise_error(mrb, "Error", 0, ctx->controller, ctx->path, "parse", attr->file, text,
              "unexpected content");
}

static const char *
skip_blanks(const char *s, const char *end)
{
  while (s < end && (*s == ' ' || *s == '\t' || *s == '\n')) s++;
  return s;
}

static const char *
token_end(const char *s, const char *end)
{
  while (s < end && *s != ' ' && *s != '\t' && *s != '\n') s++;
  return s;
}

/* The value after "key " on one of the lines of [s, end), or NULL. */
static const char *
find_key(const char *s, const char *end, const char *key, const char **value_end)
{
  size_t klen = strlen(key);

  while (s < end) {
    const char *eol = memchr(s, '\n', end - s);
    if (!eol) eol = end;
    if ((size_t)(eol - s) > klen && memcmp(s, key, klen) == 0 && s[klen] == ' ') {
      *value_end = eol;
      return s + klen + 1;
    }
    s = eol + 1;
  }
  return NULL;
}

static mrb_value
stat_to_hash(mrb_state *mrb, struct cgroup_ctx *ctx, const struct attribute *attr, const char *text,
             const char *end)
{
  mrb_value hash = mrb_hash_new(mrb), num;
  const char *s = skip_blanks(text, end);

  while (s < end) {
    const char *key_end = token_end(s, end);
    const char *v = skip_blanks(key_end, end), *v_end = token_end(v, end);
    if (!parse_integer(mrb, v, v_end, &num)) raise_unexpected(mrb, ctx, attr, text);
    mrb_hash_set(mrb, hash, mrb_str_new(mrb, s, key_end - s), num);
    s = skip_blanks(v_end, end);
  }
  return hash;
}

static mrb_value
list_to_array(mrb_state *mrb, struct cgroup_ctx *ctx, const struct attribute *attr,
              const char *text, const char *end)
{
  mrb_value ary = mrb_ary_new(mrb), num;
  const char *s = skip_blanks(text, end);

  while (s < end) {
    const char *v_end = token_end(s, end);
    if (!parse_integer(mrb, s, v_end, &num)) raise_unexpected(mrb, ctx, attr, text);
    mrb_ary_push(mrb, ary, num);
    s = skip_blanks(v_end, end);
  }
  return ary;
}

/* Convert the text of a cgroup file (or of a staged value) to Ruby. */
static mrb_value
text_to_value(mrb_state *mrb, struct cgroup_ctx *ctx, const struct attribute *attr,
              const char *text, size_t len)
{
  const char *end = text + len;
  mrb_value num;

  if (attr->key) {
    text = find_key(text, end, attr->key, &end);
    if (!text) raise_unexpected(mrb, ctx, attr, attr->key);
  }
  while (end > text && end[-1] == '\n') end--;
  switch (attr->kind) {
  case KIND_STRING: return mrb_str_new(mrb, text, end - text);
  case KIND_STAT: return stat_to_hash(mrb, ctx, attr, text, end);
  case KIND_LIST: return list_to_array(mrb, ctx, attr, text, end);
  default: break;
  }
  if (!parse_integer(mrb, text, end, &num)) raise_unexpected(mrb, ctx, attr, text);
  if (attr->kind == KIND_FLAG) return mrb_bool_value(!mrb_integer_p(num) || mrb_integer(num) != 0);
  return num;
}

/* The text to write for a Ruby value; raises TypeError or InvalidValue. */
static char *
value_to_text(mrb_state *mrb, struct cgroup_ctx *ctx, const struct attribute *attr, mrb_value v)
{
  char buf[32];
  const char *text = buf;
  size_t len;

  switch (attr->kind) {
  case KIND_FLAG:
    if (!mrb_true_p(v) && !mrb_false_p(v)) goto type_error;
    text = mrb_true_p(v) ? "1" : "0";
    break;
  case KIND_STRING:
    if (!mrb_string_p(v)) goto type_error;
    text = printable(mrb, v);
    if (has_control_chars(v)) { /* one value: no NUL, no second line */
      raise_error(mrb, "InvalidValue", EINVAL, ctx->controller, ctx->path, "set", attr->file, text,
                  "control character in value");
    }
    break;
  default:
    if (!mrb_integer_p(v)) goto type_error;
    if (attr->kind == KIND_LIMIT && mrb_integer(v) == -1)
      text = "max";
    else
      snprintf(buf, sizeof buf, "%" PRId64, (int64_t)mrb_integer(v));
  }
  len = strlen(text);
  return (char *)memcpy(mrb_malloc(mrb, len + 1), text, len + 1);

type_error:
  mrb_raisef(mrb, E_TYPE_ERROR, "%s expects %s, got %s", attr->file,
             attr->kind == KIND_STRING ? "String"
             : attr->kind == KIND_FLAG ? "true or false"
                                       : "Integer",
             mrb_obj_classname(mrb, v));
}

/* ---- Attribute readers and writers ------------------------------------ */

static struct cgroup_ctx *
attr_ctx(mrb_state *mrb, mrb_value self, const struct attribute *attr)
{
  struct cgroup_ctx *ctx = get_ctx(mrb, self);

  if (ctx->controller != attr->controller) {
    mrb_raisef(mrb, E_TYPE_ERROR, "%s is a %s attribute, not %s", attr->name,
               controller_names[attr->controller], controller_names[ctx->controller]);
  }
  return ctx;
}

/* A setting reads as its staged value while one is pending, else the
 * kernel's; counters and statistics always come from the kernel. */
static mrb_value
attr_get(mrb_state *mrb, mrb_value self, enum attribute_id id)
{
  const struct attribute *attr = &attributes[id];
  struct cgroup_ctx *ctx = attr_ctx(mrb, self, attr);
  mrb_value text;

  if (ctx->staged[id]) {
    return text_to_value(mrb, ctx, attr, ctx->staged[id], strlen(ctx->staged[id]));
  }
  text = kernel_read(mrb, ctx, ctx->path, attr->file);
  return text_to_value(mrb, ctx, attr, RSTRING_PTR(text), RSTRING_LEN(text));
}

/* Stage a value; create, modify or attach writes it. */
static mrb_value
attr_set(mrb_state *mrb, mrb_value self, enum attribute_id id)
{
  const struct attribute *attr = &attributes[id];
  struct cgroup_ctx *ctx = attr_ctx(mrb, self, attr);
  mrb_value v;
  char *text;

  mrb_get_args(mrb, "o", &v);
  text = value_to_text(mrb, ctx, attr, v);
  mrb_free(mrb, ctx->staged[id]);
  ctx->staged[id] = text;
  return v;
}

#define DEFINE_ACCESSORS(klass, rname, file, key, kind, access)                                    \
  static mrb_value klass##_get_##rname(mrb_state *mrb, mrb_value self)                             \
  {                                                                                                \
    return attr_get(mrb, self, ATTR_##klass##_##rname);                                            \
  }                                                                                                \
  static mrb_value klass##_set_##rname(mrb_state *mrb, mrb_value self)                             \
  {                                                                                                \
    return attr_set(mrb, self, ATTR_##klass##_##rname);                                            \
  }
CGROUP_ATTRIBUTES(DEFINE_ACCESSORS)
#undef DEFINE_ACCESSORS

static const struct attribute attributes[ATTR_COUNT] = {
#define ATTRIBUTE_ENTRY(klass, rname, file, key, kind, access)                                     \
  {CTL_##klass,        #rname, file, key, KIND_##kind, ACCESS_##access, klass##_get_##rname,       \
   klass##_set_##rname},
    CGROUP_ATTRIBUTES(ATTRIBUTE_ENTRY)
#undef ATTRIBUTE_ENTRY
};

/* ---- Cgroup instance methods ------------------------------------------ */

static mrb_value
cgroup_initialize(mrb_state *mrb, mrb_value self, enum controller_id controller)
{
  char path[PATH_MAX];
  mrb_value name;
  struct cgroup_ctx *ctx;
  size_t len;

  mrb_get_args(mrb, "S", &name);
  normalise_name(mrb, controller, name, path, sizeof path);
  len = strlen(path);
  ctx = (struct cgroup_ctx *)mrb_calloc(mrb, 1, sizeof *ctx + len + 1);
  ctx->controller = controller;
  memcpy(ctx->path, path, len + 1);
  ctx_free(mrb, DATA_PTR(self)); /* initialize called again */
  mrb_data_init(self, ctx, &ctx_type);
  mrb_iv_set(mrb, self, MRB_IVSYM(group_name), mrb_str_new(mrb, path, len));
  return self;
}

#define DEFINE_INITIALIZE(klass, name)                                                             \
  static mrb_value klass##_initialize(mrb_state *mrb, mrb_value self)                              \
  {                                                                                                \
    return cgroup_initialize(mrb, self, CTL_##klass);                                              \
  }
CGROUP_CONTROLLERS(DEFINE_INITIALIZE)
#undef DEFINE_INITIALIZE

static const mrb_func_t controller_initializers[CTL_COUNT] = {
#define INITIALIZER_ENTRY(klass, name) klass##_initialize,
    CGROUP_CONTROLLERS(INITIALIZER_ENTRY)
#undef INITIALIZER_ENTRY
};

/* The text of a file of the group at path, without its trailing newline,
 * as a C string owned by the returned Ruby String. */
static const char *
kernel_read_line(mrb_state *mrb, struct cgroup_ctx *ctx, const char *path, const char *file)
{
  mrb_value text = kernel_read(mrb, ctx, path, file);
  mrb_int len = RSTRING_LEN(text);

  while (len > 0 && RSTRING_PTR(text)[len - 1] == '\n') len--;
  return RSTRING_CSTR(mrb, mrb_str_substr(mrb, text, 0, len));
}

/*
 * Make the one missing level `path` (its parent exists) and give it its
 * parent's value of every inheritable setting, except those staged for it.
 */
static void
make_level(mrb_state *mrb, struct cgroup_ctx *ctx, const char *path, mrb_bool target)
{
  struct cgroup *cg = new_libcgroup(ctx, path);
  int ret = cg ? cgroup_create_cgroup(cg, 0) : ECGFAIL;
  char parent[PATH_MAX];
  int i;

  cgroup_free(&cg);
  /* libcgroup 2.0.2 may report failure for a group it did make */
  if (!path_exists(mrb, ctx, path)) raise_libcgroup(mrb, ctx, ret, "create", NULL, NULL);
  strcpy(parent, path);
  *strrchr(parent, '/') = '\0';
  if (!parent[0]) strcpy(parent, "/");
  for (i = 0; i < ATTR_COUNT; i++) {
    const struct attribute *attr = &attributes[i];
    const char *value;
    if (attr->controller != ctx->controller || !(attr->access & ACCESS_INHERIT)) continue;
    if (target && ctx->staged[i]) continue;
    value = kernel_read_line(mrb, ctx, parent, attr->file);
    ret = kernel_write(ctx, path, attr->file, value);
    if (ret != 0) raise_libcgroup(mrb, ctx, ret, "write", attr->file, value);
  }
}

struct create_args {
  struct cgroup_ctx *ctx;
  size_t first_made; /* length of the shortest path made here; 0: none */
};

static mrb_value
create_body(mrb_state *mrb, void *p)
{
  struct create_args *args = (struct create_args *)p;
  struct cgroup_ctx *ctx = args->ctx;
  char level[PATH_MAX];
  size_t len = 0, full = strlen(ctx->path);

  while (full > 1 && len < full) { /* each level from the top */
    const char *slash = strchr(ctx->path + len + 1, '/');
    len = slash ? (size_t)(slash - ctx->path) : full;
    memcpy(level, ctx->path, len);
    level[len] = '\0';
    if (!args->first_made && path_exists(mrb, ctx, level)) continue;
    make_level(mrb, ctx, level, len == full);
    if (!args->first_made) args->first_made = len;
  }
  write_staged(mrb, ctx);
  return mrb_nil_value();
}

/* Remove the levels create made, deepest first. */
static void
remove_made_levels(struct cgroup_ctx *ctx, size_t first_made)
{
  char level[PATH_MAX];
  size_t len = strlen(ctx->path);

  memcpy(level, ctx->path, len + 1);
  while (first_made && len >= first_made) {
    struct cgroup *cg = new_libcgroup(ctx, level);
    if (cg) cgroup_delete_cgroup_ext(cg, CGFLAG_DELETE_EMPTY_ONLY);
    cgroup_free(&cg);
    len = strrchr(level, '/') - level;
    level[len] = '\0';
  }
}

/*
 * Cgroup#create: make the group, and missing parents, and write the staged
 * values.  When anything is refused, the groups made here are removed again
 * before the error is raised; an existing group is left as it was found.
 */
static mrb_value
cgroup_create(mrb_state *mrb, mrb_value self)
{
  struct create_args args = {get_ctx(mrb, self), 0};
  mrb_bool failed = FALSE;
  mrb_value exc;

  require_mount(mrb, args.ctx);
  exc = mrb_protect_error(mrb, create_body, &args, &failed);
  if (failed) {
    remove_made_levels(args.ctx, args.first_made);
    mrb_exc_raise(mrb, exc);
  }
  return self;
}

/* Cgroup#modify: write the staged values to the existing group. */
static mrb_value
cgroup_modify(mrb_state *mrb, mrb_value self)
{
  struct cgroup_ctx *ctx = get_ctx(mrb, self);

  require_group(mrb, ctx, "modify");
  write_staged(mrb, ctx);
  return self;
}

static mrb_value
cgroup_exist_p(mrb_state *mrb, mrb_value self)
{
  struct cgroup_ctx *ctx = get_ctx(mrb, self);

  return mrb_bool_value(path_exists(mrb, ctx, ctx->path));
}

/* Cgroup#delete: remove the group; it must have no tasks and no children. */
static mrb_value
cgroup_delete(mrb_state *mrb, mrb_value self)
{
  struct cgroup_ctx *ctx = get_ctx(mrb, self);
  struct cgroup *cg;
  int ret = ECGFAIL;

  if (strcmp(ctx->path, "/") == 0) {
    raise_error(mrb, "InvalidValue", EINVAL, ctx->controller, ctx->path, "delete", NULL, NULL,
                "the root group cannot be deleted");
  }
  require_group(mrb, ctx, "delete");
  cg = new_libcgroup(ctx, ctx->path);
  if (cg) ret = cgroup_delete_cgroup_ext(cg, CGFLAG_DELETE_EMPTY_ONLY);
  cgroup_free(&cg);
  /* libcgroup 2.0.2 returns 0 when rmdir failed and errors when it worked:
   * the directory is the truth. */
  if (path_exists(mrb, ctx, ctx->path)) {
    int err = errno_of(ret);
    raise_error(mrb, err ? NULL : "Busy", err ? err : EBUSY, ctx->controller, ctx->path, "delete",
                NULL, NULL, err ? NULL : "group still has tasks or child groups");
  }
  return self;
}

static pid_t
calling_thread(void)
{
  return (pid_t)syscall(SYS_gettid);
}

static pid_t
pid_arg(mrb_state *mrb, struct cgroup_ctx *ctx, mrb_value v)
{
  mrb_int pid;

  if (mrb_nil_p(v)) return calling_thread();
  if (!mrb_integer_p(v)) {
    mrb_raisef(mrb, E_TYPE_ERROR, "pid must be an Integer, got %s", mrb_obj_classname(mrb, v));
  }
  pid = mrb_integer(v);
  if (pid <= 0 || pid > INT_MAX) {
    char buf[32];
    snprintf(buf, sizeof buf, "%" PRId64, (int64_t)pid);
    raise_error(mrb, "InvalidValue", EINVAL, ctx->controller, ctx->path, "attach", "tasks", buf,
                "pid must be positive");
  }
  return (pid_t)pid;
}

/* Move a task into the group at path through libcgroup; libcgroup's code. */
static int
move_task(struct cgroup_ctx *ctx, const char *path, pid_t pid)
{
  struct cgroup *cg = new_libcgroup(ctx, path);
  int ret = cg ? cgroup_attach_task_pid(cg, pid) : ECGFAIL;

  cgroup_free(&cg);
  return ret;
}

static struct attachment *
find_attachment(struct cgroup_ctx *ctx, pid_t pid)
{
  int i;

  for (i = 0; i < ctx->attached_count; i++) {
    if (ctx->attached[i].pid == pid) return &ctx->attached[i];
  }
  return NULL;
}

/* Room for one more attachment, made before anything is moved. */
static void
reserve_attachment(mrb_state *mrb, struct cgroup_ctx *ctx)
{
  ctx->attached = (struct attachment *)mrb_realloc(
      mrb, ctx->attached, sizeof *ctx->attached * (ctx->attached_count + 1));
}

/* Cgroup#attach(pid = nil): move pid, or the calling thread, into the group,
 * first writing any staged values so it never runs under stale limits. */
static mrb_value
cgroup_attach(mrb_state *mrb, mrb_value self)
{
  struct cgroup_ctx *ctx = get_ctx(mrb, self);
  mrb_value v = mrb_nil_value();
  char *previous = NULL, pidtext[16];
  pid_t pid;
  int ret;

  mrb_get_args(mrb, "|o", &v);
  pid = pid_arg(mrb, ctx, v);
  snprintf(pidtext, sizeof pidtext, "%d", (int)pid);
  require_group(mrb, ctx, "attach");
  write_staged(mrb, ctx);
  reserve_attachment(mrb, ctx);
  ret = cgroup_get_current_controller_path(pid, controller_names[ctx->controller], &previous);
  if (ret != 0) {
    raise_error(mrb, "NotFound", ESRCH, ctx->controller, ctx->path, "attach", "tasks", pidtext,
                "no such process");
  }
  ret = move_task(ctx, ctx->path, pid);
  if (ret != 0 || find_attachment(ctx, pid)) {
    /* on a second attach, keep where it was before the first */
    free(previous);
    if (ret != 0) raise_libcgroup(mrb, ctx, ret, "attach", "tasks", pidtext);
    return self;
  }
  ctx->attached[ctx->attached_count].pid = pid;
  ctx->attached[ctx->attached_count++].previous = previous; /* malloc'd by libcgroup */
  return self;
}

/* Move a task to the group at target (the root if that is gone). */
static void
return_task(mrb_state *mrb, struct cgroup_ctx *ctx, pid_t pid, const char *target)
{
  char pidtext[16];
  int ret;

  if (!path_exists(mrb, ctx, target)) target = "/";
  ret = move_task(ctx, target, pid);
  if (ret == 0 || errno_of(ret) == ESRCH) return; /* a task that has exited needs no move */
  snprintf(pidtext, sizeof pidtext, "%d", (int)pid);
  raise_error(mrb, NULL, errno_of(ret), ctx->controller, target, "detach", "tasks", pidtext,
              errno_of(ret) ? NULL : cgroup_strerror(ret));
}

static void
detach_attachment(mrb_state *mrb, struct cgroup_ctx *ctx, struct attachment *a)
{
  return_task(mrb, ctx, a->pid, a->previous);
  free(a->previous);
  *a = ctx->attached[--ctx->attached_count];
}

/* A task this object did not attach: the classic gem moved it to the root;
 * do that only if it is in this group, else say it is not. */
static void
detach_unrecorded(mrb_state *mrb, struct cgroup_ctx *ctx, pid_t pid)
{
  char *current = NULL, pidtext[16];
  mrb_bool inside;

  inside =
      cgroup_get_current_controller_path(pid, controller_names[ctx->controller], &current) == 0 &&
      strcmp(current, ctx->path) == 0;
  free(current);
  if (inside) {
    return_task(mrb, ctx, pid, "/");
    return;
  }
  snprintf(pidtext, sizeof pidtext, "%d", (int)pid);
  raise_error(mrb, "NotFound", ESRCH, ctx->controller, ctx->path, "detach", "tasks", pidtext,
              "task is not attached to this group");
}

/*
 * Cgroup#detach(pid = nil): move pid, or every task attached through this
 * object, back to the group it was in before attach.
 */
static mrb_value
cgroup_detach(mrb_state *mrb, mrb_value self)
{
  struct cgroup_ctx *ctx = get_ctx(mrb, self);
  mrb_value v = mrb_nil_value();
  struct attachment *a;

  mrb_get_args(mrb, "|o", &v);
  require_mount(mrb, ctx);
  if (!mrb_nil_p(v)) {
    pid_t pid = pid_arg(mrb, ctx, v);
    if ((a = find_attachment(ctx, pid)))
      detach_attachment(mrb, ctx, a);
    else
      detach_unrecorded(mrb, ctx, pid);
    return self;
  }
  if (ctx->attached_count == 0) detach_unrecorded(mrb, ctx, calling_thread());
  while (ctx->attached_count > 0) {
    detach_attachment(mrb, ctx, &ctx->attached[ctx->attached_count - 1]);
  }
  return self;
}

/* ---- Definitions ------------------------------------------------------ */

static void
define_errors(mrb_state *mrb, struct RClass *cgroup)
{
  static const char *const subclasses[] = {"NotFound", "PermissionDenied", "InvalidValue", "Busy",
                                           "Unsupported"};
  struct RClass *base = mrb_define_class_under(mrb, cgroup, "Error", mrb->eStandardError_class);
  size_t i;

  for (i = 0; i < sizeof subclasses / sizeof subclasses[0]; i++) {
    mrb_define_class_under(mrb, cgroup, subclasses[i], base);
  }
}

static void
define_attribute(mrb_state *mrb, struct RClass *klass, const struct attribute *attr)
{
  char setter[64];

  if (attr->access & ACCESS_RO) {
    mrb_define_method(mrb, klass, attr->name, attr->reader, MRB_ARGS_NONE());
  }
  if (attr->access & ACCESS_WO) {
    snprintf(setter, sizeof setter, "%s=", attr->name);
    mrb_define_method(mrb, klass, setter, attr->writer, MRB_ARGS_REQ(1));
  }
}

void
mrb_mruby_cgroup_gem_init(mrb_state *mrb)
{
  static const char *const class_names[CTL_COUNT] = {
#define CLASS_NAME(klass, name) #klass,
      CGROUP_CONTROLLERS(CLASS_NAME)
#undef CLASS_NAME
  };
  struct RClass *cgroup = mrb_define_module(mrb, "Cgroup");
  struct RClass *classes[CTL_COUNT];
  int i;

  define_errors(mrb, cgroup);
  /* Methods on the module itself, so they stay public in including classes. */
  mrb_define_method(mrb, cgroup, "create", cgroup_create, MRB_ARGS_NONE());
  mrb_define_method(mrb, cgroup, "modify", cgroup_modify, MRB_ARGS_NONE());
  mrb_define_method(mrb, cgroup, "delete", cgroup_delete, MRB_ARGS_NONE());
  mrb_define_method(mrb, cgroup, "attach", cgroup_attach, MRB_ARGS_OPT(1));
  mrb_define_method(mrb, cgroup, "detach", cgroup_detach, MRB_ARGS_OPT(1));
  mrb_define_method(mrb, cgroup, "exist?", cgroup_exist_p, MRB_ARGS_NONE());

  for (i = 0; i < CTL_COUNT; i++) {
    classes[i] = mrb_define_class_under(mrb, cgroup, class_names[i], mrb->object_class);
    MRB_SET_INSTANCE_TT(classes[i], CGROUP_DATA_TT);
    mrb_include_module(mrb, classes[i], cgroup);
    mrb_define_method(mrb, classes[i], "initialize", controller_initializers[i], MRB_ARGS_REQ(1));
    mrb_define_const(mrb, classes[i], "CONTROLLER", mrb_str_new_cstr(mrb, controller_names[i]));
  }
  for (i = 0; i < ATTR_COUNT; i++) {
    define_attribute(mrb, classes[attributes[i].controller], &attributes[i]);
  }
}

void
mrb_mruby_cgroup_gem_final(mrb_state *mrb)
{
  (void)mrb;
}
