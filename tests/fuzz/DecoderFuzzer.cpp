// libFuzzer target: the command decoder, fed what the transport hands in for one publish.
// Input: "topic\ncorrelation data\npayload" (the payload takes the rest, newlines included).
// Besides the sanitizers, it checks what the decoder promises: a Command has a valid uid taken
// from the topic, a non-empty op and an object for args; a failure with a reply topic answers once,
// with a payload that is valid JSON.
#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <variant>

#include "FuzzInput.h"
#include "parley/wire/TopicScheme.h"
#include "protocol/Decoder.h"
#include "protocol/Outbox.h"

namespace {

// Keeps the last publish only.
class LastPublish final : public parley::Publisher {
  public:
    void publish(parley::OutboundMessage message) override {
        ++count;
        last = std::move(message);
    }
    int count = 0;
    parley::OutboundMessage last;
};

[[noreturn]] void broken(const char* what) {
    std::fprintf(stderr, "decoder fuzzer: broken promise: %s\n", what);
    std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const parley::TopicScheme topics("parley/v1");
    // A small limit so the size check is reached too.
    static const parley::Decoder decoder(topics, 4096);

    parley::fuzz::LineReader input(data, size);
    const std::string topic = input.next();
    const std::string correlation = input.next();
    const std::string payload = input.rest();

    auto decoded = decoder.decode(topic, payload, correlation);
    LastPublish publisher;
    parley::Outbox outbox(publisher, topics);
    if (auto* command = std::get_if<parley::Command>(&decoded)) {
        if (!parley::isValidUid(command->uid) || topics.commandTopic(command->uid) != topic) {
            broken("the uid is not the topic's valid uid");
        }
        if (command->op.empty() || !command->args.is_object()) {
            broken("a command without op or without an object");
        }
        if (!command->requestId.is_null() && !command->requestId.is_string()) {
            broken("a request id that is neither null nor a string");
        }
        (void)command->orderingKey();
        outbox.replyOk(*command, nlohmann::json::object());
    } else {
        const auto& failure = std::get<parley::DecodeFailure>(decoded);
        if (failure.message.empty()) {
            broken("a failure without a message");
        }
        if (failure.replyUid) {
            outbox.replyError(*failure.replyUid, failure.requestId, correlation, failure.code,
                              failure.message);
        }
    }
    if (publisher.count > 0) {
        if (publisher.count != 1 || publisher.last.correlationData != correlation) {
            broken("not exactly one reply carrying the correlation data");
        }
        if (nlohmann::json::parse(publisher.last.payload, nullptr, false).is_discarded()) {
            broken("a reply that is not valid JSON");
        }
    }
    return 0;
}
