#include "dispatch/Dispatcher.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <stdexcept>

#include "log/LogFields.h"
#include "store/Store.h"

namespace parley {

void Dispatcher::add(const std::string& op, Handler handler, OpTraits traits) {
    if (!handlers_.emplace(op, Entry{std::move(handler), &metrics_.op(op), traits}).second) {
        throw std::invalid_argument("op '" + op + "' is already registered");
    }
}

std::set<std::string> Dispatcher::ops() const {
    std::set<std::string> names;
    for (const auto& [op, handler] : handlers_) {
        names.insert(op);
    }
    return names;
}

bool Dispatcher::isActivity(const Command& command) const {
    if (!command.activity) {
        return false;
    }
    auto found = handlers_.find(command.op);
    return found == handlers_.end() || found->second.traits.isActivity;
}

ops::OpMetrics& Dispatcher::opMetrics(const std::string& op) const {
    auto found = handlers_.find(op);
    if (found != handlers_.end()) {
        return *found->second.metrics;
    }
    return hooks_.hasCommand(op) ? metrics_.op(op) : unknownOp_;
}

size_t Dispatcher::dispatch(const Command& command) const {
    const auto started = std::chrono::steady_clock::now();
    auto found = handlers_.find(command.op);
    ops::OpMetrics& stats = found != handlers_.end()        ? *found->second.metrics
                            : hooks_.hasCommand(command.op) ? metrics_.op(command.op)
                                                            : unknownOp_;
    const auto observe = [&](std::optional<ErrorCode> error) {
        stats.count(error);
        stats.duration.observe(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    };
    const auto refuse = [&](ErrorCode code, const std::string& message,
                            const nlohmann::json& details) {
        observe(code);
        const log::LogFields::Scope logFields{{"code", errorCodeName(code)}};
        spdlog::info("command refused: uid={} op={} id={} code={} message={}", command.uid,
                     command.op, command.requestId.dump(), errorCodeName(code), message);
        outbox_.replyError(command, code, message, details);
    };
    if (found == handlers_.end() && !hooks_.hasCommand(command.op)) {
        refuse(ErrorCode::UnknownOp, "unknown op '" + command.op + "'", nlohmann::json::object());
        return 0;
    }
    if (command.bytes && !hooks_.commandTakesBytes(command.op)) {
        refuse(ErrorCode::BadRequest,
               "op '" + command.op + "' takes no bytes: send it on the command topic, not .../bin",
               nlohmann::json::object());
        return 0;
    }
    nlohmann::json body;
    std::optional<std::string> bytes;
    try {
        if (found != handlers_.end()) {
            body = found->second.handler(command);
        } else {
            auto answered = hooks_.runCommand(CommandCall{command, isAdmin_(command.uid)});
            if (!answered) {
                refuse(ErrorCode::UnknownOp, "no extension answered op '" + command.op + "'",
                       nlohmann::json::object());
                return 0;
            }
            body = std::move(answered->fields);
            bytes = std::move(answered->bytes);
        }
    } catch (const ProtocolError& error) {
        refuse(error.code(), error.what(), error.details());
        return 0;
    } catch (const store::StoreUnavailable& error) {
        spdlog::error("store unavailable: uid={} op={} id={}: {}", command.uid, command.op,
                      command.requestId.dump(), error.what());
        refuse(ErrorCode::Unavailable, "storage is unavailable, retry later",
               {{"retry_after_ms", 1000}});
        return 0;
    } catch (const std::exception& error) {
        spdlog::error("internal error: uid={} op={} id={}: {}", command.uid, command.op,
                      command.requestId.dump(), error.what());
        refuse(ErrorCode::Internal, "internal error", nlohmann::json::object());
        return 0;
    } catch (...) {
        spdlog::error("internal error: uid={} op={} id={}: unknown exception", command.uid,
                      command.op, command.requestId.dump());
        refuse(ErrorCode::Internal, "internal error", nlohmann::json::object());
        return 0;
    }
    observe(std::nullopt);  // before the reply: a client that got it sees it counted
    if (!body.is_object()) {
        body = nlohmann::json::object();
    }
    if (bytes) {
        outbox_.replyWithBytes(command, std::move(body), *bytes);
        return bytes->size();
    }
    outbox_.replyOk(command, std::move(body));
    return 0;
}

}  // namespace parley
