#include "parley/mqtt/PahoLibrary.h"

#include <MQTTAsync.h>

#include <stdexcept>
#include <string>

namespace parley {

void holdPahoLibraryOpen() {
    // Never destroyed on purpose (see the header); a static, so it is not a leak either. The URI is
    // never used: this client never connects.
    static const MQTTAsync holder = [] {
        MQTTAsync handle = nullptr;
        const int rc = MQTTAsync_create(&handle, "tcp://127.0.0.1:1883", "parley-paho-holder",
                                        MQTTCLIENT_PERSISTENCE_NONE, nullptr);
        if (rc != MQTTASYNC_SUCCESS) {
            throw std::runtime_error("Paho could not create a client (MQTTAsync_create returned " +
                                     std::to_string(rc) + ")");
        }
        return handle;
    }();
    static_cast<void>(holder);
}

std::unique_ptr<mqtt::async_client> newPahoClient(const std::string& uri,
                                                  const std::string& clientId,
                                                  const mqtt::create_options& options) {
    holdPahoLibraryOpen();
    return std::make_unique<mqtt::async_client>(uri, clientId, options, nullptr);
}

}  // namespace parley
