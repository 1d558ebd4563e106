#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <variant>

#include "parley/wire/TopicScheme.h"
#include "protocol/Command.h"
#include "protocol/ErrorCode.h"

namespace parley {

// Why a publish could not become a Command, and where (if anywhere) to answer.
struct DecodeFailure {
    std::optional<std::string> replyUid;  // empty when there is no safe reply topic
    nlohmann::json requestId;             // null unless the id was readable
    ErrorCode code;
    std::string message;
};

// Turns a raw publish on "{prefix}/c2s/{uid}" into a Command: size limit, JSON nesting limit,
// one well-formed JSON object (UTF-8 included) and nothing after it, a valid "id" and "op". On
// "{prefix}/c2s/{uid}/bin" the same object on one line, a newline, then raw bytes (at most
// maxBytesPerCommand): Command::bytes. It does not know the ops.
class Decoder {
  public:
    Decoder(const TopicScheme& topics, size_t maxPayloadBytes, size_t maxBytesPerCommand = 0)
        : topics_(topics),
          maxPayloadBytes_(maxPayloadBytes),
          maxBytesPerCommand_(maxBytesPerCommand) {}

    static constexpr int kMaxDepth = 32;
    static constexpr size_t kMaxRequestIdLength = 64;

    std::variant<Command, DecodeFailure> decode(const std::string& topic,
                                                const std::string& payload,
                                                std::string correlationData) const;

  private:
    const TopicScheme& topics_;
    size_t maxPayloadBytes_;
    size_t maxBytesPerCommand_;
};

// A valid user id: 1 to 64 characters from A-Z a-z 0-9 . _ @ -, and not a reserved name.
bool isValidUid(std::string_view uid);
// "system" (the sender of extensions' messages) and "parleyd" (the service account).
bool isReservedUid(std::string_view uid);

}  // namespace parley
