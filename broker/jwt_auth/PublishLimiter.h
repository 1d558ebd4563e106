#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace parley::jwtauth {

struct PublishLimits {
    // parleyd's own defaults per user (limits.user_commands_per_second, user_command_burst): what
    // a flood gets through to parleyd still costs the others, and twice this cost them more
    // (docs/performance.md, "A flooding user").
    double perSecond = 100;  // token refill per second; 0: no limit
    double burst = 300;      // bucket size: what a quiet connection may send at once
    // A connection still over its rate this long after its excess began is disconnected; 0: never.
    int64_t disconnectAfterMs = 10000;
};

// A token bucket per connection for PUBLISH, so one client's flood is dropped at the broker
// instead of queueing in front of everyone's commands on parleyd's one subscription. Keyed by the
// broker's connection (an opaque pointer), forgotten at its disconnect. Every decision about a
// connection is reported once per episode (the excess began, it ended, the connection is to be
// disconnected), never once per publish, so a flood cannot flood the log too. Time is passed in
// (milliseconds of a monotonic clock), so it is tested without a broker or a clock.
class PublishLimiter {
  public:
    // `exemptUsers` (the service accounts) are never limited: parleyd publishes every reply and
    // event.
    PublishLimiter(PublishLimits limits, std::set<std::string, std::less<>> exemptUsers)
        : limits_(limits), exemptUsers_(std::move(exemptUsers)) {}

    struct Identity {
        std::string username;
        std::string clientId;
    };
    struct Admission {
        bool allowed = true;
        // The first publish of an excess episode was dropped: log it (once).
        bool episodeBegan = false;
    };
    // One PUBLISH from `connection`. Its username decides the exemption the first time a
    // connection is seen, and again if its client id changed (a pointer reused after a
    // disconnect the broker did not report).
    Admission admit(const void* connection, const char* username, const char* clientId,
                    int64_t nowMs);

    struct EpisodeEnd {
        Identity who;
        uint64_t dropped = 0;
        int64_t lastedMs = 0;
    };
    struct Disconnect {
        Identity who;
        uint64_t dropped = 0;
        int64_t overMs = 0;
    };
    struct Sweep {
        std::vector<EpisodeEnd> ended;        // no drop for kQuietMs: back within its rate
        std::vector<Disconnect> disconnects;  // over its rate for disconnectAfterMs
    };
    // Called on the broker's ticks. A connection is handed out for disconnection once.
    Sweep sweep(int64_t nowMs);

    // The connection is gone. Its episode, if one was under way and it was not disconnected for
    // it, ends here.
    std::optional<EpisodeEnd> forget(const void* connection);
    size_t tracked() const { return connections_.size(); }
    const PublishLimits& limits() const { return limits_; }
    bool enabled() const { return limits_.perSecond > 0; }

    // An episode ends after this long without a dropped publish.
    static constexpr int64_t kQuietMs = 2000;

  private:
    struct Connection {
        Identity who;
        bool exempt = false;
        double tokens = 0;
        int64_t refilledMs = 0;
        // The current episode of excess, if any.
        bool inEpisode = false;
        int64_t episodeBeganMs = 0;
        int64_t lastDropMs = 0;
        uint64_t dropped = 0;
        bool disconnecting = false;
    };

    PublishLimits limits_;
    std::set<std::string, std::less<>> exemptUsers_;
    std::unordered_map<const void*, Connection> connections_;
};

}  // namespace parley::jwtauth
