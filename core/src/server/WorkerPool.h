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

// Worker threads sharing one queue of keyed tasks, each task on behalf of a user. Tasks with the
// same key run one after another in submission order (never two at once): that is how commands
// of one conversation never overtake each other. Any idle worker takes the next task that may
// run, so a worker blocked on one key (a command waiting for its commit) holds up no other key.
// Users take turns, one task each: a user whose tasks are waiting in many keys (commands to many
// conversations) delays another user's task by one task, not by its whole backlog, and within a
// user its keys take turns the same way. A key whose next task is another user's (a conversation
// both are writing to) waits in that user's turns. A full queue blocks the submitter, pushing back
// on the broker.
class WorkerPool {
  public:
    using Task = std::function<void()>;

    // `capacity`: tasks that may wait (not counting those running) before submit() blocks.
    WorkerPool(size_t workers, size_t capacity);
    ~WorkerPool();
    WorkerPool(const WorkerPool&) = delete;
    WorkerPool& operator=(const WorkerPool&) = delete;

    // `key`: the ordering key (tasks of one key run in order, one at a time); `user`: on whose
    // behalf (users take turns). False if the pool is shutting down (the task is not run).
    bool submit(std::string_view key, std::string_view user, Task task);

    // Stops taking tasks, runs those queued until `timeout`, drops the rest, joins the threads.
    // Returns how many tasks were dropped.
    size_t shutdown(std::chrono::milliseconds timeout);

    // Tasks waiting for a worker (parley_worker_queue_depth).
    size_t queued() const;

  private:
    struct Waiting {
        std::string user;
        Task task;
    };
    struct Key {
        std::deque<Waiting> tasks;  // waiting, in submission order
        bool running = false;       // one of its tasks is running now
    };
    struct User {
        // Keys with tasks waiting and none running whose next task is this user's, in turn order.
        std::deque<std::string> readyKeys;
    };
    void run();
    // `key` has tasks waiting and none running: it joins the turns of its next task's user.
    void makeReady(const std::string& name, const Key& key);

    const size_t capacity_;
    mutable std::mutex mutex_;
    std::condition_variable ready_;  // for workers: a key got its turn, or shutdown
    std::condition_variable room_;   // for submitters: a task left the queue, or shutdown
    std::unordered_map<std::string, Key> keys_;    // keys with tasks waiting or running
    std::unordered_map<std::string, User> users_;  // users with at least one ready key
    std::deque<std::string> turns_;                // the users of users_, each once, in turn order
    size_t size_ = 0;                              // tasks waiting, over all keys
    bool closing_ = false;
    bool abandon_ = false;
    std::vector<std::thread> threads_;
    bool joined_ = false;
};

}  // namespace parley
