#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "LoadRun.h"
#include "MosquittoConnection.h"
#include "ProcessStats.h"

namespace parley::bench {

// Raises this process's soft descriptor limit to its hard limit (where a distribution's default
// soft limit of 1,024 would stop the generator near 1,000 users; children started afterwards,
// such as the suite's broker, inherit it). Returns the soft limit now in force.
long raiseDescriptorLimit();

// The load generator of the benchmark (docs/performance.md, "The load generator"): every
// simulated user's MQTT connection (libmosquitto) on one thread, one epoll loop, no locks and no
// hand-offs between threads, so the generator costs the machine a few µs per message and is not
// what the benchmark measures; a pass costs what is ready, not how many users are connected. Flood:
// each user keeps `window` messages awaiting their reply. Paced: a message is due every 1/rate s
// from a user drawn at random, and its latency counts from when it was due, not from when it left
// (a late generator or a user holding back at maxUnansweredPerUser shows as latency, not as a lower
// rate offered). `bare` is the plain loop the generator is measured against: the same connections
// and commands, but replies and events are only counted (no parsing, no latency, no checks),
// through libmosquitto as it comes (its wake-up pair per connection) and one poll() of every
// descriptor per pass, as the generator was before 2026-12-07's epoll loop: the reference stays
// independent of the loop it checks (a few thousand users at most: three descriptors each).
class PollLoadRun {
  public:
    explicit PollLoadRun(LoadOptions options);
    ~PollLoadRun();
    LoadReport run();

  private:
    struct Conversation {
        std::string id;
        std::vector<size_t> members;
        std::vector<uint32_t> repliesBySeq;
    };
    struct User {
        std::unique_ptr<MosquittoConnection> connection;
        size_t index = 0;  // in users_
        std::string uid;
        std::string commandTopic;
        std::string inboxPrefix;
        size_t conversation = 0;
        std::vector<int64_t> dueNs;           // by message number: when it was due (since start_)
        std::deque<int64_t> heldBack;         // paced: due, waiting for a reply to free a slot
        int outstanding = 0;                  // sent, no reply yet
        std::vector<uint32_t> receivedBySeq;  // this user's copies of its conversation's messages
        bool inFreed = false;                 // in freed_
    };

    void onMessage(size_t user, std::string_view topic, std::string_view payload);
    void onReply(User& user, std::string_view payload, int64_t arrivedNs);
    void onEvent(User& user, std::string_view conv, std::string_view payload, int64_t arrivedNs);
    std::string setupCall(size_t user, const std::string& op, const std::string& arguments);
    void setUp();
    void send(size_t user, int64_t dueNs);
    bool sendingActive(std::chrono::steady_clock::time_point now) const;
    // Paced: sends what `user` held back while it has room.
    void releaseHeldBack(size_t user);
    // One pass of the loop (loop_, or the bare poll() loop over connections_), and passes until
    // done().
    void pass(std::chrono::microseconds timeout);
    bool runUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout);
    int64_t nanosNow() const;
    LoadReport collect(double sendingSeconds);
    // The brokers' CPU so far (every shard's together).
    ProcessSample sampleBrokers() const;

    LoadOptions options_;
    std::string body_;
    std::string runTag_;
    std::vector<std::unique_ptr<User>> users_;
    // After users_: destroyed first, it detaches their connections.
    MosquittoConnection::Loop loop_;
    std::vector<MosquittoConnection*> connections_;  // bare: the poll() loop's
    // Senders whose reply arrived since the last refill: the refill visits these, not every user.
    std::vector<size_t> freed_;
    long long heldBackTotal_ = 0;
    std::vector<Conversation> conversations_;
    std::map<std::string, std::string> setupReplies_;

    std::chrono::steady_clock::time_point start_;
    std::chrono::steady_clock::time_point sendDeadline_;
    bool sending_ = false;
    long long sent_ = 0;
    long long replies_ = 0;
    long long stored_ = 0;
    long long deliveredAll_ = 0;
    long long deliveredOthers_ = 0;
    int64_t lastReplyNs_ = 0;
    int64_t lastDeliveryNs_ = 0;
    std::vector<uint32_t> replyMicros_;
    std::vector<std::pair<int64_t, uint32_t>> replyTimeline_;
    std::vector<uint32_t> deliveryMicros_;
    std::map<std::string, long long> refused_;
};

}  // namespace parley::bench
