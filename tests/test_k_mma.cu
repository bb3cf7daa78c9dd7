/* test_k_mma.cu — the warp-level PTX wrappers of kernels/mma.cuh (mma.sync m16n8k16, ldmatrix
 * x4 [.trans], cp.async with commit/wait groups) against scalar references. The same file is
 * compiled over the emulator (label emu: checks the emulator's model, tests/cuda_emu/emu_mma.h)
 * and by nvcc (label gpu: checks the wrappers and the model's layouts against the hardware).
 *
 * The fragments are built in the kernels from the PTX ISA's per-lane layouts (written out
 * below, independently of the emulator's code), so a wrong layout in either the model or the
 * kernels' use gives a wrong product. test_mma_wrong_mapping shows it: the same kernel with
 * two A registers swapped (a lane mapping that a row-major-by-register reading suggests) must
 * NOT match — on the emulator as on a GPU.
 *
 * Tolerance of the mma checks, per element: |d - ref| <= 2^-19 * (|c| + sum_k |a_k b_k|),
 * ref in double. fp16 products are exact in fp32; the 16 additions of an fp32 sum err by at
 * most 16 u = 2^-20 of the sum of magnitudes (u = 2^-24); tensor cores may truncate instead of
 * round (2u per addition): 2^-19. A wrong mapping moves elements by O(1) of the inputs (~0.1-1
 * at these magnitudes), far above 2^-19 * O(10). ldmatrix and cp.async checks are exact. */
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
#include "mma.cuh"

static gt_rng g_rng = {0x5eedaa55ull};

/* ---- kernels (one warp each) ---- */

static __device__ uint32_t pk(__half lo, __half hi) {
    return (uint32_t)__half_as_ushort(lo) | ((uint32_t)__half_as_ushort(hi) << 16);
}

/* D[16][8] = A[16][16] B[16][8] + C[16][8] (row-major, fp16 A/B, fp32 C/D) through
 * lb_mma_16816 with fragments gathered from global memory by the PTX layout; wrong != 0 swaps
 * a[1] and a[2]. */
static __global__ void k_mma(const __half *A, const __half *B, const float *Cm, float *Dm, int wrong) {
    const int lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
    uint32_t a[4], b[2];
    float c[4], d[4];
    a[0] = pk(A[g * 16 + 2 * t], A[g * 16 + 2 * t + 1]);
    a[1] = pk(A[(g + 8) * 16 + 2 * t], A[(g + 8) * 16 + 2 * t + 1]);
    a[2] = pk(A[g * 16 + 2 * t + 8], A[g * 16 + 2 * t + 9]);
    a[3] = pk(A[(g + 8) * 16 + 2 * t + 8], A[(g + 8) * 16 + 2 * t + 9]);
    if (wrong) {
        const uint32_t x = a[1];
        a[1] = a[2];
        a[2] = x;
    }
    b[0] = pk(B[(2 * t) * 8 + g], B[(2 * t + 1) * 8 + g]);
    b[1] = pk(B[(2 * t + 8) * 8 + g], B[(2 * t + 9) * 8 + g]);
    c[0] = Cm[g * 8 + 2 * t];
    c[1] = Cm[g * 8 + 2 * t + 1];
    c[2] = Cm[(g + 8) * 8 + 2 * t];
    c[3] = Cm[(g + 8) * 8 + 2 * t + 1];
    lb_mma_16816(d, a, b, c);
    Dm[g * 8 + 2 * t] = d[0];
    Dm[g * 8 + 2 * t + 1] = d[1];
    Dm[(g + 8) * 8 + 2 * t] = d[2];
    Dm[(g + 8) * 8 + 2 * t + 1] = d[3];
}

/* The attention kernel's path: A [16][16] and V [16][8*2] (row-major [k][n]) staged in shared
 * memory, A by ldmatrix.x4, V by ldmatrix.x4.trans (two n-tiles), D = A V ([16][16]); also the
 * raw registers of both loads: regs[lane * 8 + 0..3] (A), + 4..7 (V). */
static __global__ void k_ldmatrix(const __half *A, const __half *V, float *Dm, uint32_t *regs) {
    __align__(16) __shared__ __half sa[16 * 24], sv[16 * 24]; /* pitch 24 halves (48 bytes) */
    const int lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3, mi = lane >> 3, mr = lane & 7;
    for (int i = lane; i < 256; i += 32) {
        sa[(i / 16) * 24 + i % 16] = A[i];
        sv[(i / 16) * 24 + i % 16] = V[i];
    }
    __syncwarp();
    uint32_t a[4], v[4];
    lb_ldmatrix_x4(a, sa + ((mi & 1) * 8 + mr) * 24 + (mi >> 1) * 8);
    lb_ldmatrix_x4_trans(v, sv + ((mi & 1) * 8 + mr) * 24 + (mi >> 1) * 8);
    for (int i = 0; i < 4; i++) {
        regs[lane * 8 + i] = a[i];
        regs[lane * 8 + 4 + i] = v[i];
    }
    const float z[4] = {0.f, 0.f, 0.f, 0.f};
    float d0[4], d1[4];
    lb_mma_16816(d0, a, v, z);
    lb_mma_16816(d1, a, v + 2, z);
    Dm[g * 16 + 2 * t] = d0[0];
    Dm[g * 16 + 2 * t + 1] = d0[1];
    Dm[(g + 8) * 16 + 2 * t] = d0[2];
    Dm[(g + 8) * 16 + 2 * t + 1] = d0[3];
    Dm[g * 16 + 8 + 2 * t] = d1[0];
    Dm[g * 16 + 8 + 2 * t + 1] = d1[1];
    Dm[(g + 8) * 16 + 8 + 2 * t] = d1[2];
    Dm[(g + 8) * 16 + 8 + 2 * t + 1] = d1[3];
}

/* cp.async in two groups: group 0 copies s0[lane] -> buf0[lane], group 1 s1[lane] -> buf1[lane]
 * with src_size 16 on even lanes, 0 (zero-fill) on odd ones. out[lane * 4 + k], k:
 *   0: buf0[lane] before any wait   1: buf0[lane] after wait_group 1
 *   2: buf1[lane] after wait_group 1 3: buf1[(lane + 1) % 32] after wait_group 0 + __syncwarp
 * Shared memory starts as the sentinel 0x5a5a5a5a in every word. */
static __global__ void k_cp_async(const uint4 *s0, const uint4 *s1, uint4 *out) {
    __align__(16) __shared__ uint4 buf0[32], buf1[32];
    const int lane = threadIdx.x & 31;
    const unsigned S = 0x5a5a5a5au;
    buf0[lane] = make_uint4(S, S, S, S);
    buf1[lane] = make_uint4(S, S, S, S);
    __syncwarp();
    lb_cp_async_16(&buf0[lane], &s0[lane], 16);
    lb_cp_async_commit();
    lb_cp_async_16(&buf1[lane], &s1[lane], (lane & 1) ? 0 : 16);
    lb_cp_async_commit();
    out[lane * 4 + 0] = buf0[lane];
    lb_cp_async_wait<1>();
    out[lane * 4 + 1] = buf0[lane];
    out[lane * 4 + 2] = buf1[lane];
    lb_cp_async_wait<0>();
    __syncwarp();
    out[lane * 4 + 3] = buf1[(lane + 1) & 31];
}

/* ---- helpers ---- */

static void fill_half(lb_half *h, float *f, int n, float scale) {
    for (int i = 0; i < n; i++) {
        h[i] = gt_h(scale * gt_normal(&g_rng));
        f[i] = gt_f(h[i]);
    }
}

/* Run k_mma; returns the largest error / bound ratio over the 128 outputs. */
static double run_mma(int wrong) {
    lb_half hA[256], hB[128];
    float fA[256], fB[128], C[128], D[128];
    fill_half(hA, fA, 256, 1.0f);
    fill_half(hB, fB, 128, 1.0f);
    for (int i = 0; i < 128; i++) C[i] = gt_normal(&g_rng);
    void *dA = gt_upload(hA, sizeof hA), *dB = gt_upload(hB, sizeof hB), *dC = gt_upload(C, sizeof C);
    float *dD = (float *)gt_dev_alloc(sizeof D);
    GT_CUDA(cudaMemset(dD, 0xFF, sizeof D));
    LB_LAUNCH(k_mma, dim3(1), dim3(32), 0, 0, (const __half *)dA, (const __half *)dB, (const float *)dC, dD,
              wrong);
    GT_CUDA(cudaGetLastError());
    GT_CUDA(cudaDeviceSynchronize());
    gt_download(D, dD, sizeof D);
    double worst = 0;
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 8; j++) {
            double ref = C[i * 8 + j], mag = fabs((double)C[i * 8 + j]);
            for (int k = 0; k < 16; k++) {
                ref += (double)fA[i * 16 + k] * fB[k * 8 + j];
                mag += fabs((double)fA[i * 16 + k] * fB[k * 8 + j]);
            }
            const double r = fabs(D[i * 8 + j] - ref) / (ldexp(1.0, -19) * mag);
            if (!(r <= worst)) worst = r; /* NaN: stays the worst */
        }
    GT_CUDA(cudaFree(dA));
    GT_CUDA(cudaFree(dB));
    GT_CUDA(cudaFree(dC));
    GT_CUDA(cudaFree(dD));
    return worst;
}

/* ---- tests ---- */

static void test_mma_layout(void **state) {
    (void)state;
    for (int rep = 0; rep < 4; rep++) {
        const double r = run_mma(0);
        printf("  mma m16n8k16, PTX layout: max error / bound %.3f\n", r);
        assert_true(r <= 1.0);
    }
}

/* A kernel that assumes the wrong lane mapping gets a wrong product (the model is not
 * mapping-blind, unlike the emulator's wmma). */
static void test_mma_wrong_mapping(void **state) {
    (void)state;
    const double r = run_mma(1);
    printf("  mma m16n8k16, a[1] <-> a[2] swapped: max error / bound %.3g (must be > 1)\n", r);
    assert_true(r > 1.0);
}

static void test_ldmatrix(void **state) {
    (void)state;
    lb_half hA[256], hV[256];
    float fA[256], fV[256], D[256];
    uint32_t regs[256];
    fill_half(hA, fA, 256, 1.0f);
    fill_half(hV, fV, 256, 1.0f);
    void *dA = gt_upload(hA, sizeof hA), *dV = gt_upload(hV, sizeof hV);
    float *dD = (float *)gt_dev_alloc(sizeof D);
    uint32_t *dR = (uint32_t *)gt_dev_alloc(sizeof regs);
    LB_LAUNCH(k_ldmatrix, dim3(1), dim3(32), 0, 0, (const __half *)dA, (const __half *)dV, dD, dR);
    GT_CUDA(cudaGetLastError());
    GT_CUDA(cudaDeviceSynchronize());
    gt_download(D, dD, sizeof D);
    gt_download(regs, dR, sizeof regs);
    /* registers, exact: x4 matrices m0 rows 0-7 cols 0-7, m1 rows 8-15, m2 cols 8-15, m3 both */
    for (int l = 0; l < 32; l++) {
        const int g = l >> 2, t = l & 3;
        for (int i = 0; i < 4; i++) {
            const int r0 = (i & 1) * 8, c0 = (i >> 1) * 8;
            const uint32_t ea = hA[(r0 + g) * 16 + c0 + 2 * t] | (uint32_t)hA[(r0 + g) * 16 + c0 + 2 * t + 1] << 16;
            const uint32_t ev = hV[(r0 + 2 * t) * 16 + c0 + g] | (uint32_t)hV[(r0 + 2 * t + 1) * 16 + c0 + g] << 16;
            if (regs[l * 8 + i] != ea) fail_msg("ldmatrix.x4 lane %d reg %d: %08x != %08x", l, i, regs[l * 8 + i], ea);
            if (regs[l * 8 + 4 + i] != ev)
                fail_msg("ldmatrix.x4.trans lane %d reg %d: %08x != %08x", l, i, regs[l * 8 + 4 + i], ev);
        }
    }
    /* the product the attention kernel forms from them (tolerance: file comment, C = 0) */
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 16; j++) {
            double ref = 0, mag = 0;
            for (int k = 0; k < 16; k++) {
                ref += (double)fA[i * 16 + k] * fV[k * 16 + j];
                mag += fabs((double)fA[i * 16 + k] * fV[k * 16 + j]);
            }
            if (!(fabs(D[i * 16 + j] - ref) <= ldexp(1.0, -19) * mag))
                fail_msg("ldmatrix + mma: D[%d][%d] = %g, reference %g", i, j, D[i * 16 + j], ref);
        }
    GT_CUDA(cudaFree(dA));
    GT_CUDA(cudaFree(dV));
    GT_CUDA(cudaFree(dD));
    GT_CUDA(cudaFree(dR));
}

static int u4eq(uint4 a, uint4 b) { return a.x == b.x && a.y == b.y && a.z == b.z && a.w == b.w; }

static void test_cp_async(void **state) {
    (void)state;
    uint4 s0[32], s1[32], out[128];
    for (int i = 0; i < 32; i++) {
        s0[i] = make_uint4((unsigned)gt_next(&g_rng), (unsigned)gt_next(&g_rng), 1000u + i, 7u);
        s1[i] = make_uint4((unsigned)gt_next(&g_rng), 2000u + i, (unsigned)gt_next(&g_rng), 9u);
    }
    void *d0 = gt_upload(s0, sizeof s0), *d1 = gt_upload(s1, sizeof s1);
    uint4 *dout = (uint4 *)gt_dev_alloc(sizeof out);
    LB_LAUNCH(k_cp_async, dim3(1), dim3(32), 0, 0, (const uint4 *)d0, (const uint4 *)d1, dout);
    GT_CUDA(cudaGetLastError());
    GT_CUDA(cudaDeviceSynchronize());
    gt_download(out, dout, sizeof out);
    const unsigned S = 0x5a5a5a5au;
    const uint4 sent = make_uint4(S, S, S, S), zero = make_uint4(0, 0, 0, 0);
    for (int l = 0; l < 32; l++) {
        const int n = (l + 1) & 31;
        assert_true(u4eq(out[l * 4 + 1], s0[l]));                        /* group 0 waited for */
        assert_true(u4eq(out[l * 4 + 3], (n & 1) ? zero : s1[n]));       /* another lane's, zero-fill */
        if (gt_is_emu()) { /* EMU ONLY: on a GPU these reads race with the copies */
            assert_true(u4eq(out[l * 4 + 0], sent)); /* issued, not waited for: old bytes */
            assert_true(u4eq(out[l * 4 + 2], sent)); /* group 1 still pending after wait_group 1 */
        }
    }
    GT_CUDA(cudaFree(d0));
    GT_CUDA(cudaFree(d1));
    GT_CUDA(cudaFree(dout));
}

int main(void) {
    gt_require_device();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mma_layout),
        cmocka_unit_test(test_mma_wrong_mapping),
        cmocka_unit_test(test_ldmatrix),
        cmocka_unit_test(test_cp_async),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
