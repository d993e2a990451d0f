// N-API binding: unpacks arguments and calls the kernels in the headers. Shapes and index
// ranges are validated by the TypeScript wrapper (src/math/kernels/validate.ts); here only
// argument types are checked.
#include <napi.h>

#include <string>

#include "adam.h"
#include "embed.h"
#include "gemm.h"
#include "hnsw.h"
#include "ivf.h"
#include "losses.h"
#include "mapfile.h"
#include "sparse.h"
#include "threads.h"
#include "topk.h"

namespace {

using funnel::AdamParams;

/** Typed access to the arguments; the first type error is thrown to JavaScript and sticks. */
struct Args {
  const Napi::CallbackInfo& info;
  const char* fn;
  bool ok = true;

  void fail(size_t i, const char* want) {
    if (!ok) return;
    ok = false;
    const std::string msg = std::string(fn) + ": argument " + std::to_string(i) + " must be " + want;
    Napi::TypeError::New(info.Env(), msg).ThrowAsJavaScriptException();
  }
  int64_t i64(size_t i) {
    if (!info[i].IsNumber()) return fail(i, "a number"), 0;
    return info[i].As<Napi::Number>().Int64Value();
  }
  double num(size_t i) {
    if (!info[i].IsNumber()) return fail(i, "a number"), 0.0;
    return info[i].As<Napi::Number>().DoubleValue();
  }
  bool flag(size_t i) { return info[i].ToBoolean().Value(); }
  bool isNull(size_t i) { return info[i].IsNull() || info[i].IsUndefined(); }

  template <class T, napi_typedarray_type kind>
  T* array(size_t i, bool nullable, const char* want) {
    if (nullable && isNull(i)) return nullptr;
    if (!info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != kind) return fail(i, want), nullptr;
    return info[i].As<Napi::TypedArrayOf<T>>().Data();
  }
  float* f32(size_t i, bool nullable = false) {
    return array<float, napi_float32_array>(i, nullable, nullable ? "a Float32Array or null" : "a Float32Array");
  }
  int32_t* i32(size_t i, bool nullable = false) {
    return array<int32_t, napi_int32_array>(i, nullable, nullable ? "an Int32Array or null" : "an Int32Array");
  }
  uint8_t* u8(size_t i) { return array<uint8_t, napi_uint8_array>(i, false, "a Uint8Array"); }
};

Napi::Value Sgemm(const Napi::CallbackInfo& info) {
  Args a{info, "sgemm"};
  const bool ta = a.flag(0), tb = a.flag(1);
  const int64_t m = a.i64(2), n = a.i64(3), k = a.i64(4);
  const float alpha = a.num(5);
  const float *A = a.f32(6), *B = a.f32(7);
  const float beta = a.num(8);
  float* C = a.f32(9);
  if (a.ok) funnel::sgemm(ta, tb, m, n, k, alpha, A, B, beta, C);
  return info.Env().Undefined();
}

Napi::Value Csrmm(const Napi::CallbackInfo& info) {
  Args a{info, "csrmm"};
  const int64_t rows = a.i64(0);
  const int32_t *indptr = a.i32(2), *indices = a.i32(3);
  const float* values = a.f32(4);
  const int64_t n = a.i64(5);
  const float alpha = a.num(6);
  const float* B = a.f32(7);
  const float beta = a.num(8);
  float* C = a.f32(9);
  if (a.ok) funnel::csrmm(rows, indptr, indices, values, n, alpha, B, beta, C);
  return info.Env().Undefined();
}

Napi::Value Mmcsr(const Napi::CallbackInfo& info) {
  Args a{info, "mmcsr"};
  const int64_t m = a.i64(0), rows = a.i64(1), cols = a.i64(2);
  const int32_t *indptr = a.i32(3), *indices = a.i32(4);
  const float* values = a.f32(5);
  const float alpha = a.num(6);
  const float* A = a.f32(7);
  const float beta = a.num(8);
  float* C = a.f32(9);
  if (a.ok) funnel::mmcsr(m, rows, cols, indptr, indices, values, alpha, A, beta, C);
  return info.Env().Undefined();
}

Napi::Value DotRows(const Napi::CallbackInfo& info) {
  Args a{info, "dotRows"};
  const int64_t n = a.i64(0), d = a.i64(1);
  const float* x = a.f32(2);
  const int32_t* xi = a.i32(3, true);
  const float* y = a.f32(4);
  const int32_t* yi = a.i32(5, true);
  float* out = a.f32(6);
  if (a.ok) funnel::dot_rows(n, d, x, xi, y, yi, out);
  return info.Env().Undefined();
}

Napi::Value AxpyRows(const Napi::CallbackInfo& info) {
  Args a{info, "axpyRows"};
  const int64_t n = a.i64(0), d = a.i64(1);
  const float* alphas = info[2].IsNumber() ? nullptr : a.f32(2);
  const float alpha = info[2].IsNumber() ? static_cast<float>(a.num(2)) : 0.f;
  const float* x = a.f32(3);
  const int32_t* xi = a.i32(4, true);
  float* y = a.f32(5);
  const int32_t* yi = a.i32(6, true);
  if (a.ok) funnel::axpy_rows(n, d, alphas, alpha, x, xi, y, yi);
  return info.Env().Undefined();
}

Napi::Value EmbeddingBag(const Napi::CallbackInfo& info) {
  Args a{info, "embeddingBag"};
  const int64_t bags = a.i64(0), d = a.i64(1);
  const int32_t *indptr = a.i32(2), *indices = a.i32(3);
  const float* weights = a.f32(4, true);
  const float* table = a.f32(5);
  const bool mean = a.flag(6);
  float* out = a.f32(7);
  if (a.ok) funnel::embedding_bag(bags, d, indptr, indices, weights, table, mean, out);
  return info.Env().Undefined();
}

Napi::Value EmbeddingBagBackward(const Napi::CallbackInfo& info) {
  Args a{info, "embeddingBagBackward"};
  const int64_t bags = a.i64(0), d = a.i64(1);
  const int32_t *indptr = a.i32(2), *indices = a.i32(3);
  const float* weights = a.f32(4, true);
  const float* grad_out = a.f32(5);
  const bool mean = a.flag(6);
  float* grad_table = a.f32(7);
  if (a.ok) funnel::embedding_bag_backward(bags, d, indptr, indices, weights, grad_out, mean, grad_table);
  return info.Env().Undefined();
}

Napi::Value SampledScores(const Napi::CallbackInfo& info) {
  Args a{info, "sampledScores"};
  const int64_t nu = a.i64(0), d = a.i64(1);
  const float* users = a.f32(2);
  const int64_t ns = a.i64(3);
  const int32_t* ids = a.i32(4);
  const float* table = a.f32(5);
  const float* bias = a.f32(6, true);
  float* out = a.f32(7);
  if (a.ok) funnel::sampled_scores(nu, d, users, ns, ids, table, bias, out);
  return info.Env().Undefined();
}

Napi::Value SampledScoresBackward(const Napi::CallbackInfo& info) {
  Args a{info, "sampledScoresBackward"};
  const int64_t nu = a.i64(0), d = a.i64(1);
  const float* users = a.f32(2);
  const int64_t ns = a.i64(3);
  const int32_t* ids = a.i32(4);
  const float* table = a.f32(5);
  const float* g = a.f32(6);
  float* gu = a.f32(7, true);
  float* gs = a.f32(8, true);
  float* gb = a.f32(9, true);
  if (a.ok) funnel::sampled_scores_backward(nu, d, users, ns, ids, table, g, gu, gs, gb);
  return info.Env().Undefined();
}

Napi::Value AdamRows(const Napi::CallbackInfo& info) {
  Args a{info, "adamRows"};
  const int64_t n = a.i64(0), d = a.i64(1);
  const int32_t* rows = a.i32(2, true);
  const float* grad = a.f32(3);
  float *param = a.f32(4), *m = a.f32(5), *v = a.f32(6);
  AdamParams p;
  p.lr = a.num(7);
  p.beta1 = a.num(8);
  p.beta2 = a.num(9);
  p.eps = a.num(10);
  p.step = a.num(11);
  p.weight_decay = a.num(12);
  if (a.ok) funnel::adam_rows(n, d, rows, grad, param, m, v, p);
  return info.Env().Undefined();
}

Napi::Value BprPairs(const Napi::CallbackInfo& info) {
  Args a{info, "bprPairs"};
  const int64_t rows = a.i64(0), n = a.i64(1);
  const float* s = a.f32(2);
  const int32_t* pos_ptr = a.i32(3);
  const float* pos = a.f32(4);
  const float scale = a.num(5);
  float* grad_s = a.f32(6);
  float* grad_pos = a.f32(7);
  const bool want_loss = a.flag(8);
  double loss = 0;
  if (a.ok) loss = funnel::bpr_pairs(rows, n, s, pos_ptr, pos, scale, grad_s, grad_pos, want_loss);
  return Napi::Number::New(info.Env(), loss);
}

Napi::Value Topk(const Napi::CallbackInfo& info) {
  Args a{info, "topk"};
  const int64_t rows = a.i64(0), n = a.i64(1);
  const float* scores = a.f32(2);
  const int64_t k = a.i64(3);
  const int32_t* ex_indptr = a.i32(4, true);
  const int32_t* ex_indices = a.i32(5, true);
  int32_t* out_idx = a.i32(6);
  float* out_s = a.f32(7);
  if (a.ok) funnel::topk(rows, n, scores, k, ex_indptr, ex_indices, out_idx, out_s);
  return info.Env().Undefined();
}

/**
 * ivfSearch(query, dim, centroidCodes, centroidBias, nlist, nprobe, start, len, codes, codeBytes,
 * slotBias, slotId, lo, step, rows, biases, R, minScan, outIds, outScores) -> count
 * (native/src/ivf.h; shapes checked by src/index/ivf.ts).
 */
Napi::Value IvfSearch(const Napi::CallbackInfo& info) {
  Args a{info, "ivfSearch"};
  const float* q = a.f32(0);
  const int64_t d = a.i64(1);
  const uint8_t* ccodes = a.u8(2);
  const float* cbias = a.f32(3);
  const int64_t nlist = a.i64(4), nprobe = a.i64(5);
  const int32_t *start = a.i32(6), *len = a.i32(7);
  const uint8_t* codes = a.u8(8);
  const int64_t cb = a.i64(9);
  const float* sbias = a.f32(10);
  const int32_t* sid = a.i32(11);
  const float *lo = a.f32(12), *step = a.f32(13), *rows = a.f32(14), *biases = a.f32(15);
  const int64_t R = a.i64(16), min_scan = a.i64(17);
  int32_t* out_ids = a.i32(18);
  float* out_s = a.f32(19);
  int64_t n = 0;
  if (a.ok) n = funnel::ivf::search(funnel::ivf::scratch(), q, d, ccodes, cbias, nlist, nprobe, start, len, codes, cb, sbias, sid, lo, step, rows, biases, R, min_scan, out_ids, out_s);
  return Napi::Number::New(info.Env(), static_cast<double>(n));
}

/** firstOutOfRange(idx, from, to, limit): first i in [from, to) with idx[i] outside 0..limit-1, or -1. */
Napi::Value FirstOutOfRange(const Napi::CallbackInfo& info) {
  Args a{info, "firstOutOfRange"};
  const int32_t* idx = a.i32(0);
  const int64_t from = a.i64(1), to = a.i64(2), limit = a.i64(3);
  if (!a.ok) return info.Env().Undefined();
  const uint32_t lim = static_cast<uint32_t>(std::min<int64_t>(limit, UINT32_MAX));
  for (int64_t b = from; b < to; b += 4096) {
    const int64_t e = std::min<int64_t>(to, b + 4096);
    bool bad = false;  // branch-free over a block (vectorises), exact position only on failure
    for (int64_t i = b; i < e; ++i) bad |= static_cast<uint32_t>(idx[i]) >= lim;
    if (bad)
      for (int64_t i = b; i < e; ++i)
        if (static_cast<uint32_t>(idx[i]) >= lim) return Napi::Number::New(info.Env(), static_cast<double>(i));
  }
  return Napi::Number::New(info.Env(), -1);
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  Args a{info, "setThreads"};
  const int64_t n = a.i64(0);
  if (a.ok) funnel::thread_budget() = n <= 0 ? funnel::hardware_threads() : static_cast<int>(n);
  if (a.ok && info.Length() > 1 && !a.isNull(1)) funnel::thread_grain() = a.num(1);
  return Napi::Number::New(info.Env(), funnel::thread_budget());
}

Napi::Value GetThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), funnel::thread_budget());
}

Napi::Value GetThreadGrain(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), funnel::thread_grain());
}

/** What the addon was compiled for: SIMD level, vector width, micro-tile, compiler. */
Napi::Value BuildInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
#if defined(__AVX512F__)
  const char* simd = "avx512";
#elif defined(__AVX2__)
  const char* simd = "avx2";
#elif defined(__AVX__)
  const char* simd = "avx";
#elif defined(__SSE2__)
  const char* simd = "sse2";
#elif defined(__ARM_NEON)
  const char* simd = "neon";
#else
  const char* simd = "scalar";
#endif
#if defined(FUNNEL_PORTABLE)
  const bool portable = true;
#else
  const bool portable = false;
#endif
  o.Set("simd", FUNNEL_SIMD ? simd : "scalar");
  o.Set("vectorWidth", funnel::VW);
  o.Set("tile", std::to_string(funnel::gemm_detail::MR) + "x" + std::to_string(funnel::gemm_detail::NR));
  o.Set("portable", portable);
  o.Set("fma", Napi::Boolean::New(env,
#if defined(__FMA__) || defined(__ARM_FEATURE_FMA)
                                  true
#else
                                  false
#endif
                                  ));
#if defined(__clang__)
  o.Set("compiler", "clang " __clang_version__);
#elif defined(__GNUC__)
  o.Set("compiler", "gcc " __VERSION__);
#elif defined(_MSC_VER)
  o.Set("compiler", "msvc " + std::to_string(_MSC_VER));
#endif
  o.Set("hardwareThreads", funnel::hardware_threads());
  return o;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("sgemm", Napi::Function::New(env, Sgemm));
  exports.Set("csrmm", Napi::Function::New(env, Csrmm));
  exports.Set("mmcsr", Napi::Function::New(env, Mmcsr));
  exports.Set("dotRows", Napi::Function::New(env, DotRows));
  exports.Set("axpyRows", Napi::Function::New(env, AxpyRows));
  exports.Set("embeddingBag", Napi::Function::New(env, EmbeddingBag));
  exports.Set("embeddingBagBackward", Napi::Function::New(env, EmbeddingBagBackward));
  exports.Set("sampledScores", Napi::Function::New(env, SampledScores));
  exports.Set("sampledScoresBackward", Napi::Function::New(env, SampledScoresBackward));
  exports.Set("adamRows", Napi::Function::New(env, AdamRows));
  exports.Set("topk", Napi::Function::New(env, Topk));
  exports.Set("ivfSearch", Napi::Function::New(env, IvfSearch));
  exports.Set("bprPairs", Napi::Function::New(env, BprPairs));
  exports.Set("firstOutOfRange", Napi::Function::New(env, FirstOutOfRange));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads));
  exports.Set("getThreads", Napi::Function::New(env, GetThreads));
  exports.Set("getThreadGrain", Napi::Function::New(env, GetThreadGrain));
  exports.Set("buildInfo", Napi::Function::New(env, BuildInfo));
  exports.Set("mapFile", Napi::Function::New(env, funnel::MapFile));
  exports.Set("mapFileAsync", Napi::Function::New(env, funnel::MapFileAsync));
  exports.Set("HnswGraph", funnel::HnswGraph::Define(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(funnel_native, Init)
