#include "bitsmith/core/thread_pool.h"

#include <algorithm>
#include <memory>

namespace bitsmith {

namespace {
thread_local bool t_inside_worker = false;

std::unique_ptr<ThreadPool>& global_slot() {
  static std::unique_ptr<ThreadPool> pool;
  return pool;
}
std::mutex& global_mu() {
  static std::mutex mu;
  return mu;
}
}  // namespace

ThreadPool::ThreadPool(int threads) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::worker_loop() {
  t_inside_worker = true;
  uint64_t seen = 0;
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    work_cv_.wait(lock, [&] { return stop_ || (generation_ != seen && next_chunk_ < chunks_total_); });
    if (stop_) return;
    seen = generation_;
    while (next_chunk_ < chunks_total_) {
      int64_t c = next_chunk_++;
      const auto* fn = job_;
      int64_t begin = c * job_chunk_, end = std::min(job_n_, begin + job_chunk_);
      lock.unlock();
      (*fn)(begin, end);
      lock.lock();
      if (++chunks_done_ == chunks_total_) done_cv_.notify_all();
    }
  }
}

void ThreadPool::parallel_for(int64_t n, int64_t grain,
                              const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  const int64_t threads = num_threads();
  if (t_inside_worker || threads == 1 || n <= grain) {
    fn(0, n);
    return;
  }
  // A few chunks per thread balance uneven work without much queueing overhead.
  int64_t chunks = std::min<int64_t>((n + grain - 1) / grain, threads * 4);
  int64_t chunk = (n + chunks - 1) / chunks;
  chunks = (n + chunk - 1) / chunk;

  std::lock_guard<std::mutex> submit(submit_mu_);
  std::unique_lock<std::mutex> lock(mu_);
  job_ = &fn;
  job_n_ = n;
  job_chunk_ = chunk;
  next_chunk_ = 0;
  chunks_total_ = chunks;
  chunks_done_ = 0;
  ++generation_;
  work_cv_.notify_all();
  // The caller works too, marked as a worker so nested calls stay serial.
  t_inside_worker = true;
  while (next_chunk_ < chunks_total_) {
    int64_t c = next_chunk_++;
    int64_t begin = c * chunk, end = std::min(n, begin + chunk);
    lock.unlock();
    fn(begin, end);
    lock.lock();
    ++chunks_done_;
  }
  t_inside_worker = false;
  done_cv_.wait(lock, [&] { return chunks_done_ == chunks_total_; });
  job_ = nullptr;
}

ThreadPool& ThreadPool::global() {
  std::lock_guard<std::mutex> lock(global_mu());
  auto& slot = global_slot();
  if (!slot) slot = std::make_unique<ThreadPool>(0);
  return *slot;
}

void ThreadPool::set_global_threads(int threads) {
  std::lock_guard<std::mutex> lock(global_mu());
  global_slot() = std::make_unique<ThreadPool>(threads);
}

}  // namespace bitsmith
