#pragma once

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "Session.h"

namespace parley::ctl {

// The broker or parleyd cannot be reached: no connection, a refused login, or no reply in time.
class Unreachable : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// The admin's connection to parleyd: one Session, connected on the first call. A one-shot
// command is no chat session: it neither announces presence nor leaves an "offline" last will
// (the server still counts the command as the admin's activity).
class AdminClient {
  public:
    AdminClient(client::ConnectionOptions options, std::chrono::milliseconds timeout);
    ~AdminClient();
    AdminClient(const AdminClient&) = delete;
    AdminClient& operator=(const AdminClient&) = delete;

    // The server's reply ({"ok": true, ...} or {"ok": false, "error": {...}}); throws
    // Unreachable.
    nlohmann::json call(nlohmann::json command);

  private:
    client::ConnectionOptions options_;
    std::chrono::milliseconds timeout_;
    std::unique_ptr<client::Session> session_;
};

}  // namespace parley::ctl
