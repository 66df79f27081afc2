/*
 * A small host that embeds mruby the way ngx_mruby and mod_mruby do: one
 * long-lived mrb_state, each script compiled once, the request script run
 * once per simulated request between mrb_gc_arena_save and _restore, and a
 * script's exception reported and cleared without stopping the host.
 *
 *   embed [-n REQUESTS] [-t THREADS] [-g GAP_MS] SETUP.rb REQUEST.rb TEARDOWN.rb
 *
 * The host forks a helper child to stand in for the request's worker
 * process (scripts see its pid in $worker_pid; the host itself stays in its
 * memory cgroup), $request counts requests, and $group is the parent group
 * for the scripts' groups ($MRB_EMBED_GROUP, default "/mruby-embed"); $argument
 * passes $MRB_EMBED_ARG (or "") on to the scripts.  It prints the requests,
 * errors, time per request, and its RSS and open file descriptors before
 * and after the requests.  With -g (without -t), GAP_MS milliseconds pass
 * idle between requests, as in a server that gets a request now and then (the kernel's
 * costs differ: doc/speed.md); it prints each request's median and 90th
 * percentile time too (us_median, us_p90).
 *
 * With -t, as a threaded server would: after SETUP, THREADS threads each
 * open an mrb_state of their own and run REQUEST that many times; each
 * compares its /proc/thread-self/cgroup before and after.  It prints the
 * threads, requests per thread, errors, and how many threads ended in the
 * groups they started in.
 */
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mruby.h>
#include <mruby/compile.h>
#include <mruby/proc.h>
#include <mruby/variable.h>

/* Compile a script file once; NULL (after printing why) on failure. */
static struct RProc *
compile(mrb_state *mrb, const char *path)
{
  FILE *f = fopen(path, "r");
  mrbc_context *cxt;
  struct mrb_parser_state *parser;
  struct RProc *proc = NULL;

  if (!f) {
    perror(path);
    return NULL;
  }
  cxt = mrbc_context_new(mrb);
  mrbc_filename(mrb, cxt, path);
  parser = mrb_parse_file(mrb, f, cxt);
  fclose(f);
  if (parser && parser->nerr == 0) proc = mrb_generate_code(mrb, parser);
  if (!proc) fprintf(stderr, "embed: %s does not compile\n", path);
  if (parser) mrb_parser_free(parser);
  mrbc_context_free(mrb, cxt);
  if (proc) mrb_gc_register(mrb, mrb_obj_value(proc)); /* kept for the host's life */
  return proc;
}

/* Run a compiled script; report and clear its exception.  FALSE if it raised. */
static mrb_bool
run(mrb_state *mrb, struct RProc *proc)
{
  int ai = mrb_gc_arena_save(mrb);
  mrb_bool ok;

  mrb_top_run(mrb, proc, mrb_top_self(mrb), 0);
  ok = mrb->exc == NULL;
  if (!ok) {
    mrb_print_error(mrb);
    mrb->exc = NULL;
  }
  mrb_gc_arena_restore(mrb, ai);
  return ok;
}

static long
rss_kb(void)
{
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kb = -1;

  while (f && fgets(line, sizeof line, f)) {
    if (sscanf(line, "VmRSS: %ld", &kb) == 1) break;
  }
  if (f) fclose(f);
  return kb;
}

static int
fd_count(void)
{
  DIR *d = opendir("/proc/self/fd");
  struct dirent *e;
  int n = -1; /* not the one opendir holds */

  while (d && (e = readdir(d))) n += e->d_name[0] != '.';
  if (d) closedir(d);
  return n;
}

/* The globals the scripts see; $request is set per request. */
static void
set_globals(mrb_state *mrb, pid_t worker)
{
  const char *group = getenv("MRB_EMBED_GROUP"), *argument = getenv("MRB_EMBED_ARG");

  mrb_gv_set(mrb, mrb_intern_lit(mrb, "$worker_pid"), mrb_int_value(mrb, worker));
  mrb_gv_set(mrb, mrb_intern_lit(mrb, "$group"),
             mrb_str_new_cstr(mrb, group ? group : "/mruby-embed"));
  mrb_gv_set(mrb, mrb_intern_lit(mrb, "$argument"),
             mrb_str_new_cstr(mrb, argument ? argument : ""));
}

/* The calling thread's /proc/thread-self/cgroup into buf ("" if unreadable). */
static void
thread_groups(char *buf, size_t size)
{
  FILE *f = fopen("/proc/thread-self/cgroup", "r");
  size_t n = f ? fread(buf, 1, size - 1, f) : 0;

  buf[n] = '\0';
  if (f) fclose(f);
}

/* One thread of -t: its own state, the request script run `requests` times. */
struct thread_run {
  const char *request_path;
  long requests, errors;
  pid_t worker;
  int home; /* ended in the groups it started in */
};

static void *
thread_main(void *arg)
{
  struct thread_run *t = (struct thread_run *)arg;
  char before[4096], after[4096];
  mrb_state *mrb = mrb_open();
  struct RProc *request;
  long i;

  thread_groups(before, sizeof before);
  if (!mrb || !(request = compile(mrb, t->request_path))) {
    t->errors = t->requests;
    if (mrb) mrb_close(mrb);
    return NULL;
  }
  set_globals(mrb, t->worker);
  for (i = 1; i <= t->requests; i++) {
    mrb_gv_set(mrb, mrb_intern_lit(mrb, "$request"), mrb_int_value(mrb, i));
    t->errors += !run(mrb, request);
  }
  mrb_close(mrb);
  thread_groups(after, sizeof after);
  t->home = strcmp(before, after) == 0;
  return NULL;
}

/* -t: the threads' runs after setup; prints their summary; the errors. */
static long
run_threads(int threads, long requests, const char *request_path, pid_t worker)
{
  pthread_t ids[64];
  struct thread_run runs[64];
  long errors = 0;
  int i, home = 0;

  for (i = 0; i < threads; i++) {
    runs[i] = (struct thread_run){request_path, requests, 0, worker, 0};
    if (pthread_create(&ids[i], NULL, thread_main, &runs[i]) != 0) return requests * threads;
  }
  for (i = 0; i < threads; i++) {
    pthread_join(ids[i], NULL);
    errors += runs[i].errors;
    home += runs[i].home;
  }
  printf("threads %d requests %ld errors %ld home %d\n", threads, requests, errors, home);
  return errors;
}

static double
seconds(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
idle_ms(long ms)
{
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

  while (nanosleep(&ts, &ts) != 0) {
  }
}

static int
by_value(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;

  return (x > y) - (x < y);
}

/* The q-th quantile (0..1) of n times, sorted in place. */
static double
quantile(double *t, long n, double q)
{
  qsort(t, (size_t)n, sizeof *t, by_value);
  return n ? t[(long)(q * (n - 1) + 0.5)] : 0.0;
}

int
main(int argc, char **argv)
{
  long requests = 1000, i, errors = 0, rss_before, rss_warm = 0, rss_after;
  int opt, threads = 0, fds_start = fd_count(), fds_before, fds_after, fds_closed;
  struct RProc *setup, *request, *teardown;
  mrb_state *mrb;
  pid_t worker;
  double start, elapsed, busy = 0, *each;
  long gap_ms = 0;

  while ((opt = getopt(argc, argv, "n:t:g:")) != -1) {
    if (opt == 'n') requests = atol(optarg);
    if (opt == 't') threads = atoi(optarg);
    if (opt == 'g') gap_ms = atol(optarg);
  }
  if (argc - optind != 3 || threads < 0 || threads > 64 || requests < 0 || gap_ms < 0) {
    fprintf(stderr, "usage: embed [-n REQUESTS] [-t THREADS (up to 64)] [-g GAP_MS] SETUP.rb "
                    "REQUEST.rb TEARDOWN.rb\n");
    return 2;
  }
  if ((worker = fork()) == 0) { /* the request's worker, attached by the scripts */
    pause();
    _exit(0);
  }
  mrb = mrb_open();
  if (!mrb) return 1;
  set_globals(mrb, worker);
  setup = compile(mrb, argv[optind]);
  request = compile(mrb, argv[optind + 1]);
  teardown = compile(mrb, argv[optind + 2]);
  if (!setup || !request || !teardown || !run(mrb, setup)) {
    if (teardown) run(mrb, teardown);
    kill(worker, SIGKILL);
    mrb_close(mrb);
    return 1;
  }
  if (threads > 0) {
    errors = run_threads(threads, requests, argv[optind + 1], worker);
    errors += !run(mrb, teardown);
    kill(worker, SIGKILL);
    waitpid(worker, NULL, 0);
    mrb_close(mrb);
    return errors ? 1 : 0;
  }
  /* touched now, so that RSS measured from the first request on is the state's alone */
  if (!(each = malloc(((size_t)requests + 1) * sizeof *each))) return 1;
  for (i = 0; i <= requests; i++) each[i] = -1; /* not 0: the compiler would make it a calloc */
  /* the first request opens what the gem keeps open; flat is measured from there */
  mrb_gv_set(mrb, mrb_intern_lit(mrb, "$request"), mrb_int_value(mrb, 0));
  errors += !run(mrb, request);
  rss_before = rss_kb();
  fds_before = fd_count();
  for (i = 1; i <= requests; i++) {
    if (gap_ms) idle_ms(gap_ms);
    mrb_gv_set(mrb, mrb_intern_lit(mrb, "$request"), mrb_int_value(mrb, i));
    start = seconds();
    errors += !run(mrb, request);
    each[i - 1] = seconds() - start;
    busy += each[i - 1];
    if (i == requests / 10) rss_warm = rss_kb(); /* the GC heap has found its size */
  }
  elapsed = busy;
  mrb_full_gc(mrb);
  rss_after = rss_kb();
  fds_after = fd_count();
  errors += !run(mrb, teardown);
  kill(worker, SIGKILL);
  waitpid(worker, NULL, 0);
  mrb_close(mrb);
  fds_closed = fd_count();
  printf("requests %ld errors %ld us_per_request %.1f us_median %.1f us_p90 %.1f rss_kb %ld %ld %ld"
         " fds %d %d fds_without_state %d %d\n",
         requests, errors, requests ? elapsed * 1e6 / requests : 0.0,
         quantile(each, requests, 0.5) * 1e6, quantile(each, requests, 0.9) * 1e6, rss_before,
         rss_warm, rss_after, fds_before, fds_after, fds_start, fds_closed);
  free(each);
  return errors ? 1 : 0;
}
