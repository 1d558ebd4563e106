#pragma once

#include <chrono>
#include <fstream>
#include <functional>
#include <string>

#include "parley/testing/ServerHarness.h"

namespace parley::testing {

// The server harness with Lua scripts written to its temporary folder and listed in
// config.extensions. Log lines are captured so tests can check why a script's call failed.
class LuaServerTest : public ServerHarness {
  protected:
    LuaServerTest() {
        callTimeout_ = std::chrono::seconds(20);
        config_.presence.awayAfterMs = 60000;
        config_.presence.sweepIntervalMs = 50;
        config_.admins = {"root"};
        // Generous budgets: the tests that want a budget to run out set their own.
        config_.hooks["command"] = HookPolicyConfig{2000, true};
        config_.hooks["timer"] = HookPolicyConfig{2000, false};
        config_.hooks["message.before_store"] = HookPolicyConfig{2000, false};
    }

    // Writes `code` to <dir>/<file> and returns the path.
    std::string writeScript(const std::string& file, const std::string& code) {
        const auto path = dir_ / file;
        std::ofstream out(path, std::ios::binary | std::ios::trunc);
        out << code;
        return path.string();
    }

    // Adds a script extension named `name` to the config (before server() starts it).
    ExtensionConfig& addScript(const std::string& name, const std::string& code) {
        ExtensionConfig extension;
        extension.name = name;
        extension.scriptPath = writeScript(name + ".lua", code);
        config_.extensions.push_back(extension);
        return config_.extensions.back();
    }

    // Runs the script's "test.run" command and returns its reply.
    json run(const std::string& uid = "alice") { return call(uid, {{"op", "test.run"}}); }

    // An event published on the user's ".../n" topic matching `match`.
    json waitForEvent(const std::string& uid, const std::function<bool(const json&)>& match) {
        return transport_.waitFor("parley/v1/u/" + uid + "/n", match, std::chrono::seconds(10))
            .payload;
    }
};

}  // namespace parley::testing
