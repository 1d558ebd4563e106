#include "ops/SystemdNotifier.h"

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <cstdlib>
#include <cstring>

namespace parley::ops {

SystemdNotifier::SystemdNotifier() : enabled_(std::getenv("NOTIFY_SOCKET") != nullptr) {}

void SystemdNotifier::ready(const std::string& status) const {
    send("READY=1\nSTATUS=" + status);
}

void SystemdNotifier::stopping(const std::string& status) const {
    send("STOPPING=1\nSTATUS=" + status);
}

void SystemdNotifier::status(const std::string& text) const {
    send("STATUS=" + text);
}

void SystemdNotifier::send(const std::string& state) const {
    if (!enabled_) {
        return;
    }
    // The variable stays set (unset_environment = 0): STOPPING=1 comes later from this process.
    const int result = sd_notify(0, state.c_str());
    if (result < 0) {
        // systemd waits for READY=1 until TimeoutStartSec: say why it will not come.
        spdlog::warn("systemd: cannot notify NOTIFY_SOCKET ({}): {}",
                     state.substr(0, state.find('\n')), std::strerror(-result));
    }
}

}  // namespace parley::ops
