// sgemm: C = alpha * op(A) * op(B) + beta * C, row-major, float32.
//
// Goto/BLIS structure: B is packed in KC×NC blocks (kept in L2), A in MR-row micro-panels
// (kept in L1), and a register-tiled MR × NR micro-kernel accumulates in vector registers.
// Edges are zero-padded in the packed copies, so the micro-kernel always runs full tiles and
// only the final store is masked. Threads split C into row blocks (or column blocks when C
// has few rows); each packs its own operands, so no synchronisation is needed.
//
// Operands are described by Mat, which also allows a row gather (rows of the stored matrix
// picked through an index array): sampled scoring multiplies by rows of an embedding table
// picked by item id without first copying them out.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "simd.h"
#include "threads.h"

namespace funnel {

/**
 * A logical matrix X (rows×cols) over stored row-major data: X(r, c) = data[row(r)*ld + c],
 * or with trans X(r, c) = data[row(c)*ld + r], where row(s) = idx ? idx[s] : s.
 */
struct Mat {
  const float* data;
  int64_t ld;
  bool trans;
  const int32_t* idx;

  float at(int64_t r, int64_t c) const {
    if (!trans) return data[(idx ? idx[r] : r) * ld + c];
    return data[(idx ? idx[c] : c) * ld + r];
  }
  /** The sub-matrix starting at logical (r0, c0). */
  Mat offset(int64_t r0, int64_t c0) const {
    Mat m = *this;
    const int64_t srow = trans ? c0 : r0, scol = trans ? r0 : c0;
    if (idx) m.idx += srow;
    else m.data += srow * ld;
    m.data += scol;
    return m;
  }
};

namespace gemm_detail {

#if FUNNEL_SIMD
#if defined(__AVX512F__)
constexpr int MR = 8, NV = 3;  // 8 × 48 tile: 24 accumulators + 3 B vectors of 32 zmm
#elif defined(__AVX__)
constexpr int MR = 6, NV = 2;  // 6 × 16 tile: 12 accumulators of 16 ymm
#else
constexpr int MR = 4, NV = 2;  // 4 × 8 tile: 8 accumulators of 16 xmm
#endif
#else
constexpr int MR = 4, NV = 4;
#endif
constexpr int NR = NV * VW;
// Blocking (tuned on Zen with 48 KB L1, 1 MB L2): an A micro-panel (MR×KC) stays in L1, the
// packed B block (KC×NC, ~1 MB) in L2. NC is a multiple of NR for every tile above.
constexpr int64_t KC = 256, MC = 192, NC = 960;

/** Pack op(A)[0:mc, 0:kc] into MR-row micro-panels: ap[panel][p][i], zero-padded. */
static void pack_a(const Mat& A, int64_t mc, int64_t kc, float* ap) {
  for (int64_t i0 = 0; i0 < mc; i0 += MR) {
    const int64_t mr = std::min<int64_t>(MR, mc - i0);
    float* dst = ap + i0 * kc;
    if (!A.trans) {
      for (int64_t i = 0; i < mr; ++i) {
        const float* src = A.data + (A.idx ? A.idx[i0 + i] : i0 + i) * A.ld;
        for (int64_t p = 0; p < kc; ++p) dst[p * MR + i] = src[p];
      }
      for (int64_t i = mr; i < MR; ++i)
        for (int64_t p = 0; p < kc; ++p) dst[p * MR + i] = 0.f;
    } else {
      for (int64_t p = 0; p < kc; ++p) {
        const float* src = A.data + (A.idx ? A.idx[p] : p) * A.ld + i0;
        int64_t i = 0;
        for (; i < mr; ++i) dst[p * MR + i] = src[i];
        for (; i < MR; ++i) dst[p * MR + i] = 0.f;
      }
    }
  }
}

/** Pack op(B)[0:kc, 0:nc] into NR-column micro-panels: bp[panel][p][j], zero-padded. */
static void pack_b(const Mat& B, int64_t kc, int64_t nc, float* bp) {
  for (int64_t j0 = 0; j0 < nc; j0 += NR) {
    const int64_t nr = std::min<int64_t>(NR, nc - j0);
    float* dst = bp + j0 * kc;
    if (!B.trans) {
      for (int64_t p = 0; p < kc; ++p) {
        const float* src = B.data + (B.idx ? B.idx[p] : p) * B.ld + j0;
        std::memcpy(dst + p * NR, src, sizeof(float) * nr);
        if (nr < NR) std::memset(dst + p * NR + nr, 0, sizeof(float) * (NR - nr));
      }
    } else {
      for (int64_t j = 0; j < nr; ++j) {
        const float* src = B.data + (B.idx ? B.idx[j0 + j] : j0 + j) * B.ld;
        for (int64_t p = 0; p < kc; ++p) dst[p * NR + j] = src[p];
      }
      for (int64_t j = nr; j < NR; ++j)
        for (int64_t p = 0; p < kc; ++p) dst[p * NR + j] = 0.f;
    }
  }
}

/** C[0:mr, 0:nr] += alpha * (ap × bp) for one packed MR×kc and kc×NR pair. */
static inline void micro_kernel(int64_t kc, const float* __restrict ap, const float* __restrict bp,
                                float* c, int64_t ldc, float alpha, int64_t mr, int64_t nr) {
#if FUNNEL_SIMD
  vf acc[MR][NV];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = vf{};
  for (int64_t p = 0; p < kc; ++p) {
    vf b[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) b[v] = vload(bp + p * NR + v * VW);
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      const vf a = vsplat(ap[p * MR + i]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] += a * b[v];
    }
  }
  const vf va = vsplat(alpha);
  if (mr == MR && nr == NR) {
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        float* cp = c + i * ldc + v * VW;
        vstore(cp, vload(cp) + va * acc[i][v]);
      }
    return;
  }
  float tile[MR * NR];
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < NV; ++v) vstore(tile + i * NR + v * VW, acc[i][v]);
#else
  float tile[MR * NR] = {};
  for (int64_t p = 0; p < kc; ++p)
    for (int i = 0; i < MR; ++i) {
      const float a = ap[p * MR + i];
      for (int j = 0; j < NR; ++j) tile[i * NR + j] += a * bp[p * NR + j];
    }
#endif
  for (int64_t i = 0; i < mr; ++i)
    for (int64_t j = 0; j < nr; ++j) c[i * ldc + j] += alpha * tile[i * NR + j];
}

/** C += alpha * A × B on one thread (C already scaled by beta). */
static void gemm_serial(int64_t m, int64_t n, int64_t k, float alpha, const Mat& A, const Mat& B,
                        float* c, int64_t ldc) {
  // Packing buffers, not zero-filled (pack_a / pack_b write every element they read back).
  std::unique_ptr<float[]> bbuf(new float[KC * std::min<int64_t>(NC, (n + NR - 1) / NR * NR)]);
  std::unique_ptr<float[]> abuf(new float[KC * std::min<int64_t>(MC, (m + MR - 1) / MR * MR)]);
  for (int64_t jc = 0; jc < n; jc += NC) {
    const int64_t nc = std::min(NC, n - jc);
    for (int64_t pc = 0; pc < k; pc += KC) {
      const int64_t kc = std::min(KC, k - pc);
      pack_b(B.offset(pc, jc), kc, nc, bbuf.get());
      for (int64_t ic = 0; ic < m; ic += MC) {
        const int64_t mc = std::min(MC, m - ic);
        pack_a(A.offset(ic, pc), mc, kc, abuf.get());
        for (int64_t ir = 0; ir < mc; ir += MR) {
          const float* ap = abuf.get() + ir * kc;
          for (int64_t jr = 0; jr < nc; jr += NR) {
            micro_kernel(kc, ap, bbuf.get() + jr * kc, c + (ic + ir) * ldc + jc + jr, ldc, alpha,
                         std::min<int64_t>(MR, mc - ir), std::min<int64_t>(NR, nc - jr));
          }
        }
      }
    }
  }
}

/**
 * C[0:m, 0:n] += alpha * A × B for few rows (m <= SMALL_M) without packing: B is streamed
 * once, straight from memory. A is m×k contiguous (already copied out); B as described.
 */
constexpr int64_t SMALL_M = 4;
static void gemm_small(int64_t m, int64_t n, int64_t k, float alpha, const float* a, const Mat& B, float* c,
                       int64_t ldc) {
  if (B.trans) {
    // C[i][j] = A_i · (stored row j of B): one pass over B's rows, m dots each.
    for (int64_t j = 0; j < n; ++j) {
      const float* brow = B.data + (B.idx ? B.idx[j] : j) * B.ld;
      for (int64_t i = 0; i < m; ++i) c[i * ldc + j] += alpha * dot(a + i * k, brow, k);
    }
    return;
  }
  int64_t j0 = 0;
#if FUNNEL_SIMD
  constexpr int NVS = 4, W = NVS * VW;
  for (; j0 + W <= n; j0 += W) {
    vf acc[SMALL_M][NVS];
    for (int i = 0; i < SMALL_M; ++i)
      for (int v = 0; v < NVS; ++v) acc[i][v] = vf{};
    for (int64_t p = 0; p < k; ++p) {
      const float* brow = B.data + (B.idx ? B.idx[p] : p) * B.ld + j0;
      vf b[NVS];
      for (int v = 0; v < NVS; ++v) b[v] = vload(brow + v * VW);
      for (int64_t i = 0; i < m; ++i) {
        const vf x = vsplat(a[i * k + p]);
        for (int v = 0; v < NVS; ++v) acc[i][v] += x * b[v];
      }
    }
    const vf va = vsplat(alpha);
    for (int64_t i = 0; i < m; ++i)
      for (int v = 0; v < NVS; ++v) {
        float* cp = c + i * ldc + j0 + v * VW;
        vstore(cp, vload(cp) + va * acc[i][v]);
      }
  }
#endif
  if (j0 == n) return;
  float acc[SMALL_M][16];
  for (; j0 < n; j0 += 16) {
    const int64_t w = std::min<int64_t>(16, n - j0);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t q = 0; q < w; ++q) acc[i][q] = 0.f;
    for (int64_t p = 0; p < k; ++p) {
      const float* brow = B.data + (B.idx ? B.idx[p] : p) * B.ld + j0;
      for (int64_t i = 0; i < m; ++i) {
        const float x = a[i * k + p];
        for (int64_t q = 0; q < w; ++q) acc[i][q] += x * brow[q];
      }
    }
    for (int64_t i = 0; i < m; ++i)
      for (int64_t q = 0; q < w; ++q) c[i * ldc + j0 + q] += alpha * acc[i][q];
  }
}

}  // namespace gemm_detail

/**
 * C (m×n, leading dimension ldc) = alpha * A × B + beta * C, where A is m×k and B is k×n as
 * described by their Mat. beta == 0 overwrites C (NaN in C does not survive).
 */
static void gemm(int64_t m, int64_t n, int64_t k, float alpha, const Mat& A, const Mat& B, float beta,
                 float* c, int64_t ldc) {
  using namespace gemm_detail;
  if (m == 0 || n == 0) return;
  if (beta != 1.f)
    for (int64_t i = 0; i < m; ++i) scale(beta, c + i * ldc, n);
  if (k == 0 || alpha == 0.f) return;
  if (m <= SMALL_M) {
    // Few rows (one user against many items): no packing, threads split the columns.
    std::vector<float> arows(static_cast<size_t>(m * k));
    for (int64_t i = 0; i < m; ++i)
      for (int64_t p = 0; p < k; ++p) arows[i * k + p] = A.at(i, p);
    const int64_t chunks = (n + 63) / 64;
    const int T = threads_for(2.0 * m * n * k / 60.0 + 0.03 * n * k, chunks);  // streams B
    run_threads(T, [&](int t, int nt) {
      int64_t b0, b1;
      split_range(chunks, t, nt, b0, b1);
      const int64_t c0 = b0 * 64, c1 = std::min(n, b1 * 64);
      if (c1 > c0) gemm_small(m, c1 - c0, k, alpha, arows.data(), B.offset(0, c0), c + c0, ldc);
    });
    return;
  }
  const int64_t mblocks = (m + MR - 1) / MR, nblocks = (n + NR - 1) / NR;
  const bool by_rows = mblocks >= nblocks || mblocks >= 4 * thread_budget();
  const int T = threads_for(2.0 * m * n * k / 150.0, by_rows ? mblocks : nblocks);  // ~150 GFLOP/s
  run_threads(T, [&](int t, int nt) {
    int64_t b0, b1;
    if (by_rows) {
      split_range(mblocks, t, nt, b0, b1);
      const int64_t r0 = b0 * MR, r1 = std::min(m, b1 * MR);
      if (r1 > r0) gemm_serial(r1 - r0, n, k, alpha, A.offset(r0, 0), B, c + r0 * ldc, ldc);
    } else {
      split_range(nblocks, t, nt, b0, b1);
      const int64_t c0 = b0 * NR, c1 = std::min(n, b1 * NR);
      if (c1 > c0) gemm_serial(m, c1 - c0, k, alpha, A, B.offset(0, c0), c + c0, ldc);
    }
  });
}

/** The BLAS-style entry: row-major A (m×k, or k×m if transA), B (k×n, or n×k if transB). */
static void sgemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                  const float* b, float beta, float* c) {
  const Mat A{a, transA ? m : k, transA, nullptr};
  const Mat B{b, transB ? k : n, transB, nullptr};
  gemm(m, n, k, alpha, A, B, beta, c, n);
}

}  // namespace funnel
