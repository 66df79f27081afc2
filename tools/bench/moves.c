/*
 * What the cgroup mount option favordynmods changes, measured side by side
 * in one run, round after round with it off and then on:
 *
 *   - a move pair: this process written into a group's FILE, then back into
 *     its home group's, through descriptors opened once (nothing but the
 *     two writes), back to back and after 10 to 100 ms without a move:
 *     since Linux 6.0 a move after a quiet spell waits for an RCU grace
 *     period unless favordynmods is on;
 *   - what it costs: fork + _exit + waitpid, and pthread_create + exit +
 *     join, back to back (the hot paths the kernel names: with
 *     favordynmods on, every fork and exit takes the slow side of the lock).
 *
 *   moves MOUNT FILE SWITCH|- [ROUNDS]
 *   moves /sys/fs/cgroup cgroup.procs /sys/fs/cgroup          (cgroup v2)
 *   moves /sys/fs/cgroup/cpu tasks /sys/fs/cgroup/unified      (v1, hybrid)
 *   moves /sys/fs/cgroup/cpu tasks -                           (as the host is)
 *
 * It turns favordynmods on and off by remounting the cgroup2 mount SWITCH
 * itself (mount(2) with MS_REMOUNT, the mount's other super options kept,
 * its per-mount flags not): run it only where the cgroup mounts are yours
 * to change, as in the VMs of tools/vm-moves, never on a shared host.
 * With - for SWITCH it changes nothing and measures the host as it is.
 * Its group is MOUNT/mrbcg-moves-PID, made and removed; home is the group
 * it starts in.  Prints a table in microseconds: the median of every
 * sample, off and on, and the median over the rounds of each round's
 * on/off ratio.  Build: cc -O2 -Wall -pthread -o moves moves.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CGROUP2_MAGIC 0x63677270
#define IDLES 7
#define PAIRS 12    /* move pairs per idle spell, per round and state */
#define SPAWNS 2000 /* forks, and threads, per round and state */
#define MAX_ROUNDS 9
static const int idle_ms[IDLES] = {0, 10, 20, 30, 40, 50, 100};

static char options_off[512], options_on[560];

static void
die(const char *what)
{
  perror(what);
  exit(1);
}

static double
now_us(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void
nap_ms(int ms)
{
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

  while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
  }
}

static int
by_value(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double
median(double *v, int n)
{
  qsort(v, n, sizeof *v, by_value);
  return v[n / 2];
}

/* The super options of the mount at dir (after " - " in mountinfo), less
 * rw and favordynmods: what a remount must pass to keep the others. */
static void
find_options(const char *dir)
{
  char line[4096], *sep, *opts, *word;
  FILE *f = fopen("/proc/self/mountinfo", "r");

  while (f && fgets(line, sizeof line, f)) {
    char point[1024];
    if (sscanf(line, "%*s %*s %*s %*s %1023s", point) != 1 || strcmp(point, dir) != 0) continue;
    if (!(sep = strstr(line, " - "))) continue;
    opts = strrchr(sep, ' ') + 1;
    opts[strcspn(opts, "\n")] = '\0';
    for (word = strtok(opts, ","); word; word = strtok(NULL, ",")) {
      if (strcmp(word, "rw") == 0 || strcmp(word, "favordynmods") == 0) continue;
      if (options_off[0]) strcat(options_off, ",");
      strncat(options_off, word, sizeof options_off - strlen(options_off) - 2);
    }
    fclose(f);
    snprintf(options_on, sizeof options_on, "%s%sfavordynmods", options_off,
             options_off[0] ? "," : "");
    return;
  }
  fprintf(stderr, "moves: %s is not a mount point\n", dir);
  exit(1);
}

static void
favordynmods(const char *dir, int on)
{
  if (mount(NULL, dir, NULL, MS_REMOUNT, on ? options_on : options_off) != 0) die(dir);
}

/* Whether the comma-separated list names word. */
static int
lists(const char *list, const char *word)
{
  size_t n = strlen(word);

  for (const char *p = list; p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL) {
    if (strncmp(p, word, n) == 0 && (p[n] == ',' || p[n] == '\0')) return 1;
  }
  return 0;
}

/* This process's group in the hierarchy at mount, from /proc/self/cgroup:
 * v2's line "0::PATH", or v1's whose controllers include mount's name. */
static void
find_home(const char *mount, char *home, size_t size)
{
  char line[1024];
  struct statfs fs;
  int v2 = statfs(mount, &fs) == 0 && fs.f_type == CGROUP2_MAGIC;
  FILE *f = fopen("/proc/self/cgroup", "r");

  while (f && fgets(line, sizeof line, f)) {
    char *ctls = strchr(line, ':'), *path = ctls ? strchr(ctls + 1, ':') : NULL;
    if (!path) continue;
    *path++ = '\0';
    path[strcspn(path, "\n")] = '\0';
    if (v2 ? ctls[1] == '\0' : lists(ctls + 1, strrchr(mount, '/') + 1)) {
      snprintf(home, size, "%s", path);
      fclose(f);
      return;
    }
  }
  fprintf(stderr, "moves: no group of this process under %s\n", mount);
  exit(1);
}

static int
open_file(const char *dir, const char *group, const char *file)
{
  char path[2048];
  int fd;

  snprintf(path, sizeof path, "%s%s/%s", dir, strcmp(group, "/") == 0 ? "" : group, file);
  if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0) die(path);
  return fd;
}

static double
move_pair(int into, int back, const char *pid)
{
  double t = now_us();

  if (pwrite(into, pid, strlen(pid), 0) < 0) die("move in");
  if (pwrite(back, pid, strlen(pid), 0) < 0) die("move back");
  return now_us() - t;
}

static double
fork_exit(void)
{
  double t = now_us();
  pid_t child = fork();

  if (child < 0) die("fork");
  if (child == 0) _exit(0);
  if (waitpid(child, NULL, 0) != child) die("waitpid");
  return now_us() - t;
}

static void *
thread_body(void *arg)
{
  return arg;
}

static double
thread_exit(void)
{
  double t = now_us();
  pthread_t th;

  if (pthread_create(&th, NULL, thread_body, NULL) != 0) die("pthread_create");
  pthread_join(th, NULL);
  return now_us() - t;
}

/* Samples of one round and state: [0..IDLES-1] the pairs by idle spell,
 * [IDLES] forks, [IDLES+1] threads; each row's median goes to med. */
#define ROWS (IDLES + 2)
static double samples[2][ROWS][MAX_ROUNDS * SPAWNS];
static int counts[2][ROWS];

static void
one_state(int on, int into, int back, const char *pid, double med[ROWS])
{
  double round[SPAWNS];
  int i, k;

  for (k = 0; k < ROWS; k++) {
    int n = k < IDLES ? PAIRS : SPAWNS;
    for (i = 0; i < n; i++) {
      if (k < IDLES) {
        nap_ms(idle_ms[k]);
        round[i] = move_pair(into, back, pid);
      } else {
        round[i] = k == IDLES ? fork_exit() : thread_exit();
      }
      samples[on][k][counts[on][k]++] = round[i];
    }
    med[k] = median(round, n);
  }
}

int
main(int argc, char **argv)
{
  char home[1024], group[64], dir[1200], pid[16];
  double med[2][ROWS], ratios[ROWS][MAX_ROUNDS];
  const char *labels[ROWS] = {
      "move pair, back to back",     "move pair after 10 ms idle", "move pair after 20 ms idle",
      "move pair after 30 ms idle",  "move pair after 40 ms idle", "move pair after 50 ms idle",
      "move pair after 100 ms idle", "fork + exit + waitpid",      "thread create + exit + join"};
  const char *flip;
  int rounds, states, r, k, into, back;

  if (argc < 4) {
    fprintf(stderr, "usage: moves MOUNT FILE SWITCH|- [ROUNDS]\n");
    return 2;
  }
  flip = strcmp(argv[3], "-") != 0 ? argv[3] : NULL;
  states = flip ? 2 : 1;
  rounds = argc > 4 ? atoi(argv[4]) : 5;
  if (rounds < 1 || rounds > MAX_ROUNDS) rounds = 5;
  if (flip) find_options(flip);
  find_home(argv[1], home, sizeof home);
  snprintf(group, sizeof group, "/mrbcg-moves-%d", (int)getpid());
  snprintf(dir, sizeof dir, "%s%s", argv[1], group);
  if (mkdir(dir, 0755) != 0) die(dir);
  snprintf(pid, sizeof pid, "%d", (int)getpid());
  into = open_file(argv[1], group, argv[2]);
  back = open_file(argv[1], home, argv[2]);
  printf("moves: %s, %s, home %s, %d rounds; favordynmods %s%s%s\n", argv[1], argv[2], home, rounds,
         flip ? "off, then on through " : "as the host has it", flip ? flip : "",
         flip ? "" : " (not changed)");
  for (r = 0; r < rounds; r++) {
    for (int on = 0; on < states; on++) {
      if (flip) favordynmods(flip, on);
      move_pair(into, back, pid); /* a remount's own grace period is not measured */
      one_state(on, into, back, pid, med[on]);
    }
    for (k = 0; k < ROWS && flip; k++) ratios[k][r] = med[1][k] / med[0][k];
  }
  if (flip) favordynmods(flip, 0);
  close(into);
  close(back);
  if (rmdir(dir) != 0) die(dir);
  if (!flip) {
    printf("%-30s %10s\n", "us, median of all samples", "as is");
    for (k = 0; k < ROWS; k++)
      printf("%-30s %10.1f\n", labels[k], median(samples[0][k], counts[0][k]));
    return 0;
  }
  printf("%-30s %10s %10s %8s %17s\n", "us, median of all samples", "off", "on", "on/off",
         "rounds' on/off");
  for (k = 0; k < ROWS; k++) {
    double mid = median(ratios[k], rounds); /* sorts them: [0] least, [rounds - 1] most */
    printf("%-30s %10.1f %10.1f %7.3fx %7.3fx-%.3fx\n", labels[k],
           median(samples[0][k], counts[0][k]), median(samples[1][k], counts[1][k]), mid,
           ratios[k][0], ratios[k][rounds - 1]);
  }
  printf("(on/off: the median over the rounds of each round's ratio of medians; then the least "
         "and the most of them)\n");
  return 0;
}
