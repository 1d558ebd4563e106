#include "parley/mqtt/ConnectWaker.h"

#include <mutex>
#include <set>

namespace parley {

namespace {

constexpr const char* kWakeTopic = "parley/connect-waker/wake";

std::mutex clientsMutex;
std::set<mqtt::async_client*> clients;

void wakeReceiveThread() {
    std::lock_guard lock(clientsMutex);
    for (auto* client : clients) {
        if (client->is_connected()) {
            try {
                client->unsubscribe(kWakeTopic);
                return;
            } catch (const mqtt::exception&) {
                // Lost its connection meanwhile: try the next one.
            }
        }
    }
}

}  // namespace

void ConnectWaker::add(mqtt::async_client* client) {
    std::lock_guard lock(clientsMutex);
    clients.insert(client);
}

void ConnectWaker::remove(mqtt::async_client* client) {
    std::lock_guard lock(clientsMutex);
    clients.erase(client);
}

bool ConnectWaker::waitForConnect(const mqtt::token_ptr& token, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!token->wait_for(std::chrono::milliseconds(10))) {
        if (std::chrono::steady_clock::now() >= deadline) {
            return false;
        }
        wakeReceiveThread();
    }
    return true;
}

}  // namespace parley
