#pragma once

#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "MemoryTransport.h"
#include "server/Server.h"
#include "store/SqliteStore.h"

namespace parley::testing {

// The whole server (decoder, workers, dispatcher, hook bus, SQLite store in a temporary folder)
// over an in-memory transport, with Lua scripts written to that folder and listed in
// config.extensions. Log lines are captured so tests can check why a script's call failed.
class LuaServerTest : public ::testing::Test {
  protected:
    using json = nlohmann::json;

    LuaServerTest() {
        dir_ = std::filesystem::temp_directory_path() /
               ("parley-lua-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
        std::filesystem::create_directories(dir_);
        config_.store.sqlite.path = (dir_ / "parley.db").string();
        config_.store.sqlite.synchronous = "normal";
        config_.presence.awayAfterMs = 60000;
        config_.presence.sweepIntervalMs = 50;
        config_.admins = {"root"};
        // Generous budgets: the tests that want a budget to run out set their own.
        config_.hooks["command"] = HookPolicyConfig{2000, true};
        config_.hooks["timer"] = HookPolicyConfig{2000, false};
        config_.hooks["message.before_store"] = HookPolicyConfig{2000, false};
        store_ = std::make_unique<store::SqliteStore>(config_.store.sqlite, 1000);
        store_->migrate();
        logs_ = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(2000);
        spdlog::default_logger()->sinks().push_back(logs_);
    }

    ~LuaServerTest() override {
        server_.reset();
        store_.reset();
        auto& sinks = spdlog::default_logger()->sinks();
        sinks.erase(std::remove(sinks.begin(), sinks.end(), logs_), sinks.end());
        std::error_code ignored;
        std::filesystem::remove_all(dir_, ignored);
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

    Server& server() {
        if (!server_) {
            server_ = std::make_unique<Server>(config_, *store_, transport_, clock_);
            server_->start();
        }
        return *server_;
    }

    // Sends a command as `uid` and returns its reply.
    json call(const std::string& uid, json command) {
        const std::string id = "r" + std::to_string(nextId_++);
        command["id"] = id;
        server().onInbound(InboundMessage{"parley/v1/c2s/" + uid, command.dump(), ""});
        return transport_
            .waitFor(
                "parley/v1/u/" + uid + "/resp",
                [&](const json& reply) { return reply["id"] == id; }, std::chrono::seconds(20))
            .payload;
    }

    // Runs the script's "test.run" command and returns its reply.
    json run(const std::string& uid = "alice") { return call(uid, {{"op", "test.run"}}); }

    static std::string codeOf(const json& reply) {
        return reply.value("ok", true) ? "ok" : reply["error"]["code"].get<std::string>();
    }

    std::string openDirect(const std::string& a, const std::string& b) {
        auto reply = call(a, {{"op", "conv.open"}, {"peer", b}});
        EXPECT_TRUE(reply["ok"]) << reply;
        return reply.value("conv", "");
    }

    json sendMessage(const std::string& uid, const std::string& conv, const std::string& cmid,
                     const std::string& body) {
        return call(uid, {{"op", "msg.send"}, {"conv", conv}, {"cmid", cmid}, {"body", body}});
    }

    // An event published on the user's ".../n" topic matching `match`.
    json waitForEvent(const std::string& uid, const std::function<bool(const json&)>& match) {
        return transport_.waitFor("parley/v1/u/" + uid + "/n", match, std::chrono::seconds(10))
            .payload;
    }

    std::string logText() const {
        std::string all;
        for (const auto& line : logs_->last_formatted()) {
            all += line;
        }
        return all;
    }

    // True once a log line containing `text` was written (waits a little: timers log late).
    bool logged(const std::string& text,
                std::chrono::milliseconds timeout = std::chrono::seconds(5)) const {
        const auto until = std::chrono::steady_clock::now() + timeout;
        while (logText().find(text) == std::string::npos) {
            if (std::chrono::steady_clock::now() > until) {
                return false;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        return true;
    }

    static inline std::atomic<int> counter_{0};
    std::filesystem::path dir_;
    Config config_;
    std::unique_ptr<store::SqliteStore> store_;
    MemoryTransport transport_;
    ManualClock clock_;
    std::unique_ptr<Server> server_;
    std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> logs_;
    int nextId_ = 1;
};

}  // namespace parley::testing
