#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "parley/testing/ManualClock.h"
#include "transport/Transport.h"

namespace parley::testing {

// A Transport that keeps what is published, for unit tests without a broker.
class MemoryTransport final : public Transport {
  public:
    struct Sent {
        OutboundMessage message;
        nlohmann::json payload;
    };

    bool start(InboundHandler) override { return true; }
    void stopReceiving() override {}
    void stop() override {}
    bool isConnected() const override { return true; }

    void publish(OutboundMessage message) override {
        std::lock_guard lock(mutex_);
        // An empty payload clears a retained message (admin.user.erase clears presence).
        auto payload =
            message.payload.empty() ? nlohmann::json() : nlohmann::json::parse(message.payload);
        sent_.push_back(Sent{std::move(message), std::move(payload)});
        changed_.notify_all();
    }

    // Waits for a published message on `topic` matching `match`; throws after the timeout.
    Sent waitFor(const std::string& topic, const std::function<bool(const nlohmann::json&)>& match,
                 std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
        std::unique_lock lock(mutex_);
        const Sent* found = nullptr;
        const bool ok = changed_.wait_for(lock, timeout, [&] {
            for (const auto& sent : sent_) {
                if (sent.message.topic == topic && match(sent.payload)) {
                    found = &sent;
                    return true;
                }
            }
            return false;
        });
        if (!ok) {
            throw std::runtime_error("nothing published on " + topic + " matched");
        }
        return *found;
    }

    std::vector<Sent> sentTo(const std::string& topic) const {
        std::lock_guard lock(mutex_);
        std::vector<Sent> matching;
        for (const auto& sent : sent_) {
            if (sent.message.topic == topic) {
                matching.push_back(sent);
            }
        }
        return matching;
    }

    size_t count() const {
        std::lock_guard lock(mutex_);
        return sent_.size();
    }

  private:
    mutable std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<Sent> sent_;
};

}  // namespace parley::testing
