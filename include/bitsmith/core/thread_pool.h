// A small fixed thread pool with one primitive, parallel_for over index ranges.
// The caller's thread takes part; a parallel_for issued from inside a worker runs serially,
// so nesting never deadlocks and never oversubscribes the cores.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace bitsmith {

class ThreadPool {
 public:
  // threads = total workers including the caller; 0 means std::thread::hardware_concurrency().
  explicit ThreadPool(int threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls fn(begin, end) on disjoint chunks covering [0, n), chunks at least `grain` long.
  // Returns when every chunk has run. Which thread runs which chunk is unspecified, so fn must
  // write only to its own range (every kernel here does, which keeps results thread-count-free).
  void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

  // The process-wide pool used by the library; resized by set_global_threads.
  static ThreadPool& global();
  static void set_global_threads(int threads);

 private:
  void worker_loop();

  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable done_cv_;
  const std::function<void(int64_t, int64_t)>* job_ = nullptr;
  int64_t job_n_ = 0;
  int64_t job_chunk_ = 0;
  int64_t next_chunk_ = 0;
  int64_t chunks_total_ = 0;
  int64_t chunks_done_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
  std::mutex submit_mu_;  // one parallel_for at a time per pool
};

}  // namespace bitsmith
