// Read-only sharing of artifact files between processes: a file mapped copy-on-write
// (MAP_PRIVATE). Every process serving the same artifact reads the same page-cache pages, so
// `funnel serve --workers N` holds one copy of the item vectors and graphs, not N; a process
// that writes into a mapped array (an item added at serve time) gets a private copy of the
// pages it touches, and the file is never modified. POSIX only: elsewhere `mapFile` returns
// undefined and callers read the file as before.
#pragma once

#include <napi.h>

#include <cstddef>
#include <string>

#include "mmap.h"

namespace funnel {

#if FUNNEL_HAVE_MMAP
/**
 * The file's bytes for mapFile(Async): with `huge`, a private copy on transparent huge pages
 * (mmap.h read_file_huge), else (or where that fails) the file mapped copy-on-write, every page
 * mapped now when `populate`. nullptr where neither works (or the file is empty).
 */
inline char* file_bytes(const std::string& path, bool populate, bool huge, size_t* len) {
  char* p = huge ? read_file_huge(path, len) : nullptr;
  if (p != nullptr) return p;
  p = map_file_private(path, len);
  if (p != nullptr && populate) populate_read(p, *len);
  return p;
}

/** An ArrayBuffer that owns a mapping (unmapped when the buffer is collected). */
inline Napi::ArrayBuffer owned_buffer(Napi::Env env, char* p, size_t len) {
  return Napi::ArrayBuffer::New(env, p, len, [](Napi::Env, void* data, size_t* size) {
    ::munmap(data, *size);
    delete size;
  }, new size_t(len));
}
#endif

/**
 * mapFile(path, populate?, huge?): an ArrayBuffer over the file's bytes, mapped copy-on-write (unmapped
 * when the buffer is collected), with every page mapped at once when `populate` is true, or,
 * with `huge`, read into private memory on transparent huge pages (read_file_huge);
 * undefined where mapping is not available or the file is empty.
 */
inline Napi::Value MapFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) {
    Napi::TypeError::New(env, "mapFile: path must be a string").ThrowAsJavaScriptException();
    return env.Undefined();
  }
#if FUNNEL_HAVE_MMAP
  size_t len = 0;
  char* p = file_bytes(info[0].As<Napi::String>().Utf8Value(), info.Length() > 1 && info[1].ToBoolean().Value(), info.Length() > 2 && info[2].ToBoolean().Value(), &len);
  return p == nullptr ? env.Undefined() : owned_buffer(env, p, len);
#else
  return env.Undefined();
#endif
}

#if FUNNEL_HAVE_MMAP
/** mapFileAsync's work: the mapping (or huge-page copy) made on a thread of libuv's pool. */
class MapFileWorker : public Napi::AsyncWorker {
 public:
  MapFileWorker(Napi::Env env, std::string path, bool populate, bool huge)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), path_(std::move(path)), populate_(populate), huge_(huge) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override { p_ = file_bytes(path_, populate_, huge_, &len_); }
  void OnOK() override {
    Napi::Env env = Env();
    if (p_ == nullptr) deferred_.Resolve(env.Undefined());
    else deferred_.Resolve(owned_buffer(env, p_, len_));
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::string path_;
  bool populate_, huge_;
  char* p_ = nullptr;
  size_t len_ = 0;
};
#endif

/**
 * mapFileAsync(path, populate?, huge?): mapFile's answer as a promise, the file read or mapped
 * off the main thread (a copy onto huge pages of a few hundred MB takes hundreds of ms).
 */
inline Napi::Value MapFileAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) {
    Napi::TypeError::New(env, "mapFileAsync: path must be a string").ThrowAsJavaScriptException();
    return env.Undefined();
  }
#if FUNNEL_HAVE_MMAP
  auto* w = new MapFileWorker(env, info[0].As<Napi::String>().Utf8Value(), info.Length() > 1 && info[1].ToBoolean().Value(),
                              info.Length() > 2 && info[2].ToBoolean().Value());
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
#else
  auto d = Napi::Promise::Deferred::New(env);
  d.Resolve(env.Undefined());
  return d.Promise();
#endif
}

}  // namespace funnel
