/* fuzz_util.h — helpers shared by the libFuzzer harnesses (tests/fuzz/fuzz_*.c): a private
 * scratch folder per process, writing the fuzzed bytes to a file in it, copying a model
 * folder, and a check that aborts (so libFuzzer records the input as a crash).
 * Test infrastructure, not part of the library. Single-threaded (libFuzzer calls the target
 * from one thread); every function is static inline so each harness has its own copy. */
#ifndef LB_FUZZ_UTIL_H
#define LB_FUZZ_UTIL_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* An invariant of the harness: print what failed and abort (libFuzzer saves the input). */
#define FUZZ_CHECK(cond)                                                                    \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);    \
            abort();                                                                        \
        }                                                                                   \
    } while (0)

/* The process's scratch folder, made on first use under $LABSE_FUZZ_TMP, else /dev/shm when it
 * exists (a RAM file system: ~70x more executions per second than a disk-backed /tmp for the
 * targets that write their input to a file), else $TMPDIR, else /tmp; never
 * removed while the process runs (the atexit handler removes its plain files and the folder
 * itself). Returns a static NUL-terminated path. */
static char fuzz_dir_path[512];

static inline void fuzz_dir_cleanup(void) {
    DIR *d = opendir(fuzz_dir_path);
    if (!d) return;
    struct dirent *e;
    char p[1024];
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        snprintf(p, sizeof p, "%s/%s", fuzz_dir_path, e->d_name);
        if (unlink(p) != 0) { /* a sub-folder of a model copy: one level deep */
            DIR *s = opendir(p);
            struct dirent *f;
            char q[1536];
            while (s && (f = readdir(s)) != NULL) {
                if (f->d_name[0] == '.') continue;
                snprintf(q, sizeof q, "%s/%s", p, f->d_name);
                unlink(q);
            }
            if (s) closedir(s);
            rmdir(p);
        }
    }
    closedir(d);
    rmdir(fuzz_dir_path);
}

static inline const char *fuzz_dir(void) {
    if (fuzz_dir_path[0]) return fuzz_dir_path;
    const char *t = getenv("LABSE_FUZZ_TMP");
    struct stat sb;
    if (!t || !*t) t = stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode) ? "/dev/shm" : NULL;
    if (!t) t = getenv("TMPDIR");
    snprintf(fuzz_dir_path, sizeof fuzz_dir_path, "%s/labse-fuzz-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(fuzz_dir_path)) {
        perror("mkdtemp");
        abort();
    }
    atexit(fuzz_dir_cleanup);
    return fuzz_dir_path;
}

/* Write data[0..n) to the file `path` (replacing it); aborts on an I/O error, which is the
 * harness's fault, not the library's. */
static inline void fuzz_write(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f) != 0) {
        perror(path);
        abort();
    }
}

/* fuzz_dir()/name, in a static buffer of the caller's choosing. */
static inline const char *fuzz_path(char *buf, size_t cap, const char *name) {
    snprintf(buf, cap, "%s/%s", fuzz_dir(), name);
    return buf;
}

/* Write the input data[0..size) to fuzz_dir()/name and return that path (a static buffer,
 * valid until the next call). */
static inline const char *fuzz_input_file(const char *name, const uint8_t *data, size_t size) {
    static char p[600];
    fuzz_path(p, sizeof p, name);
    fuzz_write(p, data, size);
    return p;
}

/* Copy the file src to dst (whole, in memory); aborts on failure. */
static inline void fuzz_copy_file(const char *src, const char *dst) {
    FILE *f = fopen(src, "rb");
    if (!f) {
        perror(src);
        abort();
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc(n > 0 ? (size_t)n : 1);
    if (!b || fread(b, 1, (size_t)n, f) != (size_t)n) abort();
    fclose(f);
    fuzz_write(dst, b, (size_t)n);
    free(b);
}

#endif
