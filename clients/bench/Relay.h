#pragma once

#include <mqtt/async_client.h>

#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "transport/TlsSettings.h"

namespace parley::bench {

// The raw ceiling: a trivial relay in place of parleyd, on the same broker, clients, topics and
// message counts. Each command in; the reply and the events out. It routes only: no storage, no
// validation, no deduplication; conversation membership and seq counters live in memory. It runs
// as its own process (`parley-bench relay`), like parleyd, so it gets its own MQTT threads and its
// CPU and memory are measured the same way.
class Relay {
  public:
    Relay(const std::string& uri, const TlsSettings& tls, const std::string& prefix,
          const std::string& user, const std::string& password, int inflight);
    ~Relay();
    // Connects and subscribes (shared subscription, like parleyd); throws std::runtime_error.
    void start();
    void stop();

  private:
    void onCommand(const mqtt::const_message_ptr& message);
    void work();
    void reply(const std::string& uid, const std::string& text);

    struct Conversation {
        std::vector<std::string> members;
        long long lastSeq = 0;
    };

    std::string prefix_;
    // Commands are routed on a thread of their own, as parleyd runs them on its workers: Paho's
    // receive thread, which also handles the PUBACKs of what we publish, stays free.
    std::mutex mutex_;
    std::condition_variable arrived_;
    std::deque<mqtt::const_message_ptr> queue_;
    bool stopping_ = false;
    std::thread worker_;

    std::map<std::string, std::string> directByKey_;  // "a|b|context" -> conversation id
    std::map<std::string, Conversation> conversations_;
    long long nextConversation_ = 1;
    mqtt::connect_options connectOptions_;
    std::unique_ptr<mqtt::async_client> client_;
};

// `parley-bench relay ...`: runs a Relay until SIGTERM or SIGINT; prints "relay ready" when
// subscribed.
int runRelay(const std::string& uri, const TlsSettings& tls, const std::string& prefix,
             const std::string& user, const std::string& password, int inflight);

}  // namespace parley::bench
