#include "util/RateLimiter.h"

#include <algorithm>
#include <cmath>

namespace parley {

int64_t RateLimiter::acquire(const std::string& key, int64_t nowMs) {
    std::lock_guard lock(mutex_);
    if (nowMs - lastPurgeMs_ > 60000) {
        purge(nowMs);
    }
    auto [it, inserted] = buckets_.try_emplace(key, Bucket{burst_, nowMs});
    Bucket& bucket = it->second;
    const double elapsed = static_cast<double>(std::max<int64_t>(0, nowMs - bucket.updatedMs));
    bucket.tokens = std::min(burst_, bucket.tokens + elapsed * perSecond_ / 1000.0);
    bucket.updatedMs = nowMs;
    if (bucket.tokens >= 1.0) {
        bucket.tokens -= 1.0;
        return 0;
    }
    return static_cast<int64_t>(std::ceil((1.0 - bucket.tokens) * 1000.0 / perSecond_));
}

void RateLimiter::purge(int64_t nowMs) {
    lastPurgeMs_ = nowMs;
    std::erase_if(buckets_, [&](const auto& entry) {
        const double elapsed = static_cast<double>(nowMs - entry.second.updatedMs);
        return entry.second.tokens + elapsed * perSecond_ / 1000.0 >= burst_;
    });
}

}  // namespace parley
