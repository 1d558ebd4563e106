#pragma once

#include <string>
#include <vector>

#include "parley/mqtt/TlsSettings.h"

namespace parley {

struct BrokerConfig {
    // broker.client: which MQTT library parleyd's Transport uses (docs/operations.md);
    // libmosquitto by default, measured faster (docs/performance.md, "Where the time goes").
    enum class Client { Paho, Mosquitto };
    Client client = Client::Mosquitto;
    std::string uri = "ssl://127.0.0.1:8883";
    // broker.shards: users sharded over independent brokers, one uri per shard, in shard order
    // (shardOfUser, parley/wire/UserShard.h). Empty: one broker, `uri`. Every other setting here
    // (client id, credentials, TLS...) applies to each shard.
    std::vector<std::string> shards;
    std::string clientId = "parleyd-1";
    std::string username = "parleyd";
    std::string password;
    std::string passwordFile;
    std::string shareGroup = "parleyd";
    int keepAliveSeconds = 30;
    // Kept by the broker while parleyd is away, so commands sent during a restart are not lost.
    int sessionExpirySeconds = 600;
    int maxInflight = 1000;
    int maxBufferedMessages = 100000;
    // broker.tls: the CA and client certificate files for an ssl://, mqtts:// or wss:// uri.
    TlsSettings tls;

    // The brokers to connect to: `shards`, or `uri` alone.
    std::vector<std::string> uris() const { return shards.empty() ? std::vector{uri} : shards; }
};

}  // namespace parley
