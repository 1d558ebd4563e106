// holdPahoLibraryOpen() (parley/mqtt/PahoLibrary.h): once it has run, destroying the last
// client no longer tears Paho's library down. Paho's own trace says whether its teardown ran.
#include <gtest/gtest.h>

#include <MQTTAsync.h>

#include <atomic>
#include <cstring>

#include "parley/mqtt/PahoLibrary.h"

namespace parley {
namespace {

std::atomic<int> teardowns{0};

void countTeardowns(enum MQTTASYNC_TRACE_LEVELS, char* message) {
    if (std::strstr(message, "MQTTAsync_terminate") != nullptr) {
        ++teardowns;
    }
}

// Creates and destroys a client that is the only one of the process, unless something holds the
// library open. No broker needed: a client that never connects is enough.
void createAndDestroyAClient() {
    MQTTAsync client = nullptr;
    ASSERT_EQ(MQTTAsync_create(&client, "tcp://127.0.0.1:1883", "paho-library-test",
                               MQTTCLIENT_PERSISTENCE_NONE, nullptr),
              MQTTASYNC_SUCCESS);
    MQTTAsync_destroy(&client);
}

// Each test runs in its own process (gtest_discover_tests), so the first one sees Paho as a fresh
// process does, and the trace settings end with it.
TEST(PahoLibrary, WithoutTheHoldTheLastClientTearsTheLibraryDown) {
    MQTTAsync_setTraceCallback(countTeardowns);
    MQTTAsync_setTraceLevel(MQTTASYNC_TRACE_MAXIMUM);
    createAndDestroyAClient();
    createAndDestroyAClient();
    MQTTAsync_setTraceCallback(nullptr);
    // The trace sees Paho's teardown: the check below would notice one.
    EXPECT_EQ(teardowns.load(), 2);
}

TEST(PahoLibrary, HeldOpenTheLibraryIsNeverTornDown) {
    MQTTAsync_setTraceCallback(countTeardowns);
    MQTTAsync_setTraceLevel(MQTTASYNC_TRACE_MAXIMUM);
    holdPahoLibraryOpen();
    holdPahoLibraryOpen();  // again: still one holder
    createAndDestroyAClient();
    createAndDestroyAClient();
    MQTTAsync_setTraceCallback(nullptr);
    EXPECT_EQ(teardowns.load(), 0);
}

}  // namespace
}  // namespace parley
