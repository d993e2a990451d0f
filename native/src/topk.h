// Top-k selection over rows of scores, skipping excluded indices (e.g. items the user has
// already seen). Order: higher score first, ties to the lower index; NaN never selected.
// Slots beyond what a row can fill get index -1 and score -Infinity.
#pragma once
#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "threads.h"

namespace funnel {

namespace topk_detail {

struct Cand {
  float s;
  int32_t i;
};
/** a ranks before b. */
static inline bool better(const Cand& a, const Cand& b) { return a.s > b.s || (a.s == b.s && a.i < b.i); }

/** One row: a k-heap whose root is the worst kept candidate, and a sorted exclusion walk. */
static void row(int64_t n, const float* s, int64_t k, const int32_t* ex, int64_t ne, int32_t* out_idx,
                float* out_s, std::vector<Cand>& heap, std::vector<int32_t>& excl) {
  heap.clear();
  excl.assign(ex, ex + ne);
  std::sort(excl.begin(), excl.end());
  size_t e = 0;
  auto worse_on_top = [](const Cand& a, const Cand& b) { return better(a, b); };
  for (int64_t i = 0; i < n; ++i) {
    while (e < excl.size() && excl[e] < i) ++e;
    if (e < excl.size() && excl[e] == i) continue;
    const float x = s[i];
    if (static_cast<int64_t>(heap.size()) < k) {
      if (x != x) continue;  // NaN
      heap.push_back({x, static_cast<int32_t>(i)});
      std::push_heap(heap.begin(), heap.end(), worse_on_top);
    } else if (x > heap.front().s) {  // later index: a tie never beats the root
      std::pop_heap(heap.begin(), heap.end(), worse_on_top);
      heap.back() = {x, static_cast<int32_t>(i)};
      std::push_heap(heap.begin(), heap.end(), worse_on_top);
    }
  }
  std::sort(heap.begin(), heap.end(), better);
  for (int64_t j = 0; j < k; ++j) {
    const bool has = j < static_cast<int64_t>(heap.size());
    out_idx[j] = has ? heap[j].i : -1;
    out_s[j] = has ? heap[j].s : -std::numeric_limits<float>::infinity();
  }
}

}  // namespace topk_detail

/**
 * For each of `rows` rows of n scores: the k best indices and scores (rows×k outputs).
 * Row r excludes ex_indices[ex_indptr[r]..ex_indptr[r+1]) when ex_indptr is given.
 */
static void topk(int64_t rows, int64_t n, const float* scores, int64_t k, const int32_t* ex_indptr,
                 const int32_t* ex_indices, int32_t* out_idx, float* out_s) {
  if (rows == 0 || k == 0) return;
  const int T = threads_for(1.0 * rows * n, rows);
  run_threads(T, [&](int t, int nt) {
    int64_t r0, r1;
    split_range(rows, t, nt, r0, r1);
    std::vector<topk_detail::Cand> heap;
    heap.reserve(static_cast<size_t>(std::min(k, n) + 1));
    std::vector<int32_t> excl;
    for (int64_t r = r0; r < r1; ++r) {
      const int32_t* ex = ex_indptr ? ex_indices + ex_indptr[r] : nullptr;
      const int64_t ne = ex_indptr ? ex_indptr[r + 1] - ex_indptr[r] : 0;
      topk_detail::row(n, scores + r * n, k, ex, ne, out_idx + r * k, out_s + r * k, heap, excl);
    }
  });
}

}  // namespace funnel
