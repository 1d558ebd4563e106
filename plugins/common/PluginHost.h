#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

#include "parley/plugin.h"

namespace parley::plugins {

// parleyd answered PARLEY_ERR_UNAVAILABLE: its database cannot be reached right now. A plugin
// answers its client `unavailable` (try again); it is not the plugin's fault.
class HostUnavailable : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// The host table with the plugin's `self` bound, for the C++ plugins Parley ships: one
// translation of the C ABI's statuses and buffers, failures as exceptions (HostUnavailable, or
// std::runtime_error naming the call and its status).
class PluginHost {
  public:
    PluginHost(parley_plugin* self, const parley_host* host) : self_(self), host_(host) {}

    std::optional<std::string> kvGet(const std::string& key) const;
    void kvSet(const std::string& key, const std::string& value, int64_t ttlMs = 0) const;
    void kvDelete(const std::string& key) const;  // a missing key is not an error
    int64_t kvIncr(const std::string& key, int64_t delta, int64_t ttlMs) const;
    // {key: value} of up to `limit` keys with `prefix`, in key order, after `after` ("" = from
    // the first).
    nlohmann::json kvList(const std::string& prefix, size_t limit,
                          const std::string& after = {}) const;
    nlohmann::json unreadScan(int64_t sinceMs, const std::string* uid, size_t limit) const;
    // nullopt: no such conversation.
    std::optional<nlohmann::json> conversation(const std::string& conv) const;
    nlohmann::json user(const std::string& uid) const;
    // The message `seq` of `conv`; nullopt if there is none.
    std::optional<nlohmann::json> message(const std::string& conv, int64_t seq) const;
    // The latest `limit` (1-100) messages of `conv`, oldest first; empty if it does not exist.
    nlohmann::json latestMessages(const std::string& conv, size_t limit) const;
    // A page of `conv`'s messages after seq `after`, ascending: {"msgs", "has_more"};
    // {"msgs": []} if the conversation does not exist.
    nlohmann::json messagesAfter(const std::string& conv, int64_t after, size_t limit) const;
    void log(parley_log_level level, const std::string& message) const;
    int64_t now() const { return host_->wall_ms(); }
    const parley_host* raw() const { return host_; }
    parley_plugin* self() const { return self_; }

  private:
    // Frees `buffer`; throws unless `status` is PARLEY_OK.
    nlohmann::json takeJson(parley_status status, parley_buffer& buffer, const char* what) const;
    void check(parley_status status, const std::string& what) const;

    parley_plugin* self_;
    const parley_host* host_;
};

}  // namespace parley::plugins
