// libFuzzer target: one client command run through the real dispatcher and handlers, in process,
// against an in-memory SQLite store. Input: "sender uid\npayload" (the payload is the JSON the
// client publishes; the first line may be empty for "alice"). "$direct", "$group" and "$listing"
// in the payload become the ids of conversations the fuzzer opened at start, so inputs reach the
// handlers past the membership checks. "root" is an admin.
//
// Built twice: parley_fuzz_commands (parleyd's own ops) and, with PARLEY_FUZZ_SCRIPTS, also with
// the shipped Lua scripts loaded (scripts/moderation.lua, listings.lua, example_hello.lua), so the
// commands and hooks they register, and the JSON bridge between C++ and Lua, see the same input.
//
// Besides the sanitizers, it checks the dispatcher's promise: every command gets exactly one reply
// on the sender's resp topic, valid JSON carrying the request id, and never "internal" (an
// exception a handler did not turn into an error code) nor "unavailable".
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <variant>
#include <vector>

#include "FuzzInput.h"
#include "parley/testing/ManualClock.h"
#include "protocol/Decoder.h"
#include "server/Server.h"
#include "store/SqliteStore.h"
#include "util/Clock.h"

namespace {

using nlohmann::json;

class CaptureTransport final : public parley::Transport {
  public:
    bool start(InboundHandler) override { return true; }
    void stopReceiving() override {}
    void stop() override {}
    bool isConnected() const override { return true; }
    void publish(parley::OutboundMessage message) override {
        std::lock_guard lock(mutex_);
        sent_.push_back(std::move(message));
    }
    std::vector<parley::OutboundMessage> take() {
        std::lock_guard lock(mutex_);
        return std::exchange(sent_, {});
    }

  private:
    std::mutex mutex_;
    std::vector<parley::OutboundMessage> sent_;
};

[[noreturn]] void broken(const std::string& what) {
    std::fprintf(stderr, "command fuzzer: broken promise: %s\n", what.c_str());
    std::abort();
}

// The server and what it needs; rebuilt every kRunsPerWorld inputs so the store stays small.
struct World {
    static constexpr int kRunsPerWorld = 20000;

    World() {
        config.store.sqlite.path = ":memory:";
        config.store.sqlite.synchronous = "normal";
        config.admins = {"root"};
        config.server.workers = 1;
        config.presence.sweepIntervalMs = 3'600'000;
        config.limits.maxPayloadBytes = 16384;
        config.limits.maxBodyBytes = 2048;
        config.limits.maxMetaBytes = 1024;
        config.limits.maxGroupMembers = 8;
#ifdef PARLEY_FUZZ_SCRIPTS
        const std::string scripts = std::string(PARLEY_SOURCE_DIR) + "/scripts/";
        config.extensions.push_back(parley::ExtensionConfig{
            "moderation", "", scripts + "moderation.lua",
            json{{"messages_per_minute", 1000}, {"words", {"scam"}}, {"max_links", 2}}});
        config.extensions.push_back(
            parley::ExtensionConfig{"listings", "", scripts + "listings.lua", json::object()});
        config.extensions.push_back(parley::ExtensionConfig{
            "hello", "", scripts + "example_hello.lua", json{{"greeting", "Hi"}}});
        config.lua.instructionLimit = 200'000;
#endif
        store = std::make_unique<parley::store::SqliteStore>(config.store.sqlite, 0);
        store->migrate();
        server = std::make_unique<parley::Server>(config, *store, transport, clock);
        server->start();
        direct = open("alice", {{"op", "conv.open"}, {"peer", "bob"}});
        group = open("alice",
                     {{"op", "conv.create"}, {"members", {"bob", "carol"}}, {"title", "group"}});
#ifdef PARLEY_FUZZ_SCRIPTS
        run("root",
            {{"op", "listing.upsert"}, {"listing", "42"}, {"owner", "bob"}, {"title", "Bike"}});
#endif
        listing =
            open("alice", {{"op", "conv.open"},
                           {"peer", "bob"},
                           {"context", {{"type", "listing"}, {"id", "42"}, {"title", "Bike"}}}});
        for (const auto& conv : {direct, group, listing}) {
            run("alice",
                {{"op", "msg.send"}, {"conv", conv}, {"cmid", "seed-" + conv}, {"body", "hi"}});
        }
        transport.take();
    }

    ~World() {
        server->stop();
        server.reset();
    }

    json run(const std::string& uid, const json& command) {
        dispatch(uid, command.dump(), "");
        for (auto& sent : transport.take()) {
            if (sent.topic == "parley/v1/u/" + uid + "/resp") {
                return json::parse(sent.payload);
            }
        }
        return nullptr;
    }

    std::string open(const std::string& uid, const json& command) {
        json reply = run(uid, command);
        if (!reply.is_object() || !reply.value("ok", false)) {
            broken("cannot open the fuzzer's conversations: " + reply.dump());
        }
        return reply["conv"].get<std::string>();
    }

    // Decodes as Server::onInbound does and dispatches on this thread; false if not decoded.
    bool dispatch(const std::string& uid, const std::string& payload,
                  const std::string& correlation) {
        static const parley::TopicScheme topics("parley/v1");
        static const parley::Decoder decoder(topics, 16384);
        auto decoded = decoder.decode(topics.commandTopic(uid), payload, correlation);
        auto* command = std::get_if<parley::Command>(&decoded);
        if (command == nullptr) {
            return false;
        }
        clock.advance(1000);
        server->dispatcher().dispatch(*command);
        return true;
    }

    parley::Config config;
    std::unique_ptr<parley::store::SqliteStore> store;
    CaptureTransport transport;
    parley::testing::ManualClock clock;  // moved one second per command: limits refill
    std::unique_ptr<parley::Server> server;
    std::string direct, group, listing;
    int runs = 0;
};

void replaceAll(std::string& text, const std::string& from, const std::string& to) {
    for (size_t at = text.find(from); at != std::string::npos;
         at = text.find(from, at + to.size())) {
        text.replace(at, from.size(), to);
    }
}

// Never destroyed: at exit, spdlog's registry may go first, and the server logs as it stops.
std::unique_ptr<World>& world = *new std::unique_ptr<World>;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    spdlog::set_level(spdlog::level::off);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (!world || world->runs >= World::kRunsPerWorld) {
        world.reset();
        world = std::make_unique<World>();
    }
    ++world->runs;

    parley::fuzz::LineReader input(data, size);
    std::string uid = input.next();
    std::string payload = input.rest();
    if (uid.empty()) {
        uid = "alice";
    }
    replaceAll(payload, "$direct", world->direct);
    replaceAll(payload, "$group", world->group);
    replaceAll(payload, "$listing", world->listing);

    if (!world->dispatch(uid, payload, "corr")) {
        return 0;  // refused by the decoder: the decoder target covers that
    }
    const std::string replyTopic = "parley/v1/u/" + uid + "/resp";
    int replies = 0;
    for (const auto& sent : world->transport.take()) {
        if (sent.retain && sent.payload.empty()) {
            continue;  // clears a retained message (admin.user.erase clears presence)
        }
        const json event = json::parse(sent.payload, nullptr, false);
        if (event.is_discarded()) {
            broken("published invalid JSON on " + sent.topic + ": " + sent.payload);
        }
        if (sent.topic != replyTopic) {
            continue;
        }
        ++replies;
        if (sent.correlationData != "corr") {
            broken("a reply without the command's correlation data");
        }
        if (!event.is_object() || !event.contains("ok") || !event["ok"].is_boolean()) {
            broken("a reply without a boolean \"ok\": " + sent.payload);
        }
        // "unavailable" too: an in-memory SQLite store is never unreachable, so it would be an
        // error of the store misfiled as a lost connection.
        const std::string code = event["ok"].get<bool>() ? "" : event["error"].value("code", "");
        if (code == "internal" || code == "unavailable") {
            broken("\"" + code + "\" for " + payload + " from " + uid + ": " + sent.payload);
        }
    }
    if (replies != 1) {
        broken(std::to_string(replies) + " replies to " + payload);
    }
    return 0;
}
