#pragma once

#include <chrono>

namespace parley::testing {

// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, read back, closed).
int freeLoopbackPort();

// True as soon as a TCP connection to 127.0.0.1:port succeeds; false after `timeout`.
bool waitForPort(int port, std::chrono::milliseconds timeout);

}  // namespace parley::testing
