// parleyd under systemd's Type=notify (config/production/parleyd.service.in): READY=1 on
// $NOTIFY_SOCKET only once it is subscribed to the commands, STOPPING=1 on SIGTERM. A unix datagram
// socket of the test stands in for systemd's.

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "ChildProcess.h"
#include "MosquittoServer.h"
#include "MqttTestClient.h"
#include "Paths.h"
#include "TempDir.h"

namespace parley::testing {
namespace {

using namespace std::chrono_literals;

// What systemd listens on: a unix datagram socket; each sd_notify() call is one datagram.
class NotifySocket {
  public:
    explicit NotifySocket(std::string path) : path_(std::move(path)) {
        fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        if (fd_ < 0 || path_.size() >= sizeof address.sun_path) {
            throw std::runtime_error("NotifySocket: cannot make a socket at " + path_);
        }
        std::memcpy(address.sun_path, path_.c_str(), path_.size() + 1);
        if (::bind(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
            ::close(fd_);
            throw std::runtime_error("NotifySocket: cannot bind " + path_ + ": " +
                                     std::strerror(errno));
        }
    }
    ~NotifySocket() {
        ::close(fd_);
        ::unlink(path_.c_str());
    }
    NotifySocket(const NotifySocket&) = delete;
    NotifySocket& operator=(const NotifySocket&) = delete;

    const std::string& path() const { return path_; }

    // The next datagram, or nullopt if none comes within `timeout`. Every one is kept.
    std::optional<std::string> receive(std::chrono::milliseconds timeout) {
        pollfd waiting{fd_, POLLIN, 0};
        if (::poll(&waiting, 1, static_cast<int>(timeout.count())) != 1) {
            return std::nullopt;
        }
        char buffer[4096];
        const ssize_t size = ::recv(fd_, buffer, sizeof buffer, 0);
        if (size < 0) {
            return std::nullopt;
        }
        received_.emplace_back(buffer, static_cast<size_t>(size));
        return received_.back();
    }
    // Waits up to `timeout` for a datagram with `line` as one of its lines.
    bool waitFor(const std::string& line, std::chrono::milliseconds timeout) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left <= 0ms) {
                return false;
            }
            const auto datagram = receive(left);
            if (datagram && hasLine(*datagram, line)) {
                return true;
            }
        }
    }
    const std::vector<std::string>& received() const { return received_; }

    static bool hasLine(const std::string& datagram, const std::string& line) {
        return ("\n" + datagram + "\n").find("\n" + line + "\n") != std::string::npos;
    }

  private:
    std::string path_;
    int fd_ = -1;
    std::vector<std::string> received_;
};

std::string all(const std::vector<std::string>& datagrams) {
    std::string text;
    for (const auto& datagram : datagrams) {
        text += "[" + datagram + "] ";
    }
    return text;
}

TEST(SystemdNotify, ReadyOnlyOnceSubscribedThenStoppingOnSigterm) {
    const std::string parleydPassword = "parleyd-notify-secret";
    MosquittoServer broker({{"parleyd", parleydPassword}, {"notify-alice", "pw-alice"}});
    // parleyd starts while its broker is away: it runs but is not ready.
    broker.stop();

    TempDir dir;
    NotifySocket systemd(dir.file("notify"));
    const std::string config = dir.file("parleyd.yaml");
    std::ofstream(config) << "broker:\n  uri: " << broker.uri()
                          << "\n  client_id: parleyd-notify\n  username: parleyd\n  password: "
                          << parleydPassword << "\nstore:\n  backend: sqlite\n  sqlite: {path: "
                          << dir.file("parley.db") << ", synchronous: normal}\n";
    ChildProcess parleyd({parleydPath(), "--config", config}, dir.file("parleyd.log"),
                         {{"NOTIFY_SOCKET", systemd.path()}});
    ASSERT_TRUE(parleyd.waitForLog("cannot connect to", 15s)) << parleyd.log();
    // It tells systemd what it waits for, and nothing about being ready.
    ASSERT_TRUE(systemd.waitFor("STATUS=connecting to the broker", 5s))
        << "received: " << all(systemd.received()) << "\n"
        << parleyd.log();
    while (systemd.receive(500ms)) {
    }
    for (const auto& datagram : systemd.received()) {
        EXPECT_FALSE(NotifySocket::hasLine(datagram, "READY=1"))
            << "READY=1 before it reached its broker: " << all(systemd.received());
    }

    broker.start();
    ASSERT_TRUE(systemd.waitFor("READY=1", 30s)) << "received: " << all(systemd.received()) << "\n"
                                                 << parleyd.log();
    EXPECT_NE(parleyd.log().find("parleyd ready"), std::string::npos)
        << "READY=1 came before \"parleyd ready\" was logged:\n"
        << parleyd.log();
    // Ready means subscribed: a command sent once, right now, is answered (one published before
    // the subscription would be dropped by the broker, and this client does not resend).
    MqttTestClient alice(broker.uri(), "notify-alice", "pw-alice");
    EXPECT_EQ(codeOf(alice.request({{"op", "ping"}}, 10s)), "ok");

    ASSERT_EQ(::kill(parleyd.pid(), SIGTERM), 0);
    EXPECT_TRUE(systemd.waitFor("STOPPING=1", 15s))
        << "received: " << all(systemd.received()) << "\n"
        << parleyd.log();
    EXPECT_EQ(parleyd.terminate(15s), 0) << parleyd.log();
}

// Without NOTIFY_SOCKET (a terminal, a test, another supervisor) parleyd says nothing and runs as
// ever; with one it cannot reach, it says why systemd will wait in vain, and still runs.
TEST(SystemdNotify, AnUnreachableNotifySocketIsLoggedAndChangesNothingElse) {
    const std::string parleydPassword = "parleyd-notify-secret";
    MosquittoServer broker({{"parleyd", parleydPassword}});
    TempDir dir;
    const std::string config = dir.file("parleyd.yaml");
    std::ofstream(config) << "broker:\n  uri: " << broker.uri()
                          << "\n  client_id: parleyd-notify-2\n  username: parleyd\n  password: "
                          << parleydPassword << "\nstore:\n  backend: sqlite\n  sqlite: {path: "
                          << dir.file("parley.db") << ", synchronous: normal}\n";
    ChildProcess parleyd({parleydPath(), "--config", config}, dir.file("parleyd.log"),
                         {{"NOTIFY_SOCKET", dir.file("nobody-listens")}});
    ASSERT_TRUE(parleyd.waitForLog("parleyd ready", 15s)) << parleyd.log();
    EXPECT_TRUE(parleyd.waitForLog("systemd: cannot notify NOTIFY_SOCKET (READY=1)", 5s))
        << parleyd.log();
    EXPECT_EQ(parleyd.terminate(15s), 0) << parleyd.log();
}

}  // namespace
}  // namespace parley::testing
