// ThreadPool: static chunking of a loop over the pool's threads.
#include "core/thread_pool.h"

#include <algorithm>

namespace hanlin {

ThreadPool::ThreadPool(int num_threads)
    : num_threads_(num_threads > 0 ? num_threads : std::max(1u, std::thread::hardware_concurrency())) {
  for (int i = 1; i < num_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  work_ready_.notify_all();
  for (auto& worker : workers_) worker.join();
}

void ThreadPool::parallel_for(int64_t count, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (count <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int64_t max_chunks = (count + grain - 1) / grain;
  const int participants = static_cast<int>(std::min<int64_t>(num_threads_, max_chunks));
  if (participants <= 1) {
    fn(0, count);
    return;
  }
  {
    std::lock_guard lock(mutex_);
    task_ = &fn;
    task_count_ = count;
    task_chunk_ = (count + participants - 1) / participants;
    num_participants_ = participants;
    num_pending_ = participants - 1;
    ++generation_;
  }
  work_ready_.notify_all();
  run_chunks(0);
  std::unique_lock lock(mutex_);
  work_done_.wait(lock, [this] { return num_pending_ == 0; });
  task_ = nullptr;
}

void ThreadPool::run_chunks(int participant) {
  const int64_t begin = participant * task_chunk_;
  const int64_t end = std::min(task_count_, begin + task_chunk_);
  if (begin < end) (*task_)(begin, end);
}

void ThreadPool::worker_loop(int worker_index) {
  uint64_t seen_generation = 0;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      work_ready_.wait(lock, [&] { return stopping_ || generation_ != seen_generation; });
      if (stopping_) return;
      seen_generation = generation_;
      if (worker_index >= num_participants_) continue;
    }
    run_chunks(worker_index);
    std::lock_guard lock(mutex_);
    if (--num_pending_ == 0) work_done_.notify_one();
  }
}

}  // namespace hanlin
