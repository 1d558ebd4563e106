#pragma once

#include <memory>
#include <string>

#include "transport/BrokerConfig.h"
#include "transport/Transport.h"

namespace parley {

// The one place where parleyd makes its transports: its MQTT library (broker.client: paho or
// mosquitto), and one transport per shard when users are sharded over brokers (broker.shards).
std::unique_ptr<Transport> makeTransport(const BrokerConfig& config, std::string password,
                                         std::string subscription);

}  // namespace parley
