#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

namespace parley {

// Worker threads, each with its own queue. Tasks with the same key always go to the same worker,
// so they run one after another in submission order: that is how commands of one conversation
// never overtake each other. Within a worker's queue the keys take turns, one task each, so a key
// with many tasks waiting (a flooded conversation) delays the other keys by one task at a time,
// not by its whole backlog. A full queue blocks the submitter, pushing back on the broker.
class WorkerPool {
  public:
    using Task = std::function<void()>;

    WorkerPool(size_t workers, size_t capacityPerWorker);
    ~WorkerPool();
    WorkerPool(const WorkerPool&) = delete;
    WorkerPool& operator=(const WorkerPool&) = delete;

    // False if the pool is shutting down (the task is not run).
    bool submit(std::string_view key, Task task);

    // Stops taking tasks, runs those queued until `timeout`, drops the rest, joins the threads.
    // Returns how many tasks were dropped.
    size_t shutdown(std::chrono::milliseconds timeout);

    // Tasks waiting for a worker, over all lanes (parley_worker_queue_depth).
    size_t queued() const { return queued_.load(std::memory_order_relaxed); }

  private:
    struct Lane {
        std::mutex mutex;
        std::condition_variable changed;
        std::unordered_map<std::string, std::deque<Task>> tasksByKey;
        std::deque<std::string> turns;  // keys with tasks waiting, in the order they run next
        size_t size = 0;                // tasks waiting, over all keys
        std::thread thread;
    };
    void run(Lane& lane);

    size_t capacityPerWorker_;
    std::vector<std::unique_ptr<Lane>> lanes_;
    std::atomic<bool> closing_{false};
    std::atomic<bool> abandon_{false};
    std::atomic<size_t> queued_{0};
    bool joined_ = false;
};

}  // namespace parley
