// parleyd's command line: --check-config, --version, bad arguments; signals while starting; a
// broker that refuses its subscription.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include "ChildProcess.h"
#include "MosquittoServer.h"
#include "Paths.h"
#include "Ports.h"
#include "TempDir.h"

namespace parley::testing {
namespace {

using namespace std::chrono_literals;

struct Outcome {
    int status;
    std::string output;
};

Outcome runParleyd(const std::vector<std::string>& arguments) {
    TempDir dir;
    std::vector<std::string> argv{parleydPath()};
    argv.insert(argv.end(), arguments.begin(), arguments.end());
    const std::string log = dir.file("out.log");
    const int status = runToCompletion(argv, log, 10s);
    std::ifstream file(log);
    return Outcome{status, std::string(std::istreambuf_iterator<char>(file), {})};
}

TEST(ParleydCli, CheckConfigAcceptsTheShippedExample) {
    auto outcome = runParleyd({"--check-config", sourceDir() + "/config/parleyd.yaml"});
    EXPECT_EQ(outcome.status, 0) << outcome.output;
    EXPECT_NE(outcome.output.find("configuration is valid"), std::string::npos) << outcome.output;
}

// A wrong broker password: the reason in words, as the clients say it.
TEST(ParleydCli, AWrongBrokerPasswordIsNamedAsSuch) {
    MosquittoServer broker(std::vector<BrokerUser>{{"parleyd", "right"}});
    TempDir dir;
    const std::string config = dir.file("parleyd.yaml");
    std::ofstream(config) << "broker: {uri: " << broker.uri()
                          << ", username: parleyd, password: wrong}\nstore: {sqlite: {path: "
                          << dir.file("parley.db") << "}}\n";
    ChildProcess parleyd({parleydPath(), "--config", config}, dir.file("parleyd.log"));
    EXPECT_TRUE(parleyd.waitForLog("not authorized: wrong user name, password or token", 20s))
        << parleyd.log();
    EXPECT_EQ(parleyd.log().find("CONNACK"), std::string::npos) << parleyd.log();
    parleyd.terminate(10s);
}

TEST(ParleydCli, CheckConfigRefusesWithFileLineKeyAndReason) {
    TempDir dir;
    const std::string path = dir.file("bad.yaml");
    std::ofstream(path) << "store:\n  backend: sqlite\n  sqllite:\n    path: x.db\n";
    auto outcome = runParleyd({"--check-config", path});
    EXPECT_EQ(outcome.status, 1);
    EXPECT_NE(outcome.output.find(path + ":3: store.sqllite: unknown key"), std::string::npos)
        << outcome.output;
}

TEST(ParleydCli, RunRefusesAnInvalidConfigBeforeDoingAnything) {
    TempDir dir;
    const std::string path = dir.file("bad.yaml");
    std::ofstream(path) << "server:\n  workers: lots\n";
    auto outcome = runParleyd({"--config", path});
    EXPECT_EQ(outcome.status, 1);
    EXPECT_NE(outcome.output.find("server.workers: expected an integer"), std::string::npos)
        << outcome.output;
}

TEST(ParleydCli, VersionAndBadArguments) {
    auto version = runParleyd({"--version"});
    EXPECT_EQ(version.status, 0);
    EXPECT_EQ(version.output.rfind("parleyd ", 0), 0U) << version.output;
    auto bad = runParleyd({"--frobnicate"});
    EXPECT_EQ(bad.status, 2);
    EXPECT_NE(bad.output.find("usage:"), std::string::npos) << bad.output;
}

// parleyd waits for its broker for as long as it takes; SIGTERM must still end it at once, not
// after the broker comes (a service manager would SIGKILL it first).
TEST(ParleydCli, SigtermWhileWaitingForTheBrokerExitsAtOnce) {
    TempDir dir;
    const std::string config = dir.file("parleyd.yaml");
    std::ofstream(config) << "broker:\n  uri: tcp://127.0.0.1:" << freeLoopbackPort()
                          << "\n  password: unused\nstore:\n  backend: sqlite\n  sqlite: {path: "
                          << dir.file("parley.db") << "}\n";
    ChildProcess parleyd({parleydPath(), "--config", config}, dir.file("parleyd.log"));
    ASSERT_TRUE(parleyd.waitForLog("cannot connect to", 15s)) << parleyd.log();
    const auto before = std::chrono::steady_clock::now();
    const int status = parleyd.terminate(10s);
    const auto took = std::chrono::steady_clock::now() - before;
    EXPECT_EQ(status, 0) << parleyd.log();
    EXPECT_LT(took, 5s) << "it waited for the broker before exiting";
    EXPECT_NE(parleyd.log().find("Terminated received while connecting to the broker"),
              std::string::npos)
        << parleyd.log();
    EXPECT_EQ(parleyd.log().find("parleyd ready"), std::string::npos) << parleyd.log();
}

// Mosquitto's dynamic-security plugin, from Debian's mosquitto package (multiarch folder).
std::string dynamicSecurityPlugin() {
    for (const auto& entry : std::filesystem::directory_iterator("/usr/lib")) {
        const auto candidate = entry.path() / "mosquitto_dynamic_security.so";
        if (entry.is_directory() && std::filesystem::exists(candidate)) {
            return candidate.string();
        }
    }
    return "";
}

// Mosquitto 2.0.11's acl_file does not check SUBSCRIBE (shared/notes/mqtt-facts.md), but its
// dynamic-security plugin does: an account with no role may connect and may not subscribe.
// parleyd must stop with a clear error rather than wait for commands that never come.
TEST(ParleydCli, ABrokerThatRefusesTheSubscriptionStopsItAtStart) {
    const std::string plugin = dynamicSecurityPlugin();
    ASSERT_FALSE(plugin.empty()) << "mosquitto_dynamic_security.so not found under /usr/lib/*/";
    TempDir dir;
    const std::string password = "not-a-secret";
    const std::string security = dir.file("dynamic-security.json");
    ASSERT_EQ(runToCompletion({"mosquitto_ctrl", "dynsec", "init", security, "admin", password},
                              dir.file("dynsec.log"), 10s),
              0);
    // A client "parleyd" with the admin's password and no role: the default ACL denies it
    // every subscription.
    nlohmann::json file = nlohmann::json::parse(std::ifstream(security));
    nlohmann::json account = file.at("clients").at(0);
    account["username"] = "parleyd";
    account["roles"] = nlohmann::json::array();
    file["clients"].push_back(account);
    std::ofstream(security) << file.dump(2);

    const int port = freeLoopbackPort();
    const std::string brokerConfig = dir.file("mosquitto.conf");
    std::ofstream(brokerConfig) << "user root\nlistener " << port
                                << " 127.0.0.1\nallow_anonymous false\npersistence false\n"
                                << "log_dest stderr\nlog_type all\nplugin " << plugin
                                << "\nplugin_opt_config_file " << security << "\n";
    ChildProcess broker({"mosquitto", "-c", brokerConfig}, dir.file("mosquitto.log"));
    ASSERT_TRUE(broker.waitForLog("running", 10s)) << broker.log();

    const std::string config = dir.file("parleyd.yaml");
    std::ofstream(config) << "broker:\n  uri: tcp://127.0.0.1:" << port
                          << "\n  username: parleyd\n  password: " << password
                          << "\nstore:\n  backend: sqlite\n  sqlite: {path: "
                          << dir.file("parley.db") << "}\n";
    const std::string log = dir.file("parleyd.log");
    const int status = runToCompletion({parleydPath(), "--config", config}, log, 30s);
    std::ifstream output(log);
    const std::string text{std::istreambuf_iterator<char>(output), {}};
    EXPECT_EQ(status, 1) << text;
    EXPECT_NE(text.find("transport: connected to"), std::string::npos)
        << "it never got as far as subscribing:\n"
        << text << "\nbroker:\n"
        << broker.log();
    EXPECT_NE(text.find("cannot run: the broker refused the subscription to "
                        "$share/parleyd/parley/v1/c2s/+"),
              std::string::npos)
        << text;
    EXPECT_EQ(text.find("parleyd ready"), std::string::npos) << text;
    EXPECT_EQ(text.find("unsubscribe failed"), std::string::npos)
        << "it undid a subscription it never had:\n"
        << text;
}

}  // namespace
}  // namespace parley::testing
