#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace parley {

// Token buckets by key (e.g. a uid): `burst` tokens, refilled at `perSecond`. Thread-safe. Buckets
// that are full again are forgotten, so memory follows the number of recently active keys.
class RateLimiter {
  public:
    RateLimiter(double perSecond, int burst) : perSecond_(perSecond), burst_(burst) {}

    // Takes a token and returns 0, or returns how many milliseconds until one is available.
    int64_t acquire(const std::string& key, int64_t nowMs);

  private:
    struct Bucket {
        double tokens;
        int64_t updatedMs;
    };
    void purge(int64_t nowMs);

    double perSecond_;
    double burst_;
    std::mutex mutex_;
    std::unordered_map<std::string, Bucket> buckets_;
    int64_t lastPurgeMs_ = 0;
};

}  // namespace parley
