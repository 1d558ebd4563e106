#pragma once

#include <string>

namespace parley {

// The operations HTTP endpoint (/healthz, /readyz, /metrics). Off unless a port is set.
struct HttpConfig {
    std::string listen = "127.0.0.1";
    int port = -1;  // -1: off; 0: any free port (the log says which)
    bool enabled() const { return port >= 0; }
};

}  // namespace parley
