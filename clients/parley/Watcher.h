#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "Session.h"

namespace parley::client {

// `parley watch`: prints every event for the user as one JSON line, until `count` events were
// printed, `duration` passed, or stop() (a signal). After a reconnect it catches up: every
// message stored meanwhile in the user's conversations is printed once, as an "ev": "msg" line
// with "replayed": true, so a script sees each message exactly once across broker restarts.
class Watcher {
  public:
    struct Options {
        std::string conv;                   // only this conversation's events, if set
        std::vector<std::string> presence;  // also print these users' presence
        std::optional<long long> count;
        std::optional<std::chrono::milliseconds> duration;
        const std::atomic<bool>* interrupted = nullptr;  // set by a signal handler
    };

    Watcher(Session& session, std::ostream& out, Options options);
    // Call before session.connect(): installs the session's handlers.
    void attach();
    // Runs until done; returns the exit code.
    int run();
    void stop();

  private:
    void onEvent(const Event& event);
    void catchUp();
    // Prints a msg once per (conv, seq); returns false if it was printed before.
    bool printMessage(const std::string& conv, nlohmann::json message);
    void print(const nlohmann::json& line);

    Session& session_;
    std::ostream& out_;
    Options options_;

    std::mutex mutex_;
    std::condition_variable changed_;
    std::map<std::string, std::set<long long>> printedSeqs_;
    std::map<std::string, long long> lastSeq_;  // highest seq seen per conversation
    long long printed_ = 0;
    bool reconnected_ = false;
    bool stopping_ = false;
};

}  // namespace parley::client
