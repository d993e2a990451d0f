// Row-wise fused Adam (AdamW-style decoupled weight decay). With a row list it is lazy Adam:
// only the given rows of param / m / v move (their moments decay only when touched), with bias
// correction from the global step, as in TensorFlow's LazyAdam and PyTorch's SparseAdam.
#pragma once
#include <cmath>
#include <cstdint>

#include "threads.h"

namespace funnel {

struct AdamParams {
  float lr, beta1, beta2, eps, weight_decay;
  double step;
};

/**
 * For i < n: row r = rows ? rows[i] : i of param, m, v (row length d) takes one Adam step with
 * gradient row i of grad (n×d). Repeated rows take their steps in order.
 */
static void adam_rows(int64_t n, int64_t d, const int32_t* rows, const float* grad, float* param, float* m,
                      float* v, const AdamParams& a) {
  const float c1 = static_cast<float>(1.0 / (1.0 - std::pow(static_cast<double>(a.beta1), a.step)));
  const float c2 = static_cast<float>(1.0 / (1.0 - std::pow(static_cast<double>(a.beta2), a.step)));
  const float b1 = a.beta1, b2 = a.beta2, ob1 = 1.f - a.beta1, ob2 = 1.f - a.beta2;
  const float lr = a.lr, eps = a.eps, wd = a.weight_decay;
  const int T = threads_for(2.0 * n * d, n);  // ~2 ns an element (sqrt, divide)
  run_threads(T, [&](int t, int nt) {
    for (int64_t i = 0; i < n; ++i) {
      const int64_t r = rows ? rows[i] : i;
      if (r % nt != t) continue;
      const float* __restrict g = grad + i * d;
      float* __restrict p = param + r * d;
      float* __restrict mr = m + r * d;
      float* __restrict vr = v + r * d;
      for (int64_t e = 0; e < d; ++e) {
        const float mi = b1 * mr[e] + ob1 * g[e];
        const float vi = b2 * vr[e] + ob2 * (g[e] * g[e]);
        mr[e] = mi;
        vr[e] = vi;
        p[e] -= lr * ((mi * c1) / (std::sqrt(vi * c2) + eps) + wd * p[e]);
      }
    }
  });
}

}  // namespace funnel
