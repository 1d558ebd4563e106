#include "server/Dispatcher.h"

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

void Dispatcher::dispatch(const Command& command) const {
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
        return;
    }
    nlohmann::json body;
    try {
        if (found != handlers_.end()) {
            body = found->second.handler(command);
        } else {
            auto answered = hooks_.runCommand(CommandCall{command, isAdmin_(command.uid)});
            if (!answered) {
                refuse(ErrorCode::UnknownOp, "no extension answered op '" + command.op + "'",
                       nlohmann::json::object());
                return;
            }
            body = std::move(*answered);
        }
    } catch (const ProtocolError& error) {
        refuse(error.code(), error.what(), error.details());
        return;
    } catch (const store::StoreUnavailable& error) {
        spdlog::error("store unavailable: uid={} op={} id={}: {}", command.uid, command.op,
                      command.requestId.dump(), error.what());
        refuse(ErrorCode::Unavailable, "storage is unavailable, retry later",
               {{"retry_after_ms", 1000}});
        return;
    } catch (const std::exception& error) {
        spdlog::error("internal error: uid={} op={} id={}: {}", command.uid, command.op,
                      command.requestId.dump(), error.what());
        refuse(ErrorCode::Internal, "internal error", nlohmann::json::object());
        return;
    } catch (...) {
        spdlog::error("internal error: uid={} op={} id={}: unknown exception", command.uid,
                      command.op, command.requestId.dump());
        refuse(ErrorCode::Internal, "internal error", nlohmann::json::object());
        return;
    }
    observe(std::nullopt);  // before the reply: a client that got it sees it counted
    outbox_.replyOk(command, body.is_object() ? std::move(body) : nlohmann::json::object());
}

}  // namespace parley
