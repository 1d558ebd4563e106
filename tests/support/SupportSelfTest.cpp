// Proves that each piece of the integration-test support library does what it promises.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>

#include "ChildProcess.h"
#include "MariaDbServer.h"
#include "MosquittoServer.h"
#include "MqttTestClient.h"
#include "ParleydProcess.h"
#include "Paths.h"
#include "Ports.h"
#include "TempDir.h"

namespace parley::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

std::string readFile(const std::string& path) {
    std::ifstream file(path, std::ios::binary);
    std::ostringstream text;
    text << file.rdbuf();
    return text.str();
}

// Runs a shell command to its end; returns its exit status and output.
std::pair<int, std::string> shell(const TempDir& dir, const std::string& command) {
    const std::string log = dir.file("shell-" + std::to_string(std::rand()) + ".log");
    const int status = runToCompletion({"sh", "-c", command}, log, 30s);
    return {status, readFile(log)};
}

// --- TempDir, Ports, Paths ---

TEST(TempDirTest, CreatesAndRemovesItsFolder) {
    std::string path;
    {
        TempDir dir("selftest");
        path = dir.path();
        EXPECT_TRUE(fs::is_directory(path));
        EXPECT_NE(fs::path(path).filename().string().find("selftest-"), std::string::npos);
        EXPECT_EQ(dir.file("a.txt"), path + "/a.txt");
        fs::create_directories(dir.file("sub/deeper"));
        std::ofstream(dir.file("sub/deeper/b.txt")) << "content";
        TempDir other("selftest");
        EXPECT_NE(other.path(), path);
    }
    EXPECT_FALSE(fs::exists(path));
}

TEST(PortsTest, FreePortIsUsableAndUnusedPortIsNotReachable) {
    const int port = freeLoopbackPort();
    EXPECT_GT(port, 0);
    EXPECT_LT(port, 65536);
    const auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(waitForPort(port, 200ms));
    EXPECT_GE(std::chrono::steady_clock::now() - start, 200ms);
}

TEST(PathsTest, PointAtTheSourceTreeAndParleyd) {
    EXPECT_TRUE(fs::exists(sourceDir() + "/config/mosquitto/acl"));
    EXPECT_TRUE(fs::exists(parleydPath())) << parleydPath();
}

// --- ChildProcess ---

TEST(ChildProcessTest, LogsOutputAndReportsExitStatus) {
    TempDir dir;
    ChildProcess child({"sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 3"},
                       dir.file("child.log"));
    EXPECT_GT(child.pid(), 0);
    EXPECT_TRUE(child.waitForLog("to-stderr", 5s));
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (child.running() && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(10ms);
    }
    EXPECT_FALSE(child.running());
    EXPECT_EQ(child.terminate(1s), 3);
    EXPECT_NE(child.log().find("to-stdout\n"), std::string::npos);
    EXPECT_NE(child.log().find("to-stderr\n"), std::string::npos);
    EXPECT_EQ(child.logSize(), child.log().size());
}

TEST(ChildProcessTest, PassesEnvironmentAndWorkDirAndAppendsToTheLog) {
    TempDir dir;
    const std::string log = dir.file("child.log");
    std::ofstream(log) << "before\n";
    ChildProcess child({"sh", "-c", "echo \"value=$PARLEY_SELFTEST\"; pwd"}, log,
                       {{"PARLEY_SELFTEST", "forty two"}}, dir.path());
    EXPECT_TRUE(child.waitForLog(dir.path() + "\n", 5s));
    EXPECT_EQ(child.terminate(5s), 0);
    EXPECT_EQ(child.log(), "before\nvalue=forty two\n" + dir.path() + "\n");
}

TEST(ChildProcessTest, TerminateStopsWithSigtermAndFallsBackToSigkill) {
    TempDir dir;
    ChildProcess polite({"sleep", "30"}, dir.file("polite.log"));
    EXPECT_TRUE(polite.running());
    EXPECT_EQ(polite.terminate(5s), -SIGTERM);
    EXPECT_FALSE(polite.running());
    EXPECT_EQ(polite.terminate(5s), -SIGTERM);  // the recorded status again

    // Ignores SIGTERM (sleep inherits that): killed after the grace period.
    ChildProcess stubborn({"sh", "-c", "trap '' TERM; echo ready; sleep 30; echo too-late"},
                          dir.file("stubborn.log"));
    ASSERT_TRUE(stubborn.waitForLog("ready", 5s)) << stubborn.log();
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(stubborn.terminate(300ms), -SIGKILL);
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_GE(took, 300ms);
    EXPECT_LT(took, 5s);
}

TEST(ChildProcessTest, Kill9AndWaitForLogOffsets) {
    TempDir dir;
    ChildProcess child({"sh", "-c", "echo marker; sleep 30"}, dir.file("child.log"));
    ASSERT_TRUE(child.waitForLog("marker", 5s));
    // Only what comes after the offset counts; a process that cannot write it ends the wait.
    EXPECT_FALSE(child.waitForLog("marker", 100ms, child.logSize()));
    child.kill9();
    EXPECT_FALSE(child.running());
    const auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(child.waitForLog("never", 10s));
    EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
}

TEST(ChildProcessTest, MissingProgramThrows) {
    TempDir dir;
    EXPECT_THROW(ChildProcess({"parley-no-such-program"}, dir.file("x.log")), std::runtime_error);
    EXPECT_EQ(runToCompletion({"/nonexistent/program"}, dir.file("y.log"), 5s), 127);
}

// --- MosquittoServer and MqttTestClient ---

class BrokerTest : public ::testing::Test {
  protected:
    MosquittoServer broker{{{"alice", "alice-pw"}, {"bob", "bob-pw"}, {"parleyd", "parleyd-pw"}}};
};

bool hasPayload(const Received& message, const std::string& topic, const nlohmann::json& payload) {
    return message.topic == topic && message.payload == payload;
}

TEST_F(BrokerTest, UsersConnectAndTheAclRefusesOtherUsersTopics) {
    EXPECT_EQ(broker.uri(), "tcp://127.0.0.1:" + std::to_string(broker.port()));
    MqttTestClient alice(broker.uri(), "alice", "alice-pw");
    MqttTestClient bob(broker.uri(), "bob", "bob-pw");
    EXPECT_TRUE(alice.connected());
    EXPECT_EQ(alice.uid(), "alice");
    EXPECT_EQ(alice.clientId().rfind("alice-", 0), 0u);

    EXPECT_EQ(alice.publishRaw("parley/v1/c2s/bob", "{}"), 0x87);
    EXPECT_EQ(alice.publishRaw("parley/v1/u/bob/resp", "{}"), 0x87);
    // Nobody subscribes to it here; Mosquitto 2.0.11 still answers 0, not 0x10.
    EXPECT_EQ(alice.publishRaw("parley/v1/c2s/alice", "{}"), 0);
    EXPECT_TRUE(alice.connected());  // a refused publish does not cost the connection
    EXPECT_NE(broker.log().find("u'alice'"), std::string::npos);
}

TEST_F(BrokerTest, WrongPasswordOrUnknownUserIsRefused) {
    EXPECT_THROW(MqttTestClient(broker.uri(), "alice", "wrong"), std::runtime_error);
    EXPECT_THROW(MqttTestClient(broker.uri(), "mallory", "alice-pw"), std::runtime_error);
    try {
        MqttTestClient client(broker.uri(), "bob", "alice-pw");
        FAIL() << "connected with another user's password";
    } catch (const std::runtime_error& error) {
        EXPECT_NE(std::string(error.what()).find("bob"), std::string::npos) << error.what();
    }
    EXPECT_NE(broker.log().find("not authorised"), std::string::npos);
}

TEST_F(BrokerTest, ReceivesInboxMessagesWithCorrelationDataAndRawText) {
    MqttTestClient alice(broker.uri(), "alice", "alice-pw");
    MqttTestClient server(broker.uri(), "parleyd", "parleyd-pw");
    EXPECT_EQ(server.publishRaw("parley/v1/u/alice/resp", R"({"id":"x","ok":true})", "corr-1"), 0);
    EXPECT_EQ(server.publishRaw("parley/v1/u/alice/c/conv-1", "not json"), 0);
    // Not alice's: Parley's broker plugin refuses the subscription (and were it granted, the
    // ACL would deliver nothing of bob's).
    EXPECT_THROW(alice.subscribe("parley/v1/u/bob/#"), std::runtime_error);
    MqttTestClient bob(broker.uri(), "bob", "bob-pw");
    EXPECT_EQ(server.publishRaw("parley/v1/u/bob/resp", "\"for bob\""), 0);

    const Received reply = alice.waitFor(
        [](const Received& message) { return message.topic == "parley/v1/u/alice/resp"; });
    EXPECT_EQ(reply.payload, (nlohmann::json{{"id", "x"}, {"ok", true}}));
    EXPECT_EQ(reply.correlationData, "corr-1");
    EXPECT_FALSE(reply.retained);
    const Received raw = alice.waitFor(
        [](const Received& message) { return message.topic == "parley/v1/u/alice/c/conv-1"; });
    EXPECT_EQ(raw.payload, nlohmann::json("not json"));

    bob.waitFor([](const Received& message) { return message.topic == "parley/v1/u/bob/resp"; });
    std::this_thread::sleep_for(200ms);
    EXPECT_EQ(alice.received().size(), 2u);
    EXPECT_THROW(
        alice.waitFor([](const Received& m) { return m.topic.find("bob") != m.topic.npos; }, 100ms),
        std::runtime_error);

    // Old messages are found again; after clearReceived they are gone.
    EXPECT_NO_THROW(alice.waitFor([](const Received& m) { return m.payload == "not json"; }, 0ms));
    alice.clearReceived();
    EXPECT_TRUE(alice.received().empty());
    EXPECT_THROW(alice.waitFor([](const Received&) { return true; }, 50ms), std::runtime_error);
}

TEST_F(BrokerTest, RequestMatchesTheReplyById) {
    MqttTestClient alice(broker.uri(), "alice", "alice-pw");
    MqttTestClient server(broker.uri(), "parleyd", "parleyd-pw");
    server.subscribe("parley/v1/c2s/#");

    auto reply = std::async(std::launch::async, [&] {
        return alice.request({{"op", "ping"}, {"args", nlohmann::json::object()}});
    });
    const Received command = server.waitFor(
        [](const Received& message) { return message.topic == "parley/v1/c2s/alice"; });
    ASSERT_TRUE(command.payload.contains("id")) << command.payload;
    EXPECT_EQ(command.payload["op"], "ping");
    // A reply to someone else's request first: request() must skip it.
    server.publishRaw("parley/v1/u/alice/resp", R"({"id":"other","ok":false})");
    server.publishRaw("parley/v1/u/alice/resp",
                      nlohmann::json{{"id", command.payload["id"]}, {"ok", true}}.dump());
    const nlohmann::json answer = reply.get();
    EXPECT_EQ(answer["ok"], true);
    EXPECT_EQ(answer["id"], command.payload["id"]);

    // An id given by the caller is kept.
    auto second = std::async(std::launch::async, [&] {
        return alice.request({{"op", "ping"}, {"id", "my-id"}});
    });
    server.waitFor([](const Received& m) { return m.payload.value("id", "") == "my-id"; });
    server.publishRaw("parley/v1/u/alice/resp", R"({"id":"my-id","ok":true})");
    EXPECT_EQ(second.get()["id"], "my-id");

    try {
        alice.request({{"op", "unanswered"}}, 200ms);
        FAIL() << "request without a reply returned";
    } catch (const std::runtime_error& error) {
        EXPECT_NE(std::string(error.what()).find("unanswered"), std::string::npos) << error.what();
    }
}

TEST_F(BrokerTest, WillIsPublishedOnDropButNotOnCleanDisconnect) {
    MqttTestClient server(broker.uri(), "parleyd", "parleyd-pw");
    server.subscribe("parley/v1/c2s/#");
    const nlohmann::json will = {{"op", "presence"}, {"args", {{"status", "offline"}}}};

    TempDir dir;
    MqttTestClient bob(broker.uri(), "bob", "bob-pw", will, "bob-fixed-id");
    EXPECT_EQ(bob.clientId(), "bob-fixed-id");
    bob.disconnect();
    EXPECT_FALSE(bob.connected());

    // A client killed without DISCONNECT: the broker publishes its will. (Paho C++ 1.2.0 cannot
    // send DISCONNECT with reason 0x04, so a real killed process stands in for a dropped phone.)
    ChildProcess killed(
        {"mosquitto_sub", "-p", std::to_string(broker.port()), "-V", "mqttv5", "-u", "alice", "-P",
         "alice-pw", "-i", "alice-killed", "-t", "parley/v1/u/alice/#", "--will-topic",
         "parley/v1/c2s/alice", "--will-payload", will.dump(), "--will-qos", "1"},
        dir.file("killed.log"));
    const auto connectedDeadline = std::chrono::steady_clock::now() + 5s;
    while (broker.log().find("as alice-killed") == std::string::npos &&
           std::chrono::steady_clock::now() < connectedDeadline) {
        std::this_thread::sleep_for(20ms);
    }
    ASSERT_NE(broker.log().find("as alice-killed"), std::string::npos) << broker.log();
    killed.kill9();
    const Received received = server.waitFor(
        [&](const Received& m) { return hasPayload(m, "parley/v1/c2s/alice", will); });
    EXPECT_FALSE(received.retained);
    std::this_thread::sleep_for(300ms);
    for (const auto& message : server.received()) {
        EXPECT_NE(message.topic, "parley/v1/c2s/bob") << message.payload;
    }
    EXPECT_NE(broker.log().find("bob-fixed-id"), std::string::npos);
}

TEST_F(BrokerTest, StopStartRestartAndKill9KeepThePort) {
    const int port = broker.port();
    auto alice = std::make_unique<MqttTestClient>(broker.uri(), "alice", "alice-pw");
    broker.stop();
    EXPECT_FALSE(waitForPort(port, 100ms));
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (alice->connected() && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(10ms);
    }
    EXPECT_FALSE(alice->connected());
    alice.reset();

    broker.start();
    EXPECT_EQ(broker.port(), port);
    MqttTestClient afterStart(broker.uri(), "alice", "alice-pw");
    EXPECT_EQ(afterStart.publishRaw("parley/v1/c2s/bob", "{}"), 0x87);  // same ACL

    broker.restart();
    MqttTestClient afterRestart(broker.uri(), "bob", "bob-pw");

    broker.kill9();
    EXPECT_FALSE(waitForPort(port, 100ms));
    broker.start();
    MqttTestClient afterKill(broker.uri(), "bob", "bob-pw");
    EXPECT_TRUE(afterKill.connected());
}

// --- MariaDbServer ---

TEST(MariaDbServerTest, DatabasesUserAndRestart) {
    MariaDbServer db;
    EXPECT_TRUE(waitForPort(db.port(), 0ms));
    EXPECT_TRUE(fs::exists(db.socketPath()));
    EXPECT_EQ(db.user(), "parley");
    EXPECT_GE(db.password().size(), 16u);

    const std::string first = db.createDatabase();
    const std::string second = db.createDatabase();
    EXPECT_EQ(first, "parley_1");
    EXPECT_EQ(second, "parley_2");

    TempDir work;
    const std::string asParley = "mariadb --no-defaults -h127.0.0.1 -P" +
                                 std::to_string(db.port()) + " -uparley -p" + db.password() +
                                 " --batch --skip-column-names ";
    auto [created, createOutput] =
        shell(work, asParley + second +
                        " -e \"CREATE TABLE t (id INT PRIMARY KEY, body VARCHAR(100)); "
                        "INSERT INTO t VALUES (1, 'héllo'); SELECT body FROM t\"");
    EXPECT_EQ(created, 0) << createOutput;
    EXPECT_NE(createOutput.find("héllo"), std::string::npos) << createOutput;
    // The new database is empty and uses utf8mb4.
    auto [listed, listOutput] = shell(
        work, asParley + first +
                  " -e \"SELECT COUNT(*), @@character_set_database FROM information_schema.tables "
                  "WHERE table_schema = DATABASE()\"");
    EXPECT_EQ(listed, 0) << listOutput;
    EXPECT_EQ(listOutput, "0\tutf8mb4\n");
    // Through the socket too; other databases stay out of reach.
    auto [viaSocket, socketOutput] =
        shell(work, "mariadb --no-defaults --socket=" + db.socketPath() + " -uparley -p" +
                        db.password() + " -e 'CREATE DATABASE other'");
    EXPECT_NE(viaSocket, 0);
    EXPECT_NE(socketOutput.find("denied"), std::string::npos) << socketOutput;
    auto [wrong, wrongOutput] = shell(work, asParley + " -pwrong -e 'SELECT 1'");
    EXPECT_NE(wrong, 0) << wrongOutput;

    db.stop();
    EXPECT_FALSE(waitForPort(db.port(), 100ms));
    EXPECT_NE(db.log().find("Shutdown complete"), std::string::npos) << db.log();
    db.start();
    auto [afterStart, afterStartOutput] = shell(work, asParley + second + " -e 'SELECT id FROM t'");
    EXPECT_EQ(afterStart, 0) << afterStartOutput;
    EXPECT_EQ(afterStartOutput, "1\n");

    db.kill9();
    EXPECT_FALSE(waitForPort(db.port(), 100ms));
    db.start();
    auto [afterKill, afterKillOutput] = shell(work, asParley + second + " -e 'SELECT id FROM t'");
    EXPECT_EQ(afterKill, 0) << afterKillOutput;
    EXPECT_EQ(afterKillOutput, "1\n");
    EXPECT_EQ(db.createDatabase(), "parley_3");
}

// --- ParleydProcess ---

TEST(ParleydProcessTest, AnswersPingAndRestarts) {
    MosquittoServer broker(
        std::vector<BrokerUser>{{"parleyd", "parleyd-pw"}, {"alice", "alice-pw"}});
    ParleydProcess parleyd(
        "broker:\n"
        "  uri: " +
        broker.uri() +
        "\n"
        "  username: parleyd\n"
        "  password: parleyd-pw\n"
        "  client_id: parleyd-selftest\n"
        "store:\n"
        "  backend: sqlite\n"
        "  sqlite:\n"
        "    path: parley.db\n");
    EXPECT_TRUE(parleyd.running());
    EXPECT_TRUE(fs::exists(parleyd.dir().file("parley.db")));  // relative to its folder

    MqttTestClient alice(broker.uri(), "alice", "alice-pw");
    const nlohmann::json pong = alice.request({{"op", "ping"}});
    EXPECT_EQ(pong["ok"], true) << pong;
    EXPECT_TRUE(pong.contains("ts")) << pong;

    // A ping that fails shows parleyd's log: whether it got the command tells broker from server.
    const auto expectPong = [&](const char* when) {
        try {
            EXPECT_TRUE(alice.request({{"op", "ping"}})["ok"].get<bool>()) << when;
        } catch (const std::runtime_error& error) {
            ADD_FAILURE() << when << ": " << error.what() << "\nparleyd log:\n"
                          << parleyd.log() << "\nbroker log:\n"
                          << broker.log();
        }
    };
    parleyd.stop();
    EXPECT_FALSE(parleyd.running());
    EXPECT_THROW(alice.request({{"op", "ping"}}, 300ms), std::runtime_error);
    parleyd.start();
    expectPong("after a restart");
    parleyd.kill9();
    EXPECT_FALSE(parleyd.running());
    parleyd.start();
    expectPong("after kill -9 and a start");
}

TEST(ParleydProcessTest, BadConfigFailsFastWithTheLog) {
    const auto start = std::chrono::steady_clock::now();
    try {
        ParleydProcess parleyd("no_such_section: 1\n");
        FAIL() << "parleyd started with a bad config";
    } catch (const std::runtime_error& error) {
        EXPECT_NE(std::string(error.what()).find("no_such_section"), std::string::npos)
            << error.what();
    }
    EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
}

}  // namespace
}  // namespace parley::testing
