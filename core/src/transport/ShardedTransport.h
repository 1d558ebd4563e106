#pragma once

#include <atomic>
#include <memory>
#include <vector>

#include "transport/Transport.h"

namespace parley {

// parleyd's connection to users sharded over independent brokers (broker.shards): one transport
// per shard, each with the shared command subscription, so every instance takes commands from
// every shard. Each command is tagged with the shard it came from; each outgoing message goes to
// one shard (OutboundMessage::shard, else the shard of its recipient by shardOfUser) or to all
// (retained presence). Every shard's transport queues and buffers on its own, so a shard that is
// down holds up only its own users' messages.
class ShardedTransport final : public Transport {
  public:
    explicit ShardedTransport(std::vector<std::unique_ptr<Transport>> shards);
    ~ShardedTransport() override;

    // Starts every shard at once (each retries on its own) and returns true once all are
    // subscribed; false if stop() came first. A refused subscription on any shard throws.
    bool start(InboundHandler handler) override;
    void stopReceiving() override;
    void stop() override;
    // Every shard connected and subscribed.
    bool isConnected() const override;
    void publish(OutboundMessage message) override;

    size_t size() const { return shards_.size(); }
    // Where `message` goes (an index, or size() for every shard).
    size_t routeOf(const OutboundMessage& message) const;

  private:
    std::vector<std::unique_ptr<Transport>> shards_;
    InboundHandler handler_;
    std::atomic<bool> stopping_{false};
};

}  // namespace parley
