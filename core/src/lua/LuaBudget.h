#pragma once

#include <lua.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace parley {

// What one script may use: memory for its whole lua_State (through the allocator), and per call
// into Lua (a hook, a command, a timer, the load, the close) a number of VM instructions and a
// time budget (through a count hook). Once a call runs out of either, the budget stays "stopped"
// until the next call starts: the hook then raises at every instruction on every coroutine, so a
// script's own pcall cannot swallow the stop. Not thread-safe: the owning script serializes calls.
class LuaBudget {
  public:
    LuaBudget(size_t memoryLimitBytes, int64_t instructionLimit);
    LuaBudget(const LuaBudget&) = delete;
    LuaBudget& operator=(const LuaBudget&) = delete;

    // The lua_Alloc of the state; `ud` is the LuaBudget.
    static void* allocate(void* ud, void* block, size_t oldSize, size_t newSize) noexcept;

    // Installs the count hook on the main thread (coroutines inherit it when created); nullptr
    // once the state is closed.
    void attach(lua_State* mainThread);
    // Resets the counters for a new call into Lua that may run for `timeBudget`.
    void start(std::chrono::milliseconds timeBudget);
    // The call is over: nothing is charged until the next start().
    void finish() { running_ = false; }

    // Charges `instructions` units of work done in C on the script's behalf (pattern matching,
    // the library functions of LuaLibraryLimits) and checks the limits, the clock included.
    // False once the call must stop.
    bool charge(uint64_t instructions);
    // Why the current call was stopped ("instruction limit of ... exceeded"), or nullptr.
    const char* stopReason() const { return stopped() ? reason() : nullptr; }
    bool stopped() const { return stopped_ || abandoned(); }
    // Stops the current call; later checks raise at once. Also used by the allocator.
    void stop(const char* reason);
    // Stops the current call as a refused allocation does ("memory limit of N bytes exceeded").
    void stopForMemory();

    // The watchdog gave up on the call in flight (LuaRunner): from any thread, once. Every later
    // check raises, in this call and in any call after it: the state is never used again.
    void abandon() { abandoned_.store(true, std::memory_order_relaxed); }
    bool abandoned() const { return abandoned_.load(std::memory_order_relaxed); }
    static constexpr const char* kAbandonedReason =
        "abandoned: the call ran far past its budget (the script is disabled)";

    size_t memoryUsed() const { return memoryUsed_; }
    size_t memoryLimit() const { return memoryLimit_; }
    int64_t instructionLimit() const { return instructionLimit_; }

    // The count hook: raises the stop reason as a Lua error once the budget is spent.
    static void countHook(lua_State* L, lua_Debug* debug);

  private:
    void checkLimits();
    void resume();
    const char* reason() const { return stopped_ ? reason_ : kAbandonedReason; }

    const size_t memoryLimit_;
    const int64_t instructionLimit_;
    // How often (in instructions) the hook checks the clock: often enough to stop an infinite loop
    // within microseconds of its deadline, rarely enough to cost nothing measurable.
    const int checkEvery_;
    size_t memoryUsed_ = 0;
    // The last allocation refused: Lua's core retries a refused allocation once, right after an
    // emergency collection; if that retry fits, the stop the refusal caused is taken back.
    const void* refusedBlock_ = nullptr;
    size_t refusedOldSize_ = 0;
    size_t refusedNewSize_ = 0;
    bool refusedPending_ = false;
    bool stoppedByRefusal_ = false;
    // Bytes allocated since the clock was last read: a call that allocates a lot in few
    // instructions (concatenating huge strings) is checked against its time budget every few
    // MiB, not only every checkEvery_ instructions.
    size_t grownSinceClockCheck_ = 0;
    std::atomic<bool> abandoned_{false};

    lua_State* mainThread_ = nullptr;
    bool running_ = false;
    bool stopped_ = false;
    uint64_t instructionsUsed_ = 0;
    uint64_t clockCheckedAt_ = 0;  // instructionsUsed_ when charge() last read the clock
    std::chrono::steady_clock::time_point deadline_{};
    int64_t timeBudgetMs_ = 0;
    char reason_[128] = {};
};

}  // namespace parley
