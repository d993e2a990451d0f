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
  const std::string path = info[0].As<Napi::String>().Utf8Value();
  size_t len = 0;
  // mapFile(path, populate, huge): with `huge`, a private copy on transparent huge pages
  // (mmap.h read_file_huge) instead of the file's pages; the file's mapping where that fails.
  const bool huge = info.Length() > 2 && info[2].ToBoolean().Value();
  char* p = huge ? read_file_huge(path, &len) : nullptr;
  if (p == nullptr) p = map_file_private(path, &len);
  if (p == nullptr) return env.Undefined();
  // mapFile(path, populate): every page mapped now (mmap.h populate_read).
  if (!huge && info.Length() > 1 && info[1].ToBoolean().Value()) populate_read(p, len);
  return Napi::ArrayBuffer::New(env, p, len, [](Napi::Env, void* data, size_t* size) {
    ::munmap(data, *size);
    delete size;
  }, new size_t(len));
#else
  return env.Undefined();
#endif
}

}  // namespace funnel
