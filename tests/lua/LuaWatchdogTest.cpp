// The watchdog (LuaRunner): a call that runs far past its budget without coming back is left
// behind, its script disabled, and parleyd goes on. The stuck call here is a real one no budget
// can stop in time: comparing a huge string with itself is one VM instruction that works for
// milliseconds in C, and the count hook looks only every 1000 instructions, so a loop of them is
// seconds past its budget before the hook sees the clock (a C function nobody bounded would be
// stuck for ever; the watchdog cannot tell the two apart, and need not).

#include <future>

#include "LuaServerTest.h"
#include "extensions/Extension.h"
#include "lua/LuaRunner.h"

namespace parley::testing {
namespace {

using nlohmann::json;

// s: 2^bits bytes, made by doubling at the top level (no budget of 100 ms would let it be made in
// the call). stuck(): about 500 comparisons of s with itself per 1000 instructions, each reading
// s twice: far longer than the watchdog waits.
std::string stuckLoop(int bits) {
    return "local s = 'x' for i = 1, " + std::to_string(bits) +
           " do s = s .. s end\n"
           "local function stuck()\n"
           "  while true do\n"
           "    if s < s or s < s or s < s or s < s or s < s or s < s or s < s or s < s then end\n"
           "  end\n"
           "end\n";
}

constexpr int kBits = 27;  // 128 MiB

class LuaWatchdogTest : public LuaServerTest {
  protected:
    LuaWatchdogTest() {
        config_.hooks["command"] = HookPolicyConfig{100, true};
        config_.hooks["timer"] = HookPolicyConfig{100, false};
        config_.hooks["message.before_store"] = HookPolicyConfig{100, false};
        config_.hooks["message.after_store"] = HookPolicyConfig{100, false};
    }

    ExtensionConfig& addStuckScript(const std::string& name, const std::string& code) {
        auto& extension = addScript(name, code);
        extension.memoryLimitBytes = int64_t{1} << 30;
        extension.instructionLimit = int64_t{1} << 40;  // the clock is what stops calls here
        return extension;
    }

    json extensionNamed(const std::string& name) {
        auto listed = call("root", {{"op", "admin.extensions"}});
        for (const auto& extension : listed["extensions"]) {
            if (extension["name"] == name) {
                return extension;
            }
        }
        ADD_FAILURE() << "no extension " << name << " in " << listed;
        return json::object();
    }

    void expectDisabled(const std::string& name, const std::string& why) {
        EXPECT_TRUE(logged("script '" + name + "' disabled: " + why)) << logText();
        auto listed = extensionNamed(name);
        EXPECT_EQ(listed["state"], "disabled") << listed;
        EXPECT_NE(listed.value("reason", "").find(why), std::string::npos) << listed;
        EXPECT_TRUE(listed["since_ms"].is_number()) << listed;
    }
};

TEST_F(LuaWatchdogTest, AStuckCommandIsAbandonedAndItsScriptDisabled) {
    addStuckScript("t", stuckLoop(kBits) +
                            "parley.command('t.stuck', function() stuck() end)\n"
                            "parley.command('t.other', function() return {other = true} end)\n");
    const uint64_t abandonedBefore = LuaRunner::abandonedCount();
    auto reply = call("alice", {{"op", "t.stuck"}});
    EXPECT_EQ(codeOf(reply), "internal") << reply;
    EXPECT_EQ(LuaRunner::abandonedCount(), abandonedBefore + 1);
    expectDisabled("t", "its call (command t.stuck) ran");
    EXPECT_TRUE(logged("extension 't' failed in command t.stuck: disabled: ")) << logText();

    // The user, the other users, and parleyd's own commands go on; the script is off.
    EXPECT_EQ(codeOf(call("alice", {{"op", "ping"}})), "ok");
    EXPECT_EQ(codeOf(call("bob", {{"op", "ping"}})), "ok");
    auto other = call("alice", {{"op", "t.other"}});
    EXPECT_EQ(codeOf(other), "internal") << "a disabled script fails every call: " << other;
    EXPECT_TRUE(logged("extension 't' failed in command t.other: disabled: ")) << logText();
    const std::string conv = openDirect("alice", "bob");
    EXPECT_EQ(codeOf(sendMessage("alice", conv, "m1")), "ok");
}

TEST_F(LuaWatchdogTest, AStuckBeforeStoreHookFailsOpenAndTheConversationGoesOn) {
    addStuckScript("t", stuckLoop(kBits) +
                            "parley.hook('message.before_store', function(m)\n"
                            "  if m.body == 'stuck' then stuck() end\n"
                            "end)\n");
    const std::string conv = openDirect("alice", "bob");
    auto stuck = sendMessage("alice", conv, "m1", "stuck");
    EXPECT_EQ(codeOf(stuck), "ok") << "the hook's policy is open: " << stuck;
    expectDisabled("t", "its call (hook message.before_store) ran");
    auto next = sendMessage("bob", conv, "m2", "next");
    EXPECT_EQ(codeOf(next), "ok") << next;
    EXPECT_EQ(next["seq"], 2);
}

TEST_F(LuaWatchdogTest, AStuckBeforeStoreHookFailsClosedWhenItsPolicySaysSo) {
    config_.hooks["message.before_store"] = HookPolicyConfig{100, true};
    addStuckScript("t", stuckLoop(kBits) +
                            "parley.hook('message.before_store', function(m)\n"
                            "  if m.body == 'stuck' then stuck() end\n"
                            "end)\n");
    const std::string conv = openDirect("alice", "bob");
    EXPECT_EQ(codeOf(sendMessage("alice", conv, "m1", "stuck")), "internal");
    expectDisabled("t", "its call (hook message.before_store) ran");
    EXPECT_EQ(codeOf(sendMessage("bob", conv, "m2", "next")), "internal")
        << "closed: nothing passes a disabled script";
    EXPECT_EQ(codeOf(call("bob", {{"op", "ping"}})), "ok");
}

TEST_F(LuaWatchdogTest, AStuckTimerLeavesTheOtherTimersRunning) {
    addStuckScript("t", stuckLoop(kBits) + "parley.timer.after(50, stuck)\n");
    addScript("tick",
              "parley.timer.every(10, function() parley.kv.incr('ticks') end)\n"
              "parley.command('tick.count', function()"
              " return {n = tonumber(parley.kv.get('ticks') or '0')} end)\n");
    server();
    EXPECT_TRUE(logged("script 't' disabled: its call (timer) ran", std::chrono::seconds(20)))
        << logText();
    const auto before = call("alice", {{"op", "tick.count"}})["n"].get<int64_t>();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (call("alice", {{"op", "tick.count"}})["n"].get<int64_t>() <= before) {
        ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "timers stopped";
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

TEST_F(LuaWatchdogTest, AStuckTopLevelFailsTheLoadAndStartingFinishes) {
    // The load's budget is 2 s: a window of seconds per 1000 instructions needs a bigger string.
    addStuckScript("t", stuckLoop(kBits + 1) + "stuck()\n");
    auto started = std::async(std::launch::async, [&] {
        try {
            server();
            return std::string("loaded");
        } catch (const ExtensionError& error) {
            return std::string(error.what());
        }
    });
    ASSERT_EQ(started.wait_for(std::chrono::seconds(60)), std::future_status::ready);
    const std::string outcome = started.get();
    EXPECT_NE(outcome.find("disabled: its call (load) ran"), std::string::npos) << outcome;
}

TEST_F(LuaWatchdogTest, AReloadBringsADisabledScriptBack) {
    auto& extension = addStuckScript("t", stuckLoop(kBits) +
                                              "parley.command('t.stuck', function() stuck() end)\n"
                                              "parley.command('t.version', function()"
                                              " return {v = 1} end)\n");
    EXPECT_EQ(codeOf(call("alice", {{"op", "t.stuck"}})), "internal");
    expectDisabled("t", "its call (command t.stuck) ran");
    writeScript("t.lua", "parley.command('t.version', function() return {v = 2} end)\n");
    static_cast<void>(extension);
    EXPECT_EQ(server().reloadScripts()["reloaded"], json({"t"}));
    EXPECT_EQ(call("alice", {{"op", "t.version"}})["v"], 2);
    EXPECT_EQ(extensionNamed("t")["state"], "running");
}

TEST_F(LuaWatchdogTest, AScriptWaitingOnAStuckOneIsDisabledWithIt) {
    // "poster" posts a message; "hooked" gets stuck in the message.after_store that runs inside
    // poster's call. Both states now belong to the lost thread.
    addScript("poster",
              "parley.command('poster.post', function(cmd)\n"
              "  parley.post(cmd.conv, 'hello')\n"
              "end)\n");
    addStuckScript("hooked", stuckLoop(kBits) +
                                 "parley.hook('message.after_store', function(m)\n"
                                 "  if m.sender == 'system' then stuck() end\n"
                                 "end)\n");
    const std::string conv = openDirect("alice", "bob");
    EXPECT_EQ(codeOf(call("alice", {{"op", "poster.post"}, {"conv", conv}})), "internal");
    expectDisabled("hooked", "its call (command poster.post) ran");
    expectDisabled("poster", "a call of script 'hooked' that it was waiting for got stuck");
    EXPECT_EQ(codeOf(call("alice", {{"op", "ping"}})), "ok");
}

TEST_F(LuaWatchdogTest, StoppingDoesNotWaitForTheAbandonedThread) {
    addStuckScript("t", stuckLoop(kBits) + "parley.command('t.stuck', function() stuck() end)\n");
    EXPECT_EQ(codeOf(call("alice", {{"op", "t.stuck"}})), "internal");
    auto stopped = std::async(std::launch::async, [&] { server_.reset(); });
    ASSERT_EQ(stopped.wait_for(std::chrono::seconds(20)), std::future_status::ready)
        << "stopping waited for the lost thread";
}

}  // namespace
}  // namespace parley::testing
