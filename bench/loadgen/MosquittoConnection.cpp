#include "MosquittoConnection.h"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <stdexcept>

#include "parley/mqtt/SocketTuning.h"

namespace parley::bench {

namespace {

void initLibraryOnce() {
    static std::once_flag once;
    std::call_once(once, [] { mosquitto_lib_init(); });
}

std::string errorText(int rc) {
    return rc == MOSQ_ERR_ERRNO ? std::string(std::strerror(errno)) : mosquitto_strerror(rc);
}

}  // namespace

MosquittoConnection::MosquittoConnection(const std::string& uri, const TlsSettings& tls,
                                         const std::string& clientId, const std::string& user,
                                         const std::string& password, int inflight,
                                         MessageHandler onMessage)
    : onMessage_(std::move(onMessage)), client_(nullptr, mosquitto_destroy) {
    initLibraryOnce();
    if (uri.rfind("ws://", 0) == 0 || uri.rfind("wss://", 0) == 0) {
        throw std::invalid_argument("the libmosquitto load generator speaks MQTT over TCP, not " +
                                    uri);
    }
    if (!parseBrokerUri(uri, host_, port_)) {
        throw std::invalid_argument("not a broker address: " + uri);
    }
    client_.reset(mosquitto_new(clientId.c_str(), true, this));
    if (!client_) {
        throw std::runtime_error("mosquitto_new failed");
    }
    mosquitto* client = client_.get();
    mosquitto_int_option(client, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    mosquitto_int_option(client, MOSQ_OPT_TCP_NODELAY, 1);
    mosquitto_int_option(client, MOSQ_OPT_SEND_MAXIMUM, inflight);
    mosquitto_int_option(client, MOSQ_OPT_RECEIVE_MAXIMUM, inflight);
    mosquitto_username_pw_set(client, user.c_str(), password.c_str());
    if (isTlsUri(uri)) {
        const int rc =
            mosquitto_tls_set(client, tls.caFile.empty() ? nullptr : tls.caFile.c_str(),
                              tls.caFile.empty() ? "/etc/ssl/certs" : nullptr,
                              tls.certFile.empty() ? nullptr : tls.certFile.c_str(),
                              tls.keyFile.empty() ? nullptr : tls.keyFile.c_str(), nullptr);
        if (rc != MOSQ_ERR_SUCCESS) {
            throw std::runtime_error("TLS settings refused: " + errorText(rc));
        }
    }
    mosquitto_connect_v5_callback_set(client, onConnect);
    mosquitto_disconnect_v5_callback_set(client, onDisconnect);
    mosquitto_subscribe_callback_set(client, onSubscribe);
    mosquitto_publish_v5_callback_set(client, onPublish);
    mosquitto_message_callback_set(client, onMessageArrived);
}

MosquittoConnection::~MosquittoConnection() {
    disconnect();
}

void MosquittoConnection::startConnect() {
    const int rc =
        mosquitto_connect_bind_v5(client_.get(), host_.c_str(), port_, 60, nullptr, nullptr);
    if (rc != MOSQ_ERR_SUCCESS) {
        throw std::runtime_error("cannot connect to " + host_ + ":" + std::to_string(port_) + ": " +
                                 errorText(rc));
    }
}

void MosquittoConnection::subscribe(const std::string& filter, int qos) {
    const int rc = mosquitto_subscribe(client_.get(), nullptr, filter.c_str(), qos);
    if (rc != MOSQ_ERR_SUCCESS) {
        throw std::runtime_error("cannot subscribe to " + filter + ": " + errorText(rc));
    }
}

void MosquittoConnection::publish(const std::string& topic, std::string_view payload, int qos) {
    const int rc = mosquitto_publish(client_.get(), nullptr, topic.c_str(),
                                     static_cast<int>(payload.size()), payload.data(), qos, false);
    if (rc != MOSQ_ERR_SUCCESS) {
        throw std::runtime_error("cannot publish on " + topic + ": " + errorText(rc));
    }
}

int MosquittoConnection::socket() const {
    return mosquitto_socket(client_.get());
}

bool MosquittoConnection::wantWrite() const {
    return mosquitto_want_write(client_.get());
}

bool MosquittoConnection::read() {
    // Several packets per call: one poll() wakes us for many replies at flood.
    const int rc = mosquitto_loop_read(client_.get(), 64);
    if (rc != MOSQ_ERR_SUCCESS && failure_.empty() && !disconnecting_) {
        failure_ = "connection lost: " + errorText(rc);
    }
    return rc == MOSQ_ERR_SUCCESS;
}

bool MosquittoConnection::write() {
    const int rc = mosquitto_loop_write(client_.get(), 64);
    if (rc != MOSQ_ERR_SUCCESS && failure_.empty() && !disconnecting_) {
        failure_ = "connection lost: " + errorText(rc);
    }
    return rc == MOSQ_ERR_SUCCESS;
}

void MosquittoConnection::misc() {
    mosquitto_loop_misc(client_.get());
}

void MosquittoConnection::disconnect() {
    if (!client_ || !connected_) {
        return;
    }
    disconnecting_ = true;
    mosquitto_disconnect(client_.get());
    // The DISCONNECT is queued: let it out before the socket closes.
    for (int i = 0; i < 10 && socket() >= 0 && wantWrite(); ++i) {
        write();
    }
    connected_ = false;
}

void MosquittoConnection::pollOnce(const std::vector<MosquittoConnection*>& connections,
                                   std::chrono::microseconds timeout) {
    thread_local std::vector<pollfd> fds;
    thread_local std::vector<MosquittoConnection*> polled;
    fds.clear();
    polled.clear();
    for (MosquittoConnection* connection : connections) {
        const int fd = connection->socket();
        if (fd < 0) {
            continue;
        }
        fds.push_back(
            {fd, static_cast<short>(POLLIN | (connection->wantWrite() ? POLLOUT : 0)), 0});
        polled.push_back(connection);
    }
    const auto micros = std::max<long long>(0, timeout.count());
    const timespec wait{static_cast<time_t>(micros / 1000000),
                        static_cast<long>(micros % 1000000) * 1000};
    if (::ppoll(fds.data(), fds.size(), &wait, nullptr) > 0) {
        for (size_t i = 0; i < fds.size(); ++i) {
            if (fds[i].revents & (POLLIN | POLLERR | POLLHUP)) {
                polled[i]->read();
            }
            if ((fds[i].revents & POLLOUT) && polled[i]->socket() >= 0) {
                polled[i]->write();
            }
        }
    }
    // What the handlers published while reading (libmosquitto queues inside its callbacks): out
    // now rather than after the next poll().
    for (MosquittoConnection* connection : polled) {
        if (connection->socket() >= 0 && connection->wantWrite()) {
            connection->write();
        }
    }
}

bool MosquittoConnection::runUntil(const std::vector<MosquittoConnection*>& connections,
                                   const std::function<bool()>& done,
                                   std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    auto lastMisc = std::chrono::steady_clock::now();
    while (!done()) {
        const auto now = std::chrono::steady_clock::now();
        if (now >= deadline) {
            return false;
        }
        for (MosquittoConnection* connection : connections) {
            if (connection->failed()) {
                throw std::runtime_error(connection->failure());
            }
        }
        pollOnce(connections, std::chrono::milliseconds(10));
        if (now - lastMisc >= std::chrono::seconds(1)) {
            lastMisc = now;
            for (MosquittoConnection* connection : connections) {
                connection->misc();
            }
        }
    }
    return true;
}

void MosquittoConnection::onConnect(mosquitto*, void* self, int rc, int,
                                    const mosquitto_property*) {
    auto* connection = static_cast<MosquittoConnection*>(self);
    if (rc == 0) {
        connection->connected_ = true;
    } else {
        connection->failure_ =
            "the broker refused the connection: " + std::string(mosquitto_reason_string(rc));
    }
}

void MosquittoConnection::onDisconnect(mosquitto*, void* self, int rc, const mosquitto_property*) {
    auto* connection = static_cast<MosquittoConnection*>(self);
    connection->connected_ = false;
    if (rc != 0 && !connection->disconnecting_ && connection->failure_.empty()) {
        connection->failure_ = "disconnected: " + errorText(rc);
    }
}

void MosquittoConnection::onSubscribe(mosquitto*, void* self, int, int count, const int* granted) {
    auto* connection = static_cast<MosquittoConnection*>(self);
    for (int i = 0; i < count; ++i) {
        if (granted[i] >= 0x80) {
            connection->failure_ = "subscription refused";
        }
    }
    ++connection->subscribed_;
}

void MosquittoConnection::onPublish(mosquitto*, void* self, int, int reasonCode,
                                    const mosquitto_property*) {
    auto* connection = static_cast<MosquittoConnection*>(self);
    ++(reasonCode >= 0x80 ? connection->refused_ : connection->acknowledged_);
}

void MosquittoConnection::onMessageArrived(mosquitto*, void* self,
                                           const mosquitto_message* message) {
    auto* connection = static_cast<MosquittoConnection*>(self);
    connection->onMessage_(*connection, message->topic,
                           std::string_view(static_cast<const char*>(message->payload),
                                            static_cast<size_t>(message->payloadlen)));
}

}  // namespace parley::bench
