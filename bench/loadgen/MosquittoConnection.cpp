#include "MosquittoConnection.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
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

// The kernel hands out the lowest free descriptor number: this one (or -1).
int lowestFreeDescriptor() {
    const int probe = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (probe >= 0) {
        ::close(probe);
    }
    return probe;
}

// mosquitto_new() opens a socket pair per client so that a publish from another thread can wake
// mosquitto_loop()'s select(), and libmosquitto then writes a byte to it for every packet it
// queues. A caller-driven loop never sleeps in mosquitto_loop(), so the pair is two descriptors
// and a write() per packet for nothing, and those descriptors are what bounded the users one
// generator process could hold (three per user against 20,000 per process: 6,600). libmosquitto
// goes on without the pair when it cannot open it (2.0.11: a warning to the log callback,
// mosquitto_loop() then waits its whole timeout), so for the length of mosquitto_new() the soft
// descriptor limit is the lowest free number and the pair's socketpair() fails with EMFILE.
mosquitto* newClientWithoutWakeupPair(const std::string& clientId, void* self) {
    rlimit limit{};
    const int lowest = lowestFreeDescriptor();
    if (lowest < 0 || ::getrlimit(RLIMIT_NOFILE, &limit) != 0) {
        return mosquitto_new(clientId.c_str(), true, self);
    }
    rlimit lowered = limit;
    lowered.rlim_cur = static_cast<rlim_t>(lowest);
    if (::setrlimit(RLIMIT_NOFILE, &lowered) != 0) {
        return mosquitto_new(clientId.c_str(), true, self);
    }
    mosquitto* client = mosquitto_new(clientId.c_str(), true, self);
    if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) {
        throw std::runtime_error(std::string("cannot restore the descriptor limit: ") +
                                 std::strerror(errno));
    }
    if (client == nullptr) {  // a libmosquitto that needs its pair
        return mosquitto_new(clientId.c_str(), true, self);
    }
    return client;
}

}  // namespace

MosquittoConnection::MosquittoConnection(const std::string& uri, const TlsSettings& tls,
                                         const std::string& clientId, const std::string& user,
                                         const std::string& password, int inflight,
                                         MessageHandler onMessage, WakeupPair wakeupPair)
    : onMessage_(std::move(onMessage)), client_(nullptr, mosquitto_destroy) {
    initLibraryOnce();
    if (uri.rfind("ws://", 0) == 0 || uri.rfind("wss://", 0) == 0) {
        throw std::invalid_argument("the libmosquitto load generator speaks MQTT over TCP, not " +
                                    uri);
    }
    if (!parseBrokerUri(uri, host_, port_)) {
        throw std::invalid_argument("not a broker address: " + uri);
    }
    client_.reset(wakeupPair == WakeupPair::without ? newClientWithoutWakeupPair(clientId, this)
                                                    : mosquitto_new(clientId.c_str(), true, this));
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
    if (loop_ != nullptr) {
        loop_->remove(*this);
    }
}

void MosquittoConnection::fail(std::string failure) {
    if (!failure_.empty()) {
        return;
    }
    failure_ = std::move(failure);
    if (loop_ != nullptr) {
        loop_->failed(*this);
    }
}

void MosquittoConnection::markPending() {
    if (loop_ != nullptr) {
        loop_->markPending(*this);
    }
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
    markPending();
}

void MosquittoConnection::publish(const std::string& topic, std::string_view payload, int qos) {
    const int rc = mosquitto_publish(client_.get(), nullptr, topic.c_str(),
                                     static_cast<int>(payload.size()), payload.data(), qos, false);
    if (rc != MOSQ_ERR_SUCCESS) {
        throw std::runtime_error("cannot publish on " + topic + ": " + errorText(rc));
    }
    markPending();  // written at once unless inside a callback or the socket is full
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
    if (rc != MOSQ_ERR_SUCCESS && !disconnecting_) {
        fail("connection lost: " + errorText(rc));
    }
    return rc == MOSQ_ERR_SUCCESS;
}

bool MosquittoConnection::write() {
    const int rc = mosquitto_loop_write(client_.get(), 64);
    if (rc != MOSQ_ERR_SUCCESS && !disconnecting_) {
        fail("connection lost: " + errorText(rc));
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

MosquittoConnection::Loop::Loop() : epoll_(::epoll_create1(EPOLL_CLOEXEC)) {
    if (epoll_ < 0) {
        throw std::runtime_error(std::string("epoll_create1: ") + std::strerror(errno));
    }
}

MosquittoConnection::Loop::~Loop() {
    for (MosquittoConnection* connection : connections_) {
        connection->loop_ = nullptr;
        connection->watchedSocket_ = -1;
        connection->pending_ = false;
    }
    ::close(epoll_);
}

void MosquittoConnection::Loop::add(MosquittoConnection& connection) {
    const int socket = connection.socket();
    if (socket < 0 || connection.loop_ != nullptr) {
        throw std::logic_error("a connection joins one Loop, after startConnect()");
    }
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.ptr = &connection;
    if (::epoll_ctl(epoll_, EPOLL_CTL_ADD, socket, &event) != 0) {
        throw std::runtime_error(std::string("epoll_ctl: ") + std::strerror(errno));
    }
    connection.loop_ = this;
    connection.watchedSocket_ = socket;
    connection.watchingWrites_ = false;
    connections_.push_back(&connection);
    if (connection.failed()) {
        failed(connection);
    }
    markPending(connection);  // the CONNECT may not be all out
}

void MosquittoConnection::Loop::remove(MosquittoConnection& connection) {
    std::erase(connections_, &connection);
    std::erase(pending_, &connection);
    if (firstFailed_ == &connection) {
        firstFailed_ = nullptr;
    }
    if (connection.watchedSocket_ >= 0 && connection.socket() == connection.watchedSocket_) {
        ::epoll_ctl(epoll_, EPOLL_CTL_DEL, connection.watchedSocket_, nullptr);
    }
    connection.loop_ = nullptr;
    connection.watchedSocket_ = -1;
    connection.pending_ = false;
}

void MosquittoConnection::Loop::markPending(MosquittoConnection& connection) {
    if (!connection.pending_) {
        connection.pending_ = true;
        pending_.push_back(&connection);
    }
}

void MosquittoConnection::Loop::failed(MosquittoConnection& connection) {
    if (firstFailed_ == nullptr) {
        firstFailed_ = &connection;
    }
}

void MosquittoConnection::Loop::throwIfFailed() const {
    if (firstFailed_ != nullptr) {
        throw std::runtime_error(firstFailed_->failure());
    }
}

void MosquittoConnection::Loop::writePending() {
    // By index: a write may mark another connection pending (libmosquitto's callbacks).
    for (size_t i = 0; i < pending_.size(); ++i) {
        MosquittoConnection& connection = *pending_[i];
        connection.pending_ = false;
        if (connection.watchedSocket_ < 0) {
            continue;
        }
        if (connection.socket() == connection.watchedSocket_ && connection.wantWrite()) {
            connection.write();
        }
        if (connection.socket() != connection.watchedSocket_) {
            // Closed by libmosquitto: the kernel took it out of the epoll set.
            connection.watchedSocket_ = -1;
            continue;
        }
        // Room to write is watched only while something waits for it: a socket that can take
        // more would otherwise wake every pass.
        const bool wantWrite = connection.wantWrite();
        if (wantWrite != connection.watchingWrites_) {
            epoll_event event{};
            event.events = EPOLLIN | (wantWrite ? EPOLLOUT : 0u);
            event.data.ptr = &connection;
            if (::epoll_ctl(epoll_, EPOLL_CTL_MOD, connection.watchedSocket_, &event) == 0) {
                connection.watchingWrites_ = wantWrite;
            }
        }
    }
    pending_.clear();
}

void MosquittoConnection::Loop::runOnce(std::chrono::microseconds timeout) {
    writePending();
    std::array<epoll_event, 512> events;
    const auto micros = std::max<long long>(0, timeout.count());
    const timespec wait{static_cast<time_t>(micros / 1000000),
                        static_cast<long>(micros % 1000000) * 1000};
    const int ready =
        ::epoll_pwait2(epoll_, events.data(), static_cast<int>(events.size()), &wait, nullptr);
    for (int i = 0; i < ready; ++i) {
        MosquittoConnection& connection = *static_cast<MosquittoConnection*>(events[i].data.ptr);
        if (connection.socket() != connection.watchedSocket_) {
            continue;
        }
        if (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
            connection.read();
        }
        if ((events[i].events & EPOLLOUT) && connection.socket() >= 0) {
            connection.write();
        }
        // What reading queued (acknowledgements, the handlers' publishes inside callbacks),
        // and whether room to write is still wanted.
        markPending(connection);
    }
    writePending();
}

bool MosquittoConnection::Loop::runUntil(const std::function<bool()>& done,
                                         std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    auto lastMisc = std::chrono::steady_clock::now();
    while (!done()) {
        const auto now = std::chrono::steady_clock::now();
        if (now >= deadline) {
            return false;
        }
        throwIfFailed();
        runOnce(std::chrono::milliseconds(10));
        if (now - lastMisc >= std::chrono::seconds(1)) {
            lastMisc = now;
            misc();
        }
    }
    return true;
}

void MosquittoConnection::Loop::misc() {
    for (MosquittoConnection* connection : connections_) {
        connection->misc();
        if (connection->socket() >= 0 && connection->wantWrite()) {
            markPending(*connection);
        }
    }
    throwIfFailed();
}

void MosquittoConnection::onConnect(mosquitto*, void* self, int rc, int,
                                    const mosquitto_property*) {
    auto* connection = static_cast<MosquittoConnection*>(self);
    if (rc == 0) {
        connection->connected_ = true;
    } else {
        connection->fail("the broker refused the connection: " +
                         std::string(mosquitto_reason_string(rc)));
    }
}

void MosquittoConnection::onDisconnect(mosquitto*, void* self, int rc, const mosquitto_property*) {
    auto* connection = static_cast<MosquittoConnection*>(self);
    connection->connected_ = false;
    if (rc != 0 && !connection->disconnecting_) {
        connection->fail("disconnected: " + errorText(rc));
    }
}

void MosquittoConnection::onSubscribe(mosquitto*, void* self, int, int count, const int* granted) {
    auto* connection = static_cast<MosquittoConnection*>(self);
    for (int i = 0; i < count; ++i) {
        if (granted[i] >= 0x80) {
            connection->fail("subscription refused");
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
