/*
 * Any interface file of a group, by name: Cgroup#read_file and #write_file
 * (aliases [] and []=), for the files the attribute table does not list
 * (memory.oom.group's neighbours, cgroup.max.descendants, io.latency, a
 * newer kernel's files).  The name and the value are checked here so
 * that nothing is read or written outside the group's directory, and the
 * I/O goes through the same kept descriptors and exceptions as the
 * attributes.
 *
 * And Cgroup::GroupFile: a group file opened for one Ruby object, which
 * owns the descriptor because the kernel ties state to it (a PSI trigger,
 * memory.peak's reset), and closes it on #close or when collected.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <mruby.h>
#include <mruby/class.h>
#include <mruby/data.h>
#include <mruby/error.h>
#include <mruby/numeric.h>
#include <mruby/string.h>
#include <mruby/variable.h>
#include <mruby/version.h>

#include "cgroup.h"

/* The prefixes ("prefix.rest") of cgroup v2's interface files: every one
 * lives in the group's one directory, whatever the object's controller. */
static const char *const v2_families[] = {"cgroup", "cpu",     "cpuset", "io",   "memory",
                                          "pids",   "hugetlb", "misc",   "rdma", "irq"};

static mrb_bool
is_family(const char *name, size_t len, const char *family)
{
  return strlen(family) == len && memcmp(name, family, len) == 0;
}

/* Whether some attribute names the file on the other cgroup version only. */
static mrb_bool
other_version_file(const char *name, int version)
{
  int i, here = version == 2, there = !here, elsewhere = FALSE;

  for (i = 0; i < ATTR_COUNT; i++) {
    const char *const *f = mcg_attributes[i].file;
    if (f[here] && strcmp(f[here], name) == 0) return FALSE;
    if (f[there] && strcmp(f[there], name) == 0) elsewhere = TRUE;
  }
  return elsewhere;
}

/*
 * Check the name of an interface file of a group served by cgroup version
 * `version` for the object's v1 controller `v1_controller`: one path
 * component of letters, digits, '.' and '_' (what the kernel names its
 * files with, hugetlb.2MB.max among them: nothing can point outside the
 * group's directory),
 * with a prefix this version uses.  On v1 that is the object's own
 * controller or "cgroup" (another controller's files are in another
 * hierarchy), or the files without one, tasks and notify_on_release
 * (release_agent, a program the kernel runs as root, is left out).  NULL if
 * the name is good; else why not, and *other_version says it is an
 * attribute's file of the other version.
 */
const char *
mcg_file_name_fault(const char *name, size_t len, int version, const char *v1_controller,
                    mrb_bool *other_version)
{
  const char *dot;
  size_t i, prefix;

  *other_version = FALSE;
  if (len == 0) return "an empty file name";
  if (len > NAME_MAX) return "a file name longer than 255 bytes";
  for (i = 0; i < len; i++) {
    char c = name[i];
    if (c == '/') return "a file name is one path component, without '/'";
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
          c == '_'))
      return "a file name is letters, digits, '.' and '_'";
  }
  if (name[0] == '.') return "a file name does not start with '.'";
  if (other_version_file(name, version)) {
    *other_version = TRUE;
    return version == 2 ? "a cgroup v1 file; this group is on cgroup v2"
                        : "a cgroup v2 file; this group is on cgroup v1";
  }
  dot = memchr(name, '.', len);
  if (!dot) {
    if (version == 1 &&
        (is_family(name, len, "tasks") || is_family(name, len, "notify_on_release")))
      return NULL;
    return "not an interface file (no controller prefix)";
  }
  prefix = dot - name;
  if (version == 1) {
    if (is_family(name, prefix, "cgroup") ||
        (v1_controller && is_family(name, prefix, v1_controller)))
      return NULL;
    return "not a file of this controller's cgroup v1 hierarchy";
  }
  for (i = 0; i < sizeof v2_families / sizeof v2_families[0]; i++) {
    if (is_family(name, prefix, v2_families[i])) return NULL;
  }
  return "not a cgroup v2 interface file";
}

/* Check a value for an interface file: one line of printable ASCII, at most
 * 4096 bytes (a page: the kernel takes no more in one write).  NULL if
 * good, else why not. */
const char *
mcg_file_value_fault(const char *s, size_t len)
{
  size_t i;

  if (len > 4096) return "a value longer than 4096 bytes";
  for (i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '\n') return "a value is one line";
    if (c < 0x20 || c >= 0x7f) return "a value is printable ASCII";
  }
  return NULL;
}

/* The file name argument, checked for this group's cgroup version. */
static const char *
file_name_arg(mrb_state *mrb, struct cgroup_ctx *ctx, mrb_value name, const char *action)
{
  mrb_bool other_version;
  const char *why;
  int version;

  mrb_ensure_string_type(mrb, name);
  mcg_require_mount(mrb, ctx);
  version = ctx->host->version;
  why = mcg_file_name_fault(RSTRING_PTR(name), RSTRING_LEN(name), version,
                            version == 1 ? ctx->host->controller : NULL, &other_version);
  if (why) {
    mcg_raise_error(mrb,
                    MCG_FAILURE(.cls = other_version ? "Unsupported" : "InvalidValue",
                                .err = other_version ? EOPNOTSUPP : EINVAL, .ctx = ctx,
                                .action = action, .file = mcg_printable(mrb, name), .reason = why));
  }
  return RSTRING_CSTR(mrb, name);
}

/* Whether a file lists pids.  v1 ties the list to the open file and keeps
 * it about a second, so a pread from offset 0 of a kept descriptor would
 * give the list an earlier read saw: these are opened for each read. */
static mrb_bool
is_pid_list(const char *file)
{
  return strcmp(file, "tasks") == 0 || strcmp(file, "cgroup.procs") == 0 ||
         strcmp(file, "cgroup.threads") == 0;
}

/* group.read_file(name) => the file's text, without its last newline */
static mrb_value
cgroup_read_file(mrb_state *mrb, mrb_value self)
{
  struct cgroup_ctx *ctx = mcg_get_ctx(mrb, self);
  mrb_value name, text;
  const char *file;
  mrb_int len;

  mrb_get_args(mrb, "o", &name);
  file = file_name_arg(mrb, ctx, name, "read");
  text = mcg_kernel_read(mrb, ctx, ctx->path, file, is_pid_list(file) ? FILE_ONCE : FILE_OFTEN);
  len = RSTRING_LEN(text);
  if (len > 0 && RSTRING_PTR(text)[len - 1] == '\n') mrb_str_resize(mrb, text, len - 1);
  return text;
}

/* group.write_file(name, value) => self: writes now (nothing is staged);
 * value is a String of one line, or an Integer */
static mrb_value
cgroup_write_file(mrb_state *mrb, mrb_value self)
{
  struct cgroup_ctx *ctx = mcg_get_ctx(mrb, self);
  mrb_value name, value;
  const char *file, *why, *text;
  int err;

  mrb_get_args(mrb, "oo", &name, &value);
  file = file_name_arg(mrb, ctx, name, "write");
  if (mrb_integer_p(value))
    value = mrb_integer_to_str(mrb, value, 10);
  else if (!mrb_string_p(value))
    mrb_raisef(mrb, E_TYPE_ERROR, "%s: the value is a String or an Integer, not %v", file, value);
  if ((why = mcg_file_value_fault(RSTRING_PTR(value), RSTRING_LEN(value)))) {
    mrb_value shown = mrb_str_substr(mrb, value, 0, 40); /* a message, not a page */
    if (RSTRING_LEN(value) > 40) mrb_str_cat_lit(mrb, shown, "...");
    mcg_raise_error(mrb,
                    MCG_FAILURE(.cls = "InvalidValue", .err = EINVAL, .ctx = ctx, .action = "write",
                                .file = file, .value = mcg_printable(mrb, shown), .reason = why));
  }
  text = RSTRING_CSTR(mrb, value);
  if ((err = mcg_kernel_write(mrb, ctx, ctx->path, file, text, FILE_OFTEN))) {
    mcg_raise_error(
        mrb, MCG_FAILURE(.err = err, .ctx = ctx, .action = "write", .file = file, .value = text,
                         .reason = err == EOPNOTSUPP ? "this kernel has no such file" : NULL));
  }
  return self;
}

/* ---- Cgroup::GroupFile: a descriptor one object owns ------------------ */

#if MRUBY_RELEASE_NO < 30200
#define GROUP_FILE_TT MRB_TT_DATA
#else
#define GROUP_FILE_TT MRB_TT_CDATA
#endif

struct group_file {
  struct kept_fd file; /* fd -1 once closed */
};

/* Closes the descriptor only while it is still the file it was opened on:
 * a daemon may have closed it and the number be another file of its own. */
static void
group_file_free(mrb_state *mrb, void *p)
{
  struct group_file *f = (struct group_file *)p;

  if (f) mcg_fd_close(&f->file);
  mrb_free(mrb, f);
}

static const struct mrb_data_type group_file_type = {"Cgroup::GroupFile", group_file_free};

static struct group_file *
get_group_file(mrb_state *mrb, mrb_value self)
{
  struct group_file *f = (struct group_file *)mrb_data_get_ptr(mrb, self, &group_file_type);

  if (!f) mrb_raise(mrb, E_TYPE_ERROR, "uninitialized Cgroup::GroupFile");
  return f;
}

struct group_file_parts {
  const char *klass, *file, *what;
  mrb_value group;
};

/* The object, with no descriptor yet: everything that may raise. */
static mrb_value
group_file_alloc(mrb_state *mrb, void *arg)
{
  struct group_file_parts *parts = (struct group_file_parts *)arg;
  struct RClass *c = mrb_class_get_under(mrb, mrb_module_get(mrb, "Cgroup"), parts->klass);
  mrb_value obj = mrb_obj_value(mrb_data_object_alloc(mrb, c, NULL, &group_file_type));
  struct group_file *f = (struct group_file *)mrb_malloc(mrb, sizeof *f);

  f->file.fd = -1;
  DATA_PTR(obj) = f;
  mrb_iv_set(mrb, obj, mrb_intern_lit(mrb, "@group"), parts->group);
  mrb_iv_set(mrb, obj, mrb_intern_lit(mrb, "@file"), mrb_str_new_cstr(mrb, parts->file));
  mrb_iv_set(mrb, obj, mrb_intern_lit(mrb, "@what"),
             parts->what ? mrb_str_new_cstr(mrb, parts->what) : mrb_nil_value());
  return obj;
}

/* A new object of klass (Cgroup::GroupFile or below) owning fd, a file of
 * group (a Cgroup object); `what` is recorded for messages (a trigger's
 * spec).  fd is closed if making the object fails (NoMemoryError). */
mrb_value
mcg_group_file_new(mrb_state *mrb, const char *klass, mrb_value group, const char *file,
                   const char *what, int fd)
{
  struct group_file_parts parts = {klass, file, what, group};
  mrb_bool failed;
  mrb_value obj = mrb_protect_error(mrb, group_file_alloc, &parts, &failed);

  if (failed) {
    close(fd);
    mrb_exc_raise(mrb, obj);
  }
  if (!mcg_fd_adopt(&((struct group_file *)DATA_PTR(obj))->file, fd)) /* closed it */
    mcg_raise_for_group_file(
        mrb, obj,
        MCG_FAILURE(.err = EBADF, .action = "open", .reason = "no identity to check it by"));
  return obj;
}

/* Raise f (its cls, err, action and reason) for the object's file: its
 * group, file and `what` named. */
mrb_noreturn void
mcg_raise_for_group_file(mrb_state *mrb, mrb_value self, const struct failure *f)
{
  mrb_value group = mrb_iv_get(mrb, self, mrb_intern_lit(mrb, "@group"));
  mrb_value file = mrb_iv_get(mrb, self, mrb_intern_lit(mrb, "@file"));
  mrb_value what = mrb_iv_get(mrb, self, mrb_intern_lit(mrb, "@what"));
  struct failure named = *f;

  named.ctx = mcg_get_ctx(mrb, group);
  named.file = RSTRING_CSTR(mrb, file);
  named.value = mrb_nil_p(what) ? NULL : RSTRING_CSTR(mrb, what);
  mcg_raise_error(mrb, &named);
}

/* The object's descriptor; Cgroup::Error (EBADF) once it is closed, by
 * #close or behind the gem's back (then forgotten, never closed here). */
int
mcg_group_file_fd(mrb_state *mrb, mrb_value self, const char *action)
{
  struct group_file *f = get_group_file(mrb, self);

  if (f->file.fd < 0)
    mcg_raise_for_group_file(mrb, self,
                             MCG_FAILURE(.err = EBADF, .action = action, .reason = "closed"));
  if (!mcg_fd_unchanged(&f->file)) {
    f->file.fd = -1;
    mcg_raise_for_group_file(
        mrb, self,
        MCG_FAILURE(.err = EBADF, .action = action,
                    .reason = "its descriptor was closed by another part of the program"));
  }
  return f->file.fd;
}

/* A class under Cgroup for one kind of owned file (Trigger, Peak). */
struct RClass *
mcg_define_group_file_class(mrb_state *mrb, struct RClass *cgroup, const char *name)
{
  return mrb_define_class_under(mrb, cgroup, name, mrb_class_get_under(mrb, cgroup, "GroupFile"));
}

static mrb_value
group_file_close(mrb_state *mrb, mrb_value self)
{
  mcg_fd_close(&get_group_file(mrb, self)->file);
  return mrb_nil_value();
}

static mrb_value
group_file_closed_p(mrb_state *mrb, mrb_value self)
{
  return mrb_bool_value(get_group_file(mrb, self)->file.fd < 0);
}

/* The descriptor, for a program's own event loop. */
static mrb_value
group_file_fileno(mrb_state *mrb, mrb_value self)
{
  return mrb_int_value(mrb, mcg_group_file_fd(mrb, self, "fileno"));
}

void
mcg_init_files(mrb_state *mrb, struct RClass *cgroup)
{
  struct RClass *group_file = mrb_define_class_under(mrb, cgroup, "GroupFile", mrb->object_class);

  mrb_define_method(mrb, cgroup, "read_file", cgroup_read_file, MRB_ARGS_REQ(1));
  mrb_define_method(mrb, cgroup, "write_file", cgroup_write_file, MRB_ARGS_REQ(2));
  MRB_SET_INSTANCE_TT(group_file, GROUP_FILE_TT);
  mrb_undef_class_method(mrb, group_file, "new");
  mrb_define_method(mrb, group_file, "close", group_file_close, MRB_ARGS_NONE());
  mrb_define_method(mrb, group_file, "closed?", group_file_closed_p, MRB_ARGS_NONE());
  mrb_define_method(mrb, group_file, "fileno", group_file_fileno, MRB_ARGS_NONE());
}
