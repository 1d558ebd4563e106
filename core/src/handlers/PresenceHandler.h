#pragma once

#include <nlohmann/json.hpp>

#include <mutex>
#include <string>
#include <unordered_map>

#include "handlers/HandlerContext.h"
#include "protocol/Command.h"

namespace parley {

class Dispatcher;

// presence, activity tracking (any command makes its sender online again) and the away sweep.
class PresenceHandler {
  public:
    explicit PresenceHandler(HandlerContext context);

    void registerOps(Dispatcher& dispatcher);
    nlohmann::json presence(const Command& command);

    // Called before every other command of uid. Writes at most once per touch interval per user
    // from this process; never throws (a failure is logged, the command goes on).
    void noteActivity(const std::string& uid);

    // Online users idle for presence.away_after become away. Run periodically; safe to run from
    // several instances at once.
    void sweep();

  private:
    void announce(const store::PresenceChange& change);

    HandlerContext context_;
    int64_t touchIntervalMs_;
    std::mutex mutex_;
    std::unordered_map<std::string, int64_t> lastTouchMs_;  // uid -> steady ms of our last write
};

}  // namespace parley
