#include "ExpiryWatch.h"

namespace parley::jwtauth {

void ExpiryWatch::track(const void* connection, Entry entry) {
    entries_[connection] = std::move(entry);
}

void ExpiryWatch::forget(const void* connection) {
    entries_.erase(connection);
}

std::vector<ExpiryWatch::Entry> ExpiryWatch::takeExpired(int64_t now, int64_t leewaySeconds) {
    std::vector<Entry> expired;
    for (auto it = entries_.begin(); it != entries_.end();) {
        if (it->second.expiresAt + leewaySeconds < now) {
            expired.push_back(std::move(it->second));
            it = entries_.erase(it);
        } else {
            ++it;
        }
    }
    return expired;
}

}  // namespace parley::jwtauth
