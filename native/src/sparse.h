// Sparse × dense products with a CSR matrix S (rows×cols: indptr, indices, values).
//   csrmm: C (rows×n) = alpha * S × B (cols×n) + beta * C
//   mmcsr: C (m×cols) = alpha * A (m×rows) × S + beta * C
// Threads split rows of C (csrmm: balanced by non-zeros), so results do not depend on the
// thread count.
#pragma once
#include <algorithm>
#include <cstdint>

#include "simd.h"
#include "threads.h"

namespace funnel {

namespace sparse_detail {

// Rows of B are read in random order: prefetch the row needed PF_DIST non-zeros ahead.
constexpr int64_t PF_DIST = 8;

#if FUNNEL_SIMD
/** One row of csrmm on columns [j0, j0 + NVEC*VW): accumulate in registers, then store. */
template <int NVEC>
static inline void csr_row_chunk(int64_t p0, int64_t p1, const int32_t* indices, const float* values,
                                 const float* b, int64_t n, int64_t j0, float alpha, float beta, float* crow) {
  vf acc[NVEC];
  for (int v = 0; v < NVEC; ++v) acc[v] = vf{};
  for (int64_t p = p0; p < p1; ++p) {
    if (p + PF_DIST < p1) {
      const float* next = b + static_cast<int64_t>(indices[p + PF_DIST]) * n + j0;
      for (int q = 0; q < NVEC * VW; q += 16) __builtin_prefetch(next + q);
    }
    const vf s = vsplat(values[p]);
    const float* brow = b + static_cast<int64_t>(indices[p]) * n + j0;
#pragma GCC unroll 8
    for (int v = 0; v < NVEC; ++v) acc[v] += s * vload(brow + v * VW);
  }
  const vf va = vsplat(alpha), vb = vsplat(beta);
  for (int v = 0; v < NVEC; ++v) {
    float* cp = crow + j0 + v * VW;
    vstore(cp, beta == 0.f ? va * acc[v] : va * acc[v] + vb * vload(cp));
  }
}
#endif

static void csr_row(int64_t p0, int64_t p1, const int32_t* indices, const float* values, const float* b,
                    int64_t n, float alpha, float beta, float* crow) {
  int64_t j = 0;
#if FUNNEL_SIMD
  for (; j + 8 * VW <= n; j += 8 * VW) csr_row_chunk<8>(p0, p1, indices, values, b, n, j, alpha, beta, crow);
  if (j + 4 * VW <= n) { csr_row_chunk<4>(p0, p1, indices, values, b, n, j, alpha, beta, crow); j += 4 * VW; }
  if (j + 2 * VW <= n) { csr_row_chunk<2>(p0, p1, indices, values, b, n, j, alpha, beta, crow); j += 2 * VW; }
  if (j + VW <= n) { csr_row_chunk<1>(p0, p1, indices, values, b, n, j, alpha, beta, crow); j += VW; }
#endif
  if (j == n) return;
  float acc[16];
  for (; j < n; j += 16) {
    const int64_t w = std::min<int64_t>(16, n - j);
    for (int64_t q = 0; q < w; ++q) acc[q] = 0.f;
    for (int64_t p = p0; p < p1; ++p) {
      const float s = values[p];
      const float* brow = b + static_cast<int64_t>(indices[p]) * n + j;
      for (int64_t q = 0; q < w; ++q) acc[q] += s * brow[q];
    }
    for (int64_t q = 0; q < w; ++q) crow[j + q] = beta == 0.f ? alpha * acc[q] : alpha * acc[q] + beta * crow[j + q];
  }
}

}  // namespace sparse_detail

static void csrmm(int64_t rows, const int32_t* indptr, const int32_t* indices, const float* values, int64_t n,
                  float alpha, const float* b, float beta, float* c) {
  if (rows == 0 || n == 0) return;
  const int64_t nnz = indptr[rows] - indptr[0];
  const int T = threads_for((nnz + rows) * static_cast<double>(n) / 16.0, rows);  // ~35 GFLOP/s
  run_threads(T, [&](int t, int nt) {
    // Split rows so each thread gets about the same number of non-zeros.
    auto boundary = [&](int part) -> int64_t {
      if (part == 0) return 0;
      if (part == nt) return rows;
      const int64_t target = indptr[0] + nnz * part / nt;
      return std::lower_bound(indptr, indptr + rows, static_cast<int32_t>(target)) - indptr;
    };
    const int64_t r0 = boundary(t), r1 = boundary(t + 1);
    for (int64_t r = r0; r < r1; ++r)
      sparse_detail::csr_row(indptr[r], indptr[r + 1], indices, values, b, n, alpha, beta, c + r * n);
  });
}

static void mmcsr(int64_t m, int64_t rows, int64_t cols, const int32_t* indptr, const int32_t* indices,
                  const float* values, float alpha, const float* a, float beta, float* c) {
  if (m == 0 || cols == 0) return;
  const int64_t nnz = indptr[rows] - indptr[0];
  const int T = threads_for(0.5 * nnz * m + 0.1 * m * cols, (m + 3) / 4);
  run_threads(T, [&](int t, int nt) {
    int64_t b0, b1;
    split_range((m + 3) / 4, t, nt, b0, b1);
    for (int64_t i0 = b0 * 4; i0 < std::min(m, b1 * 4); i0 += 4) {
      const int64_t mi = std::min<int64_t>(4, m - i0);
      for (int64_t i = i0; i < i0 + mi; ++i) scale(beta, c + i * cols, cols);
      if (mi == 4) {
        // Four rows of A at once: each non-zero of S is loaded once for four rows of C.
        const float *a0 = a + i0 * rows, *a1 = a0 + rows, *a2 = a1 + rows, *a3 = a2 + rows;
        float *c0 = c + i0 * cols, *c1 = c0 + cols, *c2 = c1 + cols, *c3 = c2 + cols;
        for (int64_t r = 0; r < rows; ++r) {
          const float x0 = alpha * a0[r], x1 = alpha * a1[r], x2 = alpha * a2[r], x3 = alpha * a3[r];
          for (int32_t p = indptr[r]; p < indptr[r + 1]; ++p) {
            const int32_t j = indices[p];
            const float v = values[p];
            c0[j] += x0 * v;
            c1[j] += x1 * v;
            c2[j] += x2 * v;
            c3[j] += x3 * v;
          }
        }
      } else {
        for (int64_t i = i0; i < i0 + mi; ++i) {
          const float* ai = a + i * rows;
          float* ci = c + i * cols;
          for (int64_t r = 0; r < rows; ++r) {
            const float x = alpha * ai[r];
            for (int32_t p = indptr[r]; p < indptr[r + 1]; ++p) ci[indices[p]] += x * values[p];
          }
        }
      }
    }
  });
}

}  // namespace funnel
