#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>

#include "ops/Exposition.h"
#include "ops/Histogram.h"
#include "protocol/ErrorCode.h"

namespace parley::ops {

// "ok" plus every error code a reply can carry.
inline constexpr size_t kOutcomeCount = 1 + std::size(kAllErrorCodes);
static_assert(static_cast<size_t>(kAllErrorCodes[std::size(kAllErrorCodes) - 1]) + 1 ==
                  std::size(kAllErrorCodes),
              "kAllErrorCodes lists every ErrorCode in its numbering");

// Counters of one op. Updated with relaxed atomics: callers keep the reference Metrics::op() gave
// them, so the hot path takes no lock.
struct OpMetrics {
    std::array<std::atomic<uint64_t>, kOutcomeCount> outcomes{};
    Histogram duration;  // from a worker taking the command to its reply

    // `error` empty = ok.
    void count(std::optional<ErrorCode> error) {
        const size_t index = error ? static_cast<size_t>(*error) + 1 : 0;
        outcomes[index].fetch_add(1, std::memory_order_relaxed);
    }
};

struct StoreMethodMetrics {
    Histogram duration;
    std::atomic<uint64_t> errors{0};
};

// parleyd's own counters and histograms (docs/operations.md lists them). One per process.
class Metrics {
  public:
    // Label of commands whose op is not known (unknown ops, undecodable payloads), so clients
    // cannot create label values at will.
    static constexpr const char* kUnknownOp = "unknown";
    // Past this many distinct ops (extensions can register ops at reload), the rest share "other".
    static constexpr size_t kMaxOps = 256;

    Metrics();

    // The counters of `op`, created on first use (under a lock): keep the reference.
    OpMetrics& op(const std::string& op);
    StoreMethodMetrics& storeMethod(const std::string& method);

    Histogram queueWait;  // from arrival to a worker taking the command
    std::atomic<uint64_t> messagesStored{0};
    // Group commit (StoreObserver::appendBatch): transactions that stored batches of messages,
    // the messages in them, and each one's time.
    std::atomic<uint64_t> appendBatches{0};
    std::atomic<uint64_t> appendBatchMessages{0};
    Histogram appendBatchDuration;
    std::atomic<uint64_t> ingressRateLimited{0};   // over the per-user token bucket
    std::atomic<uint64_t> ingressQueueLimited{0};  // over the per-user queued commands
    const int64_t startTimeMs;

    // Every family above, in exposition format.
    void render(Exposition& out) const;

  private:
    mutable std::shared_mutex mutex_;
    std::map<std::string, std::unique_ptr<OpMetrics>> ops_;
    std::map<std::string, std::unique_ptr<StoreMethodMetrics>> storeMethods_;
};

}  // namespace parley::ops
