#include "transport/PahoLibrary.h"

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

}  // namespace parley
