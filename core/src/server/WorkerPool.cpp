#include "server/WorkerPool.h"

#include <spdlog/spdlog.h>

namespace parley {

WorkerPool::WorkerPool(size_t workers, size_t capacityPerWorker)
    : capacityPerWorker_(std::max<size_t>(1, capacityPerWorker)) {
    for (size_t i = 0; i < std::max<size_t>(1, workers); ++i) {
        lanes_.push_back(std::make_unique<Lane>());
    }
    for (auto& lane : lanes_) {
        lane->thread = std::thread([this, raw = lane.get()] { run(*raw); });
    }
}

WorkerPool::~WorkerPool() {
    shutdown(std::chrono::milliseconds(0));
}

bool WorkerPool::submit(std::string_view key, Task task) {
    Lane& lane = *lanes_[std::hash<std::string_view>{}(key) % lanes_.size()];
    std::unique_lock lock(lane.mutex);
    lane.changed.wait(lock, [&] { return closing_.load() || lane.size < capacityPerWorker_; });
    if (closing_) {
        return false;
    }
    auto& tasks = lane.tasksByKey[std::string(key)];
    if (tasks.empty()) {
        lane.turns.emplace_back(key);
    }
    tasks.push_back(std::move(task));
    ++lane.size;
    queued_.fetch_add(1, std::memory_order_relaxed);
    lock.unlock();
    lane.changed.notify_all();
    return true;
}

void WorkerPool::run(Lane& lane) {
    for (;;) {
        Task task;
        {
            std::unique_lock lock(lane.mutex);
            lane.changed.wait(lock, [&] { return closing_.load() || lane.size > 0; });
            if (lane.size == 0 || abandon_) {
                return;
            }
            std::string key = std::move(lane.turns.front());
            lane.turns.pop_front();
            auto found = lane.tasksByKey.find(key);
            task = std::move(found->second.front());
            found->second.pop_front();
            if (found->second.empty()) {
                lane.tasksByKey.erase(found);
            } else {
                lane.turns.push_back(std::move(key));  // its next task after the other keys'
            }
            --lane.size;
            queued_.fetch_sub(1, std::memory_order_relaxed);
        }
        lane.changed.notify_all();  // a blocked submitter may go on
        task();
    }
}

size_t WorkerPool::shutdown(std::chrono::milliseconds timeout) {
    if (joined_) {
        return 0;
    }
    closing_ = true;
    for (auto& lane : lanes_) {
        std::lock_guard lock(lane->mutex);
        lane->changed.notify_all();
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        size_t queued = 0;
        for (auto& lane : lanes_) {
            std::lock_guard lock(lane->mutex);
            queued += lane->size;
        }
        if (queued == 0 || std::chrono::steady_clock::now() >= deadline) {
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    size_t dropped = 0;
    abandon_ = true;
    for (auto& lane : lanes_) {
        {
            std::lock_guard lock(lane->mutex);
            dropped += lane->size;
            queued_.fetch_sub(lane->size, std::memory_order_relaxed);
            lane->tasksByKey.clear();
            lane->turns.clear();
            lane->size = 0;
            lane->changed.notify_all();
        }
    }
    for (auto& lane : lanes_) {
        if (lane->thread.joinable()) {
            lane->thread.join();
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
