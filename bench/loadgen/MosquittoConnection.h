#pragma once

#include <mosquitto.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "parley/mqtt/TlsSettings.h"

namespace parley::bench {

// One MQTT 5 connection through libmosquitto, driven by the caller's loop (no thread of its
// own): the load generator and the raw relay run every connection of their process on one
// thread, so what they cost per message is what a client library must cost, not the hand-offs
// between a library's threads (docs/performance.md, "The load generator").
class MosquittoConnection {
  public:
    class Loop;

    // Called from read() for every PUBLISH that arrives: the topic and the payload, valid only
    // during the call.
    using MessageHandler =
        std::function<void(MosquittoConnection&, std::string_view topic, std::string_view payload)>;

    // libmosquitto's wake-up socket pair (see the constructor): `without` for a process that
    // holds thousands of connections on one thread.
    enum class WakeupPair { kept, without };

    // uri: tcp://host:port or mqtt://host:port (ssl:// and mqtts:// with `tls`). inflight: QoS 1
    // publishes awaiting their PUBACK, and how many the broker may send us unacknowledged.
    // WakeupPair::without lowers the process's descriptor limit for the length of
    // mosquitto_new(): only for a process with no other thread that may open a file meanwhile.
    MosquittoConnection(const std::string& uri, const TlsSettings& tls, const std::string& clientId,
                        const std::string& user, const std::string& password, int inflight,
                        MessageHandler onMessage, WakeupPair wakeupPair = WakeupPair::kept);
    ~MosquittoConnection();
    MosquittoConnection(const MosquittoConnection&) = delete;
    MosquittoConnection& operator=(const MosquittoConnection&) = delete;

    // Opens the TCP connection and sends CONNECT; connected() turns true on the CONNACK. Throws
    // std::runtime_error.
    void startConnect();
    bool connected() const { return connected_; }
    // Refused by the broker (CONNACK with an error), or the connection dropped.
    bool failed() const { return !failure_.empty(); }
    const std::string& failure() const { return failure_; }
    // Sends SUBSCRIBE; subscribed() counts the SUBACKs.
    void subscribe(const std::string& filter, int qos);
    int subscribed() const { return subscribed_; }
    // QoS 1, queued in libmosquitto if the connection's window is full. Throws on a dropped
    // connection.
    void publish(const std::string& topic, std::string_view payload, int qos = 1);
    long long publishesAcknowledged() const { return acknowledged_; }
    long long publishesRefused() const { return refused_; }  // PUBACK with an error reason code

    int socket() const;
    bool wantWrite() const;
    // What poll() said about socket(); false once the connection is gone (see failed()).
    bool read();
    bool write();
    // Keepalive and retries: at least once a second.
    void misc();
    void disconnect();

    // For a handful of connections (the relay's one, the tests'): a poll() over all of them per
    // pass. Thousands go through a Loop.
    // Runs each connection's I/O until `done()` or `timeout`; true if done() came true.
    static bool runUntil(const std::vector<MosquittoConnection*>& connections,
                         const std::function<bool()>& done, std::chrono::milliseconds timeout);
    // One pass: ppoll() for at most `timeout` (microseconds: a paced load's sends are due every
    // 200 µs at 5,000/s), then read and write what is ready; write also whatever the handlers
    // queued meanwhile.
    static void pollOnce(const std::vector<MosquittoConnection*>& connections,
                         std::chrono::microseconds timeout);

    // Many connections on one thread, woken through epoll for those with something to read or
    // to write: a pass costs what is ready, not what is connected (a poll() of 6,000 descriptors
    // per pass cost the generator 530-700 µs of CPU per message). Connections join after
    // startConnect(); a connection leaves when it is destroyed, and a Loop destroyed first
    // detaches those it still holds.
    class Loop {
      public:
        Loop();
        ~Loop();
        Loop(const Loop&) = delete;
        Loop& operator=(const Loop&) = delete;

        void add(MosquittoConnection& connection);
        // One pass: epoll for at most `timeout` (microseconds: a paced load's sends are due every
        // 200 µs at 5,000/s), read and write what is ready, then write what the handlers and the
        // caller queued meanwhile.
        void runOnce(std::chrono::microseconds timeout);
        // Passes until `done()` (true) or `timeout` (false); throws the first connection's failure.
        bool runUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout);
        // Keepalive and retries of every connection: at least once a second. Throws the first
        // connection's failure.
        void misc();
        const MosquittoConnection* firstFailed() const { return firstFailed_; }

      private:
        friend class MosquittoConnection;
        void markPending(MosquittoConnection& connection);
        void failed(MosquittoConnection& connection);
        void remove(MosquittoConnection& connection);
        // Writes what each pending connection queued and watches for room to write only while
        // something is left.
        void writePending();
        void throwIfFailed() const;

        int epoll_ = -1;
        std::vector<MosquittoConnection*> connections_;
        std::vector<MosquittoConnection*> pending_;
        MosquittoConnection* firstFailed_ = nullptr;
    };

  private:
    void fail(std::string failure);
    void markPending();

    static void onConnect(mosquitto*, void* self, int rc, int flags, const mosquitto_property*);
    static void onDisconnect(mosquitto*, void* self, int rc, const mosquitto_property*);
    static void onSubscribe(mosquitto*, void* self, int mid, int count, const int* granted);
    static void onPublish(mosquitto*, void* self, int mid, int reasonCode,
                          const mosquitto_property*);
    static void onMessageArrived(mosquitto*, void* self, const mosquitto_message* message);

    std::string host_;
    int port_ = 0;
    MessageHandler onMessage_;
    std::unique_ptr<mosquitto, void (*)(mosquitto*)> client_;
    bool connected_ = false;
    bool disconnecting_ = false;
    std::string failure_;
    int subscribed_ = 0;
    long long acknowledged_ = 0;
    long long refused_ = 0;
    Loop* loop_ = nullptr;
    int watchedSocket_ = -1;  // registered with loop_'s epoll; -1 once closed
    bool watchingWrites_ = false;
    bool pending_ = false;  // in loop_'s list of connections to write and re-watch
};

}  // namespace parley::bench
