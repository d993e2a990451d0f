// Row kernels over embedding tables (row-major, d floats a row).
//
// Gathers read rows through an optional index (row(i) = idx ? idx[i] : i). Scatters (writes
// that may hit one row several times) run on threads split by destination row (row % T), and
// each thread applies its rows' updates in input order: results are exactly those of the
// serial loop, for any thread count and with repeated rows.
#pragma once
#include <cstdint>
#include <cstring>

#include "gemm.h"
#include "simd.h"
#include "threads.h"

namespace funnel {

static inline int64_t row_of(const int32_t* idx, int64_t i) { return idx ? idx[i] : i; }

/** out[i] = x[row_x(i)] · y[row_y(i)], i < n. */
static void dot_rows(int64_t n, int64_t d, const float* x, const int32_t* xi, const float* y, const int32_t* yi,
                     float* out) {
  const int T = threads_for(0.2 * n * d, n);
  run_threads(T, [&](int t, int nt) {
    int64_t i0, i1;
    split_range(n, t, nt, i0, i1);
    for (int64_t i = i0; i < i1; ++i) out[i] = dot(x + row_of(xi, i) * d, y + row_of(yi, i) * d, d);
  });
}

/** y[row_y(i)] += alpha_i * x[row_x(i)], in order of i; alpha_i = alphas ? alphas[i] : alpha. */
static void axpy_rows(int64_t n, int64_t d, const float* alphas, float alpha, const float* x, const int32_t* xi,
                      float* y, const int32_t* yi) {
  const int T = threads_for(0.3 * n * d, n);
  run_threads(T, [&](int t, int nt) {
    for (int64_t i = 0; i < n; ++i) {
      const int64_t r = row_of(yi, i);
      if (r % nt != t) continue;
      axpy(alphas ? alphas[i] : alpha, x + row_of(xi, i) * d, y + r * d, d);
    }
  });
}

/**
 * Embedding bag: bag b is rows indices[indptr[b]..indptr[b+1]) of table, with optional
 * per-entry weights; out[b] = scale_b * sum_p w_p * table[indices[p]], scale_b = 1/count_b
 * when mean (count = entries in the bag; an empty bag gives zeros), else 1.
 */
static void embedding_bag(int64_t bags, int64_t d, const int32_t* indptr, const int32_t* indices,
                          const float* weights, const float* table, bool mean, float* out) {
  const int64_t nnz = indptr[bags] - indptr[0];
  const int T = threads_for(0.25 * nnz * d, bags);
  run_threads(T, [&](int t, int nt) {
    int64_t b0, b1;
    split_range(bags, t, nt, b0, b1);
    for (int64_t b = b0; b < b1; ++b) {
      float* o = out + b * d;
      std::memset(o, 0, sizeof(float) * d);
      for (int32_t p = indptr[b]; p < indptr[b + 1]; ++p)
        axpy(weights ? weights[p] : 1.f, table + static_cast<int64_t>(indices[p]) * d, o, d);
      const int64_t count = indptr[b + 1] - indptr[b];
      if (mean && count > 1) {
        const float inv = 1.f / static_cast<float>(count);
        for (int64_t e = 0; e < d; ++e) o[e] *= inv;
      }
    }
  });
}

/** Backward of embedding_bag: gradTable[indices[p]] += scale_b * w_p * gradOut[b] (accumulates). */
static void embedding_bag_backward(int64_t bags, int64_t d, const int32_t* indptr, const int32_t* indices,
                                   const float* weights, const float* grad_out, bool mean, float* grad_table) {
  const int64_t nnz = indptr[bags] - indptr[0];
  const int T = threads_for(0.25 * nnz * d, nnz);
  run_threads(T, [&](int t, int nt) {
    for (int64_t b = 0; b < bags; ++b) {
      const int64_t count = indptr[b + 1] - indptr[b];
      const float s = mean && count > 1 ? 1.f / static_cast<float>(count) : 1.f;
      for (int32_t p = indptr[b]; p < indptr[b + 1]; ++p) {
        const int64_t r = indices[p];
        if (r % nt != t) continue;
        axpy(weights ? s * weights[p] : s, grad_out + b * d, grad_table + r * d, d);
      }
    }
  });
}

/**
 * Sampled scoring: out[u][j] = users[u] · table[itemIds[j]] + (bias ? bias[itemIds[j]] : 0),
 * for nUsers users (nUsers×d) against nSampled sampled rows of the item table.
 */
static void sampled_scores(int64_t nu, int64_t d, const float* users, int64_t ns, const int32_t* ids,
                           const float* table, const float* bias, float* out) {
  if (nu == 0 || ns == 0) return;
  for (int64_t u = 0; u < nu; ++u) {
    float* o = out + u * ns;
    if (bias)
      for (int64_t j = 0; j < ns; ++j) o[j] = bias[ids[j]];
    else
      std::memset(o, 0, sizeof(float) * ns);
  }
  gemm(nu, ns, d, 1.f, Mat{users, d, false, nullptr}, Mat{table, d, true, ids}, 1.f, out, ns);
}

/**
 * Backward of sampled_scores for G = d loss / d scores (nUsers×nSampled). Writes (overwrites)
 * each non-null output: gradUsers = G × S (nUsers×d), gradSampled = Gᵀ × users (nSampled×d,
 * row j belongs to itemIds[j]), gradBias[j] = sum_u G[u][j] (nSampled), where S holds the rows
 * table[itemIds[j]].
 */
static void sampled_scores_backward(int64_t nu, int64_t d, const float* users, int64_t ns, const int32_t* ids,
                                    const float* table, const float* g, float* grad_users, float* grad_sampled,
                                    float* grad_bias) {
  if (grad_users) {
    if (ns == 0) std::memset(grad_users, 0, sizeof(float) * nu * d);
    else gemm(nu, d, ns, 1.f, Mat{g, ns, false, nullptr}, Mat{table, d, false, ids}, 0.f, grad_users, d);
  }
  if (grad_sampled) {
    if (nu == 0) std::memset(grad_sampled, 0, sizeof(float) * ns * d);
    else gemm(ns, d, nu, 1.f, Mat{g, ns, true, nullptr}, Mat{users, d, false, nullptr}, 0.f, grad_sampled, d);
  }
  if (grad_bias) {
    std::memset(grad_bias, 0, sizeof(float) * ns);
    for (int64_t u = 0; u < nu; ++u)
      for (int64_t j = 0; j < ns; ++j) grad_bias[j] += g[u * ns + j];
  }
}

}  // namespace funnel
