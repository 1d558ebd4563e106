#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "BenchClient.h"
#include "Flood.h"
#include "parley/mqtt/TlsSettings.h"

namespace parley::bench {

struct LoadOptions {
    std::string uri = "ssl://127.0.0.1:8883";
    // Users sharded over brokers (docs/scaling.md): each user connects to
    // shardUris[shardOfUser(uid, shardUris.size())] instead of `uri`, as a client must.
    std::vector<std::string> shardUris;
    // Uri of the broker `uid` connects to.
    const std::string& uriOf(const std::string& uid) const;
    TlsSettings tls;  // for an ssl://, mqtts:// or wss:// uri
    std::string prefix = "parley/v1";
    std::string userPrefix = "bench-";  // users <prefix>0001, <prefix>0002, ...
    std::string password;               // the same for every bench user
    int users = 100;
    int groupSize = 2;  // 2: 1:1 pairs; more: groups of that many (users / groupSize groups)
    double rate = 0;    // messages per second offered in total; 0: flood
    // Paced: who sends each message. Random (the default): a user drawn at random each time, as
    // independent users would. In turns: 0, 1, 2, ... in order, so the members of a conversation
    // send one right after the other (the order before 2026-11-22, for comparisons).
    bool sendersInTurns = false;
    int window = 20;  // flood: msg.send awaiting its reply per user
    // PollLoadRun only: the plain poll() loop the generator is measured against (replies and
    // events counted, nothing parsed or checked).
    bool bare = false;
    // Every user chooses presence `away` before sending (and stays away while sending): what
    // makes the notify plugin schedule digests during the load.
    bool recipientsAway = false;
    // PollLoadRun only: before sending, the first user (who must be one of parleyd's `admins`)
    // gives every user an email address <uid>@<this> (admin.user.set), so the notify plugin has
    // somewhere to send their digests. Empty: none.
    std::string emailDomain;
    long long count = 0;  // stop after this many messages; 0: after `seconds`
    double seconds = 10;
    double drainSeconds = 15;  // after the last send, wait this long for replies and events
    size_t bodyBytes = 64;
    // Paced: with this many messages per user (on average) awaiting their reply, sending waits,
    // as real clients do;
    // an offered rate past what the system sustains then shows as a lower achieved rate, not as
    // an ever-growing backlog (Paho's queues slow down badly when tens of thousands deep).
    int maxUnansweredPerUser = 10;
    // An extra user (the name after the others) sends this many msg.send as fast as it can when
    // sending starts, to a conversation with the first user, without waiting for replies: the
    // others' latency shows what the flood costs them. 0: no flooder.
    long long flooderCommands = 0;
    // The flooder sends for as long as the others do, as fast as its connection takes them,
    // instead of a count (flooderCommands is then ignored).
    bool flooderWholeRun = false;
    // The flooder runs as a process of its own, as a flooding device is (runFlood, Flood.h):
    // this program's `flood` subcommand (parley-bench; empty: this very program).
    std::string flooderProgram;
    // The flooder publishes on the first user's command topic, which the broker refuses: the
    // flood reaches only the broker (what a flood costs before parleyd).
    bool flooderDenied = false;
    pid_t serverPid = 0;                // parleyd (or the relay): its CPU and memory are reported
    pid_t databasePid = 0;              // the database server, if any: its CPU is reported
    pid_t brokerPid = 0;                // the broker, if known: its CPU is reported (PollLoadRun)
    std::vector<pid_t> moreBrokerPids;  // the other shards' brokers: their CPU is added
    bool progress = true;               // a progress line on stderr
    // If set, this file gets a line per reply, "sent_ms,reply_ms": when the message was sent
    // (since sending started) and how long its reply took. Shows whether the slow replies come
    // together (a stall) or spread out (queueing).
    std::string timelinePath;
};

struct LatencySummary {
    size_t count = 0;
    double p50 = 0, p90 = 0, p99 = 0, max = 0;  // milliseconds
};

// The percentiles of latencies in µs (sorts them). Both load generators report with it.
LatencySummary summarizeLatencies(std::vector<uint32_t>& micros);

// Writes LoadOptions::timelinePath: a line per reply, "sent_ms,reply_ms", sorted, after a comment
// with the monotonic time sending started. `timeline` holds (sent µs since start, reply µs).
void writeReplyTimeline(const std::string& path, std::chrono::steady_clock::time_point start,
                        std::vector<std::pair<int64_t, uint32_t>>& timeline);

struct LoadReport {
    LoadOptions options;
    double sendingSeconds = 0;
    long long sent = 0;
    long long stored = 0;                      // answered ok
    std::map<std::string, long long> refused;  // by error code
    long long unanswered = 0;                  // no reply by the end of the drain
    long long duplicateStores = 0;             // a seq handed out twice in a conversation
    long long seqGaps = 0;                     // seqs missing below a conversation's highest
    long long deliveriesExpected = 0;          // stored x members (the sender's copy included)
    long long delivered = 0;
    long long lostDeliveries = 0;
    long long duplicateDeliveries = 0;
    double storedPerSecond = 0;
    double deliveredPerSecond = 0;   // to the other members
    LatencySummary replyLatency;     // send -> the sender's reply
    LatencySummary deliveryLatency;  // send -> another member's msg event
    double serverCpuPercent = -1;    // of one core; -1: not measured
    long serverRssMaxKiB = -1;
    double databaseCpuPercent = -1;  // of one core; -1: not measured
    double brokerCpuPercent = -1;    // of one core, all the brokers together; -1: not measured
    int brokers = 1;                 // how many brokers (shards) that is
    double benchCpuPercent = 0;
    // CPU per stored message (µs): the load generator's own, and the server's; -1: not measured.
    double benchCpuMicrosPerMessage = -1;
    double serverCpuMicrosPerMessage = -1;
    double brokerCpuMicrosPerMessage = -1;  // all the brokers together
    // Paced: messages that were due but still held back at the end (their user had
    // maxUnansweredPerUser awaiting a reply the whole drain): offered, never sent.
    long long heldBack = 0;
    std::string generator =
        "Paho, a thread per connection";  // Share of the machine's CPU time the hypervisor took
                                          // while sending (`steal` in /proc/stat):
    // on a virtual machine, the latency tail follows it (docs/performance.md); -1: unknown.
    double stealPercent = -1;
    // Mean time a thread that was ready to run waited for a CPU, per timeslice, while sending:
    // every thread of the machine, and the server's (ms; -1: unknown). How crowded the cores are.
    double runQueueWaitMs = -1;
    double serverRunQueueWaitMs = -1;
    // The flooder (LoadOptions::flooderCommands), not counted above.
    long long flooderSent = 0;
    long long flooderStored = 0;
    std::map<std::string, long long> flooderRefused;  // by error code
    long long flooderUnanswered = 0;       // no reply from parleyd, nor refused by the broker
    long long flooderRefusedAtBroker = 0;  // PUBACK with an error reason code (its rate limit)
    long long flooderPublishesFailed = 0;  // lost with the connection (e.g. disconnected)
    long long flooderReconnects = 0;       // disconnected by the broker, back at once
    double flooderSendSeconds = 0;         // to publish all of them

    nlohmann::json toJson() const;
    std::string toText() const;
};

// One load run: connects the users, opens their conversations, sends, waits for everything to
// arrive (bounded), and counts. Stops by itself.
class LoadRun {
  public:
    explicit LoadRun(LoadOptions options);
    ~LoadRun();
    LoadReport run();

  private:
    struct Conversation {
        std::string id;
        std::vector<size_t> members;
        std::mutex mutex;
        std::vector<uint32_t> repliesBySeq;
    };
    struct User {
        std::unique_ptr<BenchClient> client;
        size_t conversation = 0;
        std::mutex mutex;
        std::vector<Clock::time_point> sendTimes;
        std::unordered_map<size_t, std::vector<uint32_t>> receivedBySeq;  // by conversation
    };

    void onMessage(BenchClient& client, const std::string& suffix, nlohmann::json&& payload,
                   Clock::time_point arrived);
    nlohmann::json setupCall(size_t user, nlohmann::json command);
    void setUp();
    void sendOne(size_t user);
    void onFlooderMessage(const std::string& suffix, const nlohmann::json& payload);
    // Starts the flooder's process; it sends as soon as it is connected.
    pid_t startFlood(const std::string& outputFile);
    // Waits (bounded) for it to end and reads its report.
    FloodReport finishFlood(pid_t flooder, const std::string& outputFile);
    bool sendingActive() const;
    void printProgress(double elapsed);
    LoadReport collect(double sendingSeconds);

    LoadOptions options_;
    std::string body_;
    std::string runTag_;
    std::vector<std::unique_ptr<User>> users_;
    std::vector<std::unique_ptr<Conversation>> conversations_;
    std::unordered_map<std::string, size_t> conversationIndex_;
    bool flooding() const { return options_.flooderWholeRun || options_.flooderCommands > 0; }

    // Opens the flooder's conversation during setup; the flood itself is another process's.
    std::unique_ptr<BenchClient> flooder_;
    std::string flooderUid_;
    std::string flooderConversation_;
    FloodReport flooderReport_;

    Clock::time_point start_;
    Clock::time_point sendDeadline_;
    std::atomic<bool> sending_{false};
    std::atomic<long long> sent_{0};
    std::atomic<long long> replies_{0};
    std::atomic<long long> stored_{0};
    std::atomic<long long> deliveredAll_{0};
    std::atomic<long long> deliveredOthers_{0};
    std::atomic<long long> outstanding_{0};
    std::atomic<int64_t> lastReplyNs_{0};
    std::atomic<int64_t> lastDeliveryNs_{0};

    std::mutex statsMutex_;
    std::vector<uint32_t> replyMicros_;
    std::vector<std::pair<int64_t, uint32_t>> replyTimeline_;  // (sent, µs since start; reply µs)
    std::vector<uint32_t> deliveryMicros_;
    std::map<std::string, long long> refused_;

    std::mutex setupMutex_;
    std::condition_variable setupArrived_;
    std::map<std::string, nlohmann::json> setupReplies_;
};

}  // namespace parley::bench
