#include "extensions/TimerService.h"

#include <chrono>

namespace parley {

namespace {
int64_t steadyNowMs() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}
}  // namespace

TimerService::TimerService() : thread_([this] { run(); }) {}

TimerService::~TimerService() {
    stop();
}

uint64_t TimerService::schedule(const std::string& owner, int64_t delayMs, int64_t periodMs,
                                Callback fn) {
    std::lock_guard lock(mutex_);
    const uint64_t id = nextId_++;
    timers_[id] = Timer{owner, periodMs, std::move(fn)};
    due_.emplace(steadyNowMs() + std::max<int64_t>(0, delayMs), id);
    changed_.notify_all();
    return id;
}

bool TimerService::cancel(const std::string& owner, uint64_t id) {
    std::lock_guard lock(mutex_);
    auto found = timers_.find(id);
    if (found == timers_.end() || found->second.owner != owner) {
        return false;
    }
    timers_.erase(found);  // its entry in due_ is skipped when it comes up
    return true;
}

void TimerService::cancelOwner(const std::string& owner) {
    std::unique_lock lock(mutex_);
    std::erase_if(timers_, [&](const auto& entry) { return entry.second.owner == owner; });
    if (std::this_thread::get_id() != thread_.get_id()) {
        changed_.wait(lock, [&] { return runningOwner_ != owner; });
    }
}

void TimerService::stop() {
    {
        std::lock_guard lock(mutex_);
        if (stopping_) {
            return;
        }
        stopping_ = true;
        changed_.notify_all();
    }
    if (thread_.joinable()) {
        thread_.join();
    }
}

void TimerService::run() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        if (due_.empty()) {
            changed_.wait(lock);
            continue;
        }
        const auto next = due_.begin();
        const int64_t now = steadyNowMs();
        if (next->first > now) {
            changed_.wait_for(lock, std::chrono::milliseconds(next->first - now));
            continue;
        }
        const int64_t dueAt = next->first;
        const uint64_t id = next->second;
        due_.erase(next);
        auto found = timers_.find(id);
        if (found == timers_.end()) {
            continue;  // cancelled
        }
        Callback fn = found->second.fn;
        const std::string owner = found->second.owner;
        const int64_t period = found->second.periodMs;
        if (period > 0) {
            // Keep the cadence, but never pile up runs missed while a callback was slow.
            due_.emplace(std::max(dueAt + period, now + 1), id);
        } else {
            timers_.erase(found);
        }
        runningOwner_ = owner;
        lock.unlock();
        fn();  // callers wrap their callbacks: nothing throws here
        lock.lock();
        runningOwner_.clear();
        changed_.notify_all();
    }
}

}  // namespace parley
