/*
 * Cgroup.scope: a transient systemd scope with Delegate=yes around a
 * process, for a script that is not a service but wants a group systemd
 * knows about (and will not move its processes out of).  Two engines, each
 * built where its library is found: libcgroup 3's own systemd support
 * (cgroup_create_scope, in libcgroup.c) and systemd's D-Bus API
 * (StartTransientUnit through sd-bus).  Both ask systemd; the scope exists
 * once systemd has moved the process, which this file waits for.
 */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mruby.h>
#include <mruby/array.h>
#include <mruby/string.h>
#ifdef MCG_HAVE_SD_BUS
#include <systemd/sd-bus.h>
#endif

#include "cgroup.h"

#define SCOPE_WAIT_SECONDS 10.0 /* for systemd to finish the start job */

/* systemd's own test (sd_booted): it is PID 1 when this directory exists. */
static mrb_bool
systemd_is_init(void)
{
  struct stat st;

  return lstat("/run/systemd/system", &st) == 0 && S_ISDIR(st.st_mode);
}

/* A unit name systemd accepts: [A-Za-z0-9:_.\-@\\]+ ending in suffix. */
static void
check_unit_name(mrb_state *mrb, const char *scope, const char *what, const char *name,
                const char *suffix)
{
  size_t n = strlen(name), s = strlen(suffix);

  if (n > s && n < 256 && strcmp(name + n - s, suffix) == 0 &&
      strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789:_.-@\\") == n)
    return;
  mcg_raise_process_error(
      mrb, MCG_FAILURE(.cls = "InvalidValue", .err = EINVAL, .action = scope,
                       .reason = RSTRING_CSTR(
                           mrb, mrb_format(mrb, "%s %s must be a unit name ending in %s", what,
                                           name, suffix))));
}

/* The pid's group in the hierarchy systemd keeps (the v2 one, or v1's
 * name=systemd), into out; FALSE when it cannot be read. */
static mrb_bool
systemd_group_of(pid_t pid, char out[PATH_MAX])
{
  char path[64], text[4 * PATH_MAX], *line, *rest;
  size_t len = 0;
  ssize_t n;
  int fd;

  snprintf(path, sizeof path, "/proc/%d/cgroup", (int)pid);
  if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) return FALSE;
  /* read to the end: one line per hierarchy, each a path of up to PATH_MAX */
  while (len < sizeof text - 1 && (n = read(fd, text + len, sizeof text - 1 - len)) != 0) {
    if (n < 0 && errno != EINTR) break;
    if (n > 0) len += (size_t)n;
  }
  close(fd);
  if (len == 0) return FALSE;
  text[len] = '\0';
  for (line = strtok_r(text, "\n", &rest); line; line = strtok_r(NULL, "\n", &rest)) {
    const char *group = NULL;
    if (strncmp(line, "0::", 3) == 0)
      group = line + 3;
    else if ((group = strstr(line, ":name=systemd:")))
      group += strlen(":name=systemd:");
    if (group) {
      snprintf(out, PATH_MAX, "%s", group);
      return TRUE;
    }
  }
  return FALSE;
}

/* Wait until systemd has moved pid into the scope; its group, or raises. */
static mrb_value
wait_for_scope(mrb_state *mrb, const char *what, const char *name, pid_t pid)
{
  double deadline = mcg_deadline_after(SCOPE_WAIT_SECONDS);
  long delay = 1;
  char group[PATH_MAX];
  size_t n = strlen(name);

  for (;;) {
    if (!systemd_group_of(pid, group))
      mcg_raise_process_error(mrb, MCG_FAILURE(.cls = "NotFound", .err = ESRCH, .action = what,
                                               .reason = "the process has exited"));
    size_t len = strlen(group);
    if (len > n && group[len - n - 1] == '/' && strcmp(group + len - n, name) == 0)
      return mrb_str_new_cstr(mrb, group);
    if (mcg_ms_left(deadline) <= 0)
      mcg_raise_process_error(
          mrb,
          MCG_FAILURE(.cls = "Timeout", .err = ETIMEDOUT, .action = what,
                      .reason = "systemd accepted the scope but did not move the process into it"));
    mcg_back_off(&delay, deadline);
  }
}

#ifdef MCG_HAVE_SD_BUS
/*
 * StartTransientUnit(name, "fail", [PIDs, Delegate, Slice], []) on the
 * system manager (root) or the caller's user manager.  NULL on success,
 * else the bus's message, with its errno in *err.
 */
static const char *
bus_start_scope(mrb_state *mrb, const char *name, const char *slice, pid_t pid, int *err)
{
  sd_bus *bus = NULL;
  sd_bus_error error = SD_BUS_ERROR_NULL;
  const char *why = NULL;
  int r = geteuid() == 0 ? sd_bus_open_system(&bus) : sd_bus_open_user(&bus);

  if (r < 0) {
    *err = -r;
    why = geteuid() == 0 ? "cannot reach the system bus" : "cannot reach the user manager's bus";
  } else {
    r = sd_bus_call_method(bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                           "org.freedesktop.systemd1.Manager", "StartTransientUnit", &error, NULL,
                           "ssa(sv)a(sa(sv))", name, "fail", 3, "PIDs", "au", 1, (uint32_t)pid,
                           "Delegate", "b", 1, "Slice", "s", slice, 0);
    if (r < 0) {
      *err = sd_bus_error_get_errno(&error) ? sd_bus_error_get_errno(&error) : -r;
      why = RSTRING_CSTR(mrb, mrb_str_new_cstr(mrb, error.message ? error.message : strerror(-r)));
    }
  }
  sd_bus_error_free(&error);
  sd_bus_unref(bus);
  return why;
}
#endif

enum scope_engine { ENGINE_LIBCGROUP, ENGINE_SD_BUS };

/* The engine asked for (nil: libcgroup for root where built, else sd-bus,
 * else libcgroup), or Unsupported when it was not built. */
static enum scope_engine
pick_engine(mrb_state *mrb, const char *what, mrb_value asked)
{
  const char *name = mrb_nil_p(asked) ? NULL : mrb_sym_name(mrb, mrb_obj_to_sym(mrb, asked));
#ifdef MCG_HAVE_LIBCGROUP_SCOPE
#ifdef MCG_HAVE_SD_BUS
  mrb_bool by_default = geteuid() == 0; /* sd-bus reaches users' own managers */
#else
  mrb_bool by_default = TRUE;
#endif
  if (name ? strcmp(name, "libcgroup") == 0 : by_default) return ENGINE_LIBCGROUP;
#endif
#ifdef MCG_HAVE_SD_BUS
  if (!name || strcmp(name, "sd_bus") == 0) return ENGINE_SD_BUS;
#endif
  if (name && strcmp(name, "libcgroup") != 0 && strcmp(name, "sd_bus") != 0)
    mrb_raisef(mrb, E_ARGUMENT_ERROR, "unknown scope engine %s (:libcgroup or :sd_bus)", name);
  mcg_raise_process_error(
      mrb, MCG_FAILURE(.cls = "Unsupported", .err = EOPNOTSUPP, .action = what,
                       .reason = name ? RSTRING_CSTR(mrb, mrb_format(mrb, "built without %s", name))
                                      : "built without libcgroup 3 or libsystemd (sd-bus)"));
}

/*
 * Cgroup._scope(name, pid, slice, engine) (Cgroup.scope in mrblib): start
 * the scope around pid (nil: this process) in slice (nil: system.slice for
 * root, app.slice of the user's manager for others) and return its group,
 * e.g. "/system.slice/job.scope".
 */
static mrb_value
cgroup_s_scope(mrb_state *mrb, mrb_value self)
{
  const char *name, *slice = NULL, *why = NULL, *what;
  mrb_value pid_v, engine;
  mrb_int pid;
  int err = 0;
  (void)self;

  mrb_get_args(mrb, "zoz!o", &name, &pid_v, &slice, &engine);
  pid = mrb_nil_p(pid_v) ? (mrb_int)getpid() : mrb_as_int(mrb, pid_v);
  if (!slice) slice = geteuid() == 0 ? "system.slice" : "app.slice";
  what = RSTRING_CSTR(mrb, mrb_format(mrb, "scope %s", name));
  check_unit_name(mrb, what, "name", name, ".scope");
  check_unit_name(mrb, what, "slice", slice, ".slice");
  if (pid <= 0 || pid > INT_MAX)
    mcg_raise_process_error(mrb, MCG_FAILURE(.cls = "InvalidValue", .err = EINVAL, .action = what,
                                             .reason = "pid must be a positive pid_t"));
  if (!systemd_is_init())
    mcg_raise_process_error(
        mrb, MCG_FAILURE(.cls = "Unsupported", .err = EOPNOTSUPP, .action = what,
                         .reason = "systemd is not PID 1 here (no /run/systemd/system)"));
  switch (pick_engine(mrb, what, engine)) {
#ifdef MCG_HAVE_LIBCGROUP_SCOPE
  case ENGINE_LIBCGROUP:
    if ((why = mcg_lib_create_scope(name, slice, (pid_t)pid))) err = EIO;
    break;
#endif
#ifdef MCG_HAVE_SD_BUS
  case ENGINE_SD_BUS: why = bus_start_scope(mrb, name, slice, (pid_t)pid, &err); break;
#endif
  default: break;
  }
  if (why) mcg_raise_process_error(mrb, MCG_FAILURE(.err = err, .action = what, .reason = why));
  return wait_for_scope(mrb, what, name, (pid_t)pid);
}

void
mcg_init_scope(mrb_state *mrb, struct RClass *cgroup)
{
  mrb_value engines = mrb_ary_new(mrb);

#ifdef MCG_HAVE_LIBCGROUP_SCOPE
  mrb_ary_push(mrb, engines, mrb_symbol_value(mrb_intern_lit(mrb, "libcgroup")));
#endif
#ifdef MCG_HAVE_SD_BUS
  mrb_ary_push(mrb, engines, mrb_symbol_value(mrb_intern_lit(mrb, "sd_bus")));
#endif
  /* the engines this build has, for Cgroup.scope(engine: ...) */
  mrb_define_const(mrb, cgroup, "SCOPE_ENGINES", engines);
  mrb_define_class_method(mrb, cgroup, "_scope", cgroup_s_scope, MRB_ARGS_REQ(4));
}
