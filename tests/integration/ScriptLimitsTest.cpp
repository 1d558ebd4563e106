// Scripts that try to hang parleyd, in a real deployment: parleyd behind a real Mosquitto, driven
// by real MQTT clients. table.move({}, 1, 1 << 50, 2) once looped in C for ever (no budget saw
// it): in a command nothing was answered again for that user, in message.before_store the
// conversation froze for everyone, in a timer every script's timers stopped, at the top level
// parleyd never finished starting, and SIGTERM no longer stopped it. And when a call does get
// stuck where no budget reaches (here: comparing a 256 MiB string with itself, one instruction
// of milliseconds at a time), the watchdog leaves it behind, the script is disabled, and parleyd
// still stops on SIGTERM.

#include <gtest/gtest.h>

#include <csignal>
#include <fstream>
#include <memory>
#include <regex>
#include <string>
#include <thread>

#include "HttpProbe.h"
#include "MosquittoServer.h"
#include "MqttTestClient.h"
#include "ParleydProcess.h"
#include "TempDir.h"

namespace parley::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kLimitsScript = R"(
-- Built before any call: comparing it with itself takes milliseconds per instruction.
local huge = 'x' for i = 1, 28 do huge = huge .. huge end
local function stuck()
  while true do
    if huge < huge or huge < huge or huge < huge or huge < huge or huge < huge then end
  end
end

parley.command('limits.move', function() table.move({}, 1, 1 << 50, 2) end)
parley.command('limits.stuck', function() stuck() end)
parley.command('limits.alive', function() return {alive = true} end)
parley.hook('message.before_store', function(m)
  if m.body == 'move' then table.move({}, 1, 1 << 50, 2) end
end)
parley.command('limits.arm', function()
  parley.timer.after(0, function() table.move({}, 1, 1 << 50, 2) end)
end)
)";

constexpr const char* kTickScript = R"(
parley.timer.every(20, function() parley.kv.incr('ticks') end)
parley.command('tick.count', function() return {n = tonumber(parley.kv.get('ticks') or '0')} end)
)";

class ScriptLimits : public ::testing::Test {
  protected:
    void SetUp() override {
        broker_ = std::make_unique<MosquittoServer>(
            std::vector<BrokerUser>{{"parleyd", "pd"}, {"alice", "a"}, {"bob", "b"}, {"ops", "o"}});
    }

    std::string writeScript(const std::string& name, const std::string& code) {
        const std::string path = scripts_.file(name + ".lua");
        std::ofstream(path) << code;
        return path;
    }

    // parleyd's YAML with the given extensions (YAML list items).
    std::string config(const std::string& extensions) {
        return "broker: {uri: " + broker_->uri() +
               ", client_id: parleyd-limits, username: parleyd, password: pd}\n"
               "store: {backend: sqlite, sqlite: {path: parley.db, synchronous: normal}}\n"
               "http: {listen: 127.0.0.1, port: 0}\n"
               "admins: [ops]\n"
               "hooks:\n"
               "  command: {budget: 200ms}\n"
               "  timer: {budget: 200ms}\n"
               "  message.before_store: {budget: 200ms, on_failure: open}\n"
               "extensions:\n" +
               extensions;
    }

    std::string limitsExtension() {
        return "  - name: limits\n"
               "    script: " +
               writeScript("limits", kLimitsScript) +
               "\n"
               "    memory_limit: 1GB\n"
               "  - name: tick\n"
               "    script: " +
               writeScript("tick", kTickScript) + "\n";
    }

    std::unique_ptr<MqttTestClient> client(const std::string& uid, const std::string& password) {
        return std::make_unique<MqttTestClient>(broker_->uri(), uid, password);
    }

    // SIGTERM, and the exit status once parleyd is gone (it must go by itself).
    int terminate(ParleydProcess& parleyd) {
        parleyd.signal(SIGTERM);
        return parleyd.waitForExit(30s);
    }

    TempDir scripts_{"parley-script-limits"};
    std::unique_ptr<MosquittoServer> broker_;
};

TEST_F(ScriptLimits, AHugeMoveFreezesNothingAndSigtermStillStopsParleyd) {
    ParleydProcess parleyd(config(limitsExtension()));
    auto alice = client("alice", "a");
    auto bob = client("bob", "b");

    // In a command: refused within its budget, and the user's next commands are answered.
    EXPECT_EQ(codeOf(alice->request({{"op", "limits.move"}}, 20s)), "internal");
    EXPECT_EQ(codeOf(alice->request({{"op", "ping"}})), "ok");
    auto alive = alice->request({{"op", "limits.alive"}});
    EXPECT_EQ(alive["alive"], true) << alive;

    // In message.before_store: the message goes through (the hook fails open), and so does the
    // conversation's next one.
    auto opened = alice->request({{"op", "conv.open"}, {"peer", "bob"}});
    ASSERT_EQ(codeOf(opened), "ok") << opened;
    const std::string conv = opened["conv"];
    auto moved =
        alice->request({{"op", "msg.send"}, {"conv", conv}, {"cmid", "m1"}, {"body", "move"}}, 20s);
    EXPECT_EQ(codeOf(moved), "ok") << moved;
    auto next = bob->request({{"op", "msg.send"}, {"conv", conv}, {"cmid", "m2"}, {"body", "hi"}});
    EXPECT_EQ(codeOf(next), "ok") << next;
    EXPECT_EQ(next["seq"], 2);

    // In a timer: it failed (logged), and the other script's timer goes on.
    EXPECT_EQ(codeOf(alice->request({{"op", "limits.arm"}})), "ok");
    const std::regex timerFailed(
        "extension 'limits' failed in timer: (threw: )?(instruction limit|time budget)");
    for (int i = 0; i < 200 && !std::regex_search(parleyd.log(), timerFailed); ++i) {
        std::this_thread::sleep_for(50ms);
    }
    EXPECT_TRUE(std::regex_search(parleyd.log(), timerFailed)) << parleyd.log();
    const auto ticks = alice->request({{"op", "tick.count"}})["n"].get<int64_t>();
    bool ticking = false;
    for (int i = 0; i < 200 && !ticking; ++i) {
        std::this_thread::sleep_for(50ms);
        ticking = alice->request({{"op", "tick.count"}})["n"].get<int64_t>() > ticks;
    }
    EXPECT_TRUE(ticking) << "the timers stopped";

    EXPECT_EQ(terminate(parleyd), 0) << parleyd.log();
}

TEST_F(ScriptLimits, AStuckCallIsAbandonedTheScriptDisabledAndSigtermStillStopsParleyd) {
    ParleydProcess parleyd(config(limitsExtension()));
    auto alice = client("alice", "a");
    auto ops = client("ops", "o");

    EXPECT_EQ(codeOf(alice->request({{"op", "limits.stuck"}}, 30s)), "internal");
    EXPECT_NE(parleyd.log().find("script 'limits' disabled: its call (command limits.stuck) ran"),
              std::string::npos)
        << parleyd.log();
    EXPECT_EQ(codeOf(alice->request({{"op", "ping"}})), "ok");
    EXPECT_EQ(codeOf(alice->request({{"op", "limits.alive"}})), "internal")
        << "the disabled script answers nothing";

    // Admins see it: admin.extensions and /metrics.
    auto listed = ops->request({{"op", "admin.extensions"}});
    ASSERT_EQ(codeOf(listed), "ok") << listed;
    ASSERT_EQ(listed["extensions"][0]["name"], "limits");
    EXPECT_EQ(listed["extensions"][0]["state"], "disabled") << listed;
    EXPECT_EQ(listed["extensions"][1]["state"], "running") << listed;
    const std::string metrics = httpGet(parleyd.httpPort(), "/metrics").body;
    EXPECT_NE(metrics.find("parley_extension_disabled{extension=\"limits\",kind=\"script\"} 1"),
              std::string::npos)
        << metrics;
    EXPECT_NE(metrics.find("parley_lua_abandoned_threads 1"), std::string::npos) << metrics;

    // The abandoned thread still grinds through its comparisons; SIGTERM does not wait for it.
    EXPECT_EQ(terminate(parleyd), 0) << parleyd.log();
}

TEST_F(ScriptLimits, AHugeMoveAtTheTopLevelFailsTheStartInsteadOfHangingIt) {
    try {
        ParleydProcess starting(config(
            "  - name: top\n    script: " + writeScript("top", "table.move({}, 1, 1 << 50, 2)\n") +
            "\n"));
        FAIL() << "parleyd started with a script whose top level cannot finish";
    } catch (const std::runtime_error& error) {
        const std::string log = error.what();
        EXPECT_NE(log.find("parleyd exited before it was ready"), std::string::npos) << log;
        EXPECT_TRUE(std::regex_search(
            log, std::regex("cannot run: .*top\\.lua: (instruction limit|time budget)")))
            << log;
    }
}

TEST_F(ScriptLimits, AStuckTopLevelFailsTheStartInsteadOfHangingIt) {
    try {
        ParleydProcess starting(
            config("  - name: top\n    script: " +
                   writeScript("top", std::string(kLimitsScript) + "\nstuck()\n") +
                   "\n    memory_limit: 1GB\n"));
        FAIL() << "parleyd started with a script whose top level is stuck";
    } catch (const std::runtime_error& error) {
        const std::string log = error.what();
        EXPECT_NE(log.find("parleyd exited before it was ready"), std::string::npos) << log;
        EXPECT_NE(log.find("disabled: its call (load) ran"), std::string::npos) << log;
    }
}

}  // namespace
}  // namespace parley::testing
