#pragma once

#include <array>
#include <atomic>
#include <cstdint>

namespace parley::ops {

// A latency histogram with fixed bucket bounds (seconds), updated with relaxed atomics only, so
// any thread may observe without a lock. Rendered as a Prometheus histogram.
class Histogram {
  public:
    // Upper bounds in seconds, from 250 µs to 10 s; +Inf is implicit.
    static constexpr std::array<double, 14> kBounds = {
        0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10};

    void observe(double seconds) {
        size_t bucket = 0;
        while (bucket < kBounds.size() && seconds > kBounds[bucket]) {
            ++bucket;
        }
        counts_[bucket].fetch_add(1, std::memory_order_relaxed);
        sumNanos_.fetch_add(static_cast<uint64_t>(seconds * 1e9), std::memory_order_relaxed);
    }

    struct Snapshot {
        std::array<uint64_t, kBounds.size() + 1> cumulative{};  // last one is +Inf = count
        double sumSeconds = 0;
        uint64_t count() const { return cumulative.back(); }
    };

    Snapshot snapshot() const {
        Snapshot snapshot;
        uint64_t running = 0;
        for (size_t i = 0; i < counts_.size(); ++i) {
            running += counts_[i].load(std::memory_order_relaxed);
            snapshot.cumulative[i] = running;
        }
        snapshot.sumSeconds = static_cast<double>(sumNanos_.load(std::memory_order_relaxed)) / 1e9;
        return snapshot;
    }

  private:
    std::array<std::atomic<uint64_t>, kBounds.size() + 1> counts_{};
    std::atomic<uint64_t> sumNanos_{0};
};

}  // namespace parley::ops
