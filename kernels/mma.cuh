/* mma.cuh — the one place kernels reach warp-level tensor-core and async-copy PTX (device code
 * only, included by .cu files after cuda_compat.h). Under nvcc each wrapper is one inline PTX
 * instruction (sm_80 and later); in the emulation build each is the model in
 * tests/cuda_emu/emu_mma.h, which reproduces the per-lane register layouts below exactly and
 * performs cp.async copies only at the wait that covers them.
 *
 * lb_mma_16816(d, a, b, c)   mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32: D = A B + C,
 *   A 16x16 fp16, B 16x8 fp16, C, D 16x8 fp32; warp-collective (all 32 lanes, converged).
 *   g = lane >> 2, t = lane & 3; a register holds two fp16, the lower column (or row, for B)
 *   in its low 16 bits:
 *     a[0] = A[g][2t..+1]   a[1] = A[g+8][2t..+1]   a[2] = A[g][2t+8..+9]   a[3] = A[g+8][2t+8..+9]
 *     b[0] = B[2t..+1][g]   b[1] = B[2t+8..+9][g]
 *     d[0..1] = D[g][2t..+1]   d[2..3] = D[g+8][2t..+1]        (same for c; d may be c)
 *   Hence two adjacent accumulator tiles (columns 0-7 and 8-15) rounded to fp16 are the A
 *   fragment of a 16x16 operand: {pack(c0[0],c0[1]), pack(c0[2],c0[3]), pack(c1[0],c1[1]),
 *   pack(c1[2],c1[3])} — the register trick that keeps P in registers for P V.
 *
 * lb_ldmatrix_x4(r, p) / lb_ldmatrix_x4_trans(r, p)   ldmatrix.sync.aligned.m8n8.x4[.trans]
 *   .shared.b16: lanes 8i..8i+7 pass the addresses of rows 0..7 of 8x8 matrix i (16 bytes each,
 *   16-byte aligned, shared memory); r[i] = (M_i[g][2t], M_i[g][2t+1]), or with .trans
 *   (M_i[2t][g], M_i[2t+1][g]). Warp-collective.
 *
 * lb_cp_async_16(dst, src, src_bytes)   cp.async.cg.shared.global: copy 16 bytes global -> shared,
 *   the first src_bytes (0 or 16 here; 0 = zero-fill, src not read) from src, zeros after;
 *   dst and src 16-byte aligned. Per thread, asynchronous.
 * lb_cp_async_commit()   cp.async.commit_group: close the group of this thread's copies issued
 *   since the last commit.
 * lb_cp_async_wait<N>()  cp.async.wait_group N: block until at most the N most recent committed
 *   groups are pending. Only this thread's copies: other lanes read them after a __syncwarp (or
 *   __syncthreads) that follows every lane's wait.
 *
 * lb_pack_half2(lo, hi)  two floats rounded to fp16 (round to nearest even) in one register. */
#ifndef LB_MMA_CUH
#define LB_MMA_CUH

#include <stdint.h>

#ifdef __CUDACC__

static __device__ __forceinline__ uint32_t lb_smem_addr(const void *p) {
    return (uint32_t)__cvta_generic_to_shared(p);
}

static __device__ __forceinline__ void lb_mma_16816(float d[4], const uint32_t a[4], const uint32_t b[2],
                                                    const float c[4]) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%10,%11,%12,%13};\n"
        : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(c[0]), "f"(c[1]),
          "f"(c[2]), "f"(c[3]));
}

static __device__ __forceinline__ void lb_ldmatrix_x4(uint32_t r[4], const void *p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(lb_smem_addr(p))
                 : "memory");
}

static __device__ __forceinline__ void lb_ldmatrix_x4_trans(uint32_t r[4], const void *p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(lb_smem_addr(p))
                 : "memory");
}

static __device__ __forceinline__ void lb_cp_async_16(void *dst, const void *src, int src_bytes) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n"
                 :
                 : "r"(lb_smem_addr(dst)), "l"(src), "r"(src_bytes)
                 : "memory");
}

static __device__ __forceinline__ void lb_cp_async_commit(void) {
    asm volatile("cp.async.commit_group;\n" ::: "memory");
}

template <int N> static __device__ __forceinline__ void lb_cp_async_wait(void) {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

static __device__ __forceinline__ uint32_t lb_pack_half2(float lo, float hi) {
    const __half2 h = __floats2half2_rn(lo, hi); /* .x (low 16 bits) = lo */
    return *reinterpret_cast<const uint32_t *>(&h);
}

#else /* the emulator (tests/cuda_emu/emu_mma.h) */

static inline void lb_mma_16816(float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4]) {
    lb_emu_mma_16816(d, a, b, c);
}
static inline void lb_ldmatrix_x4(uint32_t r[4], const void *p) { lb_emu_ldmatrix(r, 4, 0, p); }
static inline void lb_ldmatrix_x4_trans(uint32_t r[4], const void *p) { lb_emu_ldmatrix(r, 4, 1, p); }
static inline void lb_cp_async_16(void *dst, const void *src, int src_bytes) {
    lb_emu_cp_async(dst, src, src_bytes);
}
static inline void lb_cp_async_commit(void) { lb_emu_cp_commit(); }
template <int N> static inline void lb_cp_async_wait(void) { lb_emu_cp_wait(N); }
static inline uint32_t lb_pack_half2(float lo, float hi) {
    return (uint32_t)lb_emu::f2h(lo) | ((uint32_t)lb_emu::f2h(hi) << 16);
}

#endif

#endif
