#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>

namespace parley {

struct InboundMessage {
    std::string topic;
    std::string payload;
    std::string correlationData;  // MQTT 5 Correlation Data, empty if none
    // The broker shard it came from (the index in broker.shards; 0 with one broker).
    size_t shard = 0;
};

struct OutboundMessage {
    std::string topic;
    std::string payload;
    int qos = 1;
    bool retain = false;
    std::string correlationData;
    // Where it goes when users are sharded over brokers (ShardedTransport): `shard` if set (a
    // reply goes back where its command came from), else the shard of `recipient` (the uid whose
    // inbox the topic is), else every shard (retained presence, which anyone may watch).
    // A single broker ignores both.
    std::optional<size_t> shard{};
    std::string recipient{};
};

// Where handlers send replies and events. Thread-safe.
class Publisher {
  public:
    virtual ~Publisher() = default;
    virtual void publish(OutboundMessage message) = 0;
};

// The connection to the broker: delivers commands, publishes replies and events.
class Transport : public Publisher {
  public:
    using InboundHandler = std::function<void(InboundMessage&&)>;

    // Connects (retrying until it succeeds or stop() is called) and subscribes; `handler` runs on
    // the transport's thread, one message at a time, and may block to push back on the broker.
    // True once subscribed; false if stop() was called first (from another thread).
    virtual bool start(InboundHandler handler) = 0;
    // Unsubscribes: no new commands arrive, publishing still works.
    virtual void stopReceiving() = 0;
    virtual void stop() = 0;
    virtual bool isConnected() const = 0;
};

}  // namespace parley
