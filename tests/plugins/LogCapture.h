#pragma once

#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace parley::testing {

// Keeps what is logged through spdlog's default logger while it exists, so tests can see what
// plugins log through host->log. Create it before anything that logs from other threads (the
// Server) and destroy it after: the logger's sink list is not thread-safe to change.
class LogCapture {
  public:
    LogCapture() : sink_(std::make_shared<Sink>()) {
        spdlog::default_logger()->sinks().push_back(sink_);
    }
    ~LogCapture() { std::erase(spdlog::default_logger()->sinks(), sink_); }
    LogCapture(const LogCapture&) = delete;
    LogCapture& operator=(const LogCapture&) = delete;

    // True once a logged line contains `text`; false after the timeout.
    bool waitFor(const std::string& text,
                 std::chrono::milliseconds timeout = std::chrono::seconds(5)) const {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (!contains(text)) {
            if (std::chrono::steady_clock::now() > deadline) {
                return false;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        return true;
    }

    bool contains(const std::string& text) const {
        const auto lines = sink_->lines();
        return std::any_of(lines.begin(), lines.end(), [&](const std::string& line) {
            return line.find(text) != std::string::npos;
        });
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
            lines_.emplace_back(message.payload.data(), message.payload.size());
        }
        void flush_() override {}

      private:
        std::vector<std::string> lines_;
    };

    std::shared_ptr<Sink> sink_;
};

}  // namespace parley::testing
