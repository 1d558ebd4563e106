#include "transport/TransportFactory.h"

#include <spdlog/spdlog.h>

#include "transport/MosquittoTransport.h"
#include "transport/PahoTransport.h"
#include "transport/ShardedTransport.h"

namespace parley {

namespace {

std::unique_ptr<Transport> makeOne(const BrokerConfig& config, std::string password,
                                   std::string subscription) {
    if (config.client == BrokerConfig::Client::Mosquitto) {
        return std::make_unique<MosquittoTransport>(config, std::move(password),
                                                    std::move(subscription));
    }
    return std::make_unique<PahoTransport>(config, std::move(password), std::move(subscription));
}

}  // namespace

std::unique_ptr<Transport> makeTransport(const BrokerConfig& config, std::string password,
                                         std::string subscription) {
    if (config.shards.empty()) {
        return makeOne(config, std::move(password), std::move(subscription));
    }
    // One transport per shard of broker.shards, each with the same settings and the shared
    // subscription, behind a ShardedTransport that routes each message to its shard.
    std::vector<std::unique_ptr<Transport>> shards;
    for (const auto& uri : config.shards) {
        BrokerConfig shard = config;
        shard.uri = uri;
        shards.push_back(makeOne(shard, password, subscription));
    }
    spdlog::info("transport: users sharded over {} brokers", shards.size());
    return std::make_unique<ShardedTransport>(std::move(shards));
}

}  // namespace parley
