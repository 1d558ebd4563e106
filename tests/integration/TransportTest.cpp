// Both Transports (broker.client: paho and mosquitto) against a real Mosquitto: what workers
// publish reaches the subscriber whole and in order, also when a burst is far more than the
// transport keeps in the library at once; a stop while the broker owes acknowledgements is clean;
// what is published while the broker is away waits, up to broker.max_buffered_messages, the
// oldest dropped first.

#include <gtest/gtest.h>

#include <signal.h>

#include <chrono>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "MosquittoConnection.h"
#include "MosquittoServer.h"
#include "transport/TransportFactory.h"

namespace parley::testing {
namespace {

using namespace std::chrono_literals;

constexpr const char* kSubscription = "$share/parleyd/parley/v1/c2s/+";

class Transports : public ::testing::TestWithParam<BrokerConfig::Client> {
  protected:
    BrokerConfig configFor(const MosquittoServer& broker, const std::string& clientId) const {
        BrokerConfig config;
        config.client = GetParam();
        config.uri = broker.uri();
        config.clientId = clientId;
        config.username = "parleyd";
        return config;
    }
};

// A reader of parley/v1/u/reader/#, driven by the test's thread.
struct Reader {
    explicit Reader(const MosquittoServer& broker)
        : connection(
              broker.uri(), {}, "reader-transport-test", "reader", "reader-pw", 1000,
              [this](bench::MosquittoConnection&, std::string_view, std::string_view payload) {
                  received.push_back(std::stol(std::string(payload)));
              }) {}

    bool subscribe() {
        connection.startConnect();
        if (!bench::MosquittoConnection::runUntil(
                connections, [&] { return connection.connected(); }, 10s)) {
            return false;
        }
        connection.subscribe("parley/v1/u/reader/#", 1);
        return bench::MosquittoConnection::runUntil(
            connections, [&] { return connection.subscribed() > 0; }, 10s);
    }
    bool receive(size_t count, std::chrono::seconds timeout) {
        return bench::MosquittoConnection::runUntil(
            connections, [&] { return received.size() >= count; }, timeout);
    }

    std::vector<long> received;
    bench::MosquittoConnection connection;
    std::vector<bench::MosquittoConnection*> connections{&connection};
};

void publishNumbers(Transport& transport, long from, long to) {
    for (long i = from; i < to; ++i) {
        OutboundMessage message;
        message.topic = "parley/v1/u/reader/resp";
        message.payload = std::to_string(i);
        transport.publish(std::move(message));
    }
}

TEST_P(Transports, ABurstPastWhatTheLibraryHoldsArrivesWholeAndInOrder) {
    MosquittoServer broker(
        std::vector<BrokerUser>{{"parleyd", "transport-test-service"}, {"reader", "reader-pw"}});
    const auto transport = makeTransport(configFor(broker, "parleyd-transport-test"),
                                         "transport-test-service", kSubscription);
    ASSERT_TRUE(transport->start([](InboundMessage&&) {}));
    Reader reader(broker);
    ASSERT_TRUE(reader.subscribe());

    // Twenty times what PahoTransport keeps in Paho unacknowledged, five times the broker's
    // window, published at once.
    constexpr long kBurst = 5000;
    publishNumbers(*transport, 0, kBurst);
    EXPECT_TRUE(reader.receive(kBurst, 60s))
        << "received " << reader.received.size() << " of " << kBurst;
    ASSERT_EQ(reader.received.size(), static_cast<size_t>(kBurst));
    for (long i = 0; i < kBurst; ++i) {
        ASSERT_EQ(reader.received[static_cast<size_t>(i)], i) << "in the order published";
    }
    transport->stop();
}

// Commands published to the command topics reach the handler through the shared subscription.
TEST_P(Transports, DeliversCommandsToTheHandler) {
    MosquittoServer broker(
        std::vector<BrokerUser>{{"parleyd", "transport-test-service"}, {"alice", "alice-pw"}});
    std::mutex mutex;
    std::vector<InboundMessage> commands;
    const auto transport = makeTransport(configFor(broker, "parleyd-transport-commands"),
                                         "transport-test-service", kSubscription);
    ASSERT_TRUE(transport->start([&](InboundMessage&& message) {
        std::lock_guard lock(mutex);
        commands.push_back(std::move(message));
    }));
    EXPECT_TRUE(transport->isConnected());
    bench::MosquittoConnection alice(broker.uri(), {}, "alice-transport-test", "alice", "alice-pw",
                                     20, nullptr);
    alice.startConnect();
    const std::vector<bench::MosquittoConnection*> connections{&alice};
    ASSERT_TRUE(bench::MosquittoConnection::runUntil(
        connections, [&] { return alice.connected(); }, 10s));
    for (int i = 0; i < 3; ++i) {
        alice.publish("parley/v1/c2s/alice",
                      "{\"op\":\"ping\",\"id\":\"" + std::to_string(i) + "\"}");
    }
    ASSERT_TRUE(bench::MosquittoConnection::runUntil(
        connections, [&] { return alice.publishesAcknowledged() == 3; }, 10s));
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
        {
            std::lock_guard lock(mutex);
            if (commands.size() >= 3) {
                break;
            }
        }
        std::this_thread::sleep_for(10ms);
    }
    std::lock_guard lock(mutex);
    ASSERT_EQ(commands.size(), 3u);
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(commands[static_cast<size_t>(i)].topic, "parley/v1/c2s/alice");
        EXPECT_EQ(commands[static_cast<size_t>(i)].payload,
                  "{\"op\":\"ping\",\"id\":\"" + std::to_string(i) + "\"}");
    }
}

// Stopped while the broker owes it acknowledgements (the broker frozen mid-burst): Paho fails
// the publishes it still holds as it is destroyed, and those callbacks must not reach a
// transport that is half gone. (It did: parleyd died in Paho's token::on_failure5 at shutdown.)
TEST_P(Transports, StopsCleanlyWhileTheBrokerOwesAcknowledgements) {
    MosquittoServer broker(std::vector<BrokerUser>{{"parleyd", "transport-test-service"}});
    {
        const auto transport = makeTransport(configFor(broker, "parleyd-transport-stop-test"),
                                             "transport-test-service", kSubscription);
        ASSERT_TRUE(transport->start([](InboundMessage&&) {}));
        ASSERT_EQ(::kill(broker.pid(), SIGSTOP), 0);
        for (long i = 0; i < 2000; ++i) {
            OutboundMessage message;
            message.topic = "parley/v1/u/nobody/resp";
            message.payload = std::string(512, 'x');
            transport->publish(std::move(message));
        }
        std::this_thread::sleep_for(200ms);
    }
    ASSERT_EQ(::kill(broker.pid(), SIGCONT), 0);
}

std::string readAll(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

// Published while the broker is away: kept up to broker.max_buffered_messages, the oldest
// dropped first, and delivered in order once it is back.
TEST_P(Transports, KeepsTheNewestMessagesWhileTheBrokerIsAway) {
    MosquittoServer broker(
        std::vector<BrokerUser>{{"parleyd", "transport-test-service"}, {"reader", "reader-pw"}});
    auto config = configFor(broker, "parleyd-transport-buffer-test");
    config.maxBufferedMessages = 10;
    const auto transport = makeTransport(config, "transport-test-service", kSubscription);
    ASSERT_TRUE(transport->start([](InboundMessage&&) {}));

    broker.stop();
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (transport->isConnected() && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(10ms);
    }
    ASSERT_FALSE(transport->isConnected());
    publishNumbers(*transport, 0, 30);

    // Back without the service account, so the reader subscribes before the transport can
    // deliver (a broker without persistence forgets subscriptions); then the account returns.
    const std::string passwords = readAll(broker.passwordFile());
    std::string withoutService;
    std::istringstream lines(passwords);
    for (std::string line; std::getline(lines, line);) {
        if (line.rfind("parleyd:", 0) != 0) {
            withoutService += line + "\n";
        }
    }
    std::ofstream(broker.passwordFile()) << withoutService;
    broker.start();
    Reader reader(broker);
    ASSERT_TRUE(reader.subscribe());
    std::ofstream(broker.passwordFile()) << passwords;
    broker.reload();

    ASSERT_TRUE(reader.receive(10, 60s)) << "received " << reader.received.size();
    EXPECT_FALSE(reader.receive(11, 1s)) << "more than broker.max_buffered_messages";
    ASSERT_EQ(reader.received.size(), 10u);
    for (long i = 0; i < 10; ++i) {
        EXPECT_EQ(reader.received[static_cast<size_t>(i)], 20 + i) << "the newest, in order";
    }
    transport->stop();
}

INSTANTIATE_TEST_SUITE_P(Clients, Transports,
                         ::testing::Values(BrokerConfig::Client::Paho,
                                           BrokerConfig::Client::Mosquitto),
                         [](const auto& info) {
                             return info.param == BrokerConfig::Client::Paho ? "paho" : "mosquitto";
                         });

}  // namespace
}  // namespace parley::testing
