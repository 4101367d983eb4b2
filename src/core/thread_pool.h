// A fixed pool of worker threads for data-parallel loops (one pool per process, passed
// explicitly). The calling thread takes part in the work, so a pool of 1 runs inline.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace hanlin {

class ThreadPool {
 public:
  // num_threads = 0 means one per hardware thread.
  explicit ThreadPool(int num_threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return num_threads_; }

  // Calls fn(begin, end) over disjoint chunks covering [0, count), chunks at least `grain`
  // long, and returns when all are done. Not reentrant: fn must not call parallel_for.
  void parallel_for(int64_t count, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

 private:
  void worker_loop(int worker_index);
  void run_chunks(int participant);

  int num_threads_;
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable work_ready_;
  std::condition_variable work_done_;
  const std::function<void(int64_t, int64_t)>* task_ = nullptr;
  int64_t task_count_ = 0;
  int64_t task_chunk_ = 0;
  int num_participants_ = 0;
  int num_pending_ = 0;
  uint64_t generation_ = 0;
  bool stopping_ = false;
};

}  // namespace hanlin
