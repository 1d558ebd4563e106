#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace parley {

class LuaScript;

// The watchdog of calls into Lua: the last line of defence when a call does not come back.
//
// Every library function a script can reach is bounded and charges its work to the budget
// (LuaLibraryLimits), so a call ends within its budget give or take one step. What a budget
// cannot stop is a step that never ends: a C function with a loop nobody bounded (a bug in Lua,
// or one we missed), or a single VM instruction on a huge value (comparing two 64 MiB strings
// takes milliseconds, and the count hook only looks every 1000 instructions). A thread stuck
// there cannot be interrupted: lua_sethook works between instructions, a signal cannot unwind
// C code safely, and killing a thread is not a thing. It can only be left behind.
//
// So calls into Lua do not run on the thread that needs their answer. Each thread that calls
// into Lua (a worker, the timer thread, the thread loading scripts) gets a runner: a thread of
// its own that runs its calls, one at a time, while the caller waits. Calls made while Lua
// runs (a script's parley.post running hooks, which may be scripts) run on the runner itself,
// as they ran on the caller before. If a call runs past its budget by far (its budget plus the
// larger of its budget and one second) while in Lua, the caller abandons it: it answers the
// call as failed (the hook's failure policy applies), disables every script on the runner's
// call chain (their states are in use by the lost thread for ever), and gets a fresh runner
// for its next call. The abandoned thread is never joined (shutdown does not wait for it) and
// never runs parleyd's code again: it raises at its next instruction if it ever gets there, and
// parks for good when its call unwinds. It keeps its scripts' memory and, if truly stuck, a
// CPU core (at the lowest priority) until parleyd restarts.
//
// A call is only abandoned while in Lua (the VM or a library function), never while it runs
// parleyd's own code for the script (parley.* functions, the hooks they run, the store), which
// is bounded by its own limits and must finish: the phase below says which.
class LuaRunner {
  public:
    // What the caller does with a call it gave up on: the runner's call chain, innermost last,
    // and how long the call had run.
    using AbandonHandler =
        std::function<void(const std::vector<LuaScript*>& chain, std::chrono::milliseconds ran)>;

    // Runs `call` on the calling thread's runner and waits for it until `giveUpAt`, then longer
    // while the call is in parleyd's own code, and abandons it once it is in Lua past that time:
    // `onAbandon` runs (on the calling thread) and run() returns false. True once `call`
    // returned. On a runner thread (a nested call), runs `call` right there.
    static bool run(std::function<void()> call, std::chrono::steady_clock::time_point giveUpAt,
                    const AbandonHandler& onAbandon);

    // The runner of the calling thread if it is one, else nullptr.
    static LuaRunner* current();

    // Threads abandoned since start (parley_lua_abandoned_threads).
    static uint64_t abandonedCount();

    // For LuaScript, on its runner: a call of `script` goes into Lua (it may be abandoned from
    // now until leaveLua).
    void enterLua(LuaScript* script);
    // The call came back from Lua. If it was abandoned meanwhile, this never returns: the
    // thread parks for good, so nothing after it (parleyd's frames below) runs again.
    void leaveLua();

    // Brackets parleyd's own work for a script (the parley.* functions). Throws
    // std::runtime_error if the call was abandoned (the thread must raise, not touch parleyd).
    class HostSection {
      public:
        HostSection();
        ~HostSection();
        HostSection(const HostSection&) = delete;
        HostSection& operator=(const HostSection&) = delete;

      private:
        LuaRunner* runner_;
    };

    LuaRunner();
    ~LuaRunner();
    LuaRunner(const LuaRunner&) = delete;
    LuaRunner& operator=(const LuaRunner&) = delete;

  private:
    enum Phase : int { kHost = 0, kLua = 1, kAbandoned = 2 };

    // Runs `call` here and waits; false if abandoned (see run()).
    bool execute(std::function<void()> call, std::chrono::steady_clock::time_point giveUpAt,
                 const AbandonHandler& onAbandon);
    void loop();
    [[noreturn]] static void park();

    std::mutex mutex_;
    std::condition_variable wake_;  // the runner: a call was posted, or stop
    std::condition_variable done_;  // the caller: the call returned
    std::function<void()> call_;
    bool posted_ = false;
    bool finished_ = false;
    bool stopping_ = false;

    std::atomic<int> phase_{kHost};
    // Scripts whose calls are open on this runner, innermost last. Written by the runner only;
    // read by the caller after it won the phase (kLua -> kAbandoned), which orders the reads
    // after the runner's last write.
    std::vector<LuaScript*> chain_;
    std::atomic<int> threadId_{0};  // the runner's kernel thread id, to lower its priority
    std::thread thread_;
};

}  // namespace parley
