#include "server/WorkerPool.h"

#include <spdlog/spdlog.h>

namespace parley {

WorkerPool::WorkerPool(size_t workers, size_t capacity) : capacity_(std::max<size_t>(1, capacity)) {
    for (size_t i = 0; i < std::max<size_t>(1, workers); ++i) {
        threads_.emplace_back([this] { run(); });
    }
}

WorkerPool::~WorkerPool() {
    shutdown(std::chrono::milliseconds(0));
}

bool WorkerPool::submit(std::string_view key, std::string_view user, Task task) {
    {
        std::unique_lock lock(mutex_);
        room_.wait(lock, [&] { return closing_ || size_ < capacity_; });
        if (closing_) {
            return false;
        }
        const auto entry = keys_.try_emplace(std::string(key)).first;
        const bool idle = entry->second.tasks.empty() && !entry->second.running;
        entry->second.tasks.push_back({std::string(user), std::move(task)});
        if (idle) {
            makeReady(entry->first, entry->second);  // a running key's turn comes when it ends
        }
        ++size_;
    }
    ready_.notify_one();
    return true;
}

void WorkerPool::makeReady(const std::string& name, const Key& key) {
    const auto [user, isNew] = users_.try_emplace(key.tasks.front().user);
    user->second.readyKeys.push_back(name);
    if (isNew) {
        turns_.push_back(user->first);
    }
}

size_t WorkerPool::queued() const {
    std::lock_guard lock(mutex_);
    return size_;
}

void WorkerPool::run() {
    std::unique_lock lock(mutex_);
    for (;;) {
        ready_.wait(lock, [&] { return abandon_ || closing_ || !turns_.empty(); });
        if (abandon_ || turns_.empty()) {
            return;  // shutting down, and nothing waits that another worker is not finishing
        }
        // The user whose turn it is runs the next task of its next key; it goes to the back of
        // the turns if it has more keys ready.
        const auto user = users_.find(turns_.front());
        turns_.pop_front();
        std::string key = std::move(user->second.readyKeys.front());
        user->second.readyKeys.pop_front();
        if (user->second.readyKeys.empty()) {
            users_.erase(user);
        } else {
            turns_.push_back(user->first);
        }
        Key& entry = keys_.at(key);
        Task task = std::move(entry.tasks.front().task);
        entry.tasks.pop_front();
        entry.running = true;
        --size_;
        lock.unlock();
        room_.notify_one();
        task();
        task = nullptr;  // its captures are released outside the lock
        lock.lock();
        const auto found = keys_.find(key);  // gone if shutdown abandoned the queue meanwhile
        if (found == keys_.end()) {
            continue;
        }
        found->second.running = false;
        if (found->second.tasks.empty()) {
            keys_.erase(found);
        } else {
            // Its next task after the other users' turns. No worker is woken for it: this one
            // takes the next turn itself right away, which saves a context switch per task of a
            // busy conversation.
            makeReady(found->first, found->second);
        }
    }
}

size_t WorkerPool::shutdown(std::chrono::milliseconds timeout) {
    if (joined_) {
        return 0;
    }
    {
        std::lock_guard lock(mutex_);
        closing_ = true;
    }
    ready_.notify_all();
    room_.notify_all();
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        {
            std::lock_guard lock(mutex_);
            if (size_ == 0) {
                break;
            }
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    size_t dropped = 0;
    {
        std::lock_guard lock(mutex_);
        abandon_ = true;
        dropped = size_;
        keys_.clear();
        users_.clear();
        turns_.clear();
        size_ = 0;
    }
    ready_.notify_all();
    for (auto& thread : threads_) {
        if (thread.joinable()) {
            thread.join();
        }
    }
    joined_ = true;
    if (dropped > 0) {
        spdlog::warn("workers: {} queued commands dropped at shutdown (clients resend them)",
                     dropped);
    }
    return dropped;
}

}  // namespace parley
