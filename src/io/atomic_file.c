/* atomic_file.c — temporary file, checked writes, fsync + rename + directory fsync.
 * See atomic_file.h. */
#include "io/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/common.h"

/* The temporaries being written now, for lb_afile_remove_all() (a signal handler's): fixed
 * slots with their own copy of the name, so the handler never reads memory a writer frees.
 * A slot is 0 free, 1 being filled, 2 live. Past LIVE_SLOTS concurrent files a temporary is
 * simply not registered (it is then left behind if the process is killed while writing). */
#define LIVE_SLOTS 64
#define LIVE_NAME 4160
static _Atomic int g_live_state[LIVE_SLOTS];
static _Atomic int g_dying; /* lb_afile_remove_all() ran: no new temporary may stay */
static char g_live_name[LIVE_SLOTS][LIVE_NAME];

static int live_add(const char *tmp) {
    if (strlen(tmp) >= LIVE_NAME) return -1;
    for (int i = 0; i < LIVE_SLOTS; i++) {
        int z = 0;
        if (atomic_compare_exchange_strong(&g_live_state[i], &z, 1)) {
            strcpy(g_live_name[i], tmp);
            atomic_store(&g_live_state[i], 2);
            return i;
        }
    }
    return -1;
}

static void live_drop(int slot) {
    if (slot >= 0) atomic_store(&g_live_state[slot], 0);
}

void lb_afile_remove_all(void) {
    /* first the flag, then the scan: a temporary registered after the scan is removed by its
     * own opener, which checks the flag after creating it (other threads go on running until
     * the process dies) */
    atomic_store(&g_dying, 1);
    for (int i = 0; i < LIVE_SLOTS; i++)
        if (atomic_load(&g_live_state[i]) == 2) (void)unlink(g_live_name[i]);
}

struct lb_afile {
    int fd;          /* -1 once failed or closed */
    int failed;      /* a write failed: only abort/commit (which reports it) remain */
    char *path;      /* final name */
    char *tmp;       /* path.tmp.pid */
    int live;        /* its slot in the live registry, -1 for none */
};

#define AFILE_CHUNK ((size_t)1 << 30)

static void afile_free(lb_afile *f) {
    live_drop(f->live);
    free(f->path);
    free(f->tmp);
    free(f);
}

labse_status lb_afile_open(const char *path, lb_afile **out, labse_error *err) {
    if (!path || !*path || !out) return lb_err(err, LABSE_E_INVALID, "atomic file: no path");
    lb_afile *f = calloc(1, sizeof *f);
    if (f) f->live = -1;
    size_t pl = strlen(path);
    if (!f || !(f->path = strdup(path)) || !(f->tmp = malloc(pl + 32))) {
        if (f) afile_free(f);
        return lb_err(err, LABSE_E_NOMEM, "%s: out of memory", path);
    }
    snprintf(f->tmp, pl + 32, "%s.tmp.%ld", path, (long)getpid());
    (void)unlink(f->tmp); /* a leftover of an earlier process with our pid */
    /* registered before it exists: a signal between the open and the registration would
     * otherwise leave it behind (removing a name not yet created is harmless) */
    f->live = live_add(f->tmp);
    do {
        f->fd = open(f->tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    } while (f->fd < 0 && errno == EINTR);
    if (f->fd < 0) {
        int e = errno;
        lb_err(err, LABSE_E_IO, "%s: cannot create: %s", f->tmp, strerror(e));
        afile_free(f);
        return LABSE_E_IO;
    }
    if (atomic_load(&g_dying)) { /* the process is being interrupted */
        close(f->fd);
        unlink(f->tmp);
        lb_err(err, LABSE_E_IO, "%s: not created: the process is being interrupted", f->tmp);
        afile_free(f);
        return LABSE_E_IO;
    }
    *out = f;
    return LABSE_OK;
}

/* Mark f failed after a write error e; closes the descriptor. */
static labse_status afile_fail(lb_afile *f, int e, labse_error *err) {
    if (f->fd >= 0) close(f->fd);
    f->fd = -1;
    f->failed = 1;
    return lb_err(err, LABSE_E_IO, "%s: write failed: %s", f->tmp, strerror(e));
}

labse_status lb_afile_write(lb_afile *f, const void *buf, size_t len, labse_error *err) {
    if (!f || (!buf && len)) return lb_err(err, LABSE_E_INVALID, "atomic file: NULL argument");
    if (f->fd < 0) return lb_err(err, LABSE_E_IO, "%s: earlier write failed", f->tmp);
    const char *p = buf;
    while (len > 0) {
        ssize_t r = write(f->fd, p, len > AFILE_CHUNK ? AFILE_CHUNK : len);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return afile_fail(f, errno, err);
        if (r == 0) return afile_fail(f, EIO, err);
        p += r;
        len -= (size_t)r;
    }
    return LABSE_OK;
}

labse_status lb_afile_writev(lb_afile *f, const struct iovec *iov, int cnt, labse_error *err) {
    if (!f || cnt < 0 || (!iov && cnt)) return lb_err(err, LABSE_E_INVALID, "atomic file: NULL argument");
    if (f->fd < 0) return lb_err(err, LABSE_E_IO, "%s: earlier write failed", f->tmp);
    enum { MAXV = 1024 }; /* IOV_MAX on Linux */
    struct iovec v[MAXV];
    int at = 0;
    size_t skip = 0; /* bytes of iov[at] already written */
    while (at < cnt) {
        int k = 0;
        size_t total = 0;
        for (; k < MAXV && at + k < cnt && total < AFILE_CHUNK; k++) {
            v[k].iov_base = (char *)iov[at + k].iov_base + (k == 0 ? skip : 0);
            v[k].iov_len = iov[at + k].iov_len - (k == 0 ? skip : 0);
            total += v[k].iov_len;
        }
        if (total == 0) { /* only empty buffers */
            at += k;
            skip = 0;
            continue;
        }
        ssize_t r = writev(f->fd, v, k);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return afile_fail(f, errno, err);
        if (r == 0) return afile_fail(f, EIO, err);
        size_t done = (size_t)r;
        while (done > 0) { /* move past what was written, partly into a buffer if short */
            size_t left = iov[at].iov_len - skip;
            if (done < left) {
                skip += done;
                break;
            }
            done -= left;
            at++;
            skip = 0;
        }
        while (at < cnt && iov[at].iov_len == skip) { /* empty buffers that follow */
            at++;
            skip = 0;
        }
    }
    return LABSE_OK;
}

labse_status lb_afile_pwrite(lb_afile *f, const void *buf, size_t len, uint64_t off,
                             labse_error *err) {
    if (!f || (!buf && len)) return lb_err(err, LABSE_E_INVALID, "atomic file: NULL argument");
    if (f->fd < 0) return lb_err(err, LABSE_E_IO, "%s: earlier write failed", f->tmp);
    const char *p = buf;
    while (len > 0) {
        ssize_t r = pwrite(f->fd, p, len > AFILE_CHUNK ? AFILE_CHUNK : len, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return afile_fail(f, errno, err);
        if (r == 0) return afile_fail(f, EIO, err);
        p += r;
        off += (uint64_t)r;
        len -= (size_t)r;
    }
    return LABSE_OK;
}

long long lb_afile_pread(lb_afile *f, void *buf, size_t len, uint64_t off) {
    if (!f || f->fd < 0) {
        errno = EBADF;
        return -1;
    }
    for (;;) {
        ssize_t r = pread(f->fd, buf, len, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        return (long long)r;
    }
}

const char *lb_afile_tmp_path(const lb_afile *f) { return f ? f->tmp : ""; }
const char *lb_afile_path(const lb_afile *f) { return f ? f->path : ""; }

void lb_fsync_parent_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    char *dir;
    if (!slash)
        dir = strdup(".");
    else if (slash == path)
        dir = strdup("/");
    else
        dir = strndup(path, (size_t)(slash - path));
    if (!dir) return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}

labse_status lb_afile_commit(lb_afile *f, labse_error *err) {
    if (!f) return lb_err(err, LABSE_E_INVALID, "atomic file: NULL");
    labse_status s;
    if (f->fd < 0) {
        s = lb_err(err, LABSE_E_IO, "%s: earlier write failed", f->tmp);
        goto fail;
    }
    int rc;
    do {
        rc = fsync(f->fd);
    } while (rc != 0 && errno == EINTR);
    if (rc != 0 && errno != EINVAL && errno != EROFS) {
        s = lb_err(err, LABSE_E_IO, "%s: fsync failed: %s", f->tmp, strerror(errno));
        goto fail;
    }
    int fd = f->fd;
    f->fd = -1;
    if (close(fd) != 0) {
        s = lb_err(err, LABSE_E_IO, "%s: close failed: %s", f->tmp, strerror(errno));
        goto fail;
    }
    if (rename(f->tmp, f->path) != 0) {
        s = lb_err(err, LABSE_E_IO, "%s: cannot rename %s onto it: %s", f->path, f->tmp,
                   strerror(errno));
        goto fail;
    }
    lb_fsync_parent_dir(f->path);
    afile_free(f);
    return LABSE_OK;
fail:
    lb_afile_abort(f);
    return s;
}

void lb_afile_abort(lb_afile *f) {
    if (!f) return;
    if (f->fd >= 0) close(f->fd);
    unlink(f->tmp);
    afile_free(f);
}
