#include "HttpProbe.h"

#include <httplib.h>

#include <thread>

namespace parley::testing {

HttpAnswer httpGet(int port, const std::string& path) {
    httplib::Client client("127.0.0.1", port);
    client.set_connection_timeout(2, 0);
    client.set_read_timeout(5, 0);
    auto result = client.Get(path.c_str());
    if (!result) {
        return {};
    }
    return {result->status, result->body};
}

bool waitForHttpStatus(int port, const std::string& path, int status,
                       std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (httpGet(port, path).status == status) {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
}

}  // namespace parley::testing
