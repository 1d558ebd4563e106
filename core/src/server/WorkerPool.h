#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

namespace parley {

// Worker threads sharing one queue of keyed tasks. Tasks with the same key run one after another
// in submission order (never two at once): that is how commands of one conversation never
// overtake each other. Any idle worker takes the next key that has a task waiting and none
// running, so a worker blocked on one key (a command waiting for its commit) holds up no other
// key. Keys take turns, one task each, so a key with many tasks waiting (a flooded conversation)
// delays the other keys by one task at a time, not by its whole backlog. A full queue blocks the
// submitter, pushing back on the broker.
class WorkerPool {
  public:
    using Task = std::function<void()>;

    // `capacity`: tasks that may wait (not counting those running) before submit() blocks.
    WorkerPool(size_t workers, size_t capacity);
    ~WorkerPool();
    WorkerPool(const WorkerPool&) = delete;
    WorkerPool& operator=(const WorkerPool&) = delete;

    // False if the pool is shutting down (the task is not run).
    bool submit(std::string_view key, Task task);

    // Stops taking tasks, runs those queued until `timeout`, drops the rest, joins the threads.
    // Returns how many tasks were dropped.
    size_t shutdown(std::chrono::milliseconds timeout);

    // Tasks waiting for a worker (parley_worker_queue_depth).
    size_t queued() const;

  private:
    struct Key {
        std::deque<Task> tasks;  // waiting, in submission order
        bool running = false;    // one of its tasks is running now
    };
    void run();

    const size_t capacity_;
    mutable std::mutex mutex_;
    std::condition_variable ready_;  // for workers: a key got its turn, or shutdown
    std::condition_variable room_;   // for submitters: a task left the queue, or shutdown
    std::unordered_map<std::string, Key> keys_;  // keys with tasks waiting or running
    std::deque<std::string> turns_;  // keys with tasks waiting and none running, in turn order
    size_t size_ = 0;                // tasks waiting, over all keys
    bool closing_ = false;
    bool abandon_ = false;
    std::vector<std::thread> threads_;
    bool joined_ = false;
};

}  // namespace parley
