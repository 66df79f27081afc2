/*
 * A small host that embeds mruby the way ngx_mruby and mod_mruby do: one
 * long-lived mrb_state, each script compiled once, the request script run
 * once per simulated request between mrb_gc_arena_save and _restore, and a
 * script's exception reported and cleared without stopping the host.
 *
 *   embed [-n REQUESTS] SETUP.rb REQUEST.rb TEARDOWN.rb
 *
 * The host forks a helper child to stand in for the request's worker
 * process (scripts see its pid in $worker_pid; the host itself stays in its
 * memory cgroup), $request counts requests, and $group is the parent group
 * for the scripts' groups ($MRB_EMBED_GROUP, default "/mruby-embed"); $argument
 * passes $MRB_EMBED_ARG (or "") on to the scripts.  It prints the requests,
 * errors, time per request, and its RSS and open file descriptors before
 * and after the requests.
 */
#include <dirent.h>
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

static double
seconds(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
  long requests = 1000, i, errors = 0, rss_before, rss_warm = 0, rss_after;
  int opt, fds_start = fd_count(), fds_before, fds_after, fds_closed;
  struct RProc *setup, *request, *teardown;
  mrb_state *mrb;
  pid_t worker;
  double start, elapsed;

  while ((opt = getopt(argc, argv, "n:")) != -1) {
    if (opt == 'n') requests = atol(optarg);
  }
  if (argc - optind != 3) {
    fprintf(stderr, "usage: embed [-n REQUESTS] SETUP.rb REQUEST.rb TEARDOWN.rb\n");
    return 2;
  }
  if ((worker = fork()) == 0) { /* the request's worker, attached by the scripts */
    pause();
    _exit(0);
  }
  mrb = mrb_open();
  if (!mrb) return 1;
  mrb_gv_set(mrb, mrb_intern_lit(mrb, "$worker_pid"), mrb_int_value(mrb, worker));
  mrb_gv_set(mrb, mrb_intern_lit(mrb, "$group"),
             mrb_str_new_cstr(mrb, getenv("MRB_EMBED_GROUP") ? getenv("MRB_EMBED_GROUP")
                                                             : "/mruby-embed"));
  mrb_gv_set(mrb, mrb_intern_lit(mrb, "$argument"),
             mrb_str_new_cstr(mrb, getenv("MRB_EMBED_ARG") ? getenv("MRB_EMBED_ARG") : ""));
  setup = compile(mrb, argv[optind]);
  request = compile(mrb, argv[optind + 1]);
  teardown = compile(mrb, argv[optind + 2]);
  if (!setup || !request || !teardown || !run(mrb, setup)) {
    if (teardown) run(mrb, teardown);
    kill(worker, SIGKILL);
    mrb_close(mrb);
    return 1;
  }
  /* the first request opens what the gem keeps open; flat is measured from there */
  mrb_gv_set(mrb, mrb_intern_lit(mrb, "$request"), mrb_int_value(mrb, 0));
  errors += !run(mrb, request);
  rss_before = rss_kb();
  fds_before = fd_count();
  start = seconds();
  for (i = 1; i <= requests; i++) {
    mrb_gv_set(mrb, mrb_intern_lit(mrb, "$request"), mrb_int_value(mrb, i));
    errors += !run(mrb, request);
    if (i == requests / 10) rss_warm = rss_kb(); /* the GC heap has found its size */
  }
  elapsed = seconds() - start;
  mrb_full_gc(mrb);
  rss_after = rss_kb();
  fds_after = fd_count();
  errors += !run(mrb, teardown);
  kill(worker, SIGKILL);
  waitpid(worker, NULL, 0);
  mrb_close(mrb);
  fds_closed = fd_count();
  printf("requests %ld errors %ld us_per_request %.1f rss_kb %ld %ld %ld fds %d %d"
         " fds_without_state %d %d\n",
         requests, errors, requests ? elapsed * 1e6 / requests : 0.0, rss_before, rss_warm,
         rss_after, fds_before, fds_after, fds_start, fds_closed);
  return errors ? 1 : 0;
}
