// Parley's broker plugin (broker/jwt_auth) in a real Mosquitto 2.0 with Parley's ACL and settings,
// parleyd behind it, real MQTT 5 clients and a hand-made MQTT 3.1.1 one: who may subscribe to
// what (only parleyd takes the shared command subscription), the per-connection publish rate
// limit and its log lines, and that every shipped broker config loads the plugin. Password users
// here; token users in JwtBrokerTest.cpp. The decisions alone: BrokerPolicyTest.cpp.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "ChildProcess.h"
#include "MosquittoServer.h"
#include "MqttTestClient.h"
#include "ParleydProcess.h"
#include "Paths.h"
#include "Ports.h"
#include "SuiteServers.h"
#include "TempDir.h"

namespace parley::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kParleydPassword = "parleyd-secret";

std::string readFile(const std::string& path) {
    std::ifstream file(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(file), {}};
}

size_t count(const std::string& text, const std::string& needle) {
    size_t found = 0;
    for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
        ++found;
    }
    return found;
}

// Waits (up to `timeout`) until `log()` has `text` after offset `from`.
template <typename Log>
bool logShows(Log log, const std::string& text, size_t from = 0,
              std::chrono::milliseconds timeout = 5s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        const std::string now = log();
        if (now.size() > from && now.find(text, from) != std::string::npos) {
            return true;
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            return false;
        }
        std::this_thread::sleep_for(20ms);
    }
}

// The reason code of a refused SUBSCRIBE, 0 if granted.
int subscribeCode(MqttTestClient& client, const std::string& filter) {
    const int code = client.subscribeReasonCode(filter);
    return code >= 0x80 ? code : 0;
}

// Just enough MQTT 3.1.1 to log in and subscribe, byte by byte, so the test reads the SUBACK
// return codes as the broker sent them (client libraries turn 0x80 into an error of their own).
class Mqtt311Client {
  public:
    Mqtt311Client(int port, const std::string& username, const std::string& password,
                  const std::string& clientId) {
        socket_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(static_cast<uint16_t>(port));
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (socket_ < 0 ||
            ::connect(socket_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
            throw std::runtime_error("Mqtt311Client: cannot connect to port " +
                                     std::to_string(port));
        }
        std::string body;
        appendString(body, "MQTT");
        body += '\x04';                      // protocol level: 3.1.1
        body += '\xC2';                      // username, password, clean session
        body += std::string("\x00\x3C", 2);  // keep alive 60 s
        appendString(body, clientId);
        appendString(body, username);
        appendString(body, password);
        send('\x10', body);
        const std::string connack = receive();
        if (connack.size() != 4 || connack[0] != '\x20' || connack[3] != '\x00') {
            throw std::runtime_error("Mqtt311Client: CONNECT refused");
        }
    }
    ~Mqtt311Client() {
        if (socket_ >= 0) {
            send('\xE0', "");  // DISCONNECT
            ::close(socket_);
        }
    }
    Mqtt311Client(const Mqtt311Client&) = delete;
    Mqtt311Client& operator=(const Mqtt311Client&) = delete;

    // The SUBACK's return code for one filter at QoS 1: 0x01 granted, 0x80 failure.
    int subscribe(const std::string& filter) {
        const uint16_t id = ++packetId_;
        std::string body;
        body += static_cast<char>(id >> 8);
        body += static_cast<char>(id & 0xFF);
        appendString(body, filter);
        body += '\x01';
        send('\x82', body);
        const std::string suback = receive();
        if (suback.size() != 5 || suback[0] != '\x90' ||
            static_cast<uint8_t>(suback[2]) != (id >> 8) ||
            static_cast<uint8_t>(suback[3]) != (id & 0xFF)) {
            throw std::runtime_error("Mqtt311Client: no SUBACK for " + filter);
        }
        return static_cast<uint8_t>(suback[4]);
    }

  private:
    static void appendString(std::string& out, const std::string& text) {
        out += static_cast<char>(text.size() >> 8);
        out += static_cast<char>(text.size() & 0xFF);
        out += text;
    }
    void send(char type, const std::string& body) {
        std::string packet(1, type);
        size_t length = body.size();
        do {  // remaining length, 7 bits a byte
            uint8_t byte = length % 128;
            length /= 128;
            packet += static_cast<char>(length > 0 ? byte | 0x80 : byte);
        } while (length > 0);
        packet += body;
        if (::send(socket_, packet.data(), packet.size(), MSG_NOSIGNAL) !=
            static_cast<ssize_t>(packet.size())) {
            throw std::runtime_error("Mqtt311Client: send failed");
        }
    }
    // One whole packet (fixed header included), waiting up to 5 s.
    std::string receive() {
        std::string packet;
        const auto deadline = std::chrono::steady_clock::now() + 5s;
        const auto readByte = [&]() -> char {
            pollfd ready{socket_, POLLIN, 0};
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            char byte = 0;
            if (left.count() <= 0 || ::poll(&ready, 1, static_cast<int>(left.count())) != 1 ||
                ::recv(socket_, &byte, 1, 0) != 1) {
                throw std::runtime_error("Mqtt311Client: no answer from the broker");
            }
            return byte;
        };
        packet += readByte();
        size_t length = 0;
        for (size_t shift = 0;; shift += 7) {
            const auto byte = static_cast<uint8_t>(readByte());
            packet += static_cast<char>(byte);
            length |= static_cast<size_t>(byte & 0x7F) << shift;
            if ((byte & 0x80) == 0) {
                break;
            }
        }
        for (size_t i = 0; i < length; ++i) {
            packet += readByte();
        }
        return packet;
    }

    int socket_ = -1;
    uint16_t packetId_ = 0;
};

// --- subscriptions: one broker with the plugin on its defaults, one parleyd, for the suite ---

class BrokerSubscriptions : public SuiteServers<BrokerSubscriptions> {
    friend class SuiteServers<BrokerSubscriptions>;

  protected:
    static void startServers() {
        std::vector<BrokerUser> users{{"parleyd", kParleydPassword}, {"ops", "ops-pw"}};
        for (const char* uid : {"alice", "bob", "carol", "dave"}) {
            users.push_back({uid, std::string(uid) + "-pw"});
        }
        broker_ = std::make_unique<MosquittoServer>(users);
        parleyd_ = std::make_unique<ParleydProcess>(parleydYaml("parleyd-subs-1"));
    }
    static void TearDownTestSuite() {
        parleyd_.reset();
        broker_.reset();
    }

    static std::string parleydYaml(const std::string& clientId) {
        return "broker: {uri: " + broker_->uri() + ", client_id: " + clientId +
               ", username: parleyd, password: " + kParleydPassword +
               "}\n"
               "store: {backend: sqlite, sqlite: {path: parley.db, synchronous: normal}}\n"
               "admins: [ops]\n";
    }
    static std::unique_ptr<MqttTestClient> connect(const std::string& uid,
                                                   const std::string& clientId = "") {
        return std::make_unique<MqttTestClient>(broker_->uri(), uid, uid + "-pw", std::nullopt,
                                                clientId);
    }

    static std::unique_ptr<MosquittoServer> broker_;
    static std::unique_ptr<ParleydProcess> parleyd_;
};

std::unique_ptr<MosquittoServer> BrokerSubscriptions::broker_;
std::unique_ptr<ParleydProcess> BrokerSubscriptions::parleyd_;

TEST_F(BrokerSubscriptions, AUserCannotJoinParleydsSharedSubscriptionSoNoCommandIsLost) {
    // Before the plugin checked subscriptions, each of these was granted, the broker handed it
    // its share of every user's commands, refused to deliver them (READ) and dropped them:
    // with one, bob got 5 replies to 10 pings.
    auto alice = connect("alice", "alice-share-1");
    auto alice2 = connect("alice", "alice-share-2");
    auto carol = connect("carol", "carol-share");
    const size_t logStart = broker_->log().size();
    std::vector<std::pair<MqttTestClient*, std::string>> attempts = {
        {alice.get(), "$share/parleyd/parley/v1/c2s/+"},
        {alice.get(), "$share/parleyd/parley/v1/c2s/#"},
        {alice.get(), "$share/parleyd/parley/v1/c2s/bob"},
        {alice2.get(), "$share/parleyd/parley/v1/c2s/+"},
        {alice2.get(), "$share/parleyd/+/+/+/+"},
        {alice2.get(), "$share/parleyd/#"},
        {carol.get(), "$share/parleyd/parley/v1/c2s/+"},
        {carol.get(), "$share/other/parley/v1/c2s/+"},
        {carol.get(), "$share/parleyd/parley/v1/u/carol/#"},
    };
    for (const auto& [client, filter] : attempts) {
        EXPECT_EQ(subscribeCode(*client, filter), 0x87)
            << client->clientId() << " was granted " << filter;
    }

    auto bob = connect("bob");
    int answered = 0;
    for (int i = 0; i < 10; ++i) {
        try {
            answered += codeOf(bob->request({{"op", "ping"}}, 3s)) == "ok" ? 1 : 0;
        } catch (const std::runtime_error&) {
            // lost: counted below
        }
    }
    EXPECT_EQ(answered, 10) << "bob's pings were lost";
    // One line per connection at notice level, with the user, client and filter.
    const std::string log = broker_->log().substr(logStart);
    EXPECT_NE(log.find("jwt_auth: refused the subscription of user 'alice' (client "
                       "'alice-share-1') to '$share/parleyd/parley/v1/c2s/+': shared "
                       "subscriptions are for the service accounts (plugin_opt_service_users)"),
              std::string::npos)
        << log;
    EXPECT_EQ(count(log,
                    "jwt_auth: refused the subscription of user 'alice' (client "
                    "'alice-share-1')"),
              3U);
    EXPECT_EQ(count(log, "this connection's next refusals are logged at debug level"), 3U) << log;
}

TEST_F(BrokerSubscriptions, AUserMaySubscribeToItsInboxAndPresenceOnly) {
    auto dave = connect("dave");  // its inbox parley/v1/u/dave/# is granted: it connected
    EXPECT_EQ(subscribeCode(*dave, "parley/v1/presence/#"), 0);
    EXPECT_EQ(subscribeCode(*dave, "parley/v1/presence/bob"), 0);
    EXPECT_EQ(subscribeCode(*dave, "parley/v1/u/dave/c/+"), 0);
    for (const char* filter :
         {"parley/v1/u/bob/#", "parley/v1/u/+/resp", "parley/v1/u/#", "parley/v1/c2s/+",
          "parley/v1/c2s/#", "parley/v1/c2s/bob", "#", "parley/v1/#", "$SYS/#"}) {
        EXPECT_EQ(subscribeCode(*dave, filter), 0x87) << "granted " << filter;
    }
    // What it may subscribe to works: its own replies, and bob's presence.
    EXPECT_EQ(codeOf(dave->request({{"op", "ping"}})), "ok");
    auto bob = connect("bob");
    EXPECT_EQ(codeOf(bob->request({{"op", "presence"}, {"state", "away"}})), "ok");
    const Received presence =
        dave->waitFor([](const Received& m) { return m.topic == "parley/v1/presence/bob"; }, 5s);
    EXPECT_TRUE(presence.payload.is_object()) << presence.payload;
}

TEST_F(BrokerSubscriptions, Mqtt311ClientsGetReturnCode0x80) {
    Mqtt311Client alice(broker_->port(), "alice", "alice-pw", "alice-311");
    EXPECT_EQ(alice.subscribe("$share/parleyd/parley/v1/c2s/+"), 0x80);
    EXPECT_EQ(alice.subscribe("parley/v1/u/bob/#"), 0x80);
    EXPECT_EQ(alice.subscribe("parley/v1/c2s/+"), 0x80);
    EXPECT_EQ(alice.subscribe("parley/v1/u/alice/#"), 0x01);
    EXPECT_EQ(alice.subscribe("parley/v1/presence/#"), 0x01);
}

TEST_F(BrokerSubscriptions, ParleydInstancesAndAdminsWork) {
    // A second instance on the same share group is granted its subscription (it gets ready only
    // after the SUBACK), and the two share the commands without losing one.
    ParleydProcess second(parleydYaml("parleyd-subs-2"));
    auto ops = connect("ops");
    for (int i = 0; i < 10; ++i) {
        EXPECT_EQ(codeOf(ops->request({{"op", "ping"}})), "ok");
    }
    const json users = ops->request({{"op", "admin.users"}});
    EXPECT_EQ(codeOf(users), "ok") << users;
    second.stop();
}

TEST_F(BrokerSubscriptions, AParleydWhoseAccountIsNotAServiceAccountStopsWithTheReason) {
    // An operator who runs parleyd under an account missing from plugin_opt_service_users: it
    // must not wait for commands that never come.
    TempDir dir;
    const std::string config = dir.file("parleyd.yaml");
    std::ofstream(config) << "broker: {uri: " << broker_->uri()
                          << ", client_id: parleyd-as-alice, username: alice, password: alice-pw}\n"
                          << "store: {backend: sqlite, sqlite: {path: " << dir.file("p.db")
                          << "}}\n";
    const std::string logFile = dir.file("parleyd.log");
    const int status = runToCompletion({parleydPath(), "--config", config}, logFile, 30s);
    const std::string log = readFile(logFile);
    EXPECT_EQ(status, 1) << log;
    EXPECT_NE(log.find("cannot run: the broker refused the subscription to "
                       "$share/parleyd/parley/v1/c2s/#"),
              std::string::npos)
        << log;
}

// --- publish rate limit: a broker with small limits, parleyd behind it ---

class BrokerPublishLimit : public SuiteServers<BrokerPublishLimit> {
    friend class SuiteServers<BrokerPublishLimit>;

  protected:
    static constexpr int kRate = 20;
    static constexpr int kBurst = 20;

    static void startServers() {
        std::vector<BrokerUser> users{{"parleyd", kParleydPassword}};
        for (const char* uid : {"flood1", "flood2", "calm1", "calm2", "calm3", "calm4"}) {
            users.push_back({uid, "pw"});
        }
        broker_ = std::make_unique<MosquittoServer>(
            users,
            BrokerOptions{.pluginOptions = "plugin_opt_publish_rate " + std::to_string(kRate) +
                                           "\nplugin_opt_publish_burst " + std::to_string(kBurst) +
                                           "\nplugin_opt_publish_disconnect_after 2\n"});
        parleyd_ = std::make_unique<ParleydProcess>(
            "broker: {uri: " + broker_->uri() +
            ", client_id: parleyd-limit, username: parleyd, password: " + kParleydPassword +
            "}\n"
            "store: {backend: sqlite, sqlite: {path: parley.db, synchronous: normal}}\n");
    }
    static void TearDownTestSuite() {
        parleyd_.reset();
        broker_.reset();
    }
    static std::string brokerLog() { return broker_->log(); }

    static std::unique_ptr<MosquittoServer> broker_;
    static std::unique_ptr<ParleydProcess> parleyd_;
};

std::unique_ptr<MosquittoServer> BrokerPublishLimit::broker_;
std::unique_ptr<ParleydProcess> BrokerPublishLimit::parleyd_;

TEST_F(BrokerPublishLimit, AFloodIsDroppedAtTheBrokerAndLoggedOncePerEpisode) {
    MqttTestClient flooder(broker_->uri(), "flood1", "pw", std::nullopt, "flood1-phone");
    const size_t logStart = broker_->log().size();
    std::map<int, int> codes;
    std::vector<std::string> passedIds;
    const auto started = std::chrono::steady_clock::now();
    for (int i = 0; i < 300; ++i) {
        const std::string id = "p" + std::to_string(i);
        const int code =
            flooder.publishRaw("parley/v1/c2s/flood1", json{{"op", "ping"}, {"id", id}}.dump());
        ++codes[code];
        if (code == 0) {
            passedIds.push_back(id);
        }
    }
    const double took =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    ASSERT_LT(took, 2.0) << "too slow to stay within one episode before the disconnect";
    // The burst, and the rate for the time it took; the rest refused with "not authorized".
    EXPECT_GE(codes[0], kBurst);
    EXPECT_LE(codes[0], kBurst + static_cast<int>(kRate * took) + 1);
    EXPECT_EQ(codes[0] + codes[0x87], 300) << "other PUBACK codes";

    // parleyd answered exactly what passed: what was dropped never reached it.
    for (const auto& id : passedIds) {
        flooder.waitFor(
            [&](const Received& m) {
                return m.topic == "parley/v1/u/flood1/resp" && m.payload.value("id", "") == id;
            },
            5s);
    }
    std::this_thread::sleep_for(300ms);
    size_t replies = 0;
    for (const auto& message : flooder.received()) {
        replies += message.topic == "parley/v1/u/flood1/resp" ? 1 : 0;
    }
    EXPECT_EQ(replies, passedIds.size());

    // One line when it began, one when it ended (after 2 s without a drop), with the count.
    const auto log = [&] { return broker_->log().substr(logStart); };
    EXPECT_TRUE(logShows(log,
                         "jwt_auth: user 'flood1' (client 'flood1-phone') is back within its "
                         "publish rate: " +
                             std::to_string(codes[0x87]) + " publishes dropped over ",
                         0, 6s))
        << log();
    EXPECT_EQ(count(log(),
                    "jwt_auth: user 'flood1' (client 'flood1-phone') publishes faster than "
                    "20/s (burst 20): its excess is dropped until it slows down, and it is "
                    "disconnected if that lasts 2.0 s"),
              1U)
        << log();
    EXPECT_EQ(count(log(), "jwt_auth: user 'flood1'"), 2U)
        << "one line per decision, not per publish:\n"
        << log();
    // Within its rate again, it is served.
    EXPECT_EQ(codeOf(flooder.request({{"op", "ping"}})), "ok");
    EXPECT_TRUE(flooder.connected());
}

TEST_F(BrokerPublishLimit, ASustainedFloodIsDisconnected) {
    auto flooder =
        std::make_unique<MqttTestClient>(broker_->uri(), "flood2", "pw", std::nullopt, "flood2-x");
    const size_t logStart = broker_->log().size();
    const auto started = std::chrono::steady_clock::now();
    int dropped = 0;
    // 100/s against 20/s, until the broker disconnects it (or 10 s, a failure).
    while (flooder->connected() && std::chrono::steady_clock::now() - started < 10s) {
        try {
            dropped += flooder->publishRaw("parley/v1/c2s/flood2", R"({"op":"ping"})") == 0x87;
        } catch (const std::runtime_error&) {
            break;  // not connected any more
        }
        std::this_thread::sleep_for(10ms);
    }
    const double after =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    const auto log = [&] { return broker_->log().substr(logStart); };
    EXPECT_TRUE(logShows(log,
                         "jwt_auth: disconnecting user 'flood2' (client 'flood2-x'): over its "
                         "publish rate for 2.",
                         0, 2s))
        << log();
    const auto deadline = std::chrono::steady_clock::now() + 3s;
    while (flooder->connected() && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(20ms);
    }
    EXPECT_FALSE(flooder->connected());
    // The burst lasts 20 / (100 - 20) s; then 2 s of excess, and a tick.
    EXPECT_GT(after, 2.0);
    EXPECT_LT(after, 6.0);
    EXPECT_GT(dropped, 100);
    EXPECT_EQ(count(log(), "disconnecting user 'flood2'"), 1U) << log();
    EXPECT_EQ(count(log(), "publishes faster than"), 1U) << log();
    // Not a ban: it may come back, and is served within its rate.
    flooder.reset();
    MqttTestClient back(broker_->uri(), "flood2", "pw", std::nullopt, "flood2-x");
    EXPECT_EQ(codeOf(back.request({{"op", "ping"}})), "ok");
}

TEST_F(BrokerPublishLimit, ParleydAndUsersWithinTheRateAreNotLimited) {
    // Four users at 10 commands a second each: parleyd publishes their 40 replies a second, twice
    // the per-connection rate, and every one arrives (parleyd is a service account).
    const size_t logStart = broker_->log().size();
    std::atomic<int> answered{0};
    std::vector<std::thread> users;
    for (const char* uid : {"calm1", "calm2", "calm3", "calm4"}) {
        users.emplace_back([&, uid] {
            MqttTestClient client(broker_->uri(), uid, "pw");
            for (int i = 0; i < 30; ++i) {
                const auto next = std::chrono::steady_clock::now() + 100ms;
                try {
                    answered += codeOf(client.request({{"op", "ping"}}, 5s)) == "ok" ? 1 : 0;
                } catch (const std::runtime_error&) {
                }
                std::this_thread::sleep_until(next);
            }
        });
    }
    for (auto& user : users) {
        user.join();
    }
    EXPECT_EQ(answered, 120);
    EXPECT_EQ(broker_->log().find("publish rate", logStart), std::string::npos)
        << broker_->log().substr(logStart);
}

// --- the shipped broker configs load the plugin ---

// Starts `config` (a shipped file with its paths rewritten to test folders) and checks that the
// plugin runs in it: alice's inbox is granted, parleyd's shared subscription refused.
void expectThePluginRunsIn(const std::string& name, const std::string& config, const TempDir& dir,
                           int port) {
    SCOPED_TRACE(name);
    const std::string file = dir.file(name);
    std::ofstream(file) << config;
    ChildProcess broker({"mosquitto", "-c", file}, dir.file(name + ".log"),
                        MosquittoServer::environment());
    ASSERT_TRUE(broker.waitForLog(" running", 10s)) << config << "\n" << broker.log();
    ASSERT_TRUE(waitForPort(port, 5s));
    EXPECT_NE(broker.log().find("jwt_auth: topics parley/v1/..., service accounts parleyd; "
                                "publishes per connection: 100/s, burst 300, disconnected after "
                                "10.0 s"),
              std::string::npos)
        << broker.log();
    MqttTestClient alice("tcp://127.0.0.1:" + std::to_string(port), "alice", "alice-pw");
    EXPECT_EQ(subscribeCode(alice, "$share/parleyd/parley/v1/c2s/+"), 0x87);
    EXPECT_EQ(subscribeCode(alice, "parley/v1/presence/#"), 0);
}

// The shipped configs' listeners are TLS only; the plugin is what these tests check (TlsTest runs
// the TLS listeners of the production file), so its certificate lines become comments and the
// listeners plain ones, on loopback.
std::string withoutTls(const std::string& config) {
    std::istringstream lines(config);
    std::string result;
    for (std::string line; std::getline(lines, line);) {
        for (const char* tlsSetting : {"certfile ", "keyfile ", "tls_version "}) {
            if (line.rfind(tlsSetting, 0) == 0) {
                line = "# (test) " + line;
            }
        }
        result += line + "\n";
    }
    return result;
}

std::string replaceAll(std::string text, const std::string& from, const std::string& to) {
    for (size_t at = text.find(from); at != std::string::npos;
         at = text.find(from, at + to.size())) {
        text.replace(at, from.size(), to);
    }
    return text;
}

TEST(ShippedBrokerConfigs, DevelopmentAndProductionLoadThePlugin) {
    TempDir dir("parley-shipped-conf");
    std::ofstream(dir.file("passwd")) << "alice:alice-pw\nparleyd:pd\n";
    ASSERT_EQ(
        runToCompletion({"mosquitto_passwd", "-U", dir.file("passwd")}, dir.file("pw.log"), 30s),
        0);
    std::ofstream(dir.file("jwt.secret")) << "a-development-secret-of-more-than-32-bytes\n";
    std::filesystem::create_directory(dir.file("jwt-keys"));
    const std::string shipped = sourceDir() + "/config/mosquitto";
    // Kept as the test brokers have it: as root it would switch to user mosquitto (see
    // MosquittoServer.cpp), which cannot read this folder.
    const std::string preamble = "user root\nlog_dest stderr\nlog_type all\n";

    // tools/up.sh runs dev.conf from the repository root with only its ports changed.
    {
        const int mqtt = freeLoopbackPort();
        const int ws = freeLoopbackPort();
        std::string dev = readFile(shipped + "/dev.conf");
        for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
                 {"listener 8883 ", "listener " + std::to_string(mqtt) + " "},
                 {"listener 9443 ", "listener " + std::to_string(ws) + " "},
                 {"build/broker/jwt_auth/parley_jwt_auth.so", PARLEY_JWT_AUTH_PLUGIN},
                 {"var/dev/", dir.path() + "/"},
                 {"config/mosquitto", shipped}}) {
            ASSERT_NE(dev.find(from), std::string::npos) << "no longer in dev.conf: " << from;
            dev = replaceAll(dev, from, to);
        }
        expectThePluginRunsIn("dev.conf", preamble + withoutTls(dev), dir, mqtt);
    }
    // The production file, as the package installs it into /etc/parley/mosquitto/parley.conf
    // (config/production/mosquitto.conf.in, Parley's broker settings copied in).
    {
        const int mqtt = freeLoopbackPort();
        const int ws = freeLoopbackPort();
        std::string production = installedProductionBrokerConfig();
        for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
                 {"listener 8883\n", "listener " + std::to_string(mqtt) + " 127.0.0.1\n"},
                 {"listener 9443\n", "listener " + std::to_string(ws) + " 127.0.0.1\n"},
                 {"\nplugin /usr/lib/parley/parley_jwt_auth.so\n",
                  std::string("\nplugin ") + PARLEY_JWT_AUTH_PLUGIN + "\n"},
                 {"/etc/mosquitto/passwd", dir.file("passwd")},
                 {"/etc/parley/mosquitto/acl", shipped + "/acl"}}) {
            ASSERT_NE(production.find(from), std::string::npos)
                << "no longer in config/production/mosquitto.conf.in: " << from;
            production = replaceAll(production, from, to);
        }
        expectThePluginRunsIn("production.conf",
                              preamble + "persistence false\n" + withoutTls(production), dir, mqtt);
    }
}

}  // namespace
}  // namespace parley::testing
