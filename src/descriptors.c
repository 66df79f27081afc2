/*
 * A descriptor kept open (struct kept_fd), checked before each use to be
 * still the file it was opened on, with the owner and mode it had; and a
 * whole kernel file read through one.  What kept_files.c and a meter's
 * counter files stand on.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <mruby.h>

#include "cgroup.h"

/* Keep fd (closed if its identity cannot be read); FALSE if none is kept. */
mrb_bool
mcg_fd_adopt(struct kept_fd *kept, int fd)
{
  struct stat st;

  kept->fd = fd;
  if (fd < 0) return FALSE;
  if (fstat(fd, &st) != 0) {
    close(fd);
    kept->fd = -1;
    return FALSE;
  }
  kept->dev = st.st_dev;
  kept->ino = st.st_ino;
  kept->uid = st.st_uid;
  kept->gid = st.st_gid;
  kept->mode = st.st_mode;
  return TRUE;
}

void
mcg_fd_open(struct kept_fd *kept, const char *path, int flags)
{
  mcg_fd_adopt(kept, open(path, flags | O_CLOEXEC));
}

/* fstat, the check before a kept file's use: glibc makes it
 * fstatat(fd, "", AT_EMPTY_PATH), whose empty path the kernel copies in and
 * resolves (a tenth of the call on 6.18, more on older kernels); where the
 * kernel's struct stat is glibc's, the fstat call itself. */
static int
identity_of(int fd, struct stat *st)
{
#if defined(SYS_fstat) && (defined(__x86_64__) || defined(__aarch64__))
  return (int)syscall(SYS_fstat, fd, st);
#else
  return fstat(fd, st);
#endif
}

/* Whether kept->fd is still the file that was opened (st: its state now). */
static mrb_bool
kept_same_file(const struct kept_fd *kept, struct stat *st)
{
  return kept->fd >= 0 && identity_of(kept->fd, st) == 0 && st->st_dev == kept->dev &&
         st->st_ino == kept->ino;
}

/* Usable: the same file, with the owner and mode it had when opened. */
mrb_bool
mcg_fd_valid(const struct kept_fd *kept)
{
  struct stat st;

  return kept_same_file(kept, &st) && st.st_uid == kept->uid && st.st_gid == kept->gid &&
         st.st_mode == kept->mode;
}

/* Whether the descriptor is still the file it was opened on. */
mrb_bool
mcg_fd_unchanged(const struct kept_fd *kept)
{
  struct stat st;

  return kept_same_file(kept, &st);
}

/* Closes the descriptor only while it is still the one that was opened. */
void
mcg_fd_close(struct kept_fd *kept)
{
  if (mcg_fd_unchanged(kept)) close(kept->fd);
  kept->fd = -1;
}

/* The whole file behind fd into *buf (grown as needed, *size its room),
 * NUL-terminated: its length, or -1 and errno.  The kernel renders a
 * cgroup or /proc file whole, so a read that leaves room is all of it. */
ssize_t
mcg_pread_whole(mrb_state *mrb, int fd, char **buf, size_t *size)
{
  size_t len = 0, room;
  ssize_t n;

  for (;;) {
    if (*size - len < 2) {
      *size = *size ? *size * 2 : 4096;
      *buf = (char *)mrb_realloc(mrb, *buf, *size);
    }
    room = *size - len - 1;
    n = pread(fd, *buf + len, room, (off_t)len);
    if (n < 0) return -1;
    len += (size_t)n;
    if ((size_t)n < room) break;
  }
  (*buf)[len] = '\0';
  return (ssize_t)len;
}
