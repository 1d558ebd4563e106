#include "transport/ShardedTransport.h"

#include <spdlog/spdlog.h>

#include <exception>
#include <stdexcept>
#include <thread>

#include "parley/wire/UserShard.h"

namespace parley {

ShardedTransport::ShardedTransport(std::vector<std::unique_ptr<Transport>> shards)
    : shards_(std::move(shards)) {
    if (shards_.empty()) {
        throw std::invalid_argument("ShardedTransport: no shard");
    }
}

ShardedTransport::~ShardedTransport() {
    stop();
}

bool ShardedTransport::start(InboundHandler handler) {
    handler_ = std::move(handler);
    std::vector<char> subscribed(shards_.size(), 0);
    std::vector<std::exception_ptr> failures(shards_.size());
    std::vector<std::thread> starters;
    // Each shard's start() blocks until that broker answers: started side by side, a shard that
    // is down does not keep the others from connecting and subscribing.
    for (size_t index = 0; index < shards_.size(); ++index) {
        starters.emplace_back([this, index, &subscribed, &failures] {
            try {
                subscribed[index] = shards_[index]->start([this, index](InboundMessage&& message) {
                    message.shard = index;
                    handler_(std::move(message));
                });
            } catch (...) {
                failures[index] = std::current_exception();
                stop();  // the others stop waiting
            }
        });
    }
    for (auto& starter : starters) {
        starter.join();
    }
    for (const auto& failure : failures) {
        if (failure) {
            std::rethrow_exception(failure);
        }
    }
    for (const char shardSubscribed : subscribed) {
        if (!shardSubscribed) {
            return false;
        }
    }
    spdlog::info("transport: subscribed on all {} broker shards", shards_.size());
    return true;
}

void ShardedTransport::stopReceiving() {
    for (auto& shard : shards_) {
        shard->stopReceiving();
    }
}

void ShardedTransport::stop() {
    if (stopping_.exchange(true)) {
        return;
    }
    for (auto& shard : shards_) {
        shard->stop();
    }
}

bool ShardedTransport::isConnected() const {
    for (const auto& shard : shards_) {
        if (!shard->isConnected()) {
            return false;
        }
    }
    return true;
}

size_t ShardedTransport::routeOf(const OutboundMessage& message) const {
    if (message.shard && *message.shard < shards_.size()) {
        return *message.shard;
    }
    if (!message.recipient.empty()) {
        return shardOfUser(message.recipient, shards_.size());
    }
    return shards_.size();
}

void ShardedTransport::publish(OutboundMessage message) {
    const size_t route = routeOf(message);
    if (route < shards_.size()) {
        shards_[route]->publish(std::move(message));
        return;
    }
    for (size_t index = 0; index + 1 < shards_.size(); ++index) {
        shards_[index]->publish(message);
    }
    shards_.back()->publish(std::move(message));
}

}  // namespace parley
