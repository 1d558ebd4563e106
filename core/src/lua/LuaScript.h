#pragma once

#include <lua.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "extensions/ExtensionServices.h"
#include "hooks/HookBus.h"
#include "lua/LuaState.h"

namespace parley {

// One loaded version of a script: its own sandboxed lua_State, what its top level registered,
// and its timers. A reload builds a new LuaScript and retires the old one; handlers on the bus
// keep their LuaScript alive, and a retired one answers as if it had no opinion.
//
// Every entry into Lua (hooks from worker threads, timers from the timer thread, load) runs on
// the calling thread's runner (LuaRunner, the watchdog) and takes the script's mutex, so one
// script runs one call at a time. A script re-entered on the same runner (parley.post runs
// message.after_store, which may be its own) continues within the outer call's budget.
//
// A call the watchdog abandoned disables the script for good: its state stays with the lost
// thread, every later call fails at once (the hook's failure policy applies), status() says
// why, and a reload (a new LuaScript) is the way back.
class LuaScript : public std::enable_shared_from_this<LuaScript> {
  public:
    struct Settings {
        std::string name;
        std::string path;
        nlohmann::json options = nlohmann::json::object();
        size_t memoryLimitBytes = 0;
        int64_t instructionLimit = 0;
    };

    // What a lua_CFunction of the API finds through its lua_State.
    static LuaScript& of(lua_State* L);

    LuaScript(Settings settings, ExtensionServices& services);
    ~LuaScript();
    LuaScript(const LuaScript&) = delete;
    LuaScript& operator=(const LuaScript&) = delete;

    // Compiles and runs the file in a fresh state. Throws ExtensionError naming the file.
    void load();
    // The hook handlers and commands the top level registered, bound to this version.
    std::vector<HookBus::Registration> registrations();
    // Starts the timers the top level asked for (call once this version is the live one).
    void startTimers();
    // Waits for the call in flight, cancels this version's timers and closes the state; later
    // calls find it retired (hooks proceed, commands defer, timers do nothing).
    void close();

    Verdict callHook(Hook hook, int functionRef, const HookPayload& payload,
                     std::chrono::milliseconds budget);
    Verdict callCommand(int functionRef, const CommandCall& call, std::chrono::milliseconds budget);
    // Runs a timer's callback; throws std::runtime_error if it fails (the bus logs it).
    void fireTimer(int64_t timerId);

    // {"state": "running"} or {"state": "disabled", "reason": ..., "since_ms": wall ms}.
    nlohmann::json status() const;
    bool disabled() const { return disabled_.load(std::memory_order_acquire); }

    // For the API functions (called with the script's mutex held).
    const std::string& name() const { return settings_.name; }
    const nlohmann::json& options() const { return settings_.options; }
    ExtensionServices& services() { return services_; }
    bool loading() const { return loading_; }
    void addHook(Hook hook, int functionRef);
    void addCommand(const std::string& op, int functionRef);
    size_t timerCount() const { return timers_.size(); }
    int64_t nextTimerId() { return nextTimerId_++; }
    // Starts the timer whose callback is stored under `timerId` (or keeps it for startTimers()
    // while loading). Throws what ExtensionServices::addTimer throws.
    void scheduleTimer(int64_t timerId, int64_t delayMs, int64_t periodMs);
    bool cancelTimer(int64_t timerId);
    // parley.post may re-enter the script: nested calls run on the thread that called it.
    lua_State* swapActiveThread(lua_State* thread);

    static constexpr size_t kMaxTimers = 1000;

  private:
    enum class Entry { Ran, Failed, Retired, Busy };
    struct Outcome {
        Entry entry = Entry::Ran;
        std::string error;
    };
    // What a call is, for logs and the fatal-signal report: "hook" and the hook's name,
    // "command" and the op, "timer", "load".
    struct CallLabel {
        const char* point = "";
        std::string detail;
        std::string text() const {
            return detail.empty() ? point : std::string(point) + " " + detail;
        }
    };
    struct Registration {
        std::optional<Hook> hook;
        std::string op;
        int functionRef = LUA_NOREF;
    };
    struct Timer {
        int64_t delayMs = 0;
        int64_t periodMs = 0;
        uint64_t serviceId = 0;  // 0 until started
    };

    // Runs `body(context)` as a protected call under the script's mutex and budget, on the
    // calling thread's runner, which gives up on it if it runs past its budget by far. The
    // context is shared with the runner: an abandoned call may still touch it.
    Outcome enter(lua_CFunction body, std::shared_ptr<void> context,
                  std::chrono::milliseconds budget, CallLabel label);
    // enter()'s work, on the runner.
    Outcome enterHere(lua_CFunction body, void* context, std::chrono::milliseconds budget,
                      const CallLabel& label);
    // The watchdog gave up on a call: every script on the runner's chain is disabled.
    static void abandoned(const std::vector<LuaScript*>& chain, const CallLabel& label,
                          std::chrono::milliseconds budget, std::chrono::milliseconds ran);
    void disable(const std::string& reason);
    std::string disabledError() const;
    std::string describe(const std::string& error) const;

    const Settings settings_;
    ExtensionServices& services_;
    std::recursive_timed_mutex mutex_;
    std::unique_ptr<LuaState> state_;
    bool loading_ = false;
    bool retired_ = false;
    int depth_ = 0;
    lua_State* activeThread_ = nullptr;
    std::vector<Registration> registrations_;
    std::map<int64_t, Timer> timers_;
    int64_t nextTimerId_ = 1;

    std::atomic<bool> disabled_{false};
    mutable std::mutex statusMutex_;
    std::string disabledReason_;
    int64_t disabledSinceMs_ = 0;
};

}  // namespace parley
