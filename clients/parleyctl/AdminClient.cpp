#include "AdminClient.h"

namespace parley::ctl {

AdminClient::AdminClient(client::ConnectionOptions options, std::chrono::milliseconds timeout)
    : options_(std::move(options)), timeout_(timeout) {
    options_.announcePresence = false;
    options_.connectTimeout = timeout;
}

AdminClient::~AdminClient() = default;  // Session closes cleanly

nlohmann::json AdminClient::call(nlohmann::json command) {
    const std::string op = command.value("op", "");
    try {
        if (!session_) {
            auto session = std::make_unique<client::Session>(options_);
            session->connect();
            session_ = std::move(session);
        }
        auto reply = session_->call(std::move(command), timeout_);
        // Session's own answer when the connection dropped before the reply: unknown outcome.
        if (!reply.value("ok", false) && reply.contains("error") &&
            reply["error"].value("code", "") == "disconnected") {
            throw Unreachable(op + ": " + reply["error"].value("message", "disconnected"));
        }
        return reply;
    } catch (const client::SessionError& error) {
        const std::string what = error.what();
        throw Unreachable(what.rfind("no reply", 0) == 0 ? what + " (is parleyd running?)" : what);
    }
}

}  // namespace parley::ctl
