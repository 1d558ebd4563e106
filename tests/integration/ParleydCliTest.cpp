// parleyd's command line: --check-config, --version, bad arguments; signals while starting; a
// broker that refuses its subscription.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "ChildProcess.h"
#include "MosquittoServer.h"
#include "Paths.h"
#include "Ports.h"
#include "TempDir.h"
#include "TestPki.h"

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

// parleyd run in `workDir` (relative paths of a config are relative to it) until it exits.
Outcome runParleydIn(const std::string& workDir, const std::vector<std::string>& arguments) {
    TempDir logDir;
    std::vector<std::string> argv{parleydPath()};
    argv.insert(argv.end(), arguments.begin(), arguments.end());
    const std::string log = logDir.file("out.log");
    ChildProcess parleyd(argv, log, {}, workDir);
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (parleyd.running() && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(20ms);
    }
    const int status = parleyd.terminate(1s);
    return Outcome{status, parleyd.log()};
}

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

// The shipped config, as the repository root has it after tools/up.sh: the broker's password
// file and the SQLite folder exist there.
TEST(ParleydCli, CheckConfigAcceptsTheShippedExample) {
    TempDir root;
    std::filesystem::create_directories(root.file("var/dev"));
    std::filesystem::create_directories(root.file("var/data"));
    std::ofstream(root.file("var/dev/parleyd.secret")) << "s3cret\n";
    // The development CA tools/up.sh makes, which the shipped example trusts (broker.tls.ca_file).
    std::filesystem::create_directories(root.file("var/dev/tls"));
    TestPki pki(root.file("var/dev/tls"));
    std::filesystem::rename(pki.makeCa("dev-ca").certFile, root.file("var/dev/tls/ca.crt"));
    auto outcome =
        runParleydIn(root.path(), {"--check-config", sourceDir() + "/config/parleyd.yaml"});
    EXPECT_EQ(outcome.status, 0) << outcome.output;
    EXPECT_TRUE(contains(outcome.output, "configuration is valid")) << outcome.output;
}

// config/parleyd.yaml's commented examples of extensions, uncommented, in a folder laid out like
// the repository after tools/up.sh (build/ is the build folder): the plugin path and the scripts
// it names exist and load.
TEST(ParleydCli, TheShippedConfigsExampleExtensionsExist) {
    TempDir root;
    std::filesystem::create_directories(root.file("var/data"));
    // PARLEY_ECHO_PLUGIN is <build>/plugins/parley_echo.so: <build> stands for build/.
    const std::filesystem::path echo = PARLEY_ECHO_PLUGIN;
    std::filesystem::create_directory_symlink(echo.parent_path().parent_path(), root.file("build"));
    std::filesystem::create_directory_symlink(sourceDir() + "/scripts", root.file("scripts"));
    std::ifstream shipped(sourceDir() + "/config/parleyd.yaml");
    std::string yaml = "broker: {password: unused}\nextensions:\n";
    bool inExample = false;
    int examples = 0;
    for (std::string line; std::getline(shipped, line);) {
        if (line == "# extensions:") {
            inExample = true;
            ++examples;
            continue;
        }
        if (inExample && line.rfind("#   ", 0) == 0) {
            yaml += line.substr(2) + "\n";
        } else {
            inExample = false;
        }
    }
    ASSERT_EQ(examples, 4) << "the shipped config's four examples of extensions";
    std::ofstream(root.file("examples.yaml")) << yaml;
    auto outcome = runParleydIn(root.path(), {"--check-config", "examples.yaml"});
    EXPECT_EQ(outcome.status, 0) << yaml << outcome.output;
    EXPECT_TRUE(contains(outcome.output, "configuration is valid")) << outcome.output;
}

class CheckConfig : public ::testing::Test {
  protected:
    // A config whose every file exists, plus `extra` (YAML at the top level).
    Outcome check(const std::string& extra, const std::string& store = "") {
        const std::string path = dir_.file("parleyd.yaml");
        std::ofstream(path) << "broker: {password_file: " << secret_ << "}\n"
                            << (store.empty() ? "store: {sqlite: {path: " +
                                                    dir_.file("data/parley.db") + "}}\n"
                                              : store)
                            << extra;
        return runParleydIn(dir_.path(), {"--check-config", path});
    }

    std::string script(const std::string& name, const std::string& text) {
        const std::string path = dir_.file(name);
        std::ofstream(path) << text;
        return path;
    }

    void SetUp() override {
        std::filesystem::create_directories(dir_.file("data"));
        std::ofstream(secret_) << "s3cret\n";
    }

    TempDir dir_;
    std::string secret_ = dir_.file("parleyd.secret");
};

TEST_F(CheckConfig, AcceptsWhatTheStartWouldAccept) {
    const std::string hello = script("hello.lua", "parley.log('info', 'hello')\n");
    auto outcome = check("extensions:\n  - {name: hello, script: " + hello +
                         "}\n  - {name: echo, plugin: " PARLEY_ECHO_PLUGIN "}\n");
    EXPECT_EQ(outcome.status, 0) << outcome.output;
    EXPECT_TRUE(contains(outcome.output, "configuration is valid")) << outcome.output;
}

TEST_F(CheckConfig, RefusesAMissingScript) {
    const std::string missing = dir_.file("nowhere.lua");
    auto outcome = check("extensions:\n  - {name: gone, script: " + missing + "}\n");
    EXPECT_EQ(outcome.status, 1) << outcome.output;
    EXPECT_TRUE(contains(outcome.output, missing)) << outcome.output;
    EXPECT_TRUE(contains(outcome.output, "gone")) << outcome.output;
    EXPECT_FALSE(contains(outcome.output, "configuration is valid")) << outcome.output;
}

TEST_F(CheckConfig, RefusesAScriptWithASyntaxError) {
    const std::string broken =
        script("broken.lua", "-- fine so far\nparley.hook('message.before_store', function(m)\n");
    auto outcome = check("extensions:\n  - {name: broken, script: " + broken + "}\n");
    EXPECT_EQ(outcome.status, 1) << outcome.output;
    // Lua's own message: file, line and what it expected.
    EXPECT_TRUE(contains(outcome.output, broken + ":3:")) << outcome.output;
    EXPECT_TRUE(contains(outcome.output, "'end' expected")) << outcome.output;
}

TEST_F(CheckConfig, RefusesBytecodeAsTheStartDoes) {
    // A precompiled chunk starts with ESC "Lua"; the sandbox loads text only.
    const std::string bytecode = script("bytecode.lua", std::string("\x1bLua\x54\x00", 6));
    auto outcome = check("extensions:\n  - {name: compiled, script: " + bytecode + "}\n");
    EXPECT_EQ(outcome.status, 1) << outcome.output;
    EXPECT_TRUE(contains(outcome.output, "binary chunk")) << outcome.output;
}

TEST_F(CheckConfig, RefusesAMissingPluginFile) {
    const std::string missing = dir_.file("nowhere.so");
    auto outcome = check("extensions:\n  - {name: gone, plugin: " + missing + "}\n");
    EXPECT_EQ(outcome.status, 1) << outcome.output;
    EXPECT_TRUE(contains(outcome.output, missing + ": plugin 'gone' not loaded")) << outcome.output;
}

TEST_F(CheckConfig, RefusesAPluginThatIsNotOneOrSpeaksAnotherVersion) {
    auto notAPlugin = check("extensions:\n  - {name: nope, plugin: " FIXTURE_NO_INIT_PATH "}\n");
    EXPECT_EQ(notAPlugin.status, 1) << notAPlugin.output;
    EXPECT_TRUE(contains(notAPlugin.output, "does not export parley_plugin_init"))
        << notAPlugin.output;

    auto otherVersion =
        check("extensions:\n  - {name: future, plugin: " FIXTURE_BAD_VERSION_PATH "}\n");
    EXPECT_EQ(otherVersion.status, 1) << otherVersion.output;
    EXPECT_TRUE(contains(otherVersion.output, "speaks none of the plugin ABI versions"))
        << otherVersion.output;
}

// Init registers the plugin's hooks with a running server (its store, its broker): the check
// stops before it, and says so.
TEST_F(CheckConfig, DoesNotRunAPluginsInitAndSaysSo) {
    auto outcome = check("extensions:\n  - {name: later, plugin: " FIXTURE_INIT_FAILS_PATH "}\n");
    EXPECT_EQ(outcome.status, 0) << outcome.output;
    EXPECT_TRUE(contains(outcome.output, "parley_plugin_init is not called")) << outcome.output;
}

TEST_F(CheckConfig, RefusesAPasswordFileItCannotRead) {
    const std::string missing = dir_.file("no.secret");
    std::ofstream(dir_.file("parleyd.yaml")) << "broker: {password_file: " << missing << "}\n";
    auto absent = runParleydIn(dir_.path(), {"--check-config", dir_.file("parleyd.yaml")});
    EXPECT_EQ(absent.status, 1) << absent.output;
    EXPECT_TRUE(contains(absent.output, "broker.password_file: cannot read " + missing))
        << absent.output;

    // A folder cannot be read as a file (not even by root, who reads any file).
    std::filesystem::create_directories(dir_.file("folder.secret"));
    std::ofstream(dir_.file("parleyd.yaml"))
        << "broker: {password_file: " << dir_.file("folder.secret") << "}\n";
    auto folder = runParleydIn(dir_.path(), {"--check-config", dir_.file("parleyd.yaml")});
    EXPECT_EQ(folder.status, 1) << folder.output;
    EXPECT_TRUE(contains(folder.output, "broker.password_file")) << folder.output;

    auto mysql = check("", "store: {backend: mysql, mysql: {password_file: " + missing + "}}\n");
    EXPECT_EQ(mysql.status, 1) << mysql.output;
    EXPECT_TRUE(contains(mysql.output, "store.mysql.password_file: cannot read " + missing))
        << mysql.output;
}

TEST_F(CheckConfig, RefusesAnSqliteFolderThatDoesNotExistOrAFileThatIsNotADatabase) {
    const std::string noFolder = dir_.file("no-such-folder/parley.db");
    auto missing = check("", "store: {sqlite: {path: " + noFolder + "}}\n");
    EXPECT_EQ(missing.status, 1) << missing.output;
    EXPECT_TRUE(contains(missing.output, "store.sqlite.path")) << missing.output;
    EXPECT_TRUE(contains(missing.output, dir_.file("no-such-folder"))) << missing.output;

    std::ofstream(dir_.file("data/notes.txt")) << "not a database, just text long enough\n";
    auto notDatabase = check("", "store: {sqlite: {path: " + dir_.file("data/notes.txt") + "}}\n");
    EXPECT_EQ(notDatabase.status, 1) << notDatabase.output;
    EXPECT_TRUE(contains(notDatabase.output, "not an SQLite database")) << notDatabase.output;

    auto folder = check("", "store: {sqlite: {path: " + dir_.file("data") + "}}\n");
    EXPECT_EQ(folder.status, 1) << folder.output;
    EXPECT_TRUE(contains(folder.output, "store.sqlite.path")) << folder.output;
}

TEST_F(CheckConfig, NamesEveryProblemAtOnce) {
    const std::string broken = script("broken.lua", "local x = \n");
    auto outcome = check("extensions:\n  - {name: broken, script: " + broken +
                             "}\n  - {name: gone, plugin: " + dir_.file("gone.so") + "}\n",
                         "store: {sqlite: {path: " + dir_.file("nope/parley.db") + "}}\n");
    EXPECT_EQ(outcome.status, 1) << outcome.output;
    EXPECT_TRUE(contains(outcome.output, broken)) << outcome.output;
    EXPECT_TRUE(contains(outcome.output, "gone.so")) << outcome.output;
    EXPECT_TRUE(contains(outcome.output, "store.sqlite.path")) << outcome.output;
}

// The real start refuses the same things, before waiting for its database or broker.
TEST_F(CheckConfig, TheStartRefusesWhatTheCheckRefuses) {
    const std::string broken = script("broken.lua", "return (\n");
    const std::string path = dir_.file("parleyd.yaml");
    std::ofstream(path) << "broker: {uri: tcp://127.0.0.1:" << freeLoopbackPort()
                        << ", password_file: " << secret_
                        << "}\nstore: {sqlite: {path: " << dir_.file("data/parley.db")
                        << "}}\nextensions:\n"
                        << "  - {name: broken, script: " << broken << "}\n";
    auto outcome = runParleydIn(dir_.path(), {"--config", path});
    EXPECT_EQ(outcome.status, 1) << outcome.output;
    EXPECT_TRUE(contains(outcome.output, broken)) << outcome.output;
    EXPECT_FALSE(contains(outcome.output, "connecting to")) << outcome.output;
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
                        "$share/parleyd/parley/v1/c2s/#"),
              std::string::npos)
        << text;
    EXPECT_EQ(text.find("parleyd ready"), std::string::npos) << text;
    EXPECT_EQ(text.find("unsubscribe failed"), std::string::npos)
        << "it undid a subscription it never had:\n"
        << text;
}

}  // namespace
}  // namespace parley::testing
