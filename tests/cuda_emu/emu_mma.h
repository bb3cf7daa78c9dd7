/* emu_mma.h — the emulator's models of three warp-level PTX operations that kernels/mma.cuh
 * wraps (included by cuda_emu_device.h; C++ only). The functions are LB_EMU_UNCHECKED (their
 * bookkeeping is the emulator's, not the kernel's); the shared-memory accesses the instructions
 * make are told to the race checker explicitly (lb_emu_race_access), as the thread's own:
 * ldmatrix, each lane's read of its 16-byte row; cp.async, a write of the 16 destination bytes
 * at issue and again at the wait that performs it (on the GPU it lands in between).
 *
 * mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32   (lb_emu_mma_16816)
 *   A warp-collective op over the 32 lanes with the PTX ISA's per-lane fragment layout
 *   ("Matrix Fragments for mma.m16n8k16 with floating point type"), g = lane >> 2,
 *   t = lane & 3, each 32-bit register two fp16 values, the lower column in the low half:
 *     A 16x16 (4 regs):  a[0] = A[g][2t..2t+1]     a[1] = A[g+8][2t..2t+1]
 *                        a[2] = A[g][2t+8..2t+9]   a[3] = A[g+8][2t+8..2t+9]
 *     B 16x8  (2 regs):  b[0] = B[2t..2t+1][g]     b[1] = B[2t+8..2t+9][g]
 *     C/D 16x8 (4 f32):  c[0..1] = C[g][2t..2t+1] c[2..3] = C[g+8][2t..2t+1]
 *   The last lane to arrive gathers the 32 lanes' registers into the three matrices, computes
 *   D = A B + C (fp16 products exact in fp32, fp32 sums in k order from C) and scatters D back
 *   by the same layout. A kernel that assumes another lane mapping computes another product
 *   here, as it would on the GPU.
 *
 * ldmatrix.sync.aligned.m8n8.x{1,2,4}[.trans].shared.b16   (lb_emu_ldmatrix)
 *   Lanes 8i..8i+7 give the row addresses (16 bytes each, 16-byte aligned) of matrix i; lane l
 *   receives in register i the pair (M_i[l/4][2(l%4)], M_i[l/4][2(l%4)+1]), or with .trans
 *   (M_i[2(l%4)][l/4], M_i[2(l%4)+1][l/4]). Each lane reads its own row before the exchange
 *   (so a row another lane has not yet made visible reads stale, as it may on the GPU).
 *
 * cp.async.cg.shared.global [dst], [src], 16, src_size; commit_group; wait_group N
 *   (lb_emu_cp_async, lb_emu_cp_commit, lb_emu_cp_wait)
 *   Issue only records the copy; a copy happens when its thread waits for its group: at
 *   wait_group N every copy of the groups older than the N most recent committed ones is done
 *   (src_size bytes copied, the rest of the 16 zero-filled), in issue order, by the waiting
 *   thread. So shared memory read before the right wait holds the old bytes (a missing or too
 *   loose wait, a missing commit, or reading another lane's copy without a __syncwarp after
 *   its wait all give wrong data), and a buffer overwritten while its copy is pending gets the
 *   copy. Copies of an uncommitted group are never waited for (as in PTX). Aborts: a pointer
 *   not 16-byte aligned, src_size outside 0..16, more than LB_EMU_CP_MAX copies pending in one
 *   thread, and a thread of a new block (another blockIdx) finding the previous block's thread
 *   left copies pending (a kernel must wait_group 0 before it exits; a later launch with the
 *   same blockIdx on the same OS thread is not told apart).
 * Tests: tests/test_k_mma.cu (layouts and wait semantics against scalar references; on a GPU
 * against the hardware), tests/test_emu.cu test_misuse_aborts (the aborts).
 */
#ifndef LB_EMU_MMA_H
#define LB_EMU_MMA_H

#include <stdint.h>
#include <string.h>

#include <vector>

#define LB_EMU_CP_MAX 64 /* copies pending per thread */

/* Warp-collective op codes of their own (past lb_emu_wop's), so lanes of a warp that meet at
 * different collectives (an mma here, an ldmatrix or a wmma there) abort as divergent. */
enum { LB_EMU_MMA_SYNC = 16, LB_EMU_LDMATRIX = 17 };

namespace lb_emu {

static inline float mma_lo(uint32_t r) { return h2f((uint16_t)(r & 0xffffu)); }
static inline float mma_hi(uint32_t r) { return h2f((uint16_t)(r >> 16)); }

/* ---- mma.sync m16n8k16 ---- */
struct mma_lane {
    const uint32_t *a; /* [4] */
    const uint32_t *b; /* [2] */
    const float *c;    /* [4] */
    float *d;          /* [4], may be c */
};
LB_EMU_UNCHECKED static inline void mma_16816_do(void *const *args) {
    float A[16][16], B[16][8], C[16][8];
    for (int l = 0; l < 32; l++) {
        const mma_lane *x = (const mma_lane *)args[l];
        const int g = l >> 2, t = l & 3;
        for (int h = 0; h < 2; h++) { /* h: the register's low / high half */
            const int c = 2 * t + h;
            A[g][c] = h ? mma_hi(x->a[0]) : mma_lo(x->a[0]);
            A[g + 8][c] = h ? mma_hi(x->a[1]) : mma_lo(x->a[1]);
            A[g][c + 8] = h ? mma_hi(x->a[2]) : mma_lo(x->a[2]);
            A[g + 8][c + 8] = h ? mma_hi(x->a[3]) : mma_lo(x->a[3]);
            B[c][g] = h ? mma_hi(x->b[0]) : mma_lo(x->b[0]);
            B[c + 8][g] = h ? mma_hi(x->b[1]) : mma_lo(x->b[1]);
            C[g][c] = x->c[h];
            C[g + 8][c] = x->c[2 + h];
        }
    }
    for (int i = 0; i < 16; i++) /* each sum in k order from C; the products are exact in fp32 */
        for (int j = 0; j < 8; j++) {
            float s = C[i][j];
            for (int k = 0; k < 16; k++) s += A[i][k] * B[k][j];
            C[i][j] = s;
        }
    for (int l = 0; l < 32; l++) {
        float *d = ((const mma_lane *)args[l])->d;
        const int g = l >> 2, t = l & 3;
        d[0] = C[g][2 * t];
        d[1] = C[g][2 * t + 1];
        d[2] = C[g + 8][2 * t];
        d[3] = C[g + 8][2 * t + 1];
    }
}

/* ---- ldmatrix m8n8 .b16 ---- */
struct ldm_lane {
    uint16_t row[8]; /* the row this lane addressed (read by the lane itself) */
    uint32_t *r;     /* [num] destination registers */
    int num, trans;
};
LB_EMU_UNCHECKED static inline void ldmatrix_do(void *const *args) {
    const ldm_lane *x0 = (const ldm_lane *)args[0];
    for (int l = 1; l < 32; l++) {
        const ldm_lane *x = (const ldm_lane *)args[l];
        if (x->num != x0->num || x->trans != x0->trans)
            lb_emu_device_abort("ldmatrix: lanes disagree on .num / .trans");
    }
    for (int l = 0; l < 32; l++) {
        const ldm_lane *x = (const ldm_lane *)args[l];
        const int g = l >> 2, t = l & 3;
        for (int i = 0; i < x0->num; i++) {
            const ldm_lane *const *rows = (const ldm_lane *const *)(args + 8 * i); /* matrix i */
            uint16_t lo, hi;
            if (x0->trans) {
                lo = rows[2 * t]->row[g];
                hi = rows[2 * t + 1]->row[g];
            } else {
                lo = rows[g]->row[2 * t];
                hi = rows[g]->row[2 * t + 1];
            }
            x->r[i] = (uint32_t)lo | ((uint32_t)hi << 16);
        }
    }
}

/* ---- cp.async ---- */
struct cp_copy {
    void *dst;
    const void *src;
    unsigned src_bytes;
    unsigned group; /* the commit count when issued: committed by the next commit */
};
struct cp_thread {
    uint3 block;        /* blockIdx of the block that left these copies */
    unsigned committed; /* groups committed so far (numbering of this thread's groups) */
    unsigned n;         /* copies pending */
    cp_copy q[LB_EMU_CP_MAX];
};
/* Per OS thread (the fibers of one block run there), one slot per thread of the block. */
inline thread_local std::vector<cp_thread> cp_state;

LB_EMU_UNCHECKED static inline cp_thread *cp_self(const char *what) {
    const unsigned nthreads = blockDim.x * blockDim.y * blockDim.z;
    const unsigned tid = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
    if (cp_state.size() < nthreads) cp_state.resize(nthreads, cp_thread{});
    cp_thread *s = &cp_state[tid];
    if (s->block.x != blockIdx.x || s->block.y != blockIdx.y || s->block.z != blockIdx.z) {
        if (s->n)
            lb_emu_device_abort("%s: thread %u of block (%u,%u,%u) exited with %u cp.async copies "
                                "never waited for (wait_group 0 before exit)",
                                what, tid, s->block.x, s->block.y, s->block.z, s->n);
        s->block = blockIdx;
        s->committed = 0;
    }
    return s;
}

} // namespace lb_emu

/* d = A B + C on one m16n8k16 tile, fragments as above; warp-collective (full mask). */
LB_EMU_UNCHECKED static inline void lb_emu_mma_16816(float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4]) {
    lb_emu::mma_lane x{a, b, c, d};
    lb_emu_warp_sync_do(0xffffffffu, LB_EMU_MMA_SYNC, "mma.sync.m16n8k16", lb_emu::mma_16816_do, &x);
}

/* r[0..num) = num 8x8 b16 matrices; p: this lane's row address; num 1, 2 or 4. */
LB_EMU_UNCHECKED static inline void lb_emu_ldmatrix(uint32_t *r, int num, int trans, const void *p) {
    if (num != 1 && num != 2 && num != 4) lb_emu_device_abort("ldmatrix: .x%d", num);
    lb_emu::ldm_lane x;
    memset(&x, 0, sizeof x);
    x.r = r;
    x.num = num;
    x.trans = trans;
    if (lb_emu::lane_id() < 8u * (unsigned)num) { /* other lanes' addresses are not used */
        if ((uintptr_t)p & 15u) lb_emu_device_abort("ldmatrix: row address %p is not 16-byte aligned", p);
        memcpy(x.row, p, 16);
        lb_emu_race_access(p, 16, 0); /* this lane's read of its row */
    }
    lb_emu_warp_sync_do(0xffffffffu, LB_EMU_LDMATRIX, "ldmatrix", lb_emu::ldmatrix_do, &x);
}

/* Record a 16-byte copy src -> dst (src_bytes of src, zeros after), done at its wait. */
LB_EMU_UNCHECKED static inline void lb_emu_cp_async(void *dst, const void *src, int src_bytes) {
    lb_emu::cp_thread *s = lb_emu::cp_self("cp.async");
    if (((uintptr_t)dst | (uintptr_t)src) & 15u)
        lb_emu_device_abort("cp.async: dst %p / src %p not 16-byte aligned", dst, src);
    if (src_bytes < 0 || src_bytes > 16) lb_emu_device_abort("cp.async: src_size %d not in 0..16", src_bytes);
    if (s->n == LB_EMU_CP_MAX) lb_emu_device_abort("cp.async: more than %d copies pending in one thread", LB_EMU_CP_MAX);
    s->q[s->n++] = lb_emu::cp_copy{dst, src, (unsigned)src_bytes, s->committed};
    lb_emu_race_access(dst, 16, 1); /* the write may land any time from here to its wait */
}

LB_EMU_UNCHECKED static inline void lb_emu_cp_commit(void) { lb_emu::cp_self("cp.async.commit_group")->committed++; }

/* Complete (perform) every copy of the groups older than the n most recently committed. */
LB_EMU_UNCHECKED static inline void lb_emu_cp_wait(int n) {
    lb_emu::cp_thread *s = lb_emu::cp_self("cp.async.wait_group");
    const unsigned keep = (unsigned)n, done_below = s->committed > keep ? s->committed - keep : 0u;
    unsigned w = 0;
    for (unsigned i = 0; i < s->n; i++) {
        const lb_emu::cp_copy c = s->q[i];
        if (c.group < done_below) {
            unsigned char *d = (unsigned char *)c.dst;
            memcpy(d, c.src, c.src_bytes);
            memset(d + c.src_bytes, 0, 16 - c.src_bytes);
            lb_emu_race_access(d, 16, 1);
        } else {
            s->q[w++] = c;
        }
    }
    s->n = w;
}

#endif
