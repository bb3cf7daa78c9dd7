/* faultinj.c — an LD_PRELOAD shim for tests: makes the Nth I/O call of one kind fail.
 *
 * Kinds, each with its own counter (a fault names a kind and its Nth call):
 *   open       open open64 openat openat64 creat fopen fopen64
 *   read       read pread pread64
 *   write      write pwrite pwrite64
 *   fsync      fsync fdatasync
 *   rename     rename renameat renameat2
 *   ftruncate  ftruncate ftruncate64
 *   mmap       mmap mmap64 of a file (fd >= 0)
 * Calls the C library makes inside itself (fread, fwrite, fclose's flush) do not go through
 * these symbols and are not seen; the project's writers use write/pwrite (io/atomic_file.c).
 *
 * Environment:
 *   LB_FAULT_PREFIX=DIR    count only calls on files whose absolute path starts with DIR (the
 *                          path given to open or rename, made absolute with the working
 *                          directory; for a descriptor, /proc/self/fd/N). Unset: every call.
 *   LB_FAULT=KIND:N:WHAT   the Nth counted call of KIND (1-based) fails once. WHAT:
 *                          ENOSPC, EIO    the call returns -1 (MAP_FAILED for mmap, NULL for
 *                                         fopen) with that errno;
 *                          EINTR          the same with EINTR, for the kinds where the kernel
 *                                         may return it (open read write fsync ftruncate);
 *                          SHORT          write only: the call writes half the bytes (at
 *                                         least 1) and returns that count; a 1-byte write is
 *                                         not shortened.
 *   LB_FAULT_COUNT=FILE    at exit, write "KIND COUNT" per kind to FILE (counting mode).
 *   LB_FAULT_LOG=FILE      when the fault fires, write "KIND N WHAT PATH" to FILE.
 *
 * Thread-safety: the counters are atomic; any thread may make any call. Test code only, never
 * linked into the library. Ownership: nothing is allocated on the caller's behalf.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

enum { K_OPEN, K_READ, K_WRITE, K_FSYNC, K_RENAME, K_FTRUNCATE, K_MMAP, K_N };
static const char *const kind_name[K_N] = {"open",   "read",      "write", "fsync",
                                           "rename", "ftruncate", "mmap"};
enum { W_ENOSPC, W_EIO, W_EINTR, W_SHORT };

static _Atomic long g_count[K_N];
static int g_kind = -1;     /* the kind to fault, -1 none */
static long g_nth;          /* its 1-based call number */
static int g_what;
static char g_prefix[PATH_MAX];
static size_t g_prefix_len; /* 0: every call counts */
static _Atomic int g_ready; /* the constructor ran (a library's constructor may call first) */

/* The next definitions of the wrapped functions, found once in the constructor. */
static int (*real_open)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static FILE *(*real_fopen)(const char *, const char *);
static ssize_t (*real_read)(int, void *, size_t);
static ssize_t (*real_pread)(int, void *, size_t, off_t);
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_rename)(const char *, const char *);
static int (*real_renameat)(int, const char *, int, const char *);
static int (*real_renameat2)(int, const char *, int, const char *, unsigned);
static int (*real_ftruncate)(int, off_t);
static void *(*real_mmap)(void *, size_t, int, int, int, off_t);

static void *next_sym(const char *name) { return dlsym(RTLD_NEXT, name); }

__attribute__((constructor)) static void faultinj_init(void) {
    real_open = next_sym("open");
    real_openat = next_sym("openat");
    real_fopen = next_sym("fopen");
    real_read = next_sym("read");
    real_pread = next_sym("pread");
    real_write = next_sym("write");
    real_pwrite = next_sym("pwrite");
    real_fsync = next_sym("fsync");
    real_fdatasync = next_sym("fdatasync");
    real_rename = next_sym("rename");
    real_renameat = next_sym("renameat");
    real_renameat2 = next_sym("renameat2");
    real_ftruncate = next_sym("ftruncate");
    real_mmap = next_sym("mmap");
    const char *p = getenv("LB_FAULT_PREFIX");
    if (p && *p && strlen(p) < sizeof g_prefix) {
        strcpy(g_prefix, p);
        g_prefix_len = strlen(p);
    }
    const char *f = getenv("LB_FAULT");
    if (f && *f) {
        char kind[32] = "", what[32] = "";
        if (sscanf(f, "%31[a-z]:%ld:%31[A-Z]", kind, &g_nth, what) != 3 || g_nth < 1) {
            fprintf(stderr, "faultinj: bad LB_FAULT '%s' (KIND:N:WHAT)\n", f);
            abort();
        }
        for (int k = 0; k < K_N; k++)
            if (!strcmp(kind, kind_name[k])) g_kind = k;
        if (!strcmp(what, "ENOSPC")) g_what = W_ENOSPC;
        else if (!strcmp(what, "EIO")) g_what = W_EIO;
        else if (!strcmp(what, "EINTR")) g_what = W_EINTR;
        else if (!strcmp(what, "SHORT")) g_what = W_SHORT;
        else g_kind = -1;
        if (g_kind < 0 || (g_what == W_SHORT && g_kind != K_WRITE) ||
            (g_what == W_EINTR && (g_kind == K_RENAME || g_kind == K_MMAP))) {
            fprintf(stderr, "faultinj: unsupported LB_FAULT '%s'\n", f);
            abort();
        }
    }
    atomic_store(&g_ready, 1);
}

/* Write the counts (LB_FAULT_COUNT) at exit, through the real open and write. */
__attribute__((destructor)) static void faultinj_fini(void) {
    const char *out = getenv("LB_FAULT_COUNT");
    if (!out || !*out || !real_open) return;
    int fd = real_open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) return;
    for (int k = 0; k < K_N; k++) dprintf(fd, "%s %ld\n", kind_name[k], atomic_load(&g_count[k]));
    close(fd);
}

/* Does the absolute form of path (relative to dirfd) start with the prefix? */
static int path_counts(int dirfd, const char *path) {
    if (!g_prefix_len) return 1;
    if (!path) return 0;
    char abs[2 * PATH_MAX];
    if (path[0] == '/') {
        snprintf(abs, sizeof abs, "%s", path);
    } else {
        char base[PATH_MAX];
        if (dirfd == AT_FDCWD) {
            if (!getcwd(base, sizeof base)) return 0;
        } else {
            char link[64];
            snprintf(link, sizeof link, "/proc/self/fd/%d", dirfd);
            ssize_t n = readlink(link, base, sizeof base - 1);
            if (n < 0) return 0;
            base[n] = 0;
        }
        snprintf(abs, sizeof abs, "%s/%s", base, path);
    }
    return strncmp(abs, g_prefix, g_prefix_len) == 0;
}

/* The path of descriptor fd into buf (empty when unknown). */
static void fd_path(int fd, char *buf, size_t cap) {
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, buf, cap - 1);
    buf[n < 0 ? 0 : n] = 0;
}

/* Count a call of kind k on path; returns 1 when this call is the one to fault (and logs it). */
static int fault_here(int k, const char *path) {
    long n = atomic_fetch_add(&g_count[k], 1) + 1;
    if (k != g_kind || n != g_nth) return 0;
    const char *log = getenv("LB_FAULT_LOG");
    if (log && *log) {
        static const char *const wn[] = {"ENOSPC", "EIO", "EINTR", "SHORT"};
        int fd = real_open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
        if (fd >= 0) {
            dprintf(fd, "%s %ld %s %s\n", kind_name[k], n, wn[g_what], path ? path : "");
            close(fd);
        }
    }
    return 1;
}

/* Count a call on path (dirfd-relative); 1 when it must fail. */
static int hit_path(int k, int dirfd, const char *path) {
    if (!atomic_load(&g_ready)) faultinj_init();
    if (!path_counts(dirfd, path)) return 0;
    char abs[PATH_MAX];
    if (path && path[0] != '/' && dirfd == AT_FDCWD && getcwd(abs, sizeof abs)) {
        size_t l = strlen(abs);
        snprintf(abs + l, sizeof abs - l, "/%s", path);
        return fault_here(k, abs);
    }
    return fault_here(k, path);
}

/* Count a call on descriptor fd; 1 when it must fail. */
static int hit_fd(int k, int fd) {
    if (!atomic_load(&g_ready)) faultinj_init();
    char p[PATH_MAX];
    fd_path(fd, p, sizeof p);
    if (g_prefix_len && strncmp(p, g_prefix, g_prefix_len) != 0) return 0;
    return fault_here(k, p);
}

static int fail_errno(void) {
    return g_what == W_ENOSPC ? ENOSPC : g_what == W_EIO ? EIO : EINTR;
}

static mode_t open_mode(int flags, va_list ap) {
    return (flags & (O_CREAT | O_TMPFILE)) ? (mode_t)va_arg(ap, int) : 0;
}

int open(const char *path, int flags, ...) {
    va_list ap;
    va_start(ap, flags);
    mode_t mode = open_mode(flags, ap);
    va_end(ap);
    if (hit_path(K_OPEN, AT_FDCWD, path)) {
        errno = fail_errno();
        return -1;
    }
    return real_open(path, flags, mode);
}

int open64(const char *path, int flags, ...) {
    va_list ap;
    va_start(ap, flags);
    mode_t mode = open_mode(flags, ap);
    va_end(ap);
    return open(path, flags, mode);
}

int openat(int dirfd, const char *path, int flags, ...) {
    va_list ap;
    va_start(ap, flags);
    mode_t mode = open_mode(flags, ap);
    va_end(ap);
    if (hit_path(K_OPEN, dirfd, path)) {
        errno = fail_errno();
        return -1;
    }
    return real_openat(dirfd, path, flags, mode);
}

int openat64(int dirfd, const char *path, int flags, ...) {
    va_list ap;
    va_start(ap, flags);
    mode_t mode = open_mode(flags, ap);
    va_end(ap);
    return openat(dirfd, path, flags, mode);
}

int creat(const char *path, mode_t mode) { return open(path, O_WRONLY | O_CREAT | O_TRUNC, mode); }

FILE *fopen(const char *path, const char *mode) {
    if (hit_path(K_OPEN, AT_FDCWD, path)) {
        errno = fail_errno();
        return NULL;
    }
    return real_fopen(path, mode);
}

FILE *fopen64(const char *path, const char *mode) { return fopen(path, mode); }

ssize_t read(int fd, void *buf, size_t len) {
    if (hit_fd(K_READ, fd)) {
        errno = fail_errno();
        return -1;
    }
    return real_read(fd, buf, len);
}

ssize_t pread(int fd, void *buf, size_t len, off_t off) {
    if (hit_fd(K_READ, fd)) {
        errno = fail_errno();
        return -1;
    }
    return real_pread(fd, buf, len, off);
}

ssize_t pread64(int fd, void *buf, size_t len, off_t off) { return pread(fd, buf, len, off); }

ssize_t write(int fd, const void *buf, size_t len) {
    if (hit_fd(K_WRITE, fd)) {
        if (g_what == W_SHORT && len > 1) return real_write(fd, buf, len / 2);
        if (g_what != W_SHORT) {
            errno = fail_errno();
            return -1;
        }
    }
    return real_write(fd, buf, len);
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off) {
    if (hit_fd(K_WRITE, fd)) {
        if (g_what == W_SHORT && len > 1) return real_pwrite(fd, buf, len / 2, off);
        if (g_what != W_SHORT) {
            errno = fail_errno();
            return -1;
        }
    }
    return real_pwrite(fd, buf, len, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t len, off_t off) {
    return pwrite(fd, buf, len, off);
}

int fsync(int fd) {
    if (hit_fd(K_FSYNC, fd)) {
        errno = fail_errno();
        return -1;
    }
    return real_fsync(fd);
}

int fdatasync(int fd) {
    if (hit_fd(K_FSYNC, fd)) {
        errno = fail_errno();
        return -1;
    }
    return real_fdatasync(fd);
}

int rename(const char *from, const char *to) {
    if (hit_path(K_RENAME, AT_FDCWD, to)) {
        errno = fail_errno();
        return -1;
    }
    return real_rename(from, to);
}

int renameat(int fd1, const char *from, int fd2, const char *to) {
    if (hit_path(K_RENAME, fd2, to)) {
        errno = fail_errno();
        return -1;
    }
    return real_renameat(fd1, from, fd2, to);
}

int renameat2(int fd1, const char *from, int fd2, const char *to, unsigned flags) {
    if (hit_path(K_RENAME, fd2, to)) {
        errno = fail_errno();
        return -1;
    }
    return real_renameat2(fd1, from, fd2, to, flags);
}

int ftruncate(int fd, off_t len) {
    if (hit_fd(K_FTRUNCATE, fd)) {
        errno = fail_errno();
        return -1;
    }
    return real_ftruncate(fd, len);
}

int ftruncate64(int fd, off_t len) { return ftruncate(fd, len); }

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
    if (!atomic_load(&g_ready)) faultinj_init();
    if (fd >= 0 && hit_fd(K_MMAP, fd)) {
        errno = fail_errno();
        return MAP_FAILED;
    }
    return real_mmap(addr, len, prot, flags, fd, off);
}

void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
    return mmap(addr, len, prot, flags, fd, off);
}
