#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "Session.h"
#include "store/SqlConnection.h"

namespace parley::testing {

struct LoadUser {
    std::string uid;
    std::string password;
    // The broker this user connects to (their shard's, with users sharded over brokers); empty:
    // ChatLoadOptions::uri.
    std::string uri{};
};

struct ChatLoadOptions {
    std::string uri;  // the broker (of every user whose LoadUser::uri is empty)
    std::vector<LoadUser> users;
    int directConversations = 20;  // 1:1 conversations between pairs of the users
    int groups = 4;
    int groupSize = 6;
    // Offered in total, spread evenly over the users; each user has one msg.send at a time
    // waiting for its reply (as a careful client does), so a slow server slows the senders.
    double messagesPerSecond = 200;
    // Stop sending new messages after this many have been sent in total (0: until stop()).
    size_t maxMessages = 0;
    // Every this many acknowledged sends, a user marks one of its conversations read up to the
    // newest seq it saw live there.
    int readEvery = 5;
    // The client library resends a command still unanswered after this long (then twice that...).
    std::chrono::milliseconds resendAfter{2000};
};

// What verify() found. `problems` empty means every promise held.
struct ChatLoadVerdict {
    std::vector<std::string> problems;
    size_t conversations = 0;
    size_t acknowledged = 0;         // distinct messages acknowledged
    size_t stored = 0;               // messages found in msg.history
    size_t deliveriesExpected = 0;   // stored x other members
    size_t deliveredLive = 0;        // of those, received as msg events
    size_t caughtUp = 0;             // the rest, fetched by the member through msg.history
    size_t duplicateAnswers = 0;     // replies with "dup": true (a resend of a stored message)
    size_t unavailableAnswers = 0;   // "unavailable" replies (the client resent)
    size_t disconnectedAnswers = 0;  // commands the client library gave up on at a reconnect
    size_t readsAcknowledged = 0;    // msg.read replies
    bool databaseChecked = false;

    bool ok() const { return problems.empty(); }
    std::string summary() const;
};

// A chat load of real clients (parley::client::Session, the client library: it reconnects by
// itself and resends unanswered commands with the same id and cmid) in many 1:1 and group
// conversations, that keeps resending every message until the server acknowledges it, and then
// checks Parley's promises: every acknowledged message stored exactly once, seq gapless from 1
// in every conversation, no cmid stored twice, every member got every message (live, or through
// msg.history), and unread counts equal to what the read watermarks say.
class ChatLoad {
  public:
    explicit ChatLoad(ChatLoadOptions options);
    ~ChatLoad();
    ChatLoad(const ChatLoad&) = delete;
    ChatLoad& operator=(const ChatLoad&) = delete;

    // Connects every user and opens the conversations; throws std::runtime_error on failure.
    void connect();
    // Starts one sending thread per user.
    void start();
    // Stops sending new messages and waits (up to `drain`) until every message sent so far has
    // been acknowledged; false if some is still unanswered then (verify() reports it).
    bool stop(std::chrono::milliseconds drain = std::chrono::seconds(60));
    // Waits until at least `count` messages have been acknowledged in total.
    bool waitForAcknowledged(size_t count, std::chrono::milliseconds timeout);
    size_t acknowledged() const;
    // Where an acknowledged message was stored, as its reply said.
    struct Ack {
        std::string conv;
        int64_t seq = 0;
        std::string sender;
    };
    // Every message acknowledged so far, by cmid (e.g. those acknowledged before a backup began).
    std::map<std::string, Ack> acknowledgedMessages() const;
    size_t sent() const { return sent_; }
    // Kills user `index`'s connection the way a network drop does for the client (another
    // connection takes over its client id, so the broker closes it without a DISCONNECT); the
    // client reconnects by itself and resends what was unanswered. Waits (up to `timeout`) until
    // the user has a msg.send in flight, so the drop happens mid-send; returns whether it did.
    bool dropConnection(size_t index, std::chrono::milliseconds timeout = std::chrono::seconds(5));
    size_t users() const { return options_.users.size(); }

    // Runs the checks (after stop()). With `database`, also checks the tables directly.
    ChatLoadVerdict verify(store::SqlConnection* database = nullptr);

  private:
    struct User {
        LoadUser login;
        std::unique_ptr<client::Session> session;
        std::vector<std::string> conversations;
        std::thread sender;
        std::atomic<bool> inFlight{false};
        // Under ChatLoad::mutex_:
        std::map<std::string, std::map<int64_t, std::string>> live;  // conv -> seq -> cmid
        std::map<std::string, int64_t> readAcknowledged;             // conv -> read_seq
        std::map<std::string, int64_t> ownNewest;                    // conv -> own newest seq
    };
    void sendLoop(size_t index);
    // Sends `command` until it gets a reply that is not unavailable/rate_limited/disconnected;
    // nullopt if the load was abandoned first.
    std::optional<nlohmann::json> untilAnswered(User& user, const nlohmann::json& command);
    std::vector<nlohmann::json> fullHistory(User& user, const std::string& conv, int64_t after);
    void checkDatabase(store::SqlConnection& database, ChatLoadVerdict& verdict);

    ChatLoadOptions options_;
    std::vector<std::unique_ptr<User>> users_;
    std::map<std::string, std::vector<size_t>> members_;  // conv -> user indexes

    mutable std::mutex mutex_;
    std::condition_variable progress_;
    std::map<std::string, Ack> acks_;  // cmid -> where it was stored
    std::vector<std::string> problems_;
    size_t duplicateAnswers_ = 0;
    size_t unavailableAnswers_ = 0;
    size_t disconnectedAnswers_ = 0;
    size_t readsAcknowledged_ = 0;
    size_t runningSenders_ = 0;
    std::atomic<size_t> sent_{0};
    std::atomic<size_t> unanswered_{0};  // abandoned at the end of the drain
    std::atomic<bool> stopping_{false};
    std::atomic<bool> abandon_{false};
    std::condition_variable wake_;  // paced senders wait on it (with mutex_)
};

}  // namespace parley::testing
