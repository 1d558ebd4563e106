#include "lua/LuaRunner.h"

#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>

#include "lua/LuaBudget.h"

namespace parley {

namespace {
using Clock = std::chrono::steady_clock;

// How often a caller whose call is past its time but in parleyd's own code looks again.
constexpr std::chrono::milliseconds kRecheck{50};

thread_local LuaRunner* tCurrentRunner = nullptr;
std::atomic<uint64_t> gAbandoned{0};
}  // namespace

LuaRunner::LuaRunner() : thread_([this] { loop(); }) {}

LuaRunner::~LuaRunner() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        wake_.notify_one();
    }
    if (thread_.joinable()) {
        thread_.join();
    }
}

LuaRunner* LuaRunner::current() {
    return tCurrentRunner;
}

uint64_t LuaRunner::abandonedCount() {
    return gAbandoned.load(std::memory_order_relaxed);
}

bool LuaRunner::run(std::function<void()> call, Clock::time_point giveUpAt,
                    const AbandonHandler& onAbandon) {
    if (current() != nullptr) {
        call();  // nested: already on a runner, whose caller is the watchdog
        return true;
    }
    thread_local std::unique_ptr<LuaRunner> mine;
    if (!mine) {
        mine = std::make_unique<LuaRunner>();
    }
    if (mine->execute(std::move(call), giveUpAt, onAbandon)) {
        return true;
    }
    // Never freed: its thread may still run, and park, on it. Referenced from that thread.
    static_cast<void>(mine.release());
    return false;
}

bool LuaRunner::execute(std::function<void()> call, Clock::time_point giveUpAt,
                        const AbandonHandler& onAbandon) {
    const auto started = Clock::now();
    std::unique_lock lock(mutex_);
    call_ = std::move(call);
    posted_ = true;
    finished_ = false;
    wake_.notify_one();
    for (;;) {
        if (done_.wait_until(lock, giveUpAt, [this] { return finished_; })) {
            return true;
        }
        int expected = kLua;
        if (phase_.compare_exchange_strong(expected, kAbandoned, std::memory_order_acq_rel)) {
            break;
        }
        // In parleyd's own code for the script (a parley.* call, a store call): that is bounded
        // by its own limits and must finish. Look again shortly.
        giveUpAt = Clock::now() + kRecheck;
    }
    lock.unlock();
    gAbandoned.fetch_add(1, std::memory_order_relaxed);
    thread_.detach();
    const int threadId = threadId_.load(std::memory_order_relaxed);
    if (threadId > 0) {
        // Linux: a thread's nice value is its own. If it spins for ever, it takes a core only
        // when nothing else wants it.
        setpriority(PRIO_PROCESS, static_cast<id_t>(threadId), 19);
    }
    onAbandon(chain_,
              std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started));
    return false;
}

void LuaRunner::loop() {
    tCurrentRunner = this;
    threadId_.store(static_cast<int>(gettid()), std::memory_order_relaxed);
    pthread_setname_np(pthread_self(), "parley-lua");
    std::unique_lock lock(mutex_);
    for (;;) {
        wake_.wait(lock, [this] { return posted_ || stopping_; });
        if (!posted_) {
            return;
        }
        posted_ = false;
        std::function<void()> call = std::move(call_);
        call_ = nullptr;
        lock.unlock();
        try {
            call();
        } catch (...) {
            // LuaScript's calls catch everything themselves; nothing may end this thread.
        }
        call = nullptr;
        lock.lock();
        finished_ = true;
        done_.notify_one();
    }
}

void LuaRunner::enterLua(LuaScript* script) {
    chain_.push_back(script);
    // Only the runner moves the phase out of kHost: a plain store.
    phase_.store(kLua, std::memory_order_release);
}

void LuaRunner::leaveLua() {
    int expected = kLua;
    if (!phase_.compare_exchange_strong(expected, kHost, std::memory_order_acq_rel)) {
        park();  // abandoned: the caller has moved on, and the frames below belong to the past
    }
    chain_.pop_back();
}

void LuaRunner::park() {
    for (;;) {
        ::pause();
    }
}

LuaRunner::HostSection::HostSection() : runner_(current()) {
    if (runner_ == nullptr) {
        return;
    }
    int expected = kLua;
    if (!runner_->phase_.compare_exchange_strong(expected, kHost, std::memory_order_acq_rel)) {
        if (expected == kAbandoned) {
            throw std::runtime_error(LuaBudget::kAbandonedReason);
        }
        runner_ = nullptr;  // already in parleyd's code: nothing to switch back
    }
}

LuaRunner::HostSection::~HostSection() {
    if (runner_ != nullptr) {
        runner_->phase_.store(kLua, std::memory_order_release);
    }
}

}  // namespace parley
