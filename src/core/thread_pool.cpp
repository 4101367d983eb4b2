// ThreadPool: static chunking of a loop over the pool's threads; spin-then-sleep hand-offs.
//
// Sleeping is safe against lost wake-ups: a waiter counts itself in num_sleeping_ and checks
// its condition under the mutex; a waker changes the state first (seq_cst), then, if anyone
// sleeps, takes the mutex before notifying. Either the waiter sees the new state, or the
// waker sees the sleeper and its notify comes after the waiter is asleep.
#include "core/thread_pool.h"

#include <algorithm>
#include <chrono>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#endif

namespace hanlin {
namespace {

// Long enough to span the gap between the parallel loops of one forward; short enough that an
// idle pool gives its cores back almost at once.
constexpr auto kSpinTime = std::chrono::microseconds(50);

void cpu_relax() {
#if defined(__x86_64__) || defined(_M_X64)
  _mm_pause();
#endif
}

}  // namespace

ThreadPool::ThreadPool(int num_threads)
    : num_threads_(num_threads > 0 ? num_threads : std::max(1u, std::thread::hardware_concurrency())) {
  for (int i = 1; i < num_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  stopping_.store(true);
  wake_sleepers();
  for (auto& worker : workers_) worker.join();
}

template <class Done>
void ThreadPool::wait_until(const Done& done) {
  const auto deadline = std::chrono::steady_clock::now() + kSpinTime;
  for (int spins = 0; !done(); ++spins) {
    cpu_relax();
    if ((spins & 63) == 63 && std::chrono::steady_clock::now() > deadline) {
      std::unique_lock lock(mutex_);
      num_sleeping_.fetch_add(1);
      wake_.wait(lock, done);
      num_sleeping_.fetch_sub(1);
      return;
    }
  }
}

void ThreadPool::wake_sleepers() {
  if (num_sleeping_.load() == 0) return;
  { std::lock_guard lock(mutex_); }
  wake_.notify_all();
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
  task_ = &fn;
  task_count_ = count;
  task_chunk_ = (count + participants - 1) / participants;
  num_pending_.store(participants - 1);
  const uint64_t task_number = (ticket_.load() >> 16) + 1;
  ticket_.store(task_number << 16 | static_cast<uint64_t>(participants));  // publishes the task (seq_cst)
  wake_sleepers();
  run_chunks(0);
  wait_until([this] { return num_pending_.load() == 0; });
  task_ = nullptr;
}

void ThreadPool::run_chunks(int participant) {
  const int64_t begin = participant * task_chunk_;
  const int64_t end = std::min(task_count_, begin + task_chunk_);
  if (begin < end) (*task_)(begin, end);
}

void ThreadPool::worker_loop(int worker_index) {
  uint64_t seen_ticket = 0;
  for (;;) {
    wait_until([&] { return stopping_.load() || ticket_.load() != seen_ticket; });
    if (stopping_.load()) return;
    seen_ticket = ticket_.load();
    if (worker_index >= static_cast<int>(seen_ticket & 0xffff)) continue;
    run_chunks(worker_index);
    if (num_pending_.fetch_sub(1) == 1) wake_sleepers();
  }
}

}  // namespace hanlin
