#include "handlers/TypingHandler.h"

#include "chat/Membership.h"
#include "dispatch/Dispatcher.h"
#include "protocol/Args.h"
#include "protocol/ErrorCode.h"

namespace parley {

void TypingHandler::registerOps(Dispatcher& dispatcher) {
    dispatcher.add("typing", [this](const Command& c) { return typing(c); });
}

nlohmann::json TypingHandler::typing(const Command& command) {
    const Args args(command.args);
    const std::string conv = args.requireConversation();
    const std::string state = args.requireOneOf("state", {"start", "stop"});
    if (const int64_t wait = limiter_.acquire(command.uid, context_.clock.steadyMs()); wait > 0) {
        throw ProtocolError(ErrorCode::RateLimited, "too many typing notifications",
                            {{"retry_after_ms", wait}});
    }
    auto view = context_.store.memberView(conv, command.uid);
    requireMember(view.access, conv);
    std::vector<std::string> others;
    for (auto& uid : view.memberIds) {
        if (uid != command.uid) {
            others.push_back(std::move(uid));
        }
    }
    nlohmann::json event = {
        {"ev", "typing"}, {"conv", conv}, {"user", command.uid}, {"state", state}};
    if (context_.hooks.has(Hook::EventBeforeDeliver)) {
        DeliveryDraft draft{"typing", conv, command.uid, event, std::move(others)};
        context_.hooks.beforeDeliver(draft);
        others = std::move(draft.recipients);
    }
    context_.outbox.toConversation(others, conv, event, /*qos=*/0);
    return nlohmann::json::object();
}

}  // namespace parley
