// A fixed pool of worker threads for data-parallel loops (one pool per process, passed
// explicitly). The calling thread takes part in the work, so a pool of 1 runs inline.
//
// A decode step makes hundreds of short parallel_for calls, so waking threads must cost
// microseconds, not a futex round trip each: workers and the caller spin briefly on atomics
// before they sleep on the condition variable.
#pragma once

#include <atomic>
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
  // long, and returns when all are done. Not reentrant: fn must not call parallel_for. One
  // caller at a time.
  void parallel_for(int64_t count, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

 private:
  void worker_loop(int worker_index);
  void run_chunks(int participant);
  // Spins a little, then sleeps, until `done()`.
  template <class Done>
  void wait_until(const Done& done);
  void wake_sleepers();

  int num_threads_;
  std::vector<std::thread> workers_;
  // The current task; written before `ticket_` changes, read by its participants after. The
  // caller waits for every participant before writing the next one; workers left out of a
  // task read only the ticket.
  const std::function<void(int64_t, int64_t)>* task_ = nullptr;
  int64_t task_count_ = 0;
  int64_t task_chunk_ = 0;
  // (task number << 16) | number of participants: one load tells a worker both.
  std::atomic<uint64_t> ticket_{0};
  std::atomic<int> num_pending_{0};
  std::atomic<bool> stopping_{false};
  std::atomic<int> num_sleeping_{0};
  std::mutex mutex_;
  std::condition_variable wake_;
};

}  // namespace hanlin
