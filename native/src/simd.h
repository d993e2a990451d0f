// Vector helpers over GCC/Clang vector extensions. The width follows the target:
// 16 floats with AVX-512, 8 with AVX/AVX2, 4 otherwise (SSE, NEON). Compilers without vector
// extensions get FUNNEL_SIMD 0 and every kernel takes its plain scalar loop instead.
#pragma once
#include <cstdint>
#include <cstring>

namespace funnel {

#if (defined(__GNUC__) || defined(__clang__)) && !defined(FUNNEL_NO_SIMD)
#define FUNNEL_SIMD 1
#if defined(__AVX512F__)
constexpr int VW = 16;
#elif defined(__AVX__)
constexpr int VW = 8;
#else
constexpr int VW = 4;
#endif
typedef float vf __attribute__((vector_size(VW * sizeof(float))));

static inline vf vload(const float* p) {
  vf v;
  std::memcpy(&v, p, sizeof(vf));
  return v;
}
static inline void vstore(float* p, vf v) { std::memcpy(p, &v, sizeof(vf)); }
static inline vf vsplat(float x) { return vf{} + x; }
static inline float vsum(vf v) {
  float s = 0.f;
  for (int i = 0; i < VW; ++i) s += v[i];
  return s;
}
#else
#define FUNNEL_SIMD 0
constexpr int VW = 1;
#endif

/** Sum of x[i] * y[i]. */
static inline float dot(const float* x, const float* y, int64_t d) {
  int64_t i = 0;
  float s = 0.f;
#if FUNNEL_SIMD
  vf a0 = {}, a1 = {}, a2 = {}, a3 = {};
  for (; i + 4 * VW <= d; i += 4 * VW) {
    a0 += vload(x + i) * vload(y + i);
    a1 += vload(x + i + VW) * vload(y + i + VW);
    a2 += vload(x + i + 2 * VW) * vload(y + i + 2 * VW);
    a3 += vload(x + i + 3 * VW) * vload(y + i + 3 * VW);
  }
  for (; i + VW <= d; i += VW) a0 += vload(x + i) * vload(y + i);
  s = vsum((a0 + a1) + (a2 + a3));
#endif
  for (; i < d; ++i) s += x[i] * y[i];
  return s;
}

/** y[i] += a * x[i]. */
static inline void axpy(float a, const float* x, float* y, int64_t d) {
  int64_t i = 0;
#if FUNNEL_SIMD
  const vf va = vsplat(a);
  for (; i + 2 * VW <= d; i += 2 * VW) {
    vstore(y + i, vload(y + i) + va * vload(x + i));
    vstore(y + i + VW, vload(y + i + VW) + va * vload(x + i + VW));
  }
  for (; i + VW <= d; i += VW) vstore(y + i, vload(y + i) + va * vload(x + i));
#endif
  for (; i < d; ++i) y[i] += a * x[i];
}

/** y[i] *= a, with a == 0 writing zeros (so NaN/Inf in y do not survive a zero scale). */
static inline void scale(float a, float* y, int64_t d) {
  if (a == 1.f) return;
  if (a == 0.f) {
    std::memset(y, 0, sizeof(float) * d);
    return;
  }
  for (int64_t i = 0; i < d; ++i) y[i] *= a;
}

}  // namespace funnel
