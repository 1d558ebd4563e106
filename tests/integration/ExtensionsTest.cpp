// Extensions in a real deployment: parleyd with the example plugin, the minimal plugin and script
// of docs/extending.md (compiled and loaded exactly as the doc says), and the example script,
// behind a real Mosquitto, driven by real MQTT clients. Script reload by SIGHUP and admin.reload.

#include <gtest/gtest.h>

#include <csignal>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "ChildProcess.h"
#include "MosquittoServer.h"
#include "MqttTestClient.h"
#include "ParleydProcess.h"
#include "Paths.h"
#include "SuiteServers.h"
#include "TempDir.h"

namespace parley::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

std::string readFile(const std::string& path) {
    std::ifstream file(path);
    std::stringstream text;
    text << file.rdbuf();
    return text.str();
}

void writeFile(const std::string& path, const std::string& text) {
    std::ofstream(path) << text;
}

// The first ```language block after `heading` in a Markdown file.
std::string codeBlockAfter(const std::string& markdown, const std::string& heading,
                           const std::string& language) {
    const auto at = markdown.find(heading);
    if (at == std::string::npos) {
        throw std::runtime_error("no heading " + heading);
    }
    const std::string fence = "```" + language + "\n";
    const auto start = markdown.find(fence, at);
    const auto end = markdown.find("\n```", start + fence.size());
    if (start == std::string::npos || end == std::string::npos) {
        throw std::runtime_error("no ```" + language + " block after " + heading);
    }
    return markdown.substr(start + fence.size(), end - start - fence.size() + 1);
}

class Extensions : public SuiteServers<Extensions> {
    friend class SuiteServers<Extensions>;

  protected:
    static void startServers() {
        dir_ = std::make_unique<TempDir>("parley-extensions");
        const std::string doc = readFile(sourceDir() + "/docs/extending.md");
        writeFile(dir_->file("shout.c"), codeBlockAfter(doc, "### A complete minimal plugin", "c"));
        writeFile(dir_->file("welcome.lua"),
                  codeBlockAfter(doc, "### A complete minimal script", "lua"));
        // The out-of-tree build command of the doc, with the header from this source tree.
        const int built =
            runToCompletion({"cc", "-std=c11", "-O2", "-fPIC", "-shared", "-fvisibility=hidden",
                             "-Wl,--no-undefined", "-Wall", "-Wextra", "-Werror",
                             "-I" + sourceDir() + "/core/include", "-o", dir_->file("shout.so"),
                             dir_->file("shout.c")},
                            dir_->file("cc.log"), 60s);
        if (built != 0) {
            throw std::runtime_error("the plugin of docs/extending.md did not build:\n" +
                                     readFile(dir_->file("cc.log")));
        }

        broker_ = std::make_unique<MosquittoServer>(
            std::vector<BrokerUser>{{"parleyd", "pd"}, {"alice", "a"}, {"bob", "b"}, {"ops", "o"}});
        parleyd_ = std::make_unique<ParleydProcess>(
            "broker: {uri: " + broker_->uri() +
            ", client_id: parleyd-ext, username: parleyd, password: pd}\n"
            "store: {backend: sqlite, sqlite: {path: parley.db, synchronous: normal}}\n"
            "admins: [ops]\n"
            "extensions:\n"
            "  - name: echo\n"
            "    plugin: " PARLEY_ECHO_PLUGIN
            "\n"
            "    options: {greeting: Howdy, banned: spam, tick_ms: 0}\n"
            "  - name: shout\n"
            "    plugin: " +
            dir_->file("shout.so") +
            "\n"
            "  - name: welcome\n"
            "    script: " +
            dir_->file("welcome.lua") +
            "\n"
            "    options: {greeting: Bienvenue}\n"
            "  - name: hello\n"
            "    script: " +
            sourceDir() + "/scripts/example_hello.lua\n");
    }

    static void TearDownTestSuite() {
        parleyd_.reset();
        broker_.reset();
        dir_.reset();
    }

    static std::unique_ptr<MqttTestClient> client(const std::string& uid,
                                                  const std::string& password) {
        return std::make_unique<MqttTestClient>(broker_->uri(), uid, password);
    }

    static inline std::unique_ptr<TempDir> dir_;
    static inline std::unique_ptr<MosquittoServer> broker_;
    static inline std::unique_ptr<ParleydProcess> parleyd_;
};

TEST_F(Extensions, PluginsAndScriptsWorkTogether) {
    auto alice = client("alice", "a");
    auto bob = client("bob", "b");
    auto opened = alice->request({{"op", "conv.open"}, {"peer", "bob"}});
    ASSERT_EQ(codeOf(opened), "ok") << opened;
    const std::string conv = opened["conv"];
    const std::string bobTopic = "parley/v1/u/bob/c/" + conv;

    // welcome.lua (the doc's script) greets the new conversation as "system".
    auto welcome = bob->waitFor([&](const Received& r) {
        return r.topic == bobTopic && r.payload.value("sender", "") == "system";
    });
    EXPECT_EQ(welcome.payload["body"], "Bienvenue!");
    EXPECT_EQ(welcome.payload["meta"]["kind"], "welcome");

    // shout.c (the doc's plugin) rewrites before the store.
    auto loud = alice->request(
        {{"op", "msg.send"}, {"conv", conv}, {"cmid", "s1"}, {"body", "!hello there"}});
    ASSERT_EQ(codeOf(loud), "ok") << loud;
    auto stored = bob->waitFor([&](const Received& r) {
        return r.topic == bobTopic && r.payload.value("cmid", "") == "s1";
    });
    EXPECT_EQ(stored.payload["body"], "HELLO THERE");
    EXPECT_EQ(alice->request({{"op", "shout.count"}})["shouted"], 1);

    // Rejections from a plugin (echo's banned word) and a script (welcome's http rule).
    auto banned = alice->request(
        {{"op", "msg.send"}, {"conv", conv}, {"cmid", "s2"}, {"body", "cheap spam"}});
    EXPECT_EQ(codeOf(banned), "forbidden");
    EXPECT_EQ(banned["error"]["message"], "that word is not welcome here");
    auto link = alice->request(
        {{"op", "msg.send"}, {"conv", conv}, {"cmid", "s3"}, {"body", "see http://x.example"}});
    EXPECT_EQ(codeOf(link), "forbidden");
    EXPECT_EQ(link["error"]["message"], "plain http links are not allowed here");

    // Commands of a plugin and of scripts, with state in the key-value store.
    auto echoed = alice->request({{"op", "echo.say"}, {"text", "ping"}});
    EXPECT_EQ(echoed["text"], "Howdy, ping");
    EXPECT_EQ(echoed["count"], 1);
    EXPECT_EQ(alice->request({{"op", "echo.say"}, {"text", "again"}})["count"], 2);
    EXPECT_EQ(alice->request({{"op", "welcome.stats"}})["sent"], 1) << "one message got through";
    auto greeted = bob->request({{"op", "hello.greet"}, {"name", "Ann"}});
    EXPECT_EQ(greeted["greeting"], "Hello, Ann!");
    EXPECT_EQ(codeOf(bob->request({{"op", "hello.greet"}})), "bad_request");
    EXPECT_EQ(codeOf(bob->request({{"op", "nobody.answers"}})), "unknown_op");

    auto history = bob->request({{"op", "msg.history"}, {"conv", conv}});
    ASSERT_EQ(history["msgs"].size(), 3U) << history;  // welcome, hello's welcome, HELLO THERE
}

TEST_F(Extensions, AdminsSeeExtensionsAndReloadScripts) {
    auto ops = client("ops", "o");
    auto alice = client("alice", "a");
    EXPECT_EQ(codeOf(alice->request({{"op", "admin.extensions"}})), "forbidden");
    auto listed = ops->request({{"op", "admin.extensions"}});
    ASSERT_EQ(codeOf(listed), "ok") << listed;
    ASSERT_EQ(listed["extensions"].size(), 4U);
    EXPECT_EQ(listed["extensions"][0]["name"], "echo");
    EXPECT_EQ(listed["extensions"][0]["kind"], "plugin");
    EXPECT_EQ(listed["extensions"][2]["kind"], "script");

    // A broken version does not replace the running one.
    const std::string script = dir_->file("welcome.lua");
    const std::string original = readFile(script);
    writeFile(script, "parley.command('welcome.stats', function( return 1 end)\n");
    auto failed = ops->request({{"op", "admin.reload"}});
    ASSERT_EQ(failed["failed"].size(), 1U) << failed;
    EXPECT_EQ(failed["failed"][0]["name"], "welcome");
    EXPECT_NE(failed["failed"][0]["error"].get<std::string>().find("welcome.lua"),
              std::string::npos);
    EXPECT_EQ(failed["reloaded"], json({"hello"}));
    EXPECT_EQ(codeOf(alice->request({{"op", "welcome.stats"}})), "ok") << "the old version runs";

    // A good version replaces it on SIGHUP.
    writeFile(script,
              original + "\nparley.command('welcome.version', function() return {v = 2} end)\n");
    const size_t before = parleyd_->log().size();
    parleyd_->signal(SIGHUP);
    for (int i = 0;
         i < 100 && parleyd_->log().find("scripts reloaded", before) == std::string::npos; ++i) {
        std::this_thread::sleep_for(50ms);
    }
    EXPECT_EQ(alice->request({{"op", "welcome.version"}})["v"], 2);
    EXPECT_TRUE(parleyd_->running());
}

}  // namespace
}  // namespace parley::testing
