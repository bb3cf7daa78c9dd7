/* attention.cu — fused variable-length multi-head self-attention (FlashAttention-2 style).
 *
 * Maths, per sequence s (tokens t0 = cu_seqlens[s] .. t1 = cu_seqlens[s+1]-1, len = t1-t0+1),
 * head h, head dim d, H = heads*d:
 *     q_i = qkv[i, h*d : h*d+d]   k_j = qkv[j, H + h*d ...]   v_j = qkv[j, 2H + h*d ...]
 *     ctx[i, h*d ...] = sum_j softmax_j(q_i . k_j / sqrt(d)) v_j          (i, j in the sequence)
 * No mask beyond the sequence bounds: the batch is padding-free (ragged, cu_seqlens offsets).
 *
 * Work split: one block of BQ/16 warps per (sequence, head, tile of BQ query rows); each warp
 * owns 16 query rows end to end. The block walks the sequence's keys in tiles of BKV rows:
 *   1. K, V tile -> shared memory (16-byte loads; rows past the sequence end zero-filled);
 *   2. S = Q K^T on tensor cores (wmma 16x16x16, fp16 in, fp32 accumulate; Q is held in
 *      matrix_a fragments for the whole walk), stored to shared memory as fp32;
 *   3. online softmax by ordinary threads (two per query row, fp32): s *= log2(e)/sqrt(d),
 *      keys past the end -> -inf, running max m and sum l, P = exp2(s - m) rounded to fp16
 *      into shared memory, the row's output accumulator rescaled by exp2(m_old - m_new);
 *   4. O += P V on tensor cores; O lives in shared memory (fp32) and goes through accumulator
 *      fragments (load, mma, store), so nothing depends on a fragment's element-to-lane
 *      mapping (which the emulator does not reproduce).
 * At the end O / l is rounded to fp16 into shared memory and written with 16-byte stores: as
 * it is (8 fp16 values a store), or in the fp8 form (lb_attention_fp8) as E4M3 codes of the
 * fp16 values times inv_scale (16 codes a store; the definition is in attn_out.cuh); query rows
 * past the sequence end are computed on zero inputs and never stored. exp is exp2f of a pre-scaled
 * argument (the GPU's ex2 instruction; 2 ulp), the standard FlashAttention formulation.
 *
 * Tiles (all static shared memory, < 48 KiB):
 *   d = 16:  BQ 64, BKV 64  (37 KiB)     d = 64:  BQ 64, BKV 32  (40 KiB)
 *   d = 32:  BQ 64, BKV 64  (45 KiB)     d = 128: BQ 32, BKV 32  (41 KiB)
 * Shared rows are padded (+8 halves / +4 floats): the per-thread float4 row accesses (S, O)
 * and the 16-byte tile stores are bank-conflict free, and wmma's ldm stays a multiple of 8
 * halves / 4 floats. Threads: 128 (d <= 64) or 64 (d = 128).
 *
 * Grid: (n sequences, heads, ceil(max_len / BQ) query tiles): sequences on x, which has no
 * 65535 limit. A block takes query tiles blockIdx.z, blockIdx.z + gridDim.z, ... of its
 * sequence: a block past the sequence's end exits at once (before any barrier, uniformly), and
 * a max_len below the true longest is still correct, only slower.
 *
 * Thread-safety: the launcher keeps no state; launches on different streams are independent. */
#include "attention.cuh"

#include <math.h>

#include "attn_out.cuh"

using namespace nvcuda;

/* #pragma unroll for nvcc; nothing for the host compiler of the emulation build (which would
 * warn about an unknown pragma). */
#ifdef __CUDACC__
#define ATTN_UNROLL _Pragma("unroll")
#else
#define ATTN_UNROLL
#endif

namespace {

/* Tile geometry for one instantiation; every size in elements unless named _BYTES. */
template <int D, int BQ, int BKV>
struct attn_cfg {
    static constexpr int NW = BQ / 16;          /* warps per block: 16 query rows each */
    static constexpr int NT = NW * 32;          /* threads per block */
    static constexpr int LDH = D + 8;           /* Q/K/V tile row pitch (halves) */
    static constexpr int LDS = BKV + 4;         /* S row pitch (floats) */
    static constexpr int LDP = BKV + 8;         /* P row pitch (halves) */
    static constexpr int LDO = D + 4;           /* O row pitch (floats) */
    static constexpr int K_OFF = 0;             /* byte offsets into the block's shared memory */
    static constexpr int V_OFF = K_OFF + BKV * LDH * 2;
    static constexpr int S_OFF = V_OFF + BKV * LDH * 2;
    static constexpr int P_OFF = S_OFF + BQ * LDS * 4;
    static constexpr int O_OFF = P_OFF + BQ * LDP * 2;
    static constexpr int SMEM_BYTES = O_OFF + BQ * LDO * 4;
    /* Q tile (at start) and the fp16 output tile (at the end) reuse K..P: BQ x LDH halves. */
    static constexpr int STAGE_BYTES = BQ * LDH * 2;
    static_assert(D % 16 == 0 && BQ % 16 == 0 && BKV % 16 == 0, "wmma tiles are 16x16x16");
    static_assert(D / 2 % 8 == 0, "each thread owns D/2 output columns in 8-half chunks");
    static_assert(BKV / 2 % 4 == 0, "each thread owns BKV/2 score columns in float4 chunks");
    static_assert(STAGE_BYTES <= O_OFF, "Q / output staging must fit below the O tile");
    static_assert(SMEM_BYTES <= 48 * 1024, "static shared memory limit");
    static_assert(K_OFF % 32 == 0 && V_OFF % 32 == 0 && S_OFF % 32 == 0 && P_OFF % 32 == 0 &&
                  O_OFF % 32 == 0, "32-byte aligned regions (wmma pointers, vector access)");
};

/* One block: sequence blockIdx.x, head blockIdx.y, query tiles blockIdx.z, blockIdx.z +
 * gridDim.z, ... (a stride, so any grid depth covers any length). Block = NW warps.
 * OutT: __half (ctx fp16) or uint8_t (E4M3 codes, inv_scale; attn_out.cuh). */
template <int D, int BQ, int BKV, typename OutT>
__global__ void attn_kernel(OutT *__restrict__ ctx, const __half *__restrict__ qkv,
                            const int32_t *__restrict__ cu_seqlens, int heads,
                            float scale_log2, float inv_scale) {
    using C = attn_cfg<D, BQ, BKV>;
    __align__(128) __shared__ uint4 smem[C::SMEM_BYTES / 16]; /* wmma wants 32-byte pointers */
    unsigned char *base = reinterpret_cast<unsigned char *>(smem);
    __half *Ks = reinterpret_cast<__half *>(base + C::K_OFF);
    __half *Vs = reinterpret_cast<__half *>(base + C::V_OFF);
    float *Ss = reinterpret_cast<float *>(base + C::S_OFF);
    __half *Ps = reinterpret_cast<__half *>(base + C::P_OFF);
    float *Os = reinterpret_cast<float *>(base + C::O_OFF);
    __half *Stage = reinterpret_cast<__half *>(base); /* Q in, fp16 O out; over K..P */
    constexpr int EPS = 16 / (int)sizeof(OutT); /* output elements per 16-byte store */

    const int seq = blockIdx.x, h = blockIdx.y;
    const int t0 = cu_seqlens[seq];
    const int len = cu_seqlens[seq + 1] - t0;
    const int H = heads * D;
    const size_t row_stride = (size_t)3 * H; /* halves between consecutive tokens in qkv */
    const __half *qbase = qkv + (size_t)t0 * row_stride + (size_t)h * D;
    const __half *kbase = qbase + H;
    const __half *vbase = qbase + 2 * H;
    OutT *obase = ctx + (size_t)t0 * H + (size_t)h * D;

    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    /* Softmax / output ownership: row (within the tile) r and half of the columns hc. Lanes
     * 0-15 take rows 0-15 of the warp's 16, lanes 16-31 the same rows' other half; the pair is
     * lanes (l, l^16). */
    const int r = warp * 16 + (lane & 15);
    const int hc = lane >> 4;
    constexpr int CPR = D / 8; /* 16-byte chunks per Q/K/V/O row */

    for (int q0 = blockIdx.z * BQ; q0 < len; q0 += gridDim.z * BQ) { /* uniform per block */
        /* ---- Q tile -> Stage -> fragments (held for the whole key walk) ---- */
        __syncthreads(); /* previous iteration's output staging has been read */
        for (int i = tid; i < BQ * CPR; i += C::NT) {
            const int row = i / CPR, c = i % CPR;
            uint4 v = {0u, 0u, 0u, 0u};
            if (q0 + row < len)
                v = *reinterpret_cast<const uint4 *>(qbase + (size_t)(q0 + row) * row_stride + 8 * c);
            *reinterpret_cast<uint4 *>(Stage + row * C::LDH + 8 * c) = v;
        }
        /* this thread's O cells: zero (only this thread and its warp's wmma touch them) */
        for (int c = hc * (D / 2); c < hc * (D / 2) + D / 2; c += 4)
            *reinterpret_cast<float4 *>(Os + r * C::LDO + c) = make_float4(0.f, 0.f, 0.f, 0.f);
        __syncthreads();
        wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> qf[D / 16];
ATTN_UNROLL
        for (int k = 0; k < D / 16; ++k)
            wmma::load_matrix_sync(qf[k], Stage + warp * 16 * C::LDH + 16 * k, C::LDH);

        float m = -INFINITY, l = 0.f; /* running max (log2 domain) and sum of row r */
        /* a warp whose 16 rows all lie past the end only keeps the block's barriers */
        const bool live = q0 + warp * 16 < len;

        for (int kv0 = 0; kv0 < len; kv0 += BKV) {
            /* ---- 1. K, V tile -> shared memory ---- */
            __syncthreads(); /* Stage's Q fragments / previous tile's K, V have been read */
            for (int i = tid; i < BKV * CPR; i += C::NT) {
                const int row = i / CPR, c = i % CPR;
                uint4 kv = {0u, 0u, 0u, 0u}, vv = {0u, 0u, 0u, 0u};
                if (kv0 + row < len) {
                    const size_t off = (size_t)(kv0 + row) * row_stride + 8 * c;
                    kv = *reinterpret_cast<const uint4 *>(kbase + off);
                    vv = *reinterpret_cast<const uint4 *>(vbase + off);
                }
                *reinterpret_cast<uint4 *>(Ks + row * C::LDH + 8 * c) = kv;
                *reinterpret_cast<uint4 *>(Vs + row * C::LDH + 8 * c) = vv;
            }
            __syncthreads();
            if (!live) continue; /* warp-uniform */

            /* ---- 2. S = Q K^T for the warp's 16 rows ---- */
ATTN_UNROLL
            for (int n = 0; n < BKV / 16; ++n) {
                wmma::fragment<wmma::accumulator, 16, 16, 16, float> sf;
                wmma::fill_fragment(sf, 0.f);
ATTN_UNROLL
                for (int k = 0; k < D / 16; ++k) {
                    /* K^T as a col-major matrix_b: element (dd, j) at Ks[j * LDH + dd] */
                    wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::col_major> kf;
                    wmma::load_matrix_sync(kf, Ks + 16 * n * C::LDH + 16 * k, C::LDH);
                    wmma::mma_sync(sf, qf[k], kf, sf);
                }
                wmma::store_matrix_sync(Ss + warp * 16 * C::LDS + 16 * n, sf, C::LDS,
                                        wmma::mem_row_major);
            }
            __syncwarp();

            /* ---- 3. online softmax of row r, columns [hc*BKV/2, hc*BKV/2 + BKV/2) ---- */
            constexpr int SC = BKV / 2;
            float s[SC];
            const int cb = hc * SC;
ATTN_UNROLL
            for (int c = 0; c < SC; c += 4) {
                const float4 v = *reinterpret_cast<const float4 *>(Ss + r * C::LDS + cb + c);
                s[c] = v.x; s[c + 1] = v.y; s[c + 2] = v.z; s[c + 3] = v.w;
            }
            float tmax = -INFINITY;
ATTN_UNROLL
            for (int c = 0; c < SC; ++c) {
                s[c] = (kv0 + cb + c < len) ? s[c] * scale_log2 : -INFINITY;
                tmax = fmaxf(tmax, s[c]);
            }
            tmax = fmaxf(tmax, __shfl_xor_sync(0xffffffffu, tmax, 16));
            const float m_new = fmaxf(m, tmax); /* finite: key kv0 < len is in the tile */
            const float alpha = exp2f(m - m_new); /* 0 on the first tile (m = -inf) */
            float sum = 0.f;
ATTN_UNROLL
            for (int c = 0; c < SC; ++c) {
                const float p = exp2f(s[c] - m_new); /* masked: exp2(-inf) = 0 */
                sum += p;
                Ps[r * C::LDP + cb + c] = __float2half_rn(p);
            }
            sum += __shfl_xor_sync(0xffffffffu, sum, 16);
            l = l * alpha + sum;
            m = m_new;
            if (alpha != 1.f) { /* rescale this thread's O cells (skipped once m settles) */
                float *orow = Os + r * C::LDO + hc * (D / 2);
ATTN_UNROLL
                for (int c = 0; c < D / 2; c += 4) {
                    float4 v = *reinterpret_cast<float4 *>(orow + c);
                    v.x *= alpha; v.y *= alpha; v.z *= alpha; v.w *= alpha;
                    *reinterpret_cast<float4 *>(orow + c) = v;
                }
            }
            __syncwarp();

            /* ---- 4. O += P V for the warp's 16 rows ---- */
            wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> pf[BKV / 16];
ATTN_UNROLL
            for (int k = 0; k < BKV / 16; ++k)
                wmma::load_matrix_sync(pf[k], Ps + warp * 16 * C::LDP + 16 * k, C::LDP);
ATTN_UNROLL
            for (int j = 0; j < D / 16; ++j) {
                wmma::fragment<wmma::accumulator, 16, 16, 16, float> of;
                float *op = Os + warp * 16 * C::LDO + 16 * j;
                wmma::load_matrix_sync(of, op, C::LDO, wmma::mem_row_major);
ATTN_UNROLL
                for (int k = 0; k < BKV / 16; ++k) {
                    wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::row_major> vf;
                    wmma::load_matrix_sync(vf, Vs + 16 * k * C::LDH + 16 * j, C::LDH);
                    wmma::mma_sync(of, pf[k], vf, of);
                }
                wmma::store_matrix_sync(op, of, C::LDO, wmma::mem_row_major);
            }
            __syncwarp(); /* O stores before the next rescale / the final read */
        }

        /* ---- O / l -> fp16 staging -> ctx (16-byte stores of valid rows, as OutT) ---- */
        __syncthreads(); /* every warp is done with K, V, S, P (Stage overlaps them) */
        {
            /* l >= 1 (the max element contributes exp2(0)); 0 only for dead warps' rows */
            const float inv_l = l > 0.f ? 1.f / l : 0.f;
            const float *orow = Os + r * C::LDO + hc * (D / 2);
            __half *srow = Stage + r * C::LDH + hc * (D / 2);
ATTN_UNROLL
            for (int c = 0; c < D / 2; ++c) srow[c] = __float2half_rn(orow[c] * inv_l);
        }
        __syncthreads();
        for (int i = tid; i < BQ * (D / EPS); i += C::NT) {
            const int row = i / (D / EPS), c = i % (D / EPS);
            if (q0 + row < len)
                lb_attn_store16(obase + (size_t)(q0 + row) * H + EPS * c,
                                Stage + row * C::LDH + EPS * c, inv_scale);
        }
    }
}

/* Launch one instantiation: grid (n, heads, query tiles of the longest sequence). */
template <int D, int BQ, int BKV, typename OutT>
cudaError_t attn_launch(OutT *ctx, float inv_scale, const lb_half *qkv, const int32_t *cu_seqlens,
                        int n, int max_len, int heads, cudaStream_t stream) {
    using C = attn_cfg<D, BQ, BKV>;
    int qtiles = (max_len + BQ - 1) / BQ;
    if (qtiles > 65535) qtiles = 65535; /* grid.z limit; the kernel strides over the rest */
    const dim3 grid((unsigned)n, (unsigned)heads, (unsigned)qtiles);
    const dim3 block(C::NT);
    const float scale_log2 = (float)(1.4426950408889634 / sqrt((double)D)); /* log2(e)/sqrt(d) */
    auto k = attn_kernel<D, BQ, BKV, OutT>;
    LB_LAUNCH(k, grid, block, 0, stream, ctx, reinterpret_cast<const __half *>(qkv), cu_seqlens,
              heads, scale_log2, inv_scale);
    return cudaGetLastError();
}

/* Both forms: checks the arguments (lb_attention_args; inv_scale by the caller), picks the
 * head dim's tiles. */
template <typename OutT>
cudaError_t attn_dispatch(OutT *ctx, float inv_scale, const lb_half *qkv,
                          const int32_t *cu_seqlens, int n, int max_len, int heads, int head_dim,
                          cudaStream_t stream) {
    const int a = lb_attention_args(ctx, qkv, cu_seqlens, n, heads, head_dim);
    if (a < 0 || max_len < 1) return cudaErrorInvalidValue;
    if (a == 0) return cudaSuccess;
    switch (head_dim) {
    case 16: return attn_launch<16, 64, 64>(ctx, inv_scale, qkv, cu_seqlens, n, max_len, heads, stream);
    case 32: return attn_launch<32, 64, 64>(ctx, inv_scale, qkv, cu_seqlens, n, max_len, heads, stream);
    case 64: return attn_launch<64, 64, 32>(ctx, inv_scale, qkv, cu_seqlens, n, max_len, heads, stream);
    default: return attn_launch<128, 32, 32>(ctx, inv_scale, qkv, cu_seqlens, n, max_len, heads, stream);
    }
}

} // namespace

extern "C" cudaError_t lb_attention(lb_half *ctx, const lb_half *qkv, const int32_t *cu_seqlens,
                                    int n, int max_len, int heads, int head_dim,
                                    cudaStream_t stream) {
    return attn_dispatch(reinterpret_cast<__half *>(ctx), 1.0f, qkv, cu_seqlens, n, max_len, heads,
                         head_dim, stream);
}

extern "C" cudaError_t lb_attention_fp8(uint8_t *ctx8, float inv_scale, const lb_half *qkv,
                                        const int32_t *cu_seqlens, int n, int max_len, int heads,
                                        int head_dim, cudaStream_t stream) {
    if (!lb_attention_inv_scale_ok(inv_scale)) return cudaErrorInvalidValue;
    return attn_dispatch(ctx8, inv_scale, qkv, cu_seqlens, n, max_len, heads, head_dim, stream);
}
