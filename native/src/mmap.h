// Files mapped copy-on-write (MAP_PRIVATE), for artifacts that several processes serve: see
// mapfile.h. No Node-API here: the vendored hnswlib (hnswlib/hnswalg.h) uses it too.
#pragma once

#include <cstddef>
#include <string>

#if defined(__unix__) || defined(__APPLE__)
#define FUNNEL_HAVE_MMAP 1
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

namespace funnel {

#if FUNNEL_HAVE_MMAP
/** Maps `path` whole, copy-on-write; nullptr on failure (or an empty file); *len gets its size. */
inline char* map_file_private(const std::string& path, size_t* len) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return nullptr;
  struct stat st;
  if (::fstat(fd, &st) != 0 || st.st_size <= 0) {
    ::close(fd);
    return nullptr;
  }
  void* p = ::mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  ::close(fd);  // the mapping keeps the file open
  if (p == MAP_FAILED) return nullptr;
  *len = static_cast<size_t>(st.st_size);
  return static_cast<char*>(p);
}

/**
 * Maps every page of a mapping now (the kernel's page-cache pages, read-only until written), so
 * that the first reads of the request path take no page faults: MADV_POPULATE_READ (Linux 5.14),
 * or one read per page where the kernel lacks it.
 */
inline void populate_read(const char* p, size_t len) {
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
  if (p == nullptr || len == 0) return;
  if (::madvise(const_cast<char*>(p), len, MADV_POPULATE_READ) == 0) return;
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  volatile char sink = 0;
  for (size_t off = 0; off < len; off += page) sink = sink + p[off];
  (void)sink;
}

inline void unmap_file(char* p, size_t len) {
  if (p != nullptr) ::munmap(p, len);
}
#endif

}  // namespace funnel
