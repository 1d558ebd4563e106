#include "server/IngressLimiter.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <utility>

namespace parley {

IngressLimiter::IngressLimiter(double perSecond, int burst, int maxQueued)
    : perSecond_(perSecond), burst_(std::max(1, burst)), maxQueued_(maxQueued) {}

IngressLimiter::Shard& IngressLimiter::shardOf(const std::string& uid) {
    return shards_[std::hash<std::string>{}(uid) % shards_.size()];
}

uint64_t IngressLimiter::noteRefusal(UserState& state, int64_t nowMs) {
    ++state.refusedSinceLog;
    if (nowMs - state.loggedMs < kLogIntervalMs) {
        return 0;
    }
    state.loggedMs = nowMs;
    return std::exchange(state.refusedSinceLog, 0);
}

IngressLimiter::UserState& IngressLimiter::refilled(Shard& shard, const std::string& uid,
                                                    int64_t nowMs) {
    auto [it, inserted] = shard.users.try_emplace(uid);
    UserState& state = it->second;
    if (inserted) {
        state.tokens = burst_;
        state.updatedMs = nowMs;
    }
    if (perSecond_ > 0) {
        const double elapsed = static_cast<double>(std::max<int64_t>(0, nowMs - state.updatedMs));
        state.tokens = std::min(burst_, state.tokens + elapsed * perSecond_ / 1000.0);
        state.updatedMs = nowMs;
    }
    return state;
}

IngressLimiter::Verdict IngressLimiter::admit(const std::string& uid, int64_t nowMs, double cost) {
    if (!enabled()) {
        return {};
    }
    Shard& shard = shardOf(uid);
    std::lock_guard lock(shard.mutex);
    if (nowMs - shard.lastPurgeMs > 60000) {
        purge(shard, nowMs);
    }
    UserState& state = refilled(shard, uid, nowMs);
    if (maxQueued_ > 0 && state.queued >= maxQueued_) {
        return {Verdict::Kind::OverQueued, kQueuedRetryAfterMs, noteRefusal(state, nowMs)};
    }
    if (perSecond_ > 0) {
        cost = std::min(cost, burst_);
        if (state.tokens < cost) {
            const auto wait =
                static_cast<int64_t>(std::ceil((cost - state.tokens) * 1000.0 / perSecond_));
            return {Verdict::Kind::OverRate, std::max<int64_t>(1, wait), noteRefusal(state, nowMs)};
        }
        state.tokens -= cost;
    }
    ++state.queued;
    return {};
}

void IngressLimiter::charge(const std::string& uid, int64_t nowMs, double cost) {
    if (perSecond_ <= 0 || cost <= 0) {
        return;
    }
    Shard& shard = shardOf(uid);
    std::lock_guard lock(shard.mutex);
    refilled(shard, uid, nowMs).tokens -= cost;
}

void IngressLimiter::release(const std::string& uid) {
    if (!enabled()) {
        return;
    }
    Shard& shard = shardOf(uid);
    std::lock_guard lock(shard.mutex);
    auto found = shard.users.find(uid);
    if (found != shard.users.end() && found->second.queued > 0) {
        --found->second.queued;
    }
}

void IngressLimiter::purge(Shard& shard, int64_t nowMs) {
    shard.lastPurgeMs = nowMs;
    // A user with nothing queued and a full bucket again is the same as one never seen.
    std::erase_if(shard.users, [&](const auto& entry) {
        const UserState& state = entry.second;
        const double elapsed = static_cast<double>(nowMs - state.updatedMs);
        const bool full = perSecond_ <= 0 || state.tokens + elapsed * perSecond_ / 1000.0 >= burst_;
        return state.queued == 0 && full;
    });
}

size_t IngressLimiter::trackedUsers() const {
    size_t total = 0;
    for (const auto& shard : shards_) {
        std::lock_guard lock(shard.mutex);
        total += shard.users.size();
    }
    return total;
}

}  // namespace parley
