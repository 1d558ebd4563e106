#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>

#include "chat/ChatRules.h"
#include "protocol/ErrorCode.h"

namespace parley {

// Why a body and meta are not a message parleyd stores, as the client or extension is told.
struct MessageProblem {
    ErrorCode code;
    std::string message;
};

// The one check of what a message may be, whoever writes or rewrites it: a client's msg.send,
// an extension's post, a message.before_store rewrite by a plugin or a script. `meta` is null or
// should be an object. When it passes and `metaJson` is given, *metaJson is the meta as stored
// (none for null), so the caller need not serialise it again.
std::optional<MessageProblem> messageProblem(const LimitsConfig& limits, std::string_view body,
                                             const nlohmann::json& meta,
                                             std::optional<std::string>* metaJson = nullptr);

}  // namespace parley
