#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

namespace parley {

// One-shot and periodic timers of extensions, run one at a time on one thread. Times are steady
// (monotonic) milliseconds.
class TimerService {
  public:
    using Callback = std::function<void()>;

    TimerService();
    ~TimerService();
    TimerService(const TimerService&) = delete;
    TimerService& operator=(const TimerService&) = delete;

    // periodMs 0 = once. Returns the timer's id (never 0).
    uint64_t schedule(const std::string& owner, int64_t delayMs, int64_t periodMs, Callback fn);
    // False if no such timer of this owner (already fired once, or cancelled).
    bool cancel(const std::string& owner, uint64_t id);
    // Cancels every timer of the owner. Unless called from a timer callback, returns only once
    // none of them is running, so the owner's code may be unloaded afterwards.
    void cancelOwner(const std::string& owner);
    void stop();

  private:
    struct Timer {
        std::string owner;
        int64_t periodMs = 0;
        Callback fn;
    };
    void run();

    std::mutex mutex_;
    std::condition_variable changed_;
    std::map<uint64_t, Timer> timers_;
    std::multimap<int64_t, uint64_t> due_;  // steady ms -> id
    uint64_t nextId_ = 1;
    std::string runningOwner_;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace parley
