#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "MosquittoConnection.h"
#include "parley/mqtt/TlsSettings.h"
#include "parley/wire/TopicScheme.h"

namespace parley::bench {

// The raw ceiling: a null relay in place of parleyd, on the same broker, clients, topics and
// message counts. Each command in; the reply and the events out. It routes only: no storage, no
// validation, no deduplication; conversation membership and seq counters live in memory. One
// libmosquitto connection driven by one poll() loop on one thread (no library threads, no queue
// between threads), so it costs a few µs per message and what it reaches is what the broker and
// the clients allow: the ceiling of any design with a server between broker and users. It runs
// as its own process (`parley-bench relay`), like parleyd, so its CPU and memory are measured the
// same way.
class Relay {
  public:
    Relay(const std::string& uri, const TlsSettings& tls, const std::string& prefix,
          const std::string& user, const std::string& password, int inflight);
    // Connects and subscribes (shared subscription, like parleyd); throws std::runtime_error.
    void start();
    // Routes until `stop` turns true (checked every 50 ms at most).
    void run(const volatile bool& stop);
    long long commands() const { return commands_; }

  private:
    void onCommand(std::string_view topic, std::string_view payload);
    void reply(const std::string& uid, const std::string& text);

    struct Conversation {
        std::vector<std::string> members;
        long long lastSeq = 0;
    };

    TopicScheme topics_;
    std::unique_ptr<MosquittoConnection> connection_;
    std::map<std::string, std::string> directByKey_;  // "a|b|context" -> conversation id
    std::map<std::string, Conversation, std::less<>> conversations_;
    long long nextConversation_ = 1;
    long long commands_ = 0;
};

// `parley-bench relay ...`: runs a Relay until SIGTERM or SIGINT; prints "relay ready" when
// subscribed.
int runRelay(const std::string& uri, const TlsSettings& tls, const std::string& prefix,
             const std::string& user, const std::string& password, int inflight);

}  // namespace parley::bench
