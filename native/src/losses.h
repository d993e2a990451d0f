// Sampled ranking losses. BPR over a batch's shared negatives (LED paper §5.3): each positive
// q of user row r is compared with every negative score of the row. The pairwise sigmoids are
// the O(positives × negatives) part of LED training, so they live here, vectorised.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "threads.h"

namespace funnel {

/** exp(x) for float, ~2 ulp on [-87, 88], branch-free so loops over it vectorise. */
static inline float fast_expf(float x) {
  x = x < -87.f ? -87.f : (x > 88.f ? 88.f : x);
  const float k = std::nearbyint(x * 1.44269504088896341f);
  const float r = x - k * 0.693145751953125f - k * 1.428606765330187e-06f;
  // exp(r) on |r| <= ln2/2: degree-6 polynomial (Cephes expf coefficients).
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.f;
  int32_t bits;
  const int32_t e = static_cast<int32_t>(k) + 127;
  bits = e << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

/**
 * For each row r < rows and positive q in [pos_ptr[r], pos_ptr[r+1]):
 *   grad_s[r, n] += scale · σ(s[r, n] − pos[q])           (accumulates)
 *   grad_pos[q]   = −scale · Σ_n σ(s[r, n] − pos[q])       (written)
 * and, when want_loss, returns scale · Σ softplus(s[r, n] − pos[q]) (else 0).
 */
static double bpr_pairs(int64_t rows, int64_t n, const float* s, const int32_t* pos_ptr, const float* pos, float scale,
                        float* grad_s, float* grad_pos, bool want_loss) {
  const int64_t pairs = static_cast<int64_t>(pos_ptr[rows] - pos_ptr[0]) * n;
  const int T = threads_for(3.0 * pairs, rows);
  std::vector<double> partial(static_cast<size_t>(T), 0.0);
  run_threads(T, [&](int t, int nt) {
    int64_t r0, r1;
    split_range(rows, t, nt, r0, r1);
    double loss = 0;
    for (int64_t r = r0; r < r1; ++r) {
      const float* sr = s + r * n;
      float* gr = grad_s + r * n;
      for (int32_t q = pos_ptr[r]; q < pos_ptr[r + 1]; ++q) {
        const float p = pos[q];
        float acc = 0.f;
        for (int64_t j = 0; j < n; ++j) {
          const float sig = 1.f / (1.f + fast_expf(p - sr[j]));  // σ(s_n − s_p)
          gr[j] += scale * sig;
          acc += sig;
        }
        grad_pos[q] = -scale * acc;
        if (want_loss) {
          double l = 0;
          for (int64_t j = 0; j < n; ++j) {
            const double x = static_cast<double>(sr[j]) - p;
            l += x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
          }
          loss += l * scale;
        }
      }
    }
    partial[t] = loss;
  });
  double total = 0;
  for (const double p : partial) total += p;
  return total;
}

}  // namespace funnel
