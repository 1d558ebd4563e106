#include "protocol/Outbox.h"

#include "protocol/Views.h"

namespace parley {

void Outbox::replyOk(const Command& command, nlohmann::json body) {
    // The envelope is parleyd's: a handler (an extension's included) cannot set "id" or "ok".
    nlohmann::json reply = std::move(body);
    reply["id"] = command.requestId;
    reply["ok"] = true;
    publisher_.publish(OutboundMessage{topics_.replyTopic(command.uid), toPayload(reply), 1, false,
                                       command.correlationData, command.shard, command.uid});
}

void Outbox::replyError(const Command& command, ErrorCode code, const std::string& message,
                        const nlohmann::json& details) {
    replyError(command.uid, command.requestId, command.correlationData, command.shard, code,
               message, details);
}

void Outbox::replyWithBytes(const Command& command, nlohmann::json body, const std::string& bytes) {
    nlohmann::json reply = std::move(body);
    reply["id"] = command.requestId;
    reply["ok"] = true;
    // toPayload escapes control characters: the JSON holds no newline of its own.
    std::string payload = toPayload(reply);
    payload.reserve(payload.size() + 1 + bytes.size());
    payload += '\n';
    payload += bytes;
    publisher_.publish(OutboundMessage{topics_.bytesReplyTopic(command.uid), std::move(payload), 1,
                                       false, command.correlationData, command.shard, command.uid});
}

void Outbox::replyError(const std::string& uid, const nlohmann::json& requestId,
                        const std::string& correlationData, std::optional<size_t> shard,
                        ErrorCode code, const std::string& message, const nlohmann::json& details) {
    nlohmann::json error = {{"code", errorCodeName(code)}, {"message", message}};
    error.update(details);
    const nlohmann::json reply = {{"id", requestId}, {"ok", false}, {"error", error}};
    publisher_.publish(OutboundMessage{topics_.replyTopic(uid), toPayload(reply), 1, false,
                                       correlationData, shard, uid});
}

void Outbox::toConversation(const std::vector<std::string>& members, const std::string& conv,
                            const nlohmann::json& event, int qos) {
    const std::string payload = toPayload(event);
    for (const auto& uid : members) {
        publisher_.publish(OutboundMessage{
            topics_.conversationTopic(uid, conv), payload, qos, false, {}, {}, uid});
    }
}

void Outbox::toMember(const std::string& uid, const std::string& conv, std::string payload,
                      int qos) {
    publisher_.publish(OutboundMessage{
        topics_.conversationTopic(uid, conv), std::move(payload), qos, false, {}, {}, uid});
}

void Outbox::toUser(const std::string& uid, const nlohmann::json& event) {
    publisher_.publish(
        OutboundMessage{topics_.userTopic(uid), toPayload(event), 1, false, {}, {}, uid});
}

// Presence is retained and anyone may watch anyone's: it goes to every shard (no recipient).
void Outbox::presence(const store::PresenceRecord& presence) {
    publisher_.publish(OutboundMessage{
        topics_.presenceTopic(presence.uid), toPayload(presenceJson(presence)), 1, true, {}});
}

void Outbox::clearPresence(const std::string& uid) {
    publisher_.publish(OutboundMessage{topics_.presenceTopic(uid), "", 1, true, {}});
}

}  // namespace parley
