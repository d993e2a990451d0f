// Threads for the kernels: run_threads(T, f) calls f(t, T) for t = 0..T-1 — t = 0 on the
// calling thread, the others on a persistent pool of std::threads (started on first use, kept
// asleep on a condition variable between calls) — and returns when all are done.
// Kernels pick T with threads_for(estimated ns) so that short calls stay on one thread.
#pragma once
#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace funnel {

static inline int hardware_threads() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

/** The thread budget set by setThreads (default: all hardware threads). */
static inline int& thread_budget() {
  static int n = hardware_threads();
  return n;
}

/**
 * Estimated single-thread nanoseconds of work that justify one more thread (waking a pool
 * thread costs ~5-30 us here); 0 threads every call (tests use this).
 */
static inline double& thread_grain() {
  static double g = 30000.0;
  return g;
}

/**
 * Threads for a call whose single-thread time is estimated at `work` ns: one per
 * thread_grain() of it, at most the budget and max_parts.
 */
static inline int threads_for(double work, int64_t max_parts) {
  const double grain = thread_grain();
  int64_t t = grain > 0 ? static_cast<int64_t>(work / grain) : INT32_MAX;
  t = std::min<int64_t>(t, thread_budget());
  t = std::min<int64_t>(t, max_parts);
  return static_cast<int>(std::max<int64_t>(t, 1));
}

namespace threads_detail {

/** Workers sleep until a job's generation number changes; the caller runs part 0 itself. */
class Pool {
 public:
  /** Runs f(t, T) for t = 1..T-1 on workers and t = 0 here; false if the pool is busy. */
  bool run(int T, const std::function<void(int, int)>& f) {
    std::unique_lock<std::mutex> busy(dispatch_, std::try_to_lock);
    if (!busy.owns_lock()) return false;  // another JS thread is using the pool
    grow(T - 1);
    {
      std::lock_guard<std::mutex> lk(mu_);
      job_ = &f;
      parts_ = T;
      pending_ = T - 1;
      ++generation_;
    }
    wake_.notify_all();
    f(0, T);
    std::unique_lock<std::mutex> lk(mu_);
    done_.wait(lk, [&] { return pending_ == 0; });
    job_ = nullptr;
    return true;
  }

  static Pool& get() {
    static Pool* pool = new Pool();  // never destroyed: workers just end with the process
    return *pool;
  }

  static bool& inside_worker() {
    thread_local bool inside = false;
    return inside;
  }

 private:
  void grow(int n) {
    while (static_cast<int>(workers_.size()) < n) {
      const int id = static_cast<int>(workers_.size()) + 1;
      workers_.emplace_back([this, id] { loop(id); });
      workers_.back().detach();
    }
  }

  void loop(int id) {
    inside_worker() = true;
    uint64_t seen = 0;
    for (;;) {
      const std::function<void(int, int)>* job;
      int parts;
      {
        std::unique_lock<std::mutex> lk(mu_);
        wake_.wait(lk, [&] { return generation_ != seen; });
        seen = generation_;
        job = job_;
        parts = parts_;
      }
      if (id >= parts) continue;
      (*job)(id, parts);
      std::lock_guard<std::mutex> lk(mu_);
      if (--pending_ == 0) done_.notify_one();
    }
  }

  std::mutex dispatch_, mu_;
  std::condition_variable wake_, done_;
  std::vector<std::thread> workers_;
  const std::function<void(int, int)>* job_ = nullptr;
  int parts_ = 0, pending_ = 0;
  uint64_t generation_ = 0;
};

}  // namespace threads_detail

template <class F>
static void run_threads(int nthreads, F&& f) {
  if (nthreads <= 1 || threads_detail::Pool::inside_worker()) {
    for (int t = 0; t < std::max(nthreads, 1); ++t) f(t, std::max(nthreads, 1));
    return;
  }
  const std::function<void(int, int)> job = [&f](int t, int nt) { f(t, nt); };
  if (threads_detail::Pool::get().run(nthreads, job)) return;
  // Pool busy (kernels called from two JS threads at once): plain threads for this call.
  std::vector<std::thread> extra;
  extra.reserve(nthreads - 1);
  for (int t = 1; t < nthreads; ++t) extra.emplace_back([&f, t, nthreads] { f(t, nthreads); });
  f(0, nthreads);
  for (auto& th : extra) th.join();
}

/** [begin, end) of part t of n items split into T near-equal contiguous parts. */
static inline void split_range(int64_t n, int t, int T, int64_t& begin, int64_t& end) {
  begin = n * t / T;
  end = n * (t + 1) / T;
}

}  // namespace funnel
