#include "PublishLimiter.h"

#include <algorithm>

namespace parley::jwtauth {

PublishLimiter::Admission PublishLimiter::admit(const void* connection, const char* username,
                                                const char* clientId, int64_t nowMs) {
    if (!enabled()) {
        return {};
    }
    const char* id = clientId == nullptr ? "" : clientId;
    auto [entry, inserted] = connections_.try_emplace(connection);
    Connection& state = entry->second;
    if (inserted || state.who.clientId != id) {
        state = Connection{};
        state.who = {username == nullptr ? "" : username, id};
        state.exempt = exemptUsers_.contains(state.who.username);
        state.tokens = limits_.burst;
        state.refilledMs = nowMs;
    }
    if (state.exempt) {
        return {};
    }
    const double elapsedMs = static_cast<double>(std::max<int64_t>(0, nowMs - state.refilledMs));
    state.tokens = std::min(limits_.burst, state.tokens + elapsedMs * limits_.perSecond / 1000.0);
    state.refilledMs = nowMs;
    if (state.tokens >= 1.0) {
        state.tokens -= 1.0;
        return {};
    }
    Admission dropped{false, false};
    if (!state.inEpisode) {
        state.inEpisode = true;
        state.episodeBeganMs = nowMs;
        state.dropped = 0;
        dropped.episodeBegan = true;
    }
    ++state.dropped;
    state.lastDropMs = nowMs;
    return dropped;
}

PublishLimiter::Sweep PublishLimiter::sweep(int64_t nowMs) {
    Sweep result;
    for (auto& [connection, state] : connections_) {
        if (!state.inEpisode) {
            continue;
        }
        if (nowMs - state.lastDropMs >= kQuietMs) {
            result.ended.push_back(
                {state.who, state.dropped, state.lastDropMs - state.episodeBeganMs});
            state.inEpisode = false;
            state.dropped = 0;
            continue;
        }
        // Still dropping (within the last kQuietMs) this long after the excess began.
        if (limits_.disconnectAfterMs > 0 && !state.disconnecting &&
            state.lastDropMs - state.episodeBeganMs >= limits_.disconnectAfterMs) {
            state.disconnecting = true;
            result.disconnects.push_back(
                {state.who, state.dropped, state.lastDropMs - state.episodeBeganMs});
        }
    }
    return result;
}

std::optional<PublishLimiter::EpisodeEnd> PublishLimiter::forget(const void* connection) {
    const auto found = connections_.find(connection);
    if (found == connections_.end()) {
        return std::nullopt;
    }
    std::optional<EpisodeEnd> ended;
    const Connection& state = found->second;
    if (state.inEpisode && !state.disconnecting) {
        ended = EpisodeEnd{state.who, state.dropped, state.lastDropMs - state.episodeBeganMs};
    }
    connections_.erase(found);
    return ended;
}

}  // namespace parley::jwtauth
