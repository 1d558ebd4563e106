#pragma once

#include <memory>
#include <string>

#include "config/Config.h"
#include "transport/Transport.h"

namespace parley {

// The one place where parleyd picks its MQTT library (broker.client: paho or mosquitto).
std::unique_ptr<Transport> makeTransport(const BrokerConfig& config, std::string password,
                                         std::string subscription);

}  // namespace parley
