#pragma once

#include <chrono>
#include <string>

namespace parley::testing {

// One GET to parleyd's operations endpoint on 127.0.0.1:port (docs/operations.md).
struct HttpAnswer {
    int status = -1;  // -1: no answer
    std::string body;
};

HttpAnswer httpGet(int port, const std::string& path);

// Polls `path` until it answers `status` (true) or `timeout` passes (false).
bool waitForHttpStatus(int port, const std::string& path, int status,
                       std::chrono::milliseconds timeout);

}  // namespace parley::testing
