#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "parley/mqtt/TlsSettings.h"

namespace parley::bench {

struct FloodOptions {
    std::string uri;
    TlsSettings tls;
    std::string prefix = "parley/v1";
    std::string uid;
    std::string password;
    std::string conv;    // a conversation of the flooder's, opened beforehand
    double seconds = 0;  // flood for this long (if > 0), else `count` commands
    long long count = 0;
    double drainSeconds = 30;  // then wait this long for the answers to what was sent
    // Publish to this user's command topic instead of one's own: the broker's ACL refuses every
    // publish, so nothing reaches parleyd and the flood costs only the broker (and this client).
    std::string deniedPeer;
};

// What one flood got: from the broker (PUBACKs) and from parleyd (replies).
struct FloodReport {
    long long sent = 0;
    long long refusedAtBroker = 0;  // PUBACK with an error reason code: the broker's rate limit
    long long publishesFailed = 0;  // lost with the connection (e.g. the broker disconnected it)
    long long stored = 0;
    std::map<std::string, long long> refused;  // parleyd's answers, by error code
    long long unanswered = 0;                  // neither answered nor refused by the broker
    long long reconnects = 0;  // the broker disconnected it (its rate limit) and it came back
    double sendSeconds = 0;

    nlohmann::json toJson() const;
    static FloodReport fromJson(const nlohmann::json& json);
};

// One user sending msg.send to `conv` as fast as its connection takes them (`parley-bench
// flood`): no waiting for replies, only for room in the window of publishes awaiting their PUBACK.
// Disconnected by the broker, it connects again at once and goes on, as a determined flooder
// would.
// The load run starts it as a process of its own, as a flooding device is: in the load
// generator's process it would share Paho's one command queue with the simulated users, whose
// commands would then wait behind its backlog before they even left.
FloodReport runFlood(const FloodOptions& options);

}  // namespace parley::bench
