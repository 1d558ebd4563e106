// Hot reload: the new version is compiled and run in a new state first; the running one stays
// whenever anything about the new one fails.

#include "LuaServerTest.h"
#include "extensions/Extension.h"

namespace parley::testing {
namespace {

using nlohmann::json;

class LuaReloadTest : public LuaServerTest {
  protected:
    static std::string version(int v, const std::string& extra = "") {
        return "parley.command('test.version', function() return {v = " + std::to_string(v) +
               "} end)\n" + extra;
    }

    int currentVersion() {
        auto reply = call("alice", {{"op", "test.version"}});
        EXPECT_TRUE(reply["ok"]) << reply;
        return reply.value("v", -1);
    }

    json reload() { return server().reloadScripts(); }

    void rewrite(const std::string& code) { writeScript("t.lua", code); }
};

TEST_F(LuaReloadTest, SyntaxErrorKeepsTheRunningVersion) {
    addScript("t", version(1));
    EXPECT_EQ(currentVersion(), 1);
    rewrite("parley.command('test.version', function() return {v = 2} end");
    auto result = reload();
    ASSERT_EQ(result["failed"].size(), 1U) << result;
    EXPECT_EQ(result["failed"][0]["name"], "t");
    EXPECT_NE(result["failed"][0]["error"].get<std::string>().find("t.lua:1:"), std::string::npos)
        << result;
    EXPECT_EQ(result["reloaded"].size(), 0U);
    EXPECT_EQ(currentVersion(), 1);
}

TEST_F(LuaReloadTest, RuntimeErrorAtTopLevelKeepsTheRunningVersion) {
    addScript("t", version(1));
    EXPECT_EQ(currentVersion(), 1);
    rewrite(version(2, "error('boom while loading')"));
    auto result = reload();
    ASSERT_EQ(result["failed"].size(), 1U) << result;
    EXPECT_NE(result["failed"][0]["error"].get<std::string>().find("boom while loading"),
              std::string::npos);
    EXPECT_EQ(currentVersion(), 1) << "what the failed version registered never went live";
}

TEST_F(LuaReloadTest, RunawayTopLevelKeepsTheRunningVersion) {
    addScript("t", version(1)).instructionLimit = 100000;
    EXPECT_EQ(currentVersion(), 1);
    rewrite(version(2, "while true do end"));
    auto result = reload();
    ASSERT_EQ(result["failed"].size(), 1U) << result;
    EXPECT_NE(result["failed"][0]["error"].get<std::string>().find("instruction limit"),
              std::string::npos);
    EXPECT_EQ(currentVersion(), 1);
}

TEST_F(LuaReloadTest, ReservedOpKeepsTheRunningVersion) {
    addScript("t", version(1));
    EXPECT_EQ(currentVersion(), 1);
    rewrite(version(2, "parley.command('ping', function() return {} end)"));
    auto result = reload();
    ASSERT_EQ(result["failed"].size(), 1U) << result;
    EXPECT_EQ(currentVersion(), 1);
}

TEST_F(LuaReloadTest, GoodVersionReplacesTheRunningOne) {
    addScript("t", version(1,
                           "parley.hook('message.before_store', function(e)\n"
                           "  if e.body == 'x' then return false, 'forbidden', 'v1 says no' end\n"
                           "end)"));
    const std::string conv = openDirect("alice", "bob");
    EXPECT_EQ(codeOf(sendMessage("alice", conv, "m1", "x")), "forbidden");
    rewrite(version(2,
                    "parley.hook('message.before_store', function(e)\n"
                    "  e.body = 'v2: ' .. e.body\n"
                    "end)"));
    auto result = reload();
    EXPECT_EQ(result["reloaded"], json({"t"})) << result;
    EXPECT_EQ(currentVersion(), 2);
    auto sent = sendMessage("alice", conv, "m2", "x");
    ASSERT_TRUE(sent["ok"]) << "v1's hook is gone: " << sent;
    auto stored = call("alice", {{"op", "msg.history"}, {"conv", conv}})["msgs"];
    ASSERT_EQ(stored.size(), 1U);
    EXPECT_EQ(stored[0]["body"], "v2: x");
}

TEST_F(LuaReloadTest, ReloadReplacesTimersAndStartsFresh) {
    addScript("t", version(1,
                           "local n = 0\n"
                           "parley.timer.every(10, function()\n"
                           "  n = n + 1 parley.send('alice', {ev = 'v1tick', n = n})\n"
                           "end)"));
    server();
    waitForEvent("alice", [](const json& e) { return e.value("ev", json()) == "v1tick"; });
    rewrite(version(2,
                    "parley.timer.every(10, function() parley.send('alice', {ev = 'v2tick'}) "
                    "end)"));
    ASSERT_EQ(reload()["reloaded"], json({"t"}));
    waitForEvent("alice", [](const json& e) { return e.value("ev", json()) == "v2tick"; });
    const auto countV1 = [&] {
        size_t count = 0;
        for (const auto& sent : transport_.sentTo("parley/v1/u/alice/n")) {
            count += sent.payload["ev"] == "v1tick" ? 1 : 0;
        }
        return count;
    };
    const size_t before = countV1();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_EQ(countV1(), before) << "the old version's timer was cancelled";
}

TEST_F(LuaReloadTest, AdminReloadCommand) {
    addScript("t", version(1));
    EXPECT_EQ(currentVersion(), 1);
    rewrite(version(3));
    auto reply = call("root", {{"op", "admin.reload"}});
    EXPECT_TRUE(reply["ok"]) << reply;
    EXPECT_EQ(currentVersion(), 3);
}

TEST_F(LuaReloadTest, SyntaxErrorAtStartNamesTheFile) {
    addScript("t", "parley.command(");
    try {
        server();
        FAIL() << "loaded";
    } catch (const ExtensionError& error) {
        EXPECT_NE(std::string(error.what()).find("t.lua:"), std::string::npos) << error.what();
    }
}

}  // namespace
}  // namespace parley::testing
