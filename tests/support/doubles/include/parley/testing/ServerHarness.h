#pragma once

#include <gtest/gtest.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "parley/testing/MemoryTransport.h"
#include "server/Server.h"
#include "store/SqliteStore.h"

namespace parley::testing {

// Keeps every line logged through spdlog's default logger while it exists, formatted, so tests can
// see what the server and its extensions logged. Create it before anything that logs from other
// threads (the Server) and destroy it after: the logger's sink list is not thread-safe to change.
class LogCapture {
  public:
    LogCapture() : sink_(std::make_shared<Sink>()) {
        spdlog::default_logger()->sinks().push_back(sink_);
    }
    ~LogCapture() { std::erase(spdlog::default_logger()->sinks(), sink_); }
    LogCapture(const LogCapture&) = delete;
    LogCapture& operator=(const LogCapture&) = delete;

    // Every line so far, each with its line end.
    std::string text() const {
        std::string all;
        for (const auto& line : sink_->lines()) {
            all += line;
        }
        return all;
    }

  private:
    class Sink final : public spdlog::sinks::base_sink<std::mutex> {
      public:
        std::vector<std::string> lines() {
            std::lock_guard lock(mutex_);
            return lines_;
        }

      protected:
        void sink_it_(const spdlog::details::log_msg& message) override {
            // base_sink holds mutex_ here.
            spdlog::memory_buf_t formatted;
            formatter_->format(message, formatted);
            lines_.emplace_back(formatted.data(), formatted.size());
        }
        void flush_() override {}

      private:
        std::vector<std::string> lines_;
    };

    std::shared_ptr<Sink> sink_;
};

// The whole server (decoder, ordered workers, dispatcher, hook bus, SQLite store in a temporary
// folder) driven through Server::onInbound over an in-memory transport and a clock tests move by
// hand: no broker, no network. What is logged meanwhile is captured.
//
// Derived fixtures adjust config_ in their constructors; the Server is created from it on first
// use of server() or idleServer().
class ServerHarness : public ::testing::Test {
  protected:
    using json = nlohmann::json;

    ServerHarness() {
        dir_ = std::filesystem::temp_directory_path() /
               ("parley-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
        std::filesystem::create_directories(dir_);
        config_.store.sqlite.path = (dir_ / "parley.db").string();
        config_.store.sqlite.synchronous = "normal";
        store_ = std::make_unique<store::SqliteStore>(config_.store.sqlite, 1000);
        store_->migrate();
    }

    ~ServerHarness() override {
        server_.reset();
        store_.reset();
        std::error_code ignored;
        std::filesystem::remove_all(dir_, ignored);
    }

    // The Server, not started: config_.extensions are not loaded, extensions may be loaded by hand.
    Server& idleServer() {
        if (!server_) {
            server_ = std::make_unique<Server>(config_, *store_, transport_, clock_);
        }
        return *server_;
    }

    // The Server, started (with config_.extensions loaded) on first use.
    Server& server() {
        if (!started_) {
            idleServer().start();
            started_ = true;
        }
        return *server_;
    }

    // Sends a command as `uid` and returns its reply; waits `timeout` (else callTimeout_) for it.
    json call(const std::string& uid, json command,
              std::optional<std::chrono::milliseconds> timeout = std::nullopt) {
        const std::string id = "r" + std::to_string(nextId_++);
        command["id"] = id;
        server().onInbound(InboundMessage{"parley/v1/c2s/" + uid, command.dump(), ""});
        return transport_
            .waitFor(
                "parley/v1/u/" + uid + "/resp",
                [&](const json& reply) { return reply["id"] == id; },
                timeout.value_or(callTimeout_))
            .payload;
    }

    // "ok", or the error code of a failed reply.
    static std::string codeOf(const json& reply) {
        return reply.value("ok", true) ? "ok" : reply["error"]["code"].get<std::string>();
    }

    // Opens the direct conversation of `a` with `b` and returns its id.
    std::string openDirect(const std::string& a, const std::string& b) {
        auto reply = call(a, {{"op", "conv.open"}, {"peer", b}});
        EXPECT_TRUE(reply["ok"]) << reply;
        return reply.value("conv", "");
    }

    // Opens the direct conversation of `a` with `b` about listing `id`.
    std::string openAbout(const std::string& a, const std::string& b, const std::string& id,
                          const std::string& title) {
        auto reply = call(a, {{"op", "conv.open"},
                              {"peer", b},
                              {"context", {{"type", "listing"}, {"id", id}, {"title", title}}}});
        EXPECT_TRUE(reply["ok"]) << reply;
        return reply.value("conv", "");
    }

    json sendMessage(const std::string& uid, const std::string& conv, const std::string& cmid,
                     const std::string& body = "hello", const json& meta = nullptr) {
        json command = {{"op", "msg.send"}, {"conv", conv}, {"cmid", cmid}, {"body", body}};
        if (!meta.is_null()) {
            command["meta"] = meta;
        }
        return call(uid, command);
    }

    // Reports the store's work to `observer` until the returned guard goes, which stops the
    // server first (its threads use the store, and so the observer). Keep the observer alive
    // longer than the guard: declare it first.
    [[nodiscard]] auto observeStore(store::StoreObserver& observer) {
        store_->setObserver(&observer);
        struct Guard {
            ServerHarness& harness;
            ~Guard() {
                harness.server_.reset();
                harness.store_->setObserver(nullptr);
            }
        };
        return Guard{*this};
    }

    // Everything logged since the fixture was created.
    std::string logText() const { return logs_.text(); }

    // True once a log line containing `text` was written; false after the timeout (0: already
    // written). Waits a little by default: timers and after-hooks log late.
    bool logged(const std::string& text,
                std::chrono::milliseconds timeout = std::chrono::seconds(5)) const {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (logText().find(text) == std::string::npos) {
            if (std::chrono::steady_clock::now() >= deadline) {
                return false;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        return true;
    }

    LogCapture logs_;  // before the server: it must outlive every thread that logs
    std::filesystem::path dir_;
    Config config_;
    std::unique_ptr<store::SqliteStore> store_;
    MemoryTransport transport_;
    ManualClock clock_;
    std::unique_ptr<Server> server_;
    bool started_ = false;
    std::chrono::milliseconds callTimeout_ = std::chrono::seconds(5);
    int nextId_ = 1;

  private:
    static inline std::atomic<int> counter_{0};
};

}  // namespace parley::testing
