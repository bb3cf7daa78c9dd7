/* test_race.cu — the emulator's race checker (tests/cuda_emu/emu_race.cpp, LABSE_EMU_RACECHECK=1)
 * on planted races and on clean code. EMU ONLY (on a GPU, compute-sanitizer's racecheck does
 * this job: tools/gpu_suite.sh); skips (77) elsewhere.
 *
 * Every case runs in a child process (this program re-executed with --child CASE and
 * LABSE_EMU_RACECHECK=1, so the checker is on whatever the parent's environment says, and the
 * schedule is the parent's LABSE_EMU_SCHEDULE). A planted race must abort the child with a
 * message that names the kernel, the hazard and the exact shared offset or global offset; the
 * planted races are placed so that the reported byte is the same under every schedule (one
 * conflicting pair per kernel). Clean kernels (barriers, __syncwarp, shuffles, atomics on shared
 * and global memory, wmma tiles of two warps) must run to the end with correct results. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern "C" {
#include <cmocka.h>
}
#include "gpu_test_util.h"

#ifdef __CUDACC__
#include <mma.h>
#endif
using namespace nvcuda;

/* ---- planted races ---- */

/* A missing __syncthreads: thread 0 writes row[5], thread 40 (another warp) reads it in the
 * same barrier interval. Conflicting byte: dynamic shared offset 20, whatever the order. */
static __global__ void k_plant_syncthreads(float *out) {
    LB_DYN_SMEM(float, row);
    const int t = threadIdx.x;
    if (t == 0) row[5] = 1.0f;
    /* __syncthreads() belongs here */
    if (t == 40) out[0] = row[5];
}

/* A missing __syncwarp: lane 3 writes buf[7], lane 9 of the same warp reads it with no
 * __syncwarp between (a __shfl is no memory fence). Conflicting byte: buf + 28. */
static __global__ void k_plant_syncwarp(float *out) {
    __shared__ float buf[32];
    const int lane = threadIdx.x & 31;
    if (lane == 3) buf[7] = 2.0f;
    const float v = __shfl_sync(0xffffffffu, 1.0f, 0);
    /* __syncwarp() belongs here */
    if (lane == 9) out[1] = buf[7] + v;
}

/* Overlapping tiles (2 blocks): block b writes out[31 b .. 31 b + 31]; both write out[31],
 * global offset 124. */
static __global__ void k_plant_global(float *out) {
    out[31 * blockIdx.x + threadIdx.x] = (float)threadIdx.x;
}

/* Two warps store wmma tiles to the same shared tile in one barrier interval. Conflicting
 * bytes: the whole tile (first byte, offset 0, reported). */
static __global__ void k_plant_wmma(float *out) {
    __align__(32) __shared__ float tile[16 * 16];
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> c;
    wmma::fill_fragment(c, (float)(threadIdx.x / 32));
    wmma::store_matrix_sync(tile, c, 16, wmma::mem_row_major);
    __syncthreads();
    out[threadIdx.x] = tile[threadIdx.x];
}

/* ---- clean kernels: every pattern above, correctly synchronised ---- */

/* 64 threads, out[0..64): barriers, a warp's __syncwarp exchange, shuffles, atomics on shared
 * and global memory, per-warp wmma tiles read back by the lanes after __syncwarp. */
static __global__ void k_clean(const __half *h, float *out, int *counter) {
    LB_DYN_SMEM(float, row);
    __shared__ float buf[64];
    __shared__ int hits;
    __align__(32) __shared__ float tiles[2][16 * 16];
    const int t = threadIdx.x, lane = t & 31, w = t >> 5;
    if (t == 0) hits = 0;
    row[t] = (float)t;
    __syncthreads();
    float v = row[(t + 1) & 63]; /* another thread's write, after the barrier */
    buf[t] = v;
    __syncwarp();
    v += buf[(w << 5) | ((lane + 1) & 31)]; /* a lane of my warp, after __syncwarp */
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    atomicAdd(&hits, 1);
    atomicAdd(counter, 1);
    wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> a;
    wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::col_major> b;
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> c;
    wmma::load_matrix_sync(a, h, 16); /* both warps read the same global tile: fine */
    wmma::load_matrix_sync(b, h, 16);
    wmma::fill_fragment(c, 0.0f);
    wmma::mma_sync(c, a, b, c);
    wmma::store_matrix_sync(tiles[w], c, 16, wmma::mem_row_major); /* one tile per warp */
    __syncwarp();
    const float d = tiles[w][lane * 8]; /* my warp's tile, after __syncwarp */
    __syncthreads();
    out[blockIdx.x * 64 + t] = v + d + (float)hits;
}

/* ---- the cases ---- */

struct race_case {
    const char *name;
    void (*run)(void);
};

static float *g_out; /* 256 floats */

static void run_plant_syncthreads(void) { LB_LAUNCH(k_plant_syncthreads, 1, 64, 64 * sizeof(float), 0, g_out); }
static void run_plant_syncwarp(void) { LB_LAUNCH(k_plant_syncwarp, 1, 32, 0, 0, g_out); }
static void run_plant_global(void) { LB_LAUNCH(k_plant_global, 2, 32, 0, 0, g_out); }
static void run_plant_wmma(void) { LB_LAUNCH(k_plant_wmma, 1, 64, 0, 0, g_out); }

/* The clean kernel on 3 blocks; checks its results (exit 1 on a mismatch). */
static void run_clean(void) {
    lb_half hh[256];
    for (int i = 0; i < 256; i++) hh[i] = gt_h((float)((i % 7) - 3) * 0.25f);
    __half *h = (__half *)gt_upload(hh, sizeof hh);
    int zero = 0, *counter = (int *)gt_upload(&zero, sizeof zero);
    float *out = (float *)gt_dev_alloc(3 * 64 * sizeof(float));
    LB_LAUNCH(k_clean, 3, 64, 64 * sizeof(float), 0, h, out, counter);
    GT_CUDA(cudaGetLastError());
    float o[3 * 64];
    int cnt = 0;
    gt_download(o, out, sizeof o);
    gt_download(&cnt, counter, sizeof cnt);
    /* expected, in double: v = 32 * (row[t+1] + buf[lane+1 of warp]) summed over the warp */
    double tile[256];
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 16; j++) {
            double s = 0.0;
            for (int k = 0; k < 16; k++) s += (double)gt_f(hh[i * 16 + k]) * (double)gt_f(hh[j * 16 + k]);
            tile[i * 16 + j] = s;
        }
    int bad = cnt != 3 * 64;
    for (int b = 0; b < 3; b++)
        for (int t = 0; t < 64; t++) {
            const int w = t >> 5;
            double v = 0.0;
            for (int l = 0; l < 32; l++) {
                const int u = (w << 5) | l, nb = (w << 5) | ((l + 1) & 31);
                v += (double)((u + 1) & 63) + (double)((nb + 1) & 63);
            }
            const double want = v + tile[(t & 31) * 8] + 64.0;
            /* exact: small integers and sums of 16 products of multiples of 1/4 (fp32-exact) */
            if (o[b * 64 + t] != (float)want) bad = 1;
        }
    GT_CUDA(cudaFree(h));
    GT_CUDA(cudaFree(counter));
    GT_CUDA(cudaFree(out));
    if (bad) {
        fprintf(stderr, "k_clean: wrong results\n");
        exit(1);
    }
}

static const race_case g_cases[] = {
    {"plant_syncthreads", run_plant_syncthreads},
    {"plant_syncwarp", run_plant_syncwarp},
    {"plant_global", run_plant_global},
    {"plant_wmma", run_plant_wmma},
    {"clean", run_clean},
};

/* Run case `name` in a child with the checker on; returns its wait status and stderr. */
static int run_child(const char *name, char *err, size_t cap) {
    int fd = -1;
    pid_t pid = gt_fork_stderr(&fd);
    assert_true(pid >= 0);
    if (pid == 0) {
        setenv("LABSE_EMU_RACECHECK", "1", 1);
        execl("/proc/self/exe", "test_race", "--child", name, (char *)NULL);
        _exit(127);
    }
    return gt_wait_stderr(pid, fd, err, cap);
}

/* The child must abort and its message contain every string of `expect` (null-terminated). */
static void expect_race(const char *name, const char *const *expect) {
    char err[8192];
    int st = run_child(name, err, sizeof err);
    int ok = WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT;
    for (const char *const *e = expect; *e; e++) ok = ok && strstr(err, *e);
    if (!ok) fprintf(stderr, "case %s: status 0x%x, stderr:\n%s\n", name, st, err);
    assert_true(ok);
}

static void test_plant_syncthreads(void **state) {
    (void)state;
    const char *e[] = {"kernel 'k_plant_syncthreads'", "racecheck", "dynamic shared memory, offset 20",
                       "thread (0,0,0)", "thread (40,0,0)", "no __syncthreads", NULL};
    expect_race("plant_syncthreads", e);
}

static void test_plant_syncwarp(void **state) {
    (void)state;
    const char *e[] = {"kernel 'k_plant_syncwarp'", "racecheck", "k_plant_syncwarp(float*)::buf', offset 28",
                       "thread (3,0,0)", "thread (9,0,0)", "no __syncwarp", NULL};
    expect_race("plant_syncwarp", e);
}

static void test_plant_global(void **state) {
    (void)state;
    const char *e[] = {"kernel 'k_plant_global'", "write-after-write hazard on global memory", "offset 124",
                       "block (0,0,0) thread (31,0,0)", "block (1,0,0) thread (0,0,0)", NULL};
    expect_race("plant_global", e);
}

static void test_plant_wmma(void **state) {
    (void)state;
    const char *e[] = {"kernel 'k_plant_wmma'", "write-after-write", "k_plant_wmma(float*)::tile', offset 0",
                       "warp 0", "warp 1", NULL};
    expect_race("plant_wmma", e);
}

static void test_clean(void **state) {
    (void)state;
    char err[8192];
    int st = run_child("clean", err, sizeof err);
    if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) fprintf(stderr, "clean: status 0x%x, stderr:\n%s\n", st, err);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

int main(int argc, char **argv) {
    if (!gt_is_emu()) {
        printf("test_race: the emulator's race checker only (a GPU runs compute-sanitizer)\n");
        return 77;
    }
    g_out = (float *)gt_dev_alloc(256 * sizeof(float));
    if (argc == 3 && strcmp(argv[1], "--child") == 0) {
        for (const race_case &c : g_cases)
            if (strcmp(c.name, argv[2]) == 0) {
                c.run();
                GT_CUDA(cudaDeviceSynchronize());
                GT_CUDA(cudaFree(g_out));
                return 0; /* a planted race that ran to here was missed: the parent fails */
            }
        return 2;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plant_syncthreads), cmocka_unit_test(test_plant_syncwarp),
        cmocka_unit_test(test_plant_global),      cmocka_unit_test(test_plant_wmma),
        cmocka_unit_test(test_clean),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    GT_CUDA(cudaFree(g_out));
    return r;
}
