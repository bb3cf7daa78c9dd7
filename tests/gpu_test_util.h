/* gpu_test_util.h — shared helpers of the GPU tests (kernels and encoder), for both builds:
 * the emulator (label emu) and a real GPU (label gpu). Header-only, C11.
 *
 *   GT_CUDA(call)          abort the test with call, file, line and CUDA's message on error
 *   gt_require_device()    exit 77 (CTest: skipped) when no CUDA device is present
 *   gt_is_emu()            1 in the emulation build
 *   gt_dev_alloc/upload/download   device buffers (checked)
 *   gt_rng / gt_uniform / gt_normal   a seeded generator (splitmix64): fresh inputs per case
 *   gt_h / gt_f            float <-> fp16 bits (src/base/half.h)
 *   gt_e4m3_rank / gt_e4m3_out / gt_e4m3_within   E4M3 outputs against an interval of values
 *   gt_fork_stderr / gt_wait_stderr   a child process whose stderr the parent reads (tests that
 *                          expect an abort)
 */
#ifndef GT_GPU_TEST_UTIL_H
#define GT_GPU_TEST_UTIL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cuda_compat.h"
#include "base/fp8.h"
#include "base/half.h"

#define GT_CUDA(call)                                                                        \
    do {                                                                                     \
        cudaError_t gt_e_ = (call);                                                          \
        if (gt_e_ != cudaSuccess) {                                                          \
            fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #call,             \
                    cudaGetErrorString(gt_e_));                                              \
            abort();                                                                         \
        }                                                                                    \
    } while (0)

/* fork() with the child's stderr on a pipe: 0 in the child, the child's pid in the parent (*fd:
 * the pipe's read end), -1 on failure. Flushes stdio first (no doubled output). */
static inline pid_t gt_fork_stderr(int *fd) {
    int fds[2];
    if (pipe(fds) != 0) return -1;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        close(fds[1]);
        return 0;
    }
    close(fds[1]);
    if (pid < 0) close(fds[0]);
    *fd = fds[0];
    return pid;
}

/* The parent's side: read the child's stderr into buf (at most cap - 1 bytes, NUL-terminated),
 * close fd, wait for the child; returns its wait status. */
static inline int gt_wait_stderr(pid_t pid, int fd, char *buf, size_t cap) {
    size_t len = 0;
    ssize_t r;
    while (len < cap - 1 && (r = read(fd, buf + len, cap - 1 - len)) > 0) len += (size_t)r;
    buf[len] = 0;
    close(fd);
    int st = 0;
    waitpid(pid, &st, 0);
    return st;
}

static inline int gt_is_emu(void) {
#ifdef LABSE_CUDA_EMU
    return 1;
#else
    return 0;
#endif
}

/* Exit 77 (skipped) when there is no usable CUDA device. */
static inline void gt_require_device(void) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n < 1) {
        printf("no CUDA device (%s): skipped\n", e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
        exit(77);
    }
}

static inline void *gt_dev_alloc(size_t bytes) {
    void *p = NULL;
    GT_CUDA(cudaMalloc(&p, bytes ? bytes : 1));
    return p;
}

static inline void *gt_upload(const void *host, size_t bytes) {
    void *p = gt_dev_alloc(bytes);
    if (bytes) GT_CUDA(cudaMemcpy(p, host, bytes, cudaMemcpyHostToDevice));
    return p;
}

static inline void gt_download(void *host, const void *dev, size_t bytes) {
    GT_CUDA(cudaDeviceSynchronize());
    if (bytes) GT_CUDA(cudaMemcpy(host, dev, bytes, cudaMemcpyDeviceToHost));
}

/* splitmix64: a seeded, portable generator. */
typedef struct gt_rng { uint64_t s; } gt_rng;
static inline uint64_t gt_next(gt_rng *r) {
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
/* uniform in [lo, hi) */
static inline float gt_uniform(gt_rng *r, float lo, float hi) {
    return lo + (hi - lo) * (float)((gt_next(r) >> 40) * (1.0 / 16777216.0));
}
/* standard normal (Box-Muller) */
static inline float gt_normal(gt_rng *r) {
    double u1 = ((gt_next(r) >> 11) + 1) * (1.0 / 9007199254740993.0);
    double u2 = (gt_next(r) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

static inline lb_half gt_h(float f) { return lb_f32_to_f16(f); }
static inline float gt_f(lb_half h) { return lb_f16_to_f32(h); }

/* E4M3 outputs checked against an interval [lo, hi] of exact values (the oracle ± its error
 * bound, times the output's scale): gt_e4m3_rank is a code's place on the number line (-0 and +0
 * both 0); gt_e4m3_out the code of x (src/base/fp8.h: nearest even, SATFINITE) after moving x
 * outward by 2^-22 relative in direction dir (-1, 0, +1), so that binary32's own rounding of x
 * cannot pull an end back across a code boundary; gt_e4m3_within: whether code c lies between
 * the codes of the two ends, and in *spread how many codes apart those are. */
static inline int gt_e4m3_rank(uint8_t c) { return (c & 0x80) ? -(int)(c & 0x7f) : (int)c; }
static inline uint8_t gt_e4m3_out(double x, int dir) {
    return lb_f32_to_e4m3((float)(x + dir * fabs(x) * 0x1p-22));
}
static inline int gt_e4m3_within(uint8_t c, double lo, double hi, int *spread) {
    const int rlo = gt_e4m3_rank(gt_e4m3_out(lo, -1)), rhi = gt_e4m3_rank(gt_e4m3_out(hi, 1)), r = gt_e4m3_rank(c);
    *spread = rhi - rlo;
    return rlo <= r && r <= rhi;
}

#endif
