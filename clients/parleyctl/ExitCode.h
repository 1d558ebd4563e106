#pragma once

namespace parley::ctl {

// parleyctl's exit codes (docs/clients.md): scripts tell a refusal, a typo and an outage apart.
enum ExitCode : int {
    kExitOk = 0,
    // The server answered with an error (its code and message are on stderr), or a local step
    // failed (mosquitto_passwd, a token's key file).
    kExitRefused = 1,
    // Bad flags or arguments; nothing was sent.
    kExitUsage = 2,
    // The broker could not be reached or refused the login, or no reply came in time (parleyd
    // not running).
    kExitUnreachable = 3,
};

}  // namespace parley::ctl
