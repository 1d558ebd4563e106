#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "parley/wire/TopicScheme.h"
#include "protocol/Command.h"
#include "protocol/ErrorCode.h"
#include "store/Model.h"
#include "transport/Transport.h"

namespace parley {

// Everything parleyd sends, on the topics of the protocol. Call only after the store committed.
// Each message names its recipient (and a reply the shard of its command), so that with users
// sharded over brokers it is published on the recipient's broker (ShardedTransport).
class Outbox {
  public:
    Outbox(Publisher& publisher, const TopicScheme& topics)
        : publisher_(publisher), topics_(topics) {}

    // {"id", "ok": true, ...body} on the caller's resp topic, with the command's Correlation Data.
    void replyOk(const Command& command, nlohmann::json body);
    // The same reply on the caller's ".../bin" topic, on one line, then a newline and `bytes`.
    void replyWithBytes(const Command& command, nlohmann::json body, const std::string& bytes);
    void replyError(const Command& command, ErrorCode code, const std::string& message,
                    const nlohmann::json& details = nlohmann::json::object());
    // For a command that could not be decoded: `shard` is the broker shard it came from.
    void replyError(const std::string& uid, const nlohmann::json& requestId,
                    const std::string& correlationData, std::optional<size_t> shard, ErrorCode code,
                    const std::string& message,
                    const nlohmann::json& details = nlohmann::json::object());

    // One event to each listed member's ".../c/{conv}" topic, serialised once.
    void toConversation(const std::vector<std::string>& members, const std::string& conv,
                        const nlohmann::json& event, int qos = 1);
    // A payload already serialised, to one member's ".../c/{conv}" topic.
    void toMember(const std::string& uid, const std::string& conv, std::string payload,
                  int qos = 1);
    // An event on one user's ".../n" topic.
    void toUser(const std::string& uid, const nlohmann::json& event);
    // The retained presence of a user.
    void presence(const store::PresenceRecord& presence);
    // Removes a user's retained presence from the broker (an empty retained message).
    void clearPresence(const std::string& uid);

  private:
    Publisher& publisher_;
    const TopicScheme& topics_;
};

}  // namespace parley
