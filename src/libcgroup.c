/*
 * The host's hierarchies, as libcgroup finds them once per process: the
 * mount and cgroup version serving each controller.  The only file that
 * includes <libcgroup.h>; the groups themselves are made and removed with
 * mkdir(2) and rmdir(2) (group.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <mntent.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <unistd.h>
#include <linux/magic.h>

#include <libcgroup.h>

#include <mruby.h>

#include "cgroup.h"

/* The kernel's controller names, [0] on cgroup v1, [1] on v2. */
static const char *const controller_names[CTL_COUNT][2] = {
#define CONTROLLER_NAME(klass, name, v1, v2) {v1, v2},
    CGROUP_CONTROLLERS(CONTROLLER_NAME)
#undef CONTROLLER_NAME
};

/* The names the classes go by in Ruby. */
static const char *const own_names[CTL_COUNT] = {
#define OWN_NAME(klass, name, v1, v2) name,
    CGROUP_CONTROLLERS(OWN_NAME)
#undef OWN_NAME
};

static pthread_mutex_t library_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t fork_handlers_once = PTHREAD_ONCE_INIT;
static int library_ready; /* set (release) once the hierarchies are filled in */
/* Each controller's; its name is v1's (or v2's where v1 has none) until
 * the hierarchies are found, so that an object made before then names it. */
static struct hierarchy hierarchies[CTL_COUNT] = {
#define UNFOUND(klass, name, v1, v2) {.controller = (v1) ? (v1) : (v2)},
    CGROUP_CONTROLLERS(UNFOUND)
#undef UNFOUND
};
static char *mount_roots[CTL_COUNT]; /* under library_lock; NULL: not read yet */

static mrb_bool
is_cgroup2(const char *mount)
{
  struct statfs fs;

  return statfs(mount, &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC;
}

/* Where libcgroup found the controller, if it is of the wanted version. */
static char *
find_mount(const char *controller, int version)
{
  char *mount = NULL;

  if (!controller || cgroup_get_subsys_mount_point(controller, &mount) != 0) return NULL;
  if (is_cgroup2(mount) == (version == 2)) return mount;
  free(mount);
  return NULL;
}

/*
 * The cgroup2 mount, for the core files (strdup'd; NULL if none): where v2
 * serves a controller, else the first cgroup2 mount of the mount table: a
 * hybrid host mounts one (/sys/fs/cgroup/unified) that holds no controller
 * of the gem's, yet every group in it has its PSI files.
 */
static char *
cgroup2_mount(void)
{
  struct mntent entry, *m;
  char buf[4096], *found = NULL;
  FILE *table;
  int i;

  for (i = 0; i < CTL_COUNT; i++) {
    if (hierarchies[i].version == 2) return strdup(hierarchies[i].mount);
  }
  if (!(table = setmntent("/proc/self/mounts", "re"))) return NULL;
  while (!found && (m = getmntent_r(table, &entry, buf, sizeof buf))) {
    if (strcmp(m->mnt_type, "cgroup2") == 0 && is_cgroup2(m->mnt_dir)) found = strdup(m->mnt_dir);
  }
  endmntent(table);
  return found;
}

/* A controller found at mount (malloc'd, kept for the process's life). */
static void
serve(enum controller_id id, char *mount, int version)
{
  struct hierarchy *h = &hierarchies[id];

  h->version = version;
  h->mount_length = strlen(mount);
  __atomic_store_n(&h->controller, mcg_kernel_controller(id), __ATOMIC_RELAXED); /* errors.c */
  h->core_files = version == 2 && strcmp(controller_names[id][1], V2_CORE_FILES) == 0;
  /* last: an object that sees the mount sees the rest (mcg_require_mount) */
  __atomic_store_n(&h->mount, mount, __ATOMIC_RELEASE);
}

/* Each controller's mount and version, from what cgroup_init found.  A
 * controller mounted as v1 is served by v1 (hybrid hosts keep most
 * controllers there); otherwise by the cgroup2 hierarchy if it has it. */
static void
find_mounts(void)
{
  char *mount;
  int i, v;

  for (i = 0; i < CTL_COUNT; i++) {
    for (v = 1; v <= 2 && !hierarchies[i].mount; v++) {
      if ((mount = find_mount(controller_names[i][v - 1], v))) serve(i, mount, v);
    }
  }
  for (i = 0; i < CTL_COUNT; i++) { /* core files: in the cgroup2 mount */
    if (hierarchies[i].mount || strcmp(controller_names[i][1], V2_CORE_FILES) != 0) continue;
    if ((mount = cgroup2_mount())) serve(i, mount, 2);
  }
}

/* libcgroup logs to stdout unless told otherwise (a NULL logger makes
 * cgroup_init install that default), and a server's stdout may be its
 * protocol stream: its messages go to `out`, stderr when CGROUP_LOGLEVEL
 * asks for them, else nowhere (the gem's exceptions say what failed). */
static void
log_message(void *out, int level, const char *fmt, va_list ap)
{
  (void)level;
  if (out) vfprintf((FILE *)out, fmt, ap);
}

static void
take_at_fork(void)
{
  pthread_mutex_lock(&library_lock);
}

static void
give_at_fork(void)
{
  pthread_mutex_unlock(&library_lock);
}

/* A child forked while another thread is finding the hierarchies must not
 * inherit the lock taken (see attachments.c). */
static void
register_fork_handlers(void)
{
  pthread_atfork(take_at_fork, give_at_fork, give_at_fork);
}

/*
 * cgroup_init parses the mount table: do it, and find the mounts, once per
 * process, on first use; 0, or libcgroup's code for a failure.  A failed
 * attempt is made again on the next call: it may have been for want of a
 * descriptor (EMFILE), and must not leave the process without cgroups.
 */
static int
find_hierarchies(void)
{
  int ret = 0;

  if (__atomic_load_n(&library_ready, __ATOMIC_ACQUIRE)) return 0;
  pthread_once(&fork_handlers_once, register_fork_handlers);
  pthread_mutex_lock(&library_lock);
  if (!library_ready) cgroup_set_logger(log_message, -1, getenv("CGROUP_LOGLEVEL") ? stderr : NULL);
  if (!library_ready && (ret = cgroup_init()) == 0) {
    find_mounts();
    __atomic_store_n(&library_ready, 1, __ATOMIC_RELEASE);
  }
  pthread_mutex_unlock(&library_lock);
  return ret;
}

/* The errno behind libcgroup's failure to initialise (EMFILE, EACCES, ...),
 * or 0 when it has none (no cgroup mounted at all). */
static int
init_errno(int ret)
{
  return ret == ECGOTHER ? cgroup_get_last_errno() : 0;
}

/* What serves the controller, for an object to carry from its making on:
 * filled in once the hierarchies are found, by this call or a later one.
 * *err is 0, or why they could not be looked at yet (as
 * mcg_hierarchies_failure, which fills why; why may be NULL, size 0). */
const struct hierarchy *
mcg_hierarchy(enum controller_id id, char *why, size_t size, int *err)
{
  mrb_bool none_mounted;

  *err = mcg_hierarchies_failure(why, size, &none_mounted);
  return &hierarchies[id];
}

int
mcg_version(enum controller_id id)
{
  return hierarchies[id].version;
}

mrb_bool
mcg_on_v2(enum controller_id id)
{
  return hierarchies[id].version == 2;
}

/* Served by v2's core files rather than by a controller (FREEZER on v2). */
mrb_bool
mcg_served_without_controller(enum controller_id id)
{
  return mcg_on_v2(id) && strcmp(controller_names[id][1], V2_CORE_FILES) == 0;
}

/* The kernel's name for a controller on the version that serves it. */
const char *
mcg_kernel_controller(enum controller_id id)
{
  const char *v1 = controller_names[id][0];

  return hierarchies[id].version == 2 || !v1 ? controller_names[id][1] : v1;
}

/* The name a class goes by whatever serves it ("cpuacct", "io", "pressure"). */
const char *
mcg_own_controller_name(enum controller_id id)
{
  return own_names[id];
}

/* One space-separated field of a mountinfo line, its octal escapes
 * ("\\040" for a space) decoded, into out; the rest of the line after it. */
static const char *
mountinfo_field(const char *s, char *out, size_t size)
{
  size_t n = 0;

  while (*s && *s != ' ' && *s != '\n') {
    char c = *s++;
    if (c == '\\' && s[0] >= '0' && s[0] <= '3' && s[1] >= '0' && s[1] <= '7' && s[2] >= '0' &&
        s[2] <= '7') {
      c = (char)((s[0] - '0') * 64 + (s[1] - '0') * 8 + (s[2] - '0'));
      s += 3;
    }
    if (n + 1 < size) out[n++] = c;
  }
  out[n] = '\0';
  return *s == ' ' ? s + 1 : s;
}

/*
 * The root of the mount at `mount` (the fourth field of its line in
 * /proc/self/mountinfo; the last line wins, as the last mount hides those
 * below it), strdup'd; NULL and errno when it cannot be read, ENOENT when
 * the mount is not listed.  The kernel names it from the reader's cgroup
 * namespace: a container that shares the host's namespace sees its own
 * group as the root of its bind mount (/docker/ID), one whose mount was
 * made in another namespace sees a path that climbs out of its own ("/..").
 */
static char *
read_mount_root(const char *mount)
{
  FILE *f = fopen("/proc/self/mountinfo", "re");
  char *line = NULL, *root = NULL, *point = NULL, *found = NULL;
  size_t size = 0;
  ssize_t n;

  if (!f) return NULL;
  while ((n = getline(&line, &size, f)) > 0) {
    const char *s = line;
    root = (char *)realloc(root, (size_t)n + 1);
    point = (char *)realloc(point, (size_t)n + 1);
    if (!root || !point) break;
    for (int i = 0; i < 3; i++) s = mountinfo_field(s, point, (size_t)n + 1); /* id, parent, dev */
    s = mountinfo_field(s, root, (size_t)n + 1);
    mountinfo_field(s, point, (size_t)n + 1);
    if (strcmp(point, mount) != 0) continue;
    free(found);
    found = strdup(root);
  }
  fclose(f);
  free(line);
  free(root);
  free(point);
  if (!found) errno = ENOENT;
  return found;
}

/* The root of the controller's mount, as this process's cgroup namespace
 * names it, into out; 0, or why /proc/self/mountinfo could not tell
 * (nothing is kept then: the next call reads it again). */
int
mcg_mount_root(enum controller_id id, char out[PATH_MAX])
{
  int err = 0;

  pthread_mutex_lock(&library_lock);
  if (!mount_roots[id] && hierarchies[id].mount &&
      !(mount_roots[id] = read_mount_root(hierarchies[id].mount)))
    err = errno;
  if (!err) snprintf(out, PATH_MAX, "%s", mount_roots[id] ? mount_roots[id] : "/");
  pthread_mutex_unlock(&library_lock);
  return err;
}

/* Read the mounts' roots anew at their next use: the caller entered
 * another cgroup namespace, which names them differently. */
void
mcg_forget_mount_roots(void)
{
  pthread_mutex_lock(&library_lock);
  for (int i = 0; i < CTL_COUNT; i++) {
    free(mount_roots[i]);
    mount_roots[i] = NULL;
  }
  pthread_mutex_unlock(&library_lock);
}

/* Why libcgroup found no hierarchy, when a cgroup2 mount is there: its
 * root offers no controller (cgroup.controllers is empty), as in a
 * container or service that was given none (systemd-nspawn --keep-unit).
 * Written into why; FALSE when that is not the case. */
static mrb_bool
none_offered(char *why, size_t size)
{
  char *mount = cgroup2_mount(), path[PATH_MAX], text[8];
  ssize_t n = -1;
  mrb_bool empty;
  int fd;

  if (!mount) return FALSE;
  if (snprintf(path, sizeof path, "%s/cgroup.controllers", mount) < (int)sizeof path &&
      (fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
    n = read(fd, text, sizeof text);
    close(fd);
  }
  empty = n == 0 || (n == 1 && text[0] == '\n');
  if (empty) {
    snprintf(why, size,
             "the cgroup2 mount at %s offers no controller here (its cgroup.controllers is empty): "
             "none was delegated to this container or service",
             mount);
  }
  free(mount);
  return empty;
}

/*
 * Why the host's hierarchies cannot be used, or 0 when they can: the errno
 * that stopped libcgroup looking at them (EMFILE, EACCES, ...); else, when
 * none is mounted, EOPNOTSUPP with *none_mounted set.  why gets the reason.
 */
int
mcg_hierarchies_failure(char *why, size_t size, mrb_bool *none_mounted)
{
  int ret = find_hierarchies(), err = init_errno(ret);

  *none_mounted = ret != 0 && !err;
  if (ret == 0) return 0;
  if (err)
    snprintf(why, size, "%s", strerror(err));
  else if (!none_offered(why, size))
    snprintf(why, size, "%s", cgroup_strerror(ret));
  return err ? err : EOPNOTSUPP;
}

#ifdef CGROUP_FUZZ
/* The fuzz target plays v1 and v2 without a kernel. */
void
mcg_set_version(enum controller_id id, int version)
{
  hierarchies[id].version = version;
  hierarchies[id].controller = mcg_kernel_controller(id);
}
#endif

#ifdef MCG_HAVE_LIBCGROUP_SCOPE
/*
 * libcgroup 3's systemd support: ask systemd for a transient scope `name`
 * in `slice`, delegated, holding pid (libcgroup talks to systemd over
 * D-Bus and waits for the job).  NULL on success, else libcgroup's words.
 */
const char *
mcg_lib_create_scope(const char *name, const char *slice, pid_t pid)
{
  struct cgroup_systemd_scope_opts opts;
  int ret = cgroup_set_default_scope_opts(&opts);

  if (ret) return cgroup_strerror(ret);
  opts.delegated = 1;
  opts.mode = CGROUP_SYSTEMD_MODE_FAIL; /* an existing unit of that name is an error */
  opts.pid = pid;
  ret = cgroup_create_scope(name, slice, &opts);
  return ret ? cgroup_strerror(ret) : NULL;
}
#endif
