#pragma once

#include <chrono>
#include <cstdint>

namespace parley {

// Wall-clock milliseconds since the Unix epoch: what timestamps in the protocol and the store use.
// An interface so tests can control time (away detection, rate limits).
class Clock {
  public:
    virtual ~Clock() = default;
    virtual int64_t nowMs() const = 0;
    // Monotonic milliseconds, for intervals that must not jump with the wall clock.
    virtual int64_t steadyMs() const = 0;
};

class SystemClock final : public Clock {
  public:
    int64_t nowMs() const override {
        using namespace std::chrono;
        return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
    }
    int64_t steadyMs() const override {
        using namespace std::chrono;
        return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
    }
};

}  // namespace parley
