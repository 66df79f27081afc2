/*
 * What the C helpers of the tests (the .c files of test/) share; each file defines its
 * functions into CgroupTest through its mcgt_init_* below.
 */
#ifndef MRUBY_CGROUP_TEST_H
#define MRUBY_CGROUP_TEST_H

#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/capability.h>

#include <mruby.h>
#include <mruby/array.h>
#include <mruby/class.h>
#include <mruby/error.h>
#include <mruby/string.h>

/* kernel_files.c */
mrb_noreturn void mcgt_raise_errno(mrb_state *mrb, const char *what, const char *path);
mrb_value mcgt_yield_block(mrb_state *mrb, mrb_value block);
mrb_value mcgt_read_whole(mrb_state *mrb, const char *path);
char *mcgt_find_mount(const char *controller, char *out, size_t size);
int mcgt_controller_mount(const char *controller, char *out, size_t size);
void mcgt_init_kernel_files(mrb_state *mrb, struct RClass *t);

/* children.c */
void mcgt_close_gate(pid_t pid, mrb_bool open_it, mrb_bool forget);
void mcgt_kill_children(void);
void mcgt_spin_cpu(long ms);
void mcgt_init_children(mrb_state *mrb, struct RClass *t);

/* this_process.c, figures.c */
void mcgt_init_this_process(mrb_state *mrb, struct RClass *t);
void mcgt_init_figures(mrb_state *mrb, struct RClass *t);

/* host_state.c */
void mcg_test_init_host_state(mrb_state *mrb, struct RClass *t);

#endif
