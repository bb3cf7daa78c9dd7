/* atomic_file.h — the one way the library writes a final file: everything goes to a temporary
 * "<path>.tmp.<pid>" and appears under `path` only at commit (fsync, close, rename, fsync of
 * the directory), so a reader sees the old file or the whole new one, never a piece; a
 * failure or an abort removes the temporary and leaves `path` as it was.
 *
 * Users: io/npy.c (lb_npys: single .npy outputs and part files), io/manifest.c
 * (manifest.json), pipeline/pipe_merge.c (copied parts), api/api_text.c (mined pairs TSV).
 *
 * Errors are LABSE_E_IO / LABSE_E_NOMEM / LABSE_E_INVALID with a message naming the file
 * (the temporary while writing, the final path for the rename) and strerror.
 *
 * Thread-safety: an lb_afile belongs to one thread at a time; different files are
 * independent. Not part of the public API. Internal names start with lb_.
 */
#ifndef LB_ATOMIC_FILE_H
#define LB_ATOMIC_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "labse.h"

/* A file being written under its temporary name. Opaque. */
typedef struct lb_afile lb_afile;

/*
 * Create "<path>.tmp.<pid>" (O_EXCL after removing a leftover of an earlier process with the
 * same pid; read-write so the writer can re-read it; mode 0666 & ~umask). `path` itself is
 * not touched until lb_afile_commit().
 *   path  final name (copied; non-empty).
 *   out   receives the file (caller owns it: it must end with lb_afile_commit() or
 *         lb_afile_abort(), which free it). Untouched on failure.
 * Errors: LABSE_E_INVALID (NULL or empty path), LABSE_E_NOMEM, LABSE_E_IO
 * ("<tmp>: cannot create: <strerror>"). Nothing is left on disk on failure. Reentrant.
 */
labse_status lb_afile_open(const char *path, lb_afile **out, labse_error *err);

/*
 * Append len bytes of buf at the current end (short writes and EINTR retried; chunks of at
 * most 1 GiB). On failure ("<tmp>: write failed: <strerror>", LABSE_E_IO) the file is marked
 * failed: later writes and lb_afile_commit() report "<tmp>: earlier write failed"; only
 * lb_afile_abort() / lb_afile_commit() remain useful.
 */
labse_status lb_afile_write(lb_afile *f, const void *buf, size_t len, labse_error *err);

struct iovec;
/* Append the cnt buffers iov[0..cnt) one after another, as lb_afile_write() of each in turn
 * but in few system calls (writev of up to 1024 at a time; short writes and EINTR retried;
 * iov is not modified). Same failure rules as lb_afile_write(). The rows of a window go out
 * this way in input order straight from where the encoder left them (npy.c). */
labse_status lb_afile_writev(lb_afile *f, const struct iovec *iov, int cnt, labse_error *err);

/* Overwrite len bytes at byte offset off (a header rewrite); the append position does not
 * move. Same retry and failure rules as lb_afile_write(). */
labse_status lb_afile_pwrite(lb_afile *f, const void *buf, size_t len, uint64_t off,
                             labse_error *err);

/* Read up to len bytes at offset off back from the temporary (EINTR retried). Returns the
 * byte count (0 at the end), or -1 with errno set. Does not mark the file failed. */
long long lb_afile_pread(lb_afile *f, void *buf, size_t len, uint64_t off);

/* The temporary name ("<path>.tmp.<pid>") and the final name; owned by f. */
const char *lb_afile_tmp_path(const lb_afile *f);
const char *lb_afile_path(const lb_afile *f);

/*
 * Finish: fsync (EINTR retried; EINVAL/EROFS, a file system that cannot sync, are not errors), close,
 * rename the temporary onto path (replacing an existing file atomically), fsync the
 * directory (best effort). Frees f in every case; on any failure the temporary is removed
 * and path is left as it was. Errors (LABSE_E_IO): "<tmp>: earlier write failed",
 * "<tmp>: fsync failed: ...", "<tmp>: close failed: ...",
 * "<path>: cannot rename <tmp> onto it: ...".
 */
labse_status lb_afile_commit(lb_afile *f, labse_error *err);

/* Give up: close and remove the temporary, free f. NULL is a no-op. Never fails. */
void lb_afile_abort(lb_afile *f);

/* Remove every temporary of this process being written now (not yet committed or aborted):
 * for a SIGINT/SIGTERM handler that then ends the process, so that an interrupted command
 * leaves neither a partial file under a final name (never the case) nor a temporary behind.
 * The writers' later calls then fail (their file is gone). Async-signal-safe (atomic loads
 * and unlink only); any thread. Up to 64 concurrent temporaries are tracked. */
void lb_afile_remove_all(void);

/* fsync the directory holding path, so a rename or link into it is durable. Best effort
 * (some file systems refuse fsync on directories). Reentrant. */
void lb_fsync_parent_dir(const char *path);

#endif
