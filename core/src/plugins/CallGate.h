#pragma once

#include <condition_variable>
#include <mutex>

namespace parley {

// Counts the calls running into one plugin, so unloading can wait for them and later calls (on
// a hook chain snapshot taken before the plugin's handlers were removed) skip the plugin instead
// of jumping into an unmapped library.
//
// The gate starts shut until open(): a plugin's init may register handlers and then fail and
// free their userdata (plugin.h), so nothing it registers may run before init has succeeded.
class CallGate {
  public:
    // What a call does while the plugin's init is still running.
    enum class WhileStarting {
        Skip,  // hooks and commands: the plugin's own post_message during init runs on the
               // init thread, and waiting there would wait for itself
        Wait,  // timers: a one-shot timer due during init must not be lost
    };

    // One call through the gate; false if the call must not happen (init failed or has not
    // finished, or the plugin is unloading).
    class Pass {
      public:
        explicit Pass(CallGate& gate, WhileStarting whileStarting = WhileStarting::Skip);
        ~Pass();
        Pass(const Pass&) = delete;
        Pass& operator=(const Pass&) = delete;
        explicit operator bool() const { return entered_; }

      private:
        CallGate& gate_;
        bool entered_;
    };

    // Init succeeded: calls go through.
    void open();
    // Refuses new calls (and releases those waiting for init) and returns once none is running.
    // Must not be called from inside a call through this gate (it would wait for itself).
    void close();

  private:
    enum class State { Starting, Open, Closed };

    bool enter(WhileStarting whileStarting);
    void leave();

    std::mutex mutex_;
    std::condition_variable changed_;
    State state_ = State::Starting;
    int running_ = 0;
};

}  // namespace parley
