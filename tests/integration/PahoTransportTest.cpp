// PahoTransport against a real Mosquitto: what workers publish reaches the subscriber whole and in
// order, also when a burst is far more than the transport keeps in Paho at once (the rest waits
// in its publisher queue; docs/design.md).

#include <gtest/gtest.h>

#include <signal.h>

#include <chrono>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "MosquittoConnection.h"
#include "MosquittoServer.h"
#include "transport/PahoTransport.h"

namespace parley::testing {
namespace {

using namespace std::chrono_literals;

TEST(PahoTransport, ABurstPastWhatPahoHoldsArrivesWholeAndInOrder) {
    MosquittoServer broker(
        std::vector<BrokerUser>{{"parleyd", "transport-test-service"}, {"reader", "reader-pw"}});
    BrokerConfig config;
    config.uri = broker.uri();
    config.clientId = "parleyd-transport-test";
    config.username = "parleyd";
    PahoTransport transport(config, "transport-test-service", "$share/parleyd/parley/v1/c2s/+");
    ASSERT_TRUE(transport.start([](InboundMessage&&) {}));

    std::vector<long> received;
    bench::MosquittoConnection reader(
        broker.uri(), {}, "reader-transport-test", "reader", "reader-pw", 1000,
        [&](bench::MosquittoConnection&, std::string_view, std::string_view payload) {
            received.push_back(std::stol(std::string(payload)));
        });
    reader.startConnect();
    const std::vector<bench::MosquittoConnection*> connections{&reader};
    ASSERT_TRUE(bench::MosquittoConnection::runUntil(
        connections, [&] { return reader.connected(); }, 10s));
    reader.subscribe("parley/v1/u/reader/#", 1);
    ASSERT_TRUE(bench::MosquittoConnection::runUntil(
        connections, [&] { return reader.subscribed() > 0; }, 10s));

    // Twenty times what the transport keeps in Paho unacknowledged, published at once.
    constexpr long kBurst = 5000;
    for (long i = 0; i < kBurst; ++i) {
        OutboundMessage message;
        message.topic = "parley/v1/u/reader/resp";
        message.payload = std::to_string(i);
        transport.publish(std::move(message));
    }
    EXPECT_TRUE(bench::MosquittoConnection::runUntil(
        connections, [&] { return received.size() >= static_cast<size_t>(kBurst); }, 60s))
        << "received " << received.size() << " of " << kBurst;
    ASSERT_EQ(received.size(), static_cast<size_t>(kBurst));
    for (long i = 0; i < kBurst; ++i) {
        ASSERT_EQ(received[static_cast<size_t>(i)], i) << "in the order published";
    }
    transport.stop();
}

// Stopped while the broker owes it acknowledgements (the broker frozen mid-burst): Paho fails
// the publishes it still holds as it is destroyed, and those callbacks must not reach a
// transport that is half gone. (It did: parleyd died in Paho's token::on_failure5 at shutdown.)
TEST(PahoTransport, StopsCleanlyWhileTheBrokerOwesAcknowledgements) {
    MosquittoServer broker(std::vector<BrokerUser>{{"parleyd", "transport-test-service"}});
    BrokerConfig config;
    config.uri = broker.uri();
    config.clientId = "parleyd-transport-stop-test";
    config.username = "parleyd";
    {
        PahoTransport transport(config, "transport-test-service", "$share/parleyd/parley/v1/c2s/+");
        ASSERT_TRUE(transport.start([](InboundMessage&&) {}));
        ASSERT_EQ(::kill(broker.pid(), SIGSTOP), 0);
        for (long i = 0; i < 2000; ++i) {
            OutboundMessage message;
            message.topic = "parley/v1/u/nobody/resp";
            message.payload = std::string(512, 'x');
            transport.publish(std::move(message));
        }
        std::this_thread::sleep_for(200ms);
    }
    ASSERT_EQ(::kill(broker.pid(), SIGCONT), 0);
}

}  // namespace
}  // namespace parley::testing
