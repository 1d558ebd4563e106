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
    lane.changed.wait(lock,
                      [&] { return closing_.load() || lane.tasks.size() < capacityPerWorker_; });
    if (closing_) {
        return false;
    }
    lane.tasks.push_back(std::move(task));
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
            lane.changed.wait(lock, [&] { return closing_.load() || !lane.tasks.empty(); });
            if (lane.tasks.empty() || abandon_) {
                return;
            }
            task = std::move(lane.tasks.front());
            lane.tasks.pop_front();
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
            queued += lane->tasks.size();
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
            dropped += lane->tasks.size();
            queued_.fetch_sub(lane->tasks.size(), std::memory_order_relaxed);
            lane->tasks.clear();
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
