// The search of the IVF item index (src/index/ivf.ts): inverted lists of 8-bit codes, scanned
// sequentially, then an exact re-score of the best estimates.
//
//   1. The lists to scan: the nprobe best centroids for the query [u, 1] (centroids of the
//      items' [v, b] rows, stored transposed: (dim + 1) × nlist, one vectorised pass), and the
//      next best ones while fewer than min_scan items were scanned.
//   2. Each item of those lists has a code per coordinate, v_j ≈ lo_j + code_j · step_j. The
//      query's weights w_j = u_j · step_j are rounded to int8 at a per-query scale, so an
//      item's estimate is  Σ u_j lo_j + scale · Σ code_j w8_j + b  with an exact integer dot
//      product (AVX-512 VNNI where the CPU has it, else a plain loop: the same integers).
//   3. The R best estimates are re-scored exactly from the items' float rows, summed in double
//      in coordinate order (as src/index/exact.ts and the tests' reference do), and returned
//      best first, ties by the lower id.
// The codes of a list are contiguous (cb bytes per item, cb a multiple of 64, padded with
// zeros), so the scan streams memory instead of chasing a graph: the cost is the bytes of the
// probed lists, prefetched a list ahead.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <numeric>
#include <vector>

#if (defined(__AVX512VNNI__) && defined(__AVX512BW__)) && !defined(FUNNEL_NO_SIMD)
#include <immintrin.h>
#define FUNNEL_IVF_VNNI 1
#endif
#if (defined(__SSE__) || defined(__x86_64__)) && !defined(FUNNEL_NO_SIMD)
#include <xmmintrin.h>
#define FUNNEL_IVF_PREFETCH(p) _mm_prefetch(reinterpret_cast<const char*>(p), _MM_HINT_T0)
#else
#define FUNNEL_IVF_PREFETCH(p) __builtin_prefetch(p)
#endif

namespace funnel {
namespace ivf {

struct Est {
  float s;
  int32_t slot;
};

/** Codes per block: 16 items (or centroids) side by side, 4 coordinates (bytes) each per 64-byte row. */
constexpr int64_t BLOCK = 16;

/**
 * Keeps the R best of what it is offered (estimates above the running threshold). The entries
 * live in a buffer of 2R slots written field by field: `push_back` of a built {s, slot} stored
 * the pair as two 4-byte writes and read it back as one 8-byte load, a failed store forward
 * per offer (~5% of the search in perf annotate).
 */
struct Shortlist {
  std::vector<Est> buf;
  int64_t n = 0;
  int64_t R = 0;
  float thr = -INFINITY;
  void reset(int64_t r) {
    R = r;
    thr = -INFINITY;
    n = 0;
    if (static_cast<int64_t>(buf.size()) < 2 * r) buf.resize(2 * r);
  }
  static bool better(const Est& a, const Est& b) { return a.s > b.s || (a.s == b.s && a.slot < b.slot); }
  void shrink() {
    std::nth_element(buf.begin(), buf.begin() + (R - 1), buf.begin() + n, better);
    n = R;
    float t = INFINITY;
    for (int64_t i = 0; i < n; ++i) t = std::min(t, buf[i].s);
    thr = t;
  }
  inline void offer(float s, int32_t slot) {
    if (!(s > thr)) return;
    Est& e = buf[n++];
    e.s = s;
    e.slot = slot;
    if (n >= 2 * R) shrink();
  }
  void finish() {
    if (n > R) shrink();
  }
};

struct Scratch {
  std::vector<float> cs;
  std::vector<int32_t> lists;
  std::vector<float> sample;
#ifdef FUNNEL_IVF_VNNI
  std::vector<__m512i> qw;
#endif
  std::vector<int8_t> q8;
  Shortlist shortlist;
  std::vector<std::pair<float, int32_t>> exact;
};

static inline Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

#ifdef FUNNEL_IVF_VNNI
/** A block's 16 dot products in one register; qw: the query's 4-byte groups, broadcast. */
static inline __m512i block_acc(const uint8_t* blk, const __m512i* qw, int64_t cb) {
  // Four independent sums: one chain of cb / 4 dependent vpdpbusd (5 cycles each) was the
  // scan's bound, not the loads (perf annotate, serve bench). Integer sums: the same result.
  const int64_t G = cb / 4;
  __m512i a0 = _mm512_setzero_si512(), a1 = _mm512_setzero_si512(), a2 = _mm512_setzero_si512(), a3 = _mm512_setzero_si512();
  int64_t g = 0;
  for (; g + 4 <= G; g += 4) {
    a0 = _mm512_dpbusd_epi32(a0, _mm512_loadu_si512(blk + g * 64), qw[g]);
    a1 = _mm512_dpbusd_epi32(a1, _mm512_loadu_si512(blk + (g + 1) * 64), qw[g + 1]);
    a2 = _mm512_dpbusd_epi32(a2, _mm512_loadu_si512(blk + (g + 2) * 64), qw[g + 2]);
    a3 = _mm512_dpbusd_epi32(a3, _mm512_loadu_si512(blk + (g + 3) * 64), qw[g + 3]);
  }
  for (; g < G; ++g) a0 = _mm512_dpbusd_epi32(a0, _mm512_loadu_si512(blk + g * 64), qw[g]);
  return _mm512_add_epi32(_mm512_add_epi32(a0, a1), _mm512_add_epi32(a2, a3));
}
#endif

/**
 * The 16 dot products Σ_j code_j · q8_j of one block (cb / 4 rows of 64 bytes: row g holds
 * bytes 4g..4g+3 of each of the 16 items), exact in int32; S holds the query's q8 (and qw).
 */
static inline void block_dots(const uint8_t* blk, const Scratch& S, int64_t cb, int32_t* out) {
#ifdef FUNNEL_IVF_VNNI
  _mm512_storeu_si512(out, block_acc(blk, S.qw.data(), cb));
#else
  const int8_t* q8 = S.q8.data();
  for (int64_t l = 0; l < BLOCK; ++l) out[l] = 0;
  for (int64_t g = 0; g < cb / 4; ++g) {
    const uint8_t* row = blk + g * 64;
    for (int64_t l = 0; l < BLOCK; ++l) {
      int32_t s = 0;
      for (int64_t b = 0; b < 4; ++b) s += int32_t(row[4 * l + b]) * int32_t(q8[4 * g + b]);
      out[l] += s;
    }
  }
#endif
}

/**
 * The search. Returns how many candidates were written (min(R, items in the probed lists)),
 * best exact score first, ties by the lower id. Items are not filtered here: the caller skips
 * excluded or unavailable ones and asks again with a larger R when too few are left.
 */
static int64_t search(Scratch& S, const float* q, int64_t d, const uint8_t* ccodes, const float* cbias, int64_t nlist, int64_t nprobe, const int32_t* start,
                      const int32_t* len, const uint8_t* codes, int64_t cb, const float* sbias, const int32_t* sid,
                      const float* lo, const float* step, const float* rows, const float* biases, int64_t R,
                      int64_t min_scan, int32_t* out_ids, float* out_s) {
  if (R <= 0 || nlist <= 0) return 0;
  // 1. The quantised query (u_j · step_j as int8 at one scale; zero beyond dim).
  S.q8.assign(cb, 0);
  double cst = 0;
  float wmax = 0;
  for (int64_t j = 0; j < d; ++j) {
    cst += double(q[j]) * lo[j];
    wmax = std::max(wmax, std::fabs(q[j] * step[j]));
  }
  const float scale = wmax > 0 ? wmax / 127.f : 1.f;
  for (int64_t j = 0; j < d; ++j) S.q8[j] = static_cast<int8_t>(std::lrint(q[j] * step[j] / scale));
  const float c0 = static_cast<float>(cst);
#ifdef FUNNEL_IVF_VNNI
  S.qw.resize(cb / 4);  // the query's 4-byte groups, broadcast
  for (int64_t g = 0; g < cb / 4; ++g) {
    int32_t w;
    std::memcpy(&w, S.q8.data() + 4 * g, 4);
    S.qw[g] = _mm512_set1_epi32(w);
  }
#endif
  alignas(64) int32_t dots[BLOCK];
  // 2. Centroid estimates from their codes (the same estimate as an item's).
  S.cs.resize(nlist);
  float* cs = S.cs.data();
  for (int64_t b0 = 0; b0 < nlist; b0 += BLOCK) {
    block_dots(ccodes + b0 * cb, S, cb, dots);
    for (int64_t l = 0; l < BLOCK && b0 + l < nlist; ++l) cs[b0 + l] = std::fma(float(dots[l]), scale, c0 + cbias[b0 + l]);
  }
  nprobe = std::min(nprobe, nlist);
  auto by_score = [cs](int32_t a, int32_t b) { return cs[a] > cs[b] || (cs[a] == cs[b] && a < b); };
  // The nprobe best lists, best first. A selection over all nlist scores mispredicts a branch
  // per comparison (~50 us at 4,096 lists): instead a threshold from a sample of the scores,
  // a branch-free pass keeping the lists at or above it, and the selection among those.
  S.lists.resize(nlist + 1);  // + 1: the branch-free passes write one slot past the kept
  int32_t* L = S.lists.data();
  // L[0, avail) holds the lists ranked or to rank; L[0, ranked) is in scan order.
  int64_t avail = 0;
  float thr = -INFINITY;
  if (nprobe < nlist && nlist >= 256) {
    S.sample.clear();
    for (int64_t c = 0; c < nlist; c += 8) S.sample.push_back(cs[c]);
    const int64_t r = std::min<int64_t>(static_cast<int64_t>(S.sample.size()) - 1, nprobe / 8 + 8);
    std::nth_element(S.sample.begin(), S.sample.begin() + r, S.sample.end(), std::greater<float>());
    thr = S.sample[r];
    for (int64_t c = 0; c < nlist; ++c) {
      L[avail] = static_cast<int32_t>(c);
      avail += cs[c] >= thr;
    }
  }
  if (avail < nprobe) {  // the sample misjudged (or few lists): rank among all
    std::iota(L, L + nlist, 0);
    avail = nlist;
  }
  if (nprobe < avail) std::nth_element(L, L + (nprobe - 1), L + avail, by_score);
  std::sort(L, L + nprobe, by_score);
  int64_t ranked = nprobe;
  // The next lists in scan order when min_scan asks for more than nprobe: a chunk at a time,
  // from the lists above the threshold, then from those below it (never a sort of them all).
  auto rank_more = [&]() -> bool {
    if (ranked == avail) {
      if (avail == nlist) return false;
      for (int64_t c = 0; c < nlist; ++c) {
        L[avail] = static_cast<int32_t>(c);
        avail += cs[c] < thr;
      }
    }
    const int64_t chunk = std::min<int64_t>(avail - ranked, std::max<int64_t>(nprobe, 64));
    if (ranked + chunk < avail) std::nth_element(L + ranked, L + ranked + chunk - 1, L + avail, by_score);
    std::sort(L + ranked, L + ranked + chunk, by_score);
    ranked += chunk;
    return true;
  };
  // 3. The lists' items, a block of 16 at a time.
  Shortlist& sl = S.shortlist;
  sl.reset(R);
  int64_t scanned = 0;
  const int64_t block_bytes = BLOCK * cb;
  auto prefetch_list = [&](int32_t nl) {
    const uint8_t* nx = codes + int64_t(start[nl]) * cb;
    const int64_t bytes = std::min<int64_t>(8 * block_bytes, ((int64_t(len[nl]) + BLOCK - 1) / BLOCK) * block_bytes);
    for (int64_t o = 0; o < bytes; o += 64) FUNNEL_IVF_PREFETCH(nx + o);
    // The slots' biases, one 64-byte line per block (16 floats), as far as the codes.
    const float* nb = sbias + start[nl];
    for (int64_t o = 0; o < bytes / cb; o += BLOCK) FUNNEL_IVF_PREFETCH(nb + o);
  };
  for (int64_t p = 0; p < nlist; ++p) {
    // The probed lists held fewer than min_scan items (a small catalogue, or lists sparse
    // around this query): go on down the ranking until they do.
    if (p == ranked && (scanned >= min_scan || !rank_more())) break;
    const int32_t l = S.lists[p];
#ifndef IVF_AHEAD
#define IVF_AHEAD 2
#endif
    if (p == 0) {  // the first lists now; then each list IVF_AHEAD lists before its scan
      for (int64_t a = 1; a < IVF_AHEAD && a < ranked; ++a) prefetch_list(S.lists[a]);
    }
    if (p + IVF_AHEAD < ranked) prefetch_list(S.lists[p + IVF_AHEAD]);
    const int64_t s0 = start[l], n = len[l];
    scanned += n;
    for (int64_t i = 0; i < n; i += BLOCK) {
      const uint8_t* blk = codes + (s0 + i) * cb;
      if (i + 8 * BLOCK < n) {
        for (int64_t o = 0; o < block_bytes; o += 64) FUNNEL_IVF_PREFETCH(blk + 8 * block_bytes + o);
        FUNNEL_IVF_PREFETCH(sbias + s0 + i + 8 * BLOCK);
      }
      const int64_t m = std::min<int64_t>(BLOCK, n - i);
      const float* sb = sbias + s0 + i;
#ifdef FUNNEL_IVF_VNNI
      // The block's 16 estimates in one register; only those above the shortlist's threshold
      // are offered (a few per list once it has filled).
      const __m512 e = _mm512_fmadd_ps(_mm512_cvtepi32_ps(block_acc(blk, S.qw.data(), cb)), _mm512_set1_ps(scale), _mm512_add_ps(_mm512_set1_ps(c0), _mm512_loadu_ps(sb)));
      uint32_t hit = _mm512_cmp_ps_mask(e, _mm512_set1_ps(sl.thr), _CMP_GT_OQ) & ((m == BLOCK) ? 0xffffu : ((1u << m) - 1));
      if (hit) {
        alignas(64) float es[BLOCK];
        _mm512_store_ps(es, e);
        while (hit) {
          const int k = __builtin_ctz(hit);
          hit &= hit - 1;
          sl.offer(es[k], static_cast<int32_t>(s0 + i + k));
        }
      }
#else
      block_dots(blk, S, cb, dots);
      for (int64_t k = 0; k < m; ++k) sl.offer(std::fma(float(dots[k]), scale, c0 + sb[k]), static_cast<int32_t>(s0 + i + k));
#endif
    }
  }
  sl.finish();
  // 3. Exact scores of the shortlist.
  const int64_t m = sl.n;
  for (int64_t i = 0; i < m; ++i) sl.buf[i].slot = sid[sl.buf[i].slot];  // slot -> item id
#ifndef IVF_ROWS_AHEAD
#define IVF_ROWS_AHEAD 16
#endif
  // Rows prefetched IVF_ROWS_AHEAD ahead of their scoring (all at once would overflow the
  // CPU's miss buffers and stall).
  auto prefetch_row = [&](int64_t i) {
    const float* r = rows + int64_t(sl.buf[i].slot) * d;
    for (int64_t o = 0; o < d; o += 16) FUNNEL_IVF_PREFETCH(r + o);
  };
  for (int64_t i = 0; i < std::min<int64_t>(m, IVF_ROWS_AHEAD); ++i) prefetch_row(i);
  S.exact.resize(m);
  // Eight rows at a time: eight independent sums, each in coordinate order.
  int64_t i = 0;
  for (; i + 8 <= m; i += 8) {
    const float* r[8];
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int t = 0; t < 8; ++t) {
      r[t] = rows + int64_t(sl.buf[i + t].slot) * d;
      if (i + t + IVF_ROWS_AHEAD < m) prefetch_row(i + t + IVF_ROWS_AHEAD);
    }
    for (int64_t j = 0; j < d; ++j) {
      const double qj = q[j];
      for (int t = 0; t < 8; ++t) acc[t] += qj * r[t][j];
    }
    for (int t = 0; t < 8; ++t) {
      const int32_t id = sl.buf[i + t].slot;
      S.exact[i + t] = {static_cast<float>(acc[t] + biases[id]), id};
    }
  }
  for (; i < m; ++i) {
    const int32_t a = sl.buf[i].slot;
    const float* ra = rows + int64_t(a) * d;
    double sa = 0;
    for (int64_t j = 0; j < d; ++j) sa += double(q[j]) * ra[j];
    S.exact[i] = {static_cast<float>(sa + biases[a]), a};
  }
  std::sort(S.exact.begin(), S.exact.end(), [](const std::pair<float, int32_t>& x, const std::pair<float, int32_t>& y) {
    return x.first > y.first || (x.first == y.first && x.second < y.second);
  });
  for (int64_t k = 0; k < m; ++k) {
    out_ids[k] = S.exact[k].second;
    out_s[k] = S.exact[k].first;
  }
  return m;
}

}  // namespace ivf
}  // namespace funnel
