#pragma once

#include <string>

namespace parley::ops {

// Tells systemd where parleyd is in its life (the unit is Type=notify, docs/operations.md), with
// sd_notify(3) on the socket named by $NOTIFY_SOCKET. Without NOTIFY_SOCKET (started from a
// terminal, a test, another supervisor) every call does nothing.
class SystemdNotifier {
  public:
    SystemdNotifier();

    // READY=1: subscribed to the commands, the moment parleyd logs "parleyd ready". systemd
    // holds back `systemctl start` and the units ordered after parleyd until then.
    void ready(const std::string& status) const;
    // STOPPING=1: a graceful stop has begun (commands in flight are being finished).
    void stopping(const std::string& status) const;
    // STATUS=: what `systemctl status parleyd` shows while starting (waiting for the database...).
    void status(const std::string& text) const;

  private:
    void send(const std::string& state) const;

    bool enabled_;
};

}  // namespace parley::ops
