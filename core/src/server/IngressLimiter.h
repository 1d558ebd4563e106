#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace parley {

// Per-user limits checked when a command arrives, before it is queued, so one user's flood is
// answered at once instead of filling the workers' queues and stalling the broker's receive path
// for everyone: a token bucket (`perSecond`, `burst`) and a cap on the user's commands queued or
// running (`maxQueued`). Sharded by uid, so threads rarely meet on a lock. Per instance.
class IngressLimiter {
  public:
    // perSecond <= 0: no token bucket; maxQueued <= 0: no cap.
    IngressLimiter(double perSecond, int burst, int maxQueued);

    struct Verdict {
        enum class Kind { Admitted, OverRate, OverQueued };
        Kind kind = Kind::Admitted;
        int64_t retryAfterMs = 0;  // set when refused
        // Refusals of this uid since the last one that was logged (1 on the first of a burst);
        // 0 = do not log this one.
        uint64_t refusalsToLog = 0;
        bool admitted() const { return kind == Kind::Admitted; }
    };

    // Takes `cost` tokens (a command: 1; bytes: their number) and a queue slot for uid, or
    // refuses. `nowMs`: a monotonic clock. A cost above the burst costs the burst.
    Verdict admit(const std::string& uid, int64_t nowMs, double cost = 1.0);
    // Takes `cost` more tokens from uid's bucket after the fact (a reply's bytes), into debt if
    // need be: the user's next commands wait until it is paid.
    void charge(const std::string& uid, int64_t nowMs, double cost);
    // The command admitted for uid has finished (or was dropped): frees its queue slot.
    void release(const std::string& uid);

    bool enabled() const { return perSecond_ > 0 || maxQueued_ > 0; }
    // Users currently tracked (for tests and metrics).
    size_t trackedUsers() const;

    // The wait announced when the queue cap refuses: its commands take about that to drain.
    static constexpr int64_t kQueuedRetryAfterMs = 250;
    // A user refused again and again is logged at most this often.
    static constexpr int64_t kLogIntervalMs = 10000;

  private:
    struct UserState {
        double tokens = 0;
        int64_t updatedMs = 0;
        int queued = 0;
        uint64_t refusedSinceLog = 0;
        int64_t loggedMs = INT64_MIN / 2;
    };
    struct Shard {
        mutable std::mutex mutex;
        std::unordered_map<std::string, UserState> users;
        int64_t lastPurgeMs = 0;
    };
    Shard& shardOf(const std::string& uid);
    // uid's state with its tokens refilled up to nowMs. Call with its shard's mutex held.
    UserState& refilled(Shard& shard, const std::string& uid, int64_t nowMs);
    void purge(Shard& shard, int64_t nowMs);
    uint64_t noteRefusal(UserState& state, int64_t nowMs);

    double perSecond_;
    double burst_;
    int maxQueued_;
    std::array<Shard, 16> shards_;
};

}  // namespace parley
