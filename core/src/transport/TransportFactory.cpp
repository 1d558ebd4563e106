#include "transport/TransportFactory.h"

#include "transport/MosquittoTransport.h"
#include "transport/PahoTransport.h"

namespace parley {

std::unique_ptr<Transport> makeTransport(const BrokerConfig& config, std::string password,
                                         std::string subscription) {
    if (config.client == BrokerConfig::Client::Mosquitto) {
        return std::make_unique<MosquittoTransport>(config, std::move(password),
                                                    std::move(subscription));
    }
    return std::make_unique<PahoTransport>(config, std::move(password), std::move(subscription));
}

}  // namespace parley
