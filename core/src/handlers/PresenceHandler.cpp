#include "handlers/PresenceHandler.h"

#include <spdlog/spdlog.h>

#include "dispatch/Dispatcher.h"
#include "protocol/Args.h"
#include "protocol/Views.h"

namespace parley {

namespace {
constexpr int kSweepBatch = 1000;
constexpr size_t kMaxTrackedUsers = 100000;

store::PresenceState parseState(const std::string& state) {
    if (state == "online") {
        return store::PresenceState::Online;
    }
    return state == "away" ? store::PresenceState::Away : store::PresenceState::Offline;
}
}  // namespace

PresenceHandler::PresenceHandler(HandlerContext context)
    : context_(context),
      // Frequent enough that last_active is never staler than a tenth of the away delay.
      touchIntervalMs_(std::min<int64_t>(context.rules.presence.awayAfterMs / 10, 30000)) {}

void PresenceHandler::registerOps(Dispatcher& dispatcher) {
    // The command sets the user's presence itself: noted as activity too, it would be set twice.
    dispatcher.add(
        "presence", [this](const Command& c) { return presence(c); },
        OpTraits{.isActivity = false});
}

void PresenceHandler::announce(const store::PresenceChange& change) {
    context_.outbox.presence(change.record);
    if (change.changed) {
        context_.hooks.presenceChanged(change.record, change.previous);
    }
}

nlohmann::json PresenceHandler::presence(const Command& command) {
    const Args args(command.args);
    const auto state = parseState(args.requireOneOf("state", {"online", "away", "offline"}));
    auto change = context_.store.setPresence(command.uid, state, context_.clock.nowMs());
    {
        std::lock_guard lock(mutex_);
        if (state == store::PresenceState::Online) {
            lastTouchMs_[command.uid] = context_.clock.steadyMs();
        } else {
            lastTouchMs_.erase(command.uid);
        }
    }
    // Republished even when unchanged: the broker may have lost the retained copy.
    announce(change);
    return presenceJson(change.record);
}

void PresenceHandler::noteActivity(const std::string& uid) {
    const int64_t now = context_.clock.steadyMs();
    {
        std::lock_guard lock(mutex_);
        auto found = lastTouchMs_.find(uid);
        if (found != lastTouchMs_.end() && now - found->second < touchIntervalMs_) {
            return;
        }
        if (lastTouchMs_.size() >= kMaxTrackedUsers) {
            lastTouchMs_.clear();  // only costs a few extra writes
        }
        lastTouchMs_[uid] = now;
    }
    try {
        auto change = context_.store.recordActivity(uid, context_.clock.nowMs());
        if (change.changed) {
            announce(change);
        }
    } catch (const std::exception& error) {
        spdlog::warn("presence: recording activity of {} failed: {}", uid, error.what());
        std::lock_guard lock(mutex_);
        lastTouchMs_.erase(uid);
    }
}

void PresenceHandler::sweep() {
    try {
        const int64_t idleBefore = context_.clock.nowMs() - context_.rules.presence.awayAfterMs;
        for (const auto& record : context_.store.markIdleAway(idleBefore, kSweepBatch)) {
            {
                std::lock_guard lock(mutex_);
                lastTouchMs_.erase(record.uid);
            }
            announce(store::PresenceChange{true, record, store::PresenceState::Online});
        }
    } catch (const std::exception& error) {
        spdlog::warn("presence: away sweep failed: {}", error.what());
    }
}

}  // namespace parley
