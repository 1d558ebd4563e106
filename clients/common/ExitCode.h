#pragma once

namespace parley::client {

// Exit codes of `parley`, its subcommands and its terminal UI alike (docs/clients.md).
enum ExitCode : int {
    kOk = 0,
    kRefused = 1,      // the server answered with an error (its code and message on stderr)
    kUsage = 2,        // bad flags or arguments
    kUnreachable = 3,  // no connection (refused login, unreachable broker), or no reply in time
};

}  // namespace parley::client
