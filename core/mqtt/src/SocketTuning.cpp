#include "parley/mqtt/SocketTuning.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cstring>
#include <filesystem>
#include <vector>

namespace parley {

namespace {

std::vector<sockaddr_storage> resolve(const std::string& host, int port) {
    std::vector<sockaddr_storage> addresses;
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0) {
        return addresses;
    }
    for (addrinfo* entry = found; entry != nullptr; entry = entry->ai_next) {
        sockaddr_storage address{};
        std::memcpy(&address, entry->ai_addr, entry->ai_addrlen);
        addresses.push_back(address);
    }
    freeaddrinfo(found);
    return addresses;
}

bool samePeer(const sockaddr_storage& a, const sockaddr_storage& b) {
    if (a.ss_family != b.ss_family) {
        return false;
    }
    if (a.ss_family == AF_INET) {
        const auto& x = reinterpret_cast<const sockaddr_in&>(a);
        const auto& y = reinterpret_cast<const sockaddr_in&>(b);
        return x.sin_port == y.sin_port && x.sin_addr.s_addr == y.sin_addr.s_addr;
    }
    if (a.ss_family == AF_INET6) {
        const auto& x = reinterpret_cast<const sockaddr_in6&>(a);
        const auto& y = reinterpret_cast<const sockaddr_in6&>(b);
        return x.sin6_port == y.sin6_port &&
               std::memcmp(&x.sin6_addr, &y.sin6_addr, sizeof(x.sin6_addr)) == 0;
    }
    return false;
}

}  // namespace

bool parseBrokerUri(const std::string& uri, std::string& host, int& port) {
    std::string rest = uri;
    std::string scheme = "tcp";
    const auto schemeEnd = rest.find("://");
    if (schemeEnd != std::string::npos) {
        scheme = rest.substr(0, schemeEnd);
        rest = rest.substr(schemeEnd + 3);
    }
    // Paho's defaults for each scheme.
    if (scheme == "ssl" || scheme == "mqtts") {
        port = 8883;
    } else if (scheme == "ws") {
        port = 80;
    } else if (scheme == "wss") {
        port = 443;
    } else {
        port = 1883;
    }
    rest = rest.substr(0, rest.find('/'));  // the path of a WebSocket URI
    const auto colon = rest.rfind(':');
    if (colon != std::string::npos && rest.find(']', colon) == std::string::npos) {
        try {
            port = std::stoi(rest.substr(colon + 1));
        } catch (const std::exception&) {
            return false;
        }
        rest = rest.substr(0, colon);
    }
    if (rest.size() > 2 && rest.front() == '[' && rest.back() == ']') {
        rest = rest.substr(1, rest.size() - 2);
    }
    host = rest;
    return !host.empty();
}

size_t enableTcpNoDelayTowards(const std::string& host, int port) {
    const auto peers = resolve(host, port);
    if (peers.empty()) {
        return 0;
    }
    size_t changed = 0;
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd", error)) {
        int fd = -1;
        try {
            fd = std::stoi(entry.path().filename().string());
        } catch (const std::exception&) {
            continue;
        }
        int type = 0;
        socklen_t length = sizeof(type);
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) != 0 || type != SOCK_STREAM) {
            continue;
        }
        sockaddr_storage peer{};
        socklen_t peerLength = sizeof(peer);
        if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peerLength) != 0) {
            continue;
        }
        for (const auto& wanted : peers) {
            if (samePeer(peer, wanted)) {
                const int on = 1;
                if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) == 0) {
                    ++changed;
                }
                break;
            }
        }
    }
    return changed;
}

}  // namespace parley
