// HNSW graphs for src/index/hnsw.ts: hnswlib 0.8 (vendored in hnswlib/, Apache-2.0, with two
// Funnel changes marked FUNNEL in hnswalg.h: batch prefetch in the search, and searchKnn split
// so that results come as internal ids), compiled with the
// addon's flags (-O3 -march=native: AVX-512/AVX distances where the CPU has them; the npm
// package hnswlib-node is built with none of them) and searched into typed arrays.
//
// The graph file is hnswlib's own format (saveIndex/loadIndex), the same as hnswlib-node's.
#pragma once

#include <napi.h>

#include <cstdint>
#include <fstream>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>

// hnswlib as vendored (its own warnings are not Funnel's to fix).
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-variable"
#pragma GCC diagnostic ignored "-Wtype-limits"
#endif
#include "hnswlib/hnswlib.h"
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

namespace funnel {

/**
 * addPointsAsync's work: the rows added in order on a thread of libuv's pool, so that the
 * graphs of several norm bands build at once (each graph on one thread: the same graph as
 * adding the same rows in the same order on the main thread).
 */
class AddPointsWorker : public Napi::AsyncWorker {
 public:
  AddPointsWorker(Napi::Env env, Napi::Object self, hnswlib::HierarchicalNSW<float>* index, bool* busy, size_t dim, Napi::Float32Array rows,
                  Napi::Int32Array labels, Napi::Value progress)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), index_(index), busy_(busy), dim_(dim) {
    self_ = Napi::Persistent(self);
    rowsRef_ = Napi::Persistent(rows.As<Napi::Object>());
    labelsRef_ = Napi::Persistent(labels.As<Napi::Object>());
    rows_ = rows.Data();
    labels_ = labels.Data();
    n_ = labels.ElementLength();
    if (progress.IsTypedArray()) {
      progRef_ = Napi::Persistent(progress.As<Napi::Object>());
      prog_ = progress.As<Napi::Int32Array>().Data();
    }
  }
  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      for (size_t i = 0; i < n_; i++) {
        index_->addPoint(rows_ + i * dim_, static_cast<size_t>(labels_[i]));
        if (prog_ && (i & 1023) == 1023) prog_[0] = static_cast<int32_t>(i + 1);
      }
      if (prog_) prog_[0] = static_cast<int32_t>(n_);
    } catch (const std::exception& e) {
      SetError(std::string("HnswGraph.addPointsAsync: ") + e.what());
    }
  }
  void OnOK() override {
    *busy_ = false;
    deferred_.Resolve(Env().Undefined());
  }
  void OnError(const Napi::Error& e) override {
    *busy_ = false;
    deferred_.Reject(e.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  hnswlib::HierarchicalNSW<float>* index_;
  bool* busy_;
  size_t dim_;
  Napi::ObjectReference self_, rowsRef_, labelsRef_, progRef_;
  const float* rows_ = nullptr;
  const int32_t* labels_ = nullptr;
  int32_t* prog_ = nullptr;
  size_t n_ = 0;
};

/**
 * readIndexAsync's work: the graph read (or mapped, or copied onto huge pages) on a thread of
 * libuv's pool, then installed on the main thread. Reading a large graph onto huge pages takes
 * hundreds of milliseconds (fresh memory faulted in); a server reloading its models keeps
 * answering meanwhile.
 */
class ReadIndexWorker : public Napi::AsyncWorker {
 public:
  using Index = hnswlib::HierarchicalNSW<float>;
  ReadIndexWorker(Napi::Env env, Napi::Object self, std::function<std::unique_ptr<Index>()> load, std::function<void(std::unique_ptr<Index>)> install, bool* busy)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), load_(std::move(load)), install_(std::move(install)), busy_(busy) {
    self_ = Napi::Persistent(self);
  }
  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      loaded_ = load_();
    } catch (const std::exception& e) {
      SetError(std::string("HnswGraph.readIndexAsync: ") + e.what());
    }
  }
  void OnOK() override {
    *busy_ = false;
    install_(std::move(loaded_));
    deferred_.Resolve(Env().Undefined());
  }
  void OnError(const Napi::Error& e) override {
    *busy_ = false;
    deferred_.Reject(e.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::function<std::unique_ptr<Index>()> load_;
  std::function<void(std::unique_ptr<Index>)> install_;
  bool* busy_;
  std::unique_ptr<Index> loaded_;
  Napi::ObjectReference self_;
};

class HnswGraph : public Napi::ObjectWrap<HnswGraph> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "HnswGraph", {
      InstanceMethod("initIndex", &HnswGraph::InitIndex),
      InstanceMethod("readIndex", &HnswGraph::ReadIndex),
      InstanceMethod("readIndexAsync", &HnswGraph::ReadIndexAsync),
      InstanceMethod("writeIndex", &HnswGraph::WriteIndex),
      InstanceMethod("resizeIndex", &HnswGraph::ResizeIndex),
      InstanceMethod("addPoint", &HnswGraph::AddPoint),
      InstanceMethod("addPointsAsync", &HnswGraph::AddPointsAsync),
      InstanceMethod("markDelete", &HnswGraph::MarkDelete),
      InstanceMethod("unmarkDelete", &HnswGraph::UnmarkDelete),
      InstanceMethod("getCurrentCount", &HnswGraph::GetCurrentCount),
      InstanceMethod("getMaxElements", &HnswGraph::GetMaxElements),
      InstanceMethod("isMapped", &HnswGraph::IsMapped),
      InstanceMethod("isHugeCopy", &HnswGraph::IsHugeCopy),
      InstanceMethod("setEf", &HnswGraph::SetEf),
      InstanceMethod("search", &HnswGraph::Search),
      InstanceMethod("reorderForLocality", &HnswGraph::ReorderForLocality),
    });
  }

  explicit HnswGraph(const Napi::CallbackInfo& info) : Napi::ObjectWrap<HnswGraph>(info) {
    if (!info[0].IsNumber() || info[0].As<Napi::Number>().Int64Value() < 1) {
      Napi::TypeError::New(info.Env(), "HnswGraph: dim must be a positive integer").ThrowAsJavaScriptException();
      return;
    }
    dim_ = static_cast<size_t>(info[0].As<Napi::Number>().Int64Value());
    space_ = std::make_unique<hnswlib::L2Space>(dim_);
  }

 private:
  size_t dim_ = 0;
  size_t ef_ = 10;
  /** An addPointsAsync build is running: every other call throws until it ends. */
  bool busy_ = false;
  std::unique_ptr<hnswlib::L2Space> space_;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> index_;

  /** Throws a JS error and returns false when there is no index yet. */
  bool ready(Napi::Env env, const char* fn) {
    if (building(env, fn)) return false;
    if (index_) return true;
    Napi::Error::New(env, std::string("HnswGraph.") + fn + ": the index is not initialised (initIndex or readIndex first)").ThrowAsJavaScriptException();
    return false;
  }
  static bool count(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* what, int64_t min, size_t* out) {
    if (!info[i].IsNumber() || info[i].As<Napi::Number>().Int64Value() < min) {
      Napi::TypeError::New(info.Env(), std::string("HnswGraph.") + fn + ": " + what + " must be an integer >= " + std::to_string(min)).ThrowAsJavaScriptException();
      return false;
    }
    *out = static_cast<size_t>(info[i].As<Napi::Number>().Int64Value());
    return true;
  }
  /** The float32 row at argument i (length dim). */
  const float* row(const Napi::CallbackInfo& info, size_t i, const char* fn) {
    if (!info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array ||
        info[i].As<Napi::Float32Array>().ElementLength() != dim_) {
      Napi::TypeError::New(info.Env(), std::string("HnswGraph.") + fn + ": expected a Float32Array of length " + std::to_string(dim_)).ThrowAsJavaScriptException();
      return nullptr;
    }
    return info[i].As<Napi::Float32Array>().Data();
  }
  /**
   * hnswlib reads a graph file without checking it: the header must describe an element layout
   * of this dimension (links, vector, label) and the file must hold every element.
   */
  void checkHeader(const std::string& path) const {
    std::ifstream in(path, std::ios::binary);
    if (!in.is_open()) throw std::runtime_error("cannot open " + path);
    in.seekg(0, in.end);
    const uint64_t total = static_cast<uint64_t>(in.tellg());
    in.seekg(0, in.beg);
    uint64_t offsetLevel0 = 0, maxElements = 0, count = 0, perElement = 0, labelOffset = 0, offsetData = 0, maxM = 0, maxM0 = 0, m = 0;
    int32_t maxLevel = 0;
    uint32_t entry = 0;
    in.read(reinterpret_cast<char*>(&offsetLevel0), 8).read(reinterpret_cast<char*>(&maxElements), 8).read(reinterpret_cast<char*>(&count), 8)
      .read(reinterpret_cast<char*>(&perElement), 8).read(reinterpret_cast<char*>(&labelOffset), 8).read(reinterpret_cast<char*>(&offsetData), 8)
      .read(reinterpret_cast<char*>(&maxLevel), 4).read(reinterpret_cast<char*>(&entry), 4)
      .read(reinterpret_cast<char*>(&maxM), 8).read(reinterpret_cast<char*>(&maxM0), 8).read(reinterpret_cast<char*>(&m), 8);
    const uint64_t header = 6 * 8 + 4 + 4 + 3 * 8 + 8 + 8;
    const uint64_t links0 = maxM0 * sizeof(hnswlib::tableint) + sizeof(hnswlib::linklistsizeint);
    const bool layout = in.good() && offsetLevel0 == 0 && m >= 2 && m < 65536 && maxM == m && maxM0 == 2 * m && offsetData == links0 &&
                        labelOffset == links0 + dim_ * sizeof(float) && perElement == labelOffset + sizeof(hnswlib::labeltype) && count <= maxElements;
    if (!layout) {
      const bool otherDim = in.good() && offsetData == links0 && labelOffset > offsetData && (labelOffset - offsetData) % sizeof(float) == 0;
      throw std::runtime_error(path + ": not an HNSW graph of dimension " + std::to_string(dim_) +
                               (otherDim ? " (it holds vectors of dimension " + std::to_string((labelOffset - offsetData) / sizeof(float)) + ")" : ""));
    }
    if (total < header + count * perElement) throw std::runtime_error(path + ": truncated (" + std::to_string(total) + " bytes for " + std::to_string(count) + " elements)");
  }

  static void fail(Napi::Env env, const char* fn, const std::exception& e) {
    Napi::Error::New(env, std::string("HnswGraph.") + fn + ": " + e.what()).ThrowAsJavaScriptException();
  }

  /** Throws a JS error and returns true while an addPointsAsync build runs. */
  bool building(Napi::Env env, const char* fn) {
    if (!busy_) return false;
    Napi::Error::New(env, std::string("HnswGraph.") + fn + ": the graph is being built or read (addPointsAsync, readIndexAsync)").ThrowAsJavaScriptException();
    return true;
  }

  /** initIndex(maxElements, m, efConstruction, seed) */
  Napi::Value InitIndex(const Napi::CallbackInfo& info) {
    if (building(info.Env(), "initIndex")) return info.Env().Undefined();
    size_t n, m, efc, seed;
    if (!count(info, 0, "initIndex", "maxElements", 1, &n) || !count(info, 1, "initIndex", "m", 2, &m) ||
        !count(info, 2, "initIndex", "efConstruction", 1, &efc) || !count(info, 3, "initIndex", "seed", 0, &seed)) return info.Env().Undefined();
    try {
      index_ = std::make_unique<hnswlib::HierarchicalNSW<float>>(space_.get(), n, m, efc, seed);
      index_->setEf(ef_);
    } catch (const std::exception& e) {
      fail(info.Env(), "initIndex", e);
    }
    return info.Env().Undefined();
  }

  Napi::Value ReadIndex(const Napi::CallbackInfo& info) {
    if (building(info.Env(), "readIndex")) return info.Env().Undefined();
    if (!info[0].IsString()) {
      Napi::TypeError::New(info.Env(), "HnswGraph.readIndex: path must be a string").ThrowAsJavaScriptException();
      return info.Env().Undefined();
    }
    const ReadArgs a = readArgs(info);
    try {
      install(load(a.path, a.map, a.populate, a.huge));
    } catch (const std::exception& e) {
      fail(info.Env(), "readIndex", e);
    }
    return info.Env().Undefined();
  }

  /** readIndexAsync(path, map, populate, huge): readIndex on a pool thread; a promise. */
  Napi::Value ReadIndexAsync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (building(env, "readIndexAsync")) return env.Undefined();
    if (!info[0].IsString()) {
      Napi::TypeError::New(env, "HnswGraph.readIndexAsync: path must be a string").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    const ReadArgs a = readArgs(info);
    auto* w = new ReadIndexWorker(
        env, info.This().As<Napi::Object>(), [this, a]() { return load(a.path, a.map, a.populate, a.huge); },
        [this](std::unique_ptr<hnswlib::HierarchicalNSW<float>> index) { install(std::move(index)); }, &busy_);
    busy_ = true;
    Napi::Promise p = w->Promise();
    w->Queue();
    return p;
  }

  struct ReadArgs {
    std::string path;
    bool map, populate, huge;
  };
  /**
   * readIndex(path, map = true, populate = false, huge = false): `map`: the level-0 block
   * (vectors and links, the bulk of the file) mapped copy-on-write where the platform can
   * (mmap.h), so processes serving one artifact share it (false reads it into memory of its
   * own); `populate`: a mapped block gets every page mapped at once; `huge`: the block read
   * into private memory on transparent huge pages instead (mmap.h read_file_huge), the mapping
   * (when `map`) or an ordinary read where that fails. The path is checked by the caller.
   */
  static ReadArgs readArgs(const Napi::CallbackInfo& info) {
    return {info[0].As<Napi::String>().Utf8Value(), info.Length() < 2 || !info[1].IsBoolean() || info[1].As<Napi::Boolean>().Value(),
            info.Length() > 2 && info[2].ToBoolean().Value(), info.Length() > 3 && info[3].ToBoolean().Value()};
  }

  /** A graph read from `path` (see readArgs); throws on a bad file. Touches no member but the space. */
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> load(const std::string& path, bool map, bool populate, bool huge) const {
    checkHeader(path);
    auto index = std::make_unique<hnswlib::HierarchicalNSW<float>>(space_.get());
    index->mapLevel0_ = map;
    index->populateLevel0_ = populate;
    index->hugeLevel0_ = huge;
    index->loadIndex(path, space_.get(), 0);
    return index;
  }

  void install(std::unique_ptr<hnswlib::HierarchicalNSW<float>> index) {
    index_ = std::move(index);
    index_->setEf(ef_);
  }

  Napi::Value WriteIndex(const Napi::CallbackInfo& info) {
    if (!ready(info.Env(), "writeIndex")) return info.Env().Undefined();
    if (!info[0].IsString()) {
      Napi::TypeError::New(info.Env(), "HnswGraph.writeIndex: path must be a string").ThrowAsJavaScriptException();
      return info.Env().Undefined();
    }
    try {
      // A mapped block is copied out first: the file written may be the one mapped.
      index_->detachLevel0();
      index_->saveIndex(info[0].As<Napi::String>().Utf8Value());
    } catch (const std::exception& e) {
      fail(info.Env(), "writeIndex", e);
    }
    return info.Env().Undefined();
  }

  Napi::Value ResizeIndex(const Napi::CallbackInfo& info) {
    size_t n;
    if (!ready(info.Env(), "resizeIndex") || !count(info, 0, "resizeIndex", "maxElements", 1, &n)) return info.Env().Undefined();
    try {
      index_->resizeIndex(n);
    } catch (const std::exception& e) {
      fail(info.Env(), "resizeIndex", e);
    }
    return info.Env().Undefined();
  }

  /** addPoint(row, label): a label already present gets the new vector and loses its deleted mark. */
  Napi::Value AddPoint(const Napi::CallbackInfo& info) {
    size_t label;
    if (!ready(info.Env(), "addPoint")) return info.Env().Undefined();
    const float* v = row(info, 0, "addPoint");
    if (!v || !count(info, 1, "addPoint", "label", 0, &label)) return info.Env().Undefined();
    try {
      index_->addPoint(v, label);
    } catch (const std::exception& e) {
      fail(info.Env(), "addPoint", e);
    }
    return info.Env().Undefined();
  }

  /**
   * addPointsAsync(rows, labels, progress?): adds rows (n × dim floats) under labels (n) in
   * order on a worker thread; resolves when done. `progress` (an Int32Array) gets the count
   * added so far. The graph must not be used until the promise settles (calls throw).
   */
  Napi::Value AddPointsAsync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!ready(env, "addPointsAsync")) return env.Undefined();
    if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array ||
        !info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
      Napi::TypeError::New(env, "HnswGraph.addPointsAsync: expected (Float32Array rows, Int32Array labels[, Int32Array progress])").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    Napi::Float32Array rows = info[0].As<Napi::Float32Array>();
    Napi::Int32Array labels = info[1].As<Napi::Int32Array>();
    if (rows.ElementLength() != labels.ElementLength() * dim_) {
      Napi::TypeError::New(env, "HnswGraph.addPointsAsync: rows must hold labels.length × " + std::to_string(dim_) + " floats").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    for (size_t i = 0; i < labels.ElementLength(); i++) {
      if (labels[i] < 0) {
        Napi::TypeError::New(env, "HnswGraph.addPointsAsync: labels must be >= 0").ThrowAsJavaScriptException();
        return env.Undefined();
      }
    }
    if (index_->getCurrentElementCount() + labels.ElementLength() > index_->getMaxElements()) {
      Napi::Error::New(env, "HnswGraph.addPointsAsync: the graph has room for " + std::to_string(index_->getMaxElements() - index_->getCurrentElementCount()) + " more elements (resizeIndex first)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    auto* w = new AddPointsWorker(env, info.This().As<Napi::Object>(), index_.get(), &busy_, dim_, rows, labels, info[2]);
    busy_ = true;
    Napi::Promise p = w->Promise();
    w->Queue();
    return p;
  }

  Napi::Value MarkDelete(const Napi::CallbackInfo& info) { return mark(info, true); }
  Napi::Value UnmarkDelete(const Napi::CallbackInfo& info) { return mark(info, false); }
  /** Marks or unmarks a label; returns false when the label is not in the graph or already so. */
  Napi::Value mark(const Napi::CallbackInfo& info, bool del) {
    const char* fn = del ? "markDelete" : "unmarkDelete";
    size_t label;
    if (!ready(info.Env(), fn) || !count(info, 0, fn, "label", 0, &label)) return info.Env().Undefined();
    try {
      if (del) index_->markDelete(label);
      else index_->unmarkDelete(label);
    } catch (const std::exception&) {
      return Napi::Boolean::New(info.Env(), false);
    }
    return Napi::Boolean::New(info.Env(), true);
  }

  Napi::Value GetCurrentCount(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), index_ ? static_cast<double>(index_->getCurrentElementCount()) : 0);
  }
  Napi::Value GetMaxElements(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), index_ ? static_cast<double>(index_->getMaxElements()) : 0);
  }
  /** reorderForLocality(): internal ids in breadth-first order (hnswalg.h); labels and answers unchanged. */
  Napi::Value ReorderForLocality(const Napi::CallbackInfo& info) {
    if (!ready(info.Env(), "reorderForLocality")) return info.Env().Undefined();
    try {
      index_->reorderForLocality();
    } catch (const std::exception& e) {
      fail(info.Env(), "reorderForLocality", e);
    }
    return info.Env().Undefined();
  }
  Napi::Value IsMapped(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), index_ ? index_->level0Mapped() : false);
  }
  Napi::Value IsHugeCopy(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), index_ ? index_->level0Huge() : false);
  }
  Napi::Value SetEf(const Napi::CallbackInfo& info) {
    size_t ef;
    if (!count(info, 0, "setEf", "ef", 1, &ef)) return info.Env().Undefined();
    ef_ = ef;
    if (index_) index_->setEf(ef);
    return info.Env().Undefined();
  }

  /** Calls a JS predicate per candidate label (the filtered search). */
  struct JsFilter : hnswlib::BaseFilterFunctor {
    Napi::Env env;
    Napi::Function fn;
    bool failed = false;
    JsFilter(Napi::Env e, Napi::Function f) : env(e), fn(f) {}
    bool operator()(hnswlib::labeltype id) override {
      if (failed) return false;
      Napi::Value r = fn.Call({Napi::Number::New(env, static_cast<double>(id))});
      if (r.IsEmpty() || env.IsExceptionPending()) {
        failed = true;
        return false;
      }
      return r.ToBoolean().Value();
    }
  };

  /**
   * search(query, k, labels: Int32Array, values: Float32Array | null, filter?, inner?) -> found:
   * the k nearest labels by increasing squared L2 distance (breadth max(ef, k)), written to the
   * first `found` slots of the outputs (each at least k long). `values` receives the squared
   * distances, or with `inner` the inner products <query, row> computed from the stored rows
   * (for Funnel's augmented rows [v, b, s] and queries [u, 1, 0]: exactly u.v + b, which the
   * distance, |q|^2 + |x|^2 - 2<q, x> in float32, would give only to a few digits).
   */
  Napi::Value Search(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    size_t k;
    if (!ready(env, "search")) return env.Undefined();
    const float* q = row(info, 0, "search");
    if (!q || !count(info, 1, "search", "k", 0, &k)) return env.Undefined();
    if (!info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array || info[2].As<Napi::Int32Array>().ElementLength() < k) {
      Napi::TypeError::New(env, "HnswGraph.search: labels must be an Int32Array of length >= k").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    const bool withDist = !(info[3].IsNull() || info[3].IsUndefined());
    if (withDist && (!info[3].IsTypedArray() || info[3].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array || info[3].As<Napi::Float32Array>().ElementLength() < k)) {
      Napi::TypeError::New(env, "HnswGraph.search: distances must be a Float32Array of length >= k, or null").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    const bool filtered = info.Length() > 4 && !(info[4].IsNull() || info[4].IsUndefined());
    const bool inner = info.Length() > 5 && info[5].ToBoolean().Value();
    if (filtered && !info[4].IsFunction()) {
      Napi::TypeError::New(env, "HnswGraph.search: filter must be a function").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    int32_t* labels = info[2].As<Napi::Int32Array>().Data();
    float* dist = withDist ? info[3].As<Napi::Float32Array>().Data() : nullptr;
    if (k == 0 || index_->getCurrentElementCount() == 0) return Napi::Number::New(env, 0);
    try {
      std::unique_ptr<JsFilter> filter;
      if (filtered) filter = std::make_unique<JsFilter>(env, info[4].As<Napi::Function>());
      auto result = index_->searchKnnInternal(q, k, filter.get());
      if (filter && filter->failed) return env.Undefined();  // the predicate threw: rethrown as is
      // The queue pops the farthest first: fill from the back. Internal ids give the label and
      // the row directly (the rows were just visited by the search: still in cache).
      const size_t found = result.size();
      for (size_t p = found; p-- > 0;) {
        const hnswlib::tableint id = result.top().second;
        labels[p] = static_cast<int32_t>(index_->getExternalLabel(id));
        if (dist) {
          if (inner) {
            const float* x = reinterpret_cast<const float*>(index_->getDataByInternalId(id));
            float s = 0;
            for (size_t j = 0; j < dim_; j++) s += q[j] * x[j];
            dist[p] = s;
          } else dist[p] = result.top().first;
        }
        result.pop();
      }
      return Napi::Number::New(env, static_cast<double>(found));
    } catch (const std::exception& e) {
      fail(env, "search", e);
      return env.Undefined();
    }
  }
};

}  // namespace funnel
