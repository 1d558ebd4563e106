#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace parley::jwtauth {

// Connections that logged in with a token, so they can be disconnected when it expires. Keyed
// by the broker's connection (an opaque pointer): a session takeover with a fresh token creates
// a new connection, and the old one's disconnect must not forget the new one.
class ExpiryWatch {
  public:
    struct Entry {
        std::string clientId;
        std::string username;
        int64_t expiresAt = 0;
    };

    void track(const void* connection, Entry entry);
    void forget(const void* connection);
    // Removes and returns the entries with expiresAt + leeway < now.
    std::vector<Entry> takeExpired(int64_t now, int64_t leewaySeconds);
    size_t size() const { return entries_.size(); }

  private:
    std::map<const void*, Entry> entries_;
};

}  // namespace parley::jwtauth
