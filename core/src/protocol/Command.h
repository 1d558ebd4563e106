#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>

namespace parley {

// One decoded client command. `uid` comes from the topic (the broker ties it to the authenticated
// username), never from the payload.
struct Command {
    std::string uid;
    nlohmann::json requestId;  // the client's "id" (a string), or null when it sent none
    std::string op;
    nlohmann::json args;          // the whole JSON object the client sent
    std::string correlationData;  // MQTT 5 Correlation Data, echoed on the reply
    // False when the client marked the command "activity": false (a script acting for the user,
    // not the user being there): presence and last_seen stay as they are.
    bool activity = true;
    // The raw bytes after the command, for one sent on "{prefix}/c2s/{uid}/bin"; nothing for one
    // sent on "{prefix}/c2s/{uid}". Only extension ops registered to take bytes accept them.
    std::optional<std::string> bytes;
    // The broker shard the command came from, where its reply goes; none for a command that
    // did not come through a broker (its reply goes to the shard of `uid`).
    std::optional<size_t> shard;

    // Commands with the same key run one after another in arrival order: the conversation when the
    // command names one, else the user.
    const std::string& orderingKey() const;
};

}  // namespace parley
