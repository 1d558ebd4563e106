#pragma once

#include <atomic>
#include <cstdint>

#include "util/Clock.h"

namespace parley::testing {

// A clock tests move by hand (the unit tests, and the command fuzzer one second per input).
class ManualClock final : public Clock {
  public:
    int64_t nowMs() const override { return now_.load(); }
    int64_t steadyMs() const override { return now_.load(); }
    void advance(int64_t ms) { now_ += ms; }

  private:
    std::atomic<int64_t> now_{1'700'000'000'000};
};

}  // namespace parley::testing
