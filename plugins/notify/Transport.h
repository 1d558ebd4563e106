#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace parley::notify {

// How to reach the SMTP server (plugin options "smtp").
struct SmtpSettings {
    // smtp://host:port (STARTTLS with `starttls`) or smtps://host:port (implicit TLS).
    std::string url;
    // STARTTLS: "off" (plain), "try" (if offered), "require" (refuse a server without it).
    std::string starttls = "try";
    std::string username;
    std::string password;
    std::string from;    // the From header, e.g. "Parley <noreply@example.com>"
    std::string caFile;  // empty: the system's CAs
    int64_t timeoutMs = 60000;
};

// Where the push gateway listens (plugin options "push").
struct PushSettings {
    std::string url;  // empty: no push
    std::string secret;
    int64_t timeoutMs = 10000;
};

struct SendResult {
    bool ok = false;
    std::string error;  // why not, for the log
};

// Sends through libcurl on the calling thread. `stop` aborts a transfer in progress (the plugin
// unloading). Thread-safe (one curl handle per call).
SendResult sendMail(const SmtpSettings& smtp, const std::string& recipient,
                    const std::string& message, const std::atomic<bool>& stop);
// POSTs body as JSON with X-Parley-Timestamp and X-Parley-Signature: sha256=HMAC(secret,
// timestamp + "." + body). Any 2xx is success.
SendResult postPush(const PushSettings& push, const std::string& body, int64_t timestampMs,
                    const std::atomic<bool>& stop);

// The address part of a From header ("Name <a@b>" gives "a@b").
std::string addressOf(const std::string& from);

}  // namespace parley::notify
