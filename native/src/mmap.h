// Files mapped copy-on-write (MAP_PRIVATE), for artifacts that several processes serve: see
// mapfile.h. No Node-API here: the vendored hnswlib (hnswlib/hnswalg.h) uses it too.
#pragma once

#include <cstddef>
#include <cerrno>
#include <cstdint>
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
/** `path` opened for reading with its size; -1 on failure or when the file is empty. */
inline int open_nonempty(const std::string& path, size_t* size) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  struct stat st;
  if (::fstat(fd, &st) != 0 || st.st_size <= 0) {
    ::close(fd);
    return -1;
  }
  *size = static_cast<size_t>(st.st_size);
  return fd;
}

/** Maps `path` whole, copy-on-write; nullptr on failure (or an empty file); *len gets its size. */
inline char* map_file_private(const std::string& path, size_t* len) {
  size_t size = 0;
  const int fd = open_nonempty(path, &size);
  if (fd < 0) return nullptr;
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  ::close(fd);  // the mapping keeps the file open
  if (p == MAP_FAILED) return nullptr;
  *len = size;
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

/**
 * A private, anonymous copy of `path` in memory that the kernel may back with 2 MiB transparent
 * huge pages (MADV_HUGEPAGE; THP in "madvise" or "always" mode): the start is 2 MiB-aligned and
 * the pages are faulted in while the file is read into them. Random reads over a few hundred
 * MiB (an HNSW graph's rows, embedding rows) then miss the TLB far less often than over 4 KiB
 * file pages, whose page walks are nested in a virtual machine. Not shared between processes
 * (a mapped file is). nullptr on failure (or an empty file); *len gets the file's size; release
 * with unmap_file(p, *len).
 */
inline char* read_file_huge(const std::string& path, size_t* len) {
  size_t size = 0;
  const int fd = open_nonempty(path, &size);
  if (fd < 0) return nullptr;
  const size_t huge = size_t(2) << 20;
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  const size_t span = (size + page - 1) / page * page;
  // Over-allocate by 2 MiB, then give back the unaligned head and the tail beyond `span`.
  void* raw = ::mmap(nullptr, span + huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) {
    ::close(fd);
    return nullptr;
  }
  const uintptr_t base = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t start = (base + huge - 1) & ~static_cast<uintptr_t>(huge - 1);
  if (start > base) ::munmap(raw, start - base);
  if (base + span + huge > start + span) ::munmap(reinterpret_cast<void*>(start + span), base + span + huge - (start + span));
  char* p = reinterpret_cast<char*>(start);
#ifdef MADV_HUGEPAGE
  ::madvise(p, span, MADV_HUGEPAGE);  // advice only: without THP the copy is plain memory
#endif
  size_t done = 0;
  while (done < size) {
    const ssize_t got = ::pread(fd, p + done, size - done, static_cast<off_t>(done));
    if (got <= 0) {
      if (got < 0 && errno == EINTR) continue;
      ::munmap(p, span);
      ::close(fd);
      return nullptr;
    }
    done += static_cast<size_t>(got);
  }
  ::close(fd);
  *len = size;
  return p;
}

inline void unmap_file(char* p, size_t len) {
  if (p != nullptr) ::munmap(p, len);
}
#endif

}  // namespace funnel
