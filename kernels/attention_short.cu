/* attention_short.cu — variable-length multi-head self-attention for batches of short
 * sequences: one warp per (sequence, head), S and P in registers (mma.sync m16n8k16), K/V
 * prefetched with cp.async into a double buffer. Same maths as attention.cu (the tiled kernel)
 * and as attention() in src/cpu/cpu_forward.c:
 *     ctx[i, h*d ...] = sum_j softmax_j(q_i . k_j / sqrt(d)) v_j     (i, j in one sequence)
 * scores scaled by log2(e)/sqrt(d) in fp32, online softmax in fp32 (exp2f, running max), P
 * rounded to fp16 for P V, fp32 accumulation, O / l rounded to fp16.
 *
 * Why a second kernel, and the cut-off (LB_ATTN_SHORT_MAX_LEN = 64). The tiled kernel gives
 * every (sequence, head) a block of 4 warps over a 64-row query tile: for the 14-30 token
 * sentences of a bitext batch half or more of its warps have no rows, and each of its key
 * tiles goes through shared memory three times (S, P, O round trips around wmma). Here a warp
 * walks one (sequence, head) in steps of 16 queries x 16 keys: for L tokens, nt = ceil(L/16)
 * query tiles x nt key chunks = nt^2 steps, each 8 + 8 tensor-core mma (d = 64) and no shared
 * memory traffic besides the K/V chunk loads. Its waste is the padding of L to a multiple of 16
 * (the tiled kernel's is the padding to 64). Its costs grow as nt^2: the steps of one warp are
 * serial and K/V are read from L2 once per query tile (nt times). At L = 64 the tiled kernel's
 * 4 warps are all busy, so past 64 the short kernel has nothing left to win while its serial
 * chain (16 steps at 64, 64 at 128) and its L2 re-reads (4x at 64, 8x at 128) keep growing:
 * 64 is the cut-off of the automatic choice. The kernel itself is correct for any length
 * (tests run it to 600), so a too-low max_len bound only costs time.
 *
 * Work split. Grid (n sequences, ceil(heads / NW)), NW warps per block; warp w of block (s, y)
 * takes head y*NW + w of sequence s; warps are independent (no block barrier): a warp with no
 * head or a sequence of length 0 returns at once. Steps st = qt * nt + kc (query tile qt, key
 * chunk kc) run in order; per step:
 *   - the warp's lanes issue the copies of step st+1 (Q tile of qt+1 if kc+1 == nt, then
 *     K chunk, commit; V chunk, commit) into the other half of the double buffer;
 *   - wait_group 3 (K of st has landed; V of st, K and V of st+1 may be in flight), __syncwarp;
 *     at kc == 0 the Q tile goes to registers (ldmatrix, A fragments) and O, m, l are reset;
 *   - S = Q K^T: K as B fragments by ldmatrix (K rows are B's columns: .col), 2 n-tiles of 8
 *     keys, D/16 k-steps;
 *   - online softmax on the accumulators: lane (g, t) holds rows g and g+8, keys 2t, 2t+1 of
 *     each n-tile; keys past the end -> -inf; row max over the quad (shfl_xor 1, 2); O and the
 *     lane's partial row sum l rescaled by exp2(m_old - m_new);
 *   - P: the two accumulator tiles packed to fp16 are P's A fragment (mma.cuh);
 *   - wait_group 2 (V of st), __syncwarp; O += P V with V's B fragments by ldmatrix.trans;
 *   - at kc == nt-1: l summed over the quad, O / l stored for rows < L: as half2, or in the fp8
 *     form (lb_attention_short_fp8) as the two E4M3 codes of that half2's values times
 *     inv_scale (one 2-byte store; the definition is in attn_out.cuh).
 * A Q tile buffer is rewritten only when step st+1 starts a query tile; its previous tile went
 * to registers at step (qt, 0) != st because nt >= 2 whenever there is a next tile (steps per
 * tile = nt). Rows and keys past the sequence end are zero-filled by cp.async (src_size 0), so
 * masked keys have P = 0 against finite V (no 0 * NaN), and rows past the end are never stored.
 *
 * Shared memory per warp: a Q tile and two (K, V) chunk stages, 5 tiles of 16 rows x (D + 8)
 * halves: the +8 pad puts the 8 rows of every ldmatrix in distinct banks (row pitch D/2 + 4
 * words, an odd multiple of 4 for D = 16, 32, 64, 128, so 8 consecutive rows start on the 8
 * distinct 4-bank groups and one 16-byte row each covers all 32 banks). D <= 64: 4 warps per block
 * (15, 25, 45 KiB); D = 128: 2 warps (43 KiB). Static, < 48 KiB.
 * Registers (d = 64): Q 16, O 32, S 8, P 4, B fragments 4: ptxas (sm_90) 122 (fp8 form 124), no
 * spills; 4 blocks per SM (16 warps) by both shared memory and registers. Figures for every D:
 * kernels/README.md.
 *
 * Thread-safety: the launcher keeps no state. */
#include "attention_short.cuh"

#include <math.h>

#include "attention.cuh" /* lb_attention_args, lb_attention_inv_scale_ok */
#include "attn_out.cuh"

#include "mma.cuh"

#ifdef __CUDACC__
#define SHORT_UNROLL _Pragma("unroll")
#else
#define SHORT_UNROLL
#endif

namespace {

template <int D>
struct short_cfg {
    static constexpr int NW = D == 128 ? 2 : 4; /* warps per block */
    static constexpr int NT = NW * 32;
    /* occupancy target: the blocks per SM that shared memory allows on sm_90 (228 KiB: 4 for
     * D = 64's 45 KiB, 5 for D = 128's 43 KiB), so registers do not lower it: <= 128 and <= 204
     * per thread (D = 16, 32: small, shared memory allows more) */
    static constexpr int MIN_BLOCKS = D == 128 ? 5 : 4;
    static constexpr int LD = D + 8;            /* tile row pitch (halves) */
    static constexpr int TILE = 16 * LD;        /* one 16-row tile (halves) */
    static constexpr int Q_OFF = 0;             /* per-warp layout, in tiles: Q, K0, V0, K1, V1 */
    static constexpr int WARP_HALVES = 5 * TILE;
    static constexpr int SMEM_BYTES = NW * WARP_HALVES * 2;
    static constexpr int CPR = D / 8;           /* 16-byte pieces per row */
    static constexpr int PIECES = 16 * CPR / 32; /* pieces per lane per tile */
    static_assert(D % 16 == 0 && (16 * CPR) % 32 == 0, "D: a multiple of 16");
    static_assert((TILE * 2) % 16 == 0, "tiles (ldmatrix rows, cp.async targets) 16-byte aligned");
    static_assert(SMEM_BYTES <= 48 * 1024, "static shared memory limit");
};

/* Issue the 16-byte copies of one 16-row tile: rows r0.. of a [len, D] slice with row stride
 * `stride` halves starting at src, into dst (pitch LD); rows >= len zero-filled. */
template <int D>
__device__ __forceinline__ void load_tile(__half *dst, const __half *src, size_t stride, int r0, int len,
                                          int lane) {
    using C = short_cfg<D>;
SHORT_UNROLL
    for (int p = 0; p < C::PIECES; ++p) {
        const int i = lane + 32 * p, row = i / C::CPR, c = i % C::CPR;
        const bool ok = r0 + row < len;
        const __half *s = ok ? src + (size_t)(r0 + row) * stride + 8 * c : src; /* unread if !ok */
        lb_cp_async_16(dst + row * C::LD + 8 * c, s, ok ? 16 : 0);
    }
}

/* OutT: __half (ctx fp16) or uint8_t (E4M3 codes, inv_scale; attn_out.cuh). */
template <int D, typename OutT>
__global__ void __launch_bounds__(short_cfg<D>::NT, short_cfg<D>::MIN_BLOCKS)
attn_short_kernel(OutT *__restrict__ ctx, const __half *__restrict__ qkv,
                  const int32_t *__restrict__ cu_seqlens, int heads, float scale_log2,
                  float inv_scale) {
    using C = short_cfg<D>;
    __align__(128) __shared__ uint4 smem[C::SMEM_BYTES / 16];
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int h = blockIdx.y * C::NW + warp;
    if (h >= heads) return; /* warp-uniform; the kernel has no block barrier */
    const int seq = blockIdx.x;
    const int t0 = cu_seqlens[seq];
    const int len = cu_seqlens[seq + 1] - t0;
    if (len <= 0) return; /* a padding sequence (graph launches) */

    __half *ws = reinterpret_cast<__half *>(smem) + warp * C::WARP_HALVES;
    __half *Qs = ws + C::Q_OFF;
    const int H = heads * D;
    const size_t stride = (size_t)3 * H;
    const __half *qbase = qkv + (size_t)t0 * stride + (size_t)h * D;
    const __half *kbase = qbase + H;
    const __half *vbase = qbase + 2 * H;
    OutT *obase = ctx + (size_t)t0 * H + (size_t)h * D;

    const int nt = (len + 15) >> 4, steps = nt * nt;
    const int g = lane >> 2, t = lane & 3;
    /* ldmatrix row address of this lane: matrix mi = lane / 8, row lane % 8 */
    const int mi = lane >> 3, mr = lane & 7;

    /* issue step st's copies into stage st & 1 */
    auto issue = [&](int st) {
        const int qt = st / nt, kc = st % nt;
        __half *Ks = ws + (1 + 2 * (st & 1)) * C::TILE, *Vs = Ks + C::TILE;
        if (kc == 0) load_tile<D>(Qs, qbase, stride, 16 * qt, len, lane);
        load_tile<D>(Ks, kbase, stride, 16 * kc, len, lane);
        lb_cp_async_commit();
        load_tile<D>(Vs, vbase, stride, 16 * kc, len, lane);
        lb_cp_async_commit();
    };

    uint32_t qf[D / 16][4];  /* Q tile, A fragments per 16-wide k-step */
    float o[D / 8][4];       /* O tile, accumulators per 8-wide n-tile */
    float m[2], l[2];        /* rows g, g+8: running max (log2 domain), lane-partial sum */

    issue(0);
    for (int st = 0; st < steps; ++st) {
        const int qt = st / nt, kc = st % nt;
        const __half *Ks = ws + (1 + 2 * (st & 1)) * C::TILE, *Vs = Ks + C::TILE;
        const bool next = st + 1 < steps;
        __syncwarp(); /* every lane is done reading the stage (and Q tile) being refilled */
        if (next) issue(st + 1);
        if (next) lb_cp_async_wait<3>(); else lb_cp_async_wait<1>(); /* Q, K of step st */
        __syncwarp(); /* the other lanes' copies are visible */

        if (kc == 0) {
SHORT_UNROLL
            for (int k = 0; k < D / 16; ++k) /* A: m0 rows 0-7, m1 rows 8-15, m2/m3 cols +8 */
                lb_ldmatrix_x4(qf[k], Qs + ((mi & 1) * 8 + mr) * C::LD + 16 * k + (mi >> 1) * 8);
SHORT_UNROLL
            for (int j = 0; j < D / 8; ++j) o[j][0] = o[j][1] = o[j][2] = o[j][3] = 0.f;
            m[0] = m[1] = -INFINITY;
            l[0] = l[1] = 0.f;
        }

        /* ---- S = Q K^T, keys 16kc .. 16kc+15 (n-tile 0: +0..7, n-tile 1: +8..15) ---- */
        float s[2][4] = {{0.f, 0.f, 0.f, 0.f}, {0.f, 0.f, 0.f, 0.f}};
SHORT_UNROLL
        for (int k = 0; k < D / 16; ++k) {
            /* B = K^T (col): m0 keys 0-7 d+0, m1 keys 0-7 d+8, m2 keys 8-15 d+0, m3 keys 8-15 d+8 */
            uint32_t kb[4];
            lb_ldmatrix_x4(kb, Ks + ((mi >> 1) * 8 + mr) * C::LD + 16 * k + (mi & 1) * 8);
            lb_mma_16816(s[0], qf[k], kb, s[0]);
            lb_mma_16816(s[1], qf[k], kb + 2, s[1]);
        }

        /* ---- online softmax; lane holds s[n][2r + e] = S[g + 8r][8n + 2t + e] ---- */
        uint32_t pa[4];
SHORT_UNROLL
        for (int r = 0; r < 2; ++r) {
            float x[4];
            float tmax = -INFINITY;
SHORT_UNROLL
            for (int n = 0; n < 2; ++n)
SHORT_UNROLL
                for (int e = 0; e < 2; ++e) {
                    const int key = 16 * kc + 8 * n + 2 * t + e;
                    const float v = key < len ? s[n][2 * r + e] * scale_log2 : -INFINITY;
                    x[2 * n + e] = v;
                    tmax = fmaxf(tmax, v);
                }
            tmax = fmaxf(tmax, __shfl_xor_sync(0xffffffffu, tmax, 1));
            tmax = fmaxf(tmax, __shfl_xor_sync(0xffffffffu, tmax, 2));
            const float m_new = fmaxf(m[r], tmax); /* finite: key 16kc < len is in the chunk */
            const float alpha = exp2f(m[r] - m_new); /* 0 on the first chunk (m = -inf) */
            float p[4], sum = 0.f;
SHORT_UNROLL
            for (int i = 0; i < 4; ++i) {
                p[i] = exp2f(x[i] - m_new); /* masked: exp2(-inf) = 0 */
                sum += p[i];
            }
            l[r] = l[r] * alpha + sum;
            m[r] = m_new;
SHORT_UNROLL
            for (int j = 0; j < D / 8; ++j) {
                o[j][2 * r] *= alpha;
                o[j][2 * r + 1] *= alpha;
            }
            /* A fragment of P: reg 0/1 rows g/g+8 keys 2t (n-tile 0), reg 2/3 keys 8+2t (n-tile 1) */
            pa[r] = lb_pack_half2(p[0], p[1]);
            pa[2 + r] = lb_pack_half2(p[2], p[3]);
        }

        /* ---- O += P V ---- */
        if (next) lb_cp_async_wait<2>(); else lb_cp_async_wait<0>(); /* V of step st */
        __syncwarp();
SHORT_UNROLL
        for (int j = 0; j < D / 16; ++j) {
            /* B = V (row-major [key][d]) transposed: m0 keys 0-7 d+0, m1 keys 8-15 d+0,
             * m2 keys 0-7 d+8, m3 keys 8-15 d+8 -> n-tiles 2j (m0, m1) and 2j+1 (m2, m3) */
            uint32_t vb[4];
            lb_ldmatrix_x4_trans(vb, Vs + ((mi & 1) * 8 + mr) * C::LD + 16 * j + (mi >> 1) * 8);
            lb_mma_16816(o[2 * j], pa, vb, o[2 * j]);
            lb_mma_16816(o[2 * j + 1], pa, vb + 2, o[2 * j + 1]);
        }

        if (kc == nt - 1) { /* ---- O / l -> ctx, rows g and g+8 of query tile qt ---- */
SHORT_UNROLL
            for (int r = 0; r < 2; ++r) {
                float sum = l[r];
                sum += __shfl_xor_sync(0xffffffffu, sum, 1);
                sum += __shfl_xor_sync(0xffffffffu, sum, 2);
                const float inv = 1.f / sum; /* sum >= 1: the max element contributes exp2(0) */
                const int row = 16 * qt + g + 8 * r;
                if (row < len) {
                    OutT *orow = obase + (size_t)row * H + 2 * t;
SHORT_UNROLL
                    for (int j = 0; j < D / 8; ++j)
                        lb_attn_store2(orow + 8 * j, o[j][2 * r] * inv, o[j][2 * r + 1] * inv,
                                       inv_scale);
                }
            }
        }
    }
}

template <int D, typename OutT>
cudaError_t short_launch(OutT *ctx, float inv_scale, const lb_half *qkv, const int32_t *cu_seqlens,
                         int n, int heads, cudaStream_t stream) {
    using C = short_cfg<D>;
    const dim3 grid((unsigned)n, (unsigned)((heads + C::NW - 1) / C::NW));
    const float scale_log2 = (float)(1.4426950408889634 / sqrt((double)D)); /* log2(e)/sqrt(d) */
    auto k = attn_short_kernel<D, OutT>;
    LB_LAUNCH(k, grid, dim3(C::NT), 0, stream, ctx, reinterpret_cast<const __half *>(qkv),
              cu_seqlens, heads, scale_log2, inv_scale);
    return cudaGetLastError();
}

/* Both forms: checks the arguments (lb_attention_args; inv_scale by the caller), picks the
 * head dim's instantiation. */
template <typename OutT>
cudaError_t short_dispatch(OutT *ctx, float inv_scale, const lb_half *qkv,
                           const int32_t *cu_seqlens, int n, int heads, int head_dim,
                           cudaStream_t stream) {
    const int a = lb_attention_args(ctx, qkv, cu_seqlens, n, heads, head_dim);
    if (a <= 0) return a < 0 ? cudaErrorInvalidValue : cudaSuccess;
    switch (head_dim) {
    case 16: return short_launch<16>(ctx, inv_scale, qkv, cu_seqlens, n, heads, stream);
    case 32: return short_launch<32>(ctx, inv_scale, qkv, cu_seqlens, n, heads, stream);
    case 64: return short_launch<64>(ctx, inv_scale, qkv, cu_seqlens, n, heads, stream);
    default: return short_launch<128>(ctx, inv_scale, qkv, cu_seqlens, n, heads, stream);
    }
}

} // namespace

extern "C" cudaError_t lb_attention_short(lb_half *ctx, const lb_half *qkv, const int32_t *cu_seqlens,
                                          int n, int heads, int head_dim, cudaStream_t stream) {
    return short_dispatch(reinterpret_cast<__half *>(ctx), 1.0f, qkv, cu_seqlens, n, heads, head_dim,
                          stream);
}

extern "C" cudaError_t lb_attention_short_fp8(uint8_t *ctx8, float inv_scale, const lb_half *qkv,
                                              const int32_t *cu_seqlens, int n, int heads,
                                              int head_dim, cudaStream_t stream) {
    if (!lb_attention_inv_scale_ok(inv_scale)) return cudaErrorInvalidValue;
    return short_dispatch(ctx8, inv_scale, qkv, cu_seqlens, n, heads, head_dim, stream);
}
