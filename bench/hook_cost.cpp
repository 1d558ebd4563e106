// What a Lua message.before_store hook costs per message: N msg.send commands pushed through
// Server::onInbound (MemoryTransport, SQLite with synchronous=normal in a temporary folder), once
// with no extension, once with a C++ hook that does nothing (what any before_store handler costs
// msg.send: the bus, and the membership and resend read it makes MessagePosting do),
// once with a trivial Lua hook, once with a Lua hook that rewrites the body and sets a meta.
//
//   parley_bench_hooks [messages=20000] [workers=1] [rounds=3]
//
// With one worker and one conversation every message runs alone, so time/messages is the cost of
// one msg.send and the difference between runs is the cost of the hook. Each scenario runs
// `rounds` times, interleaved, and the fastest run counts (other work on the machine only ever
// adds time). SQLite dominates and varies by tens of microseconds, so a second table times the
// hook chain alone: HookBus::beforeMessageStore called in a loop on the loaded server.
//
// The last scenario loads the shipped scripts/moderation.lua (two filtered words, no rate
// limit), the whole filter of a message. Then the same for typing, the hottest event: N typing
// commands (each relays one event, not stored) with no handler on event.before_deliver and with
// moderation.lua's (no block stored: its key-value prefix read finds nothing), and that
// chain alone.

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "parley/testing/MemoryTransport.h"
#include "parley/wire/TopicScheme.h"
#include "server/Server.h"
#include "store/SqliteStore.h"
#include "util/Clock.h"

namespace {

using nlohmann::json;
using parley::Config;
using parley::InboundMessage;
using parley::testing::MemoryTransport;

// Parley's default prefix, the one Config has.
const parley::TopicScheme kTopics("parley/v1");

struct Scenario {
    const char* label;
    const char* script;       // nullptr: no script
    bool nativeHook = false;  // a C++ hook that does nothing, registered on the bus directly
    const char* scriptFile = nullptr;  // a script of scripts/, instead of `script`
    json options = json::object();
};

struct Figures {
    double seconds = 0;
    int messages = 0;
};

void waitForCount(const MemoryTransport& transport, size_t count) {
    while (transport.count() < count) {
        std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
}

// Timing of one scenario: the server is built, `body` runs with it, the server is torn down.
template <typename Body>
void withServer(const Scenario& scenario, int workers, Body&& body) {
    const auto dir = std::filesystem::temp_directory_path() /
                     ("parley-bench-" + std::to_string(::getpid()) + "-" + scenario.label);
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    Config config;
    config.store.sqlite.path = (dir / "bench.db").string();
    config.store.sqlite.synchronous = "normal";
    config.server.workers = workers;
    // The runs push every command at once: they measure the pipeline, not the ingress limits
    // (which answered all but the first hundred rate_limited) or the typing rate limit.
    config.limits.userCommandsPerSecond = 0;
    config.limits.userQueuedCommands = 0;
    config.typing.perSecond = 1e9;
    config.typing.burst = 1000000000;
    if (scenario.script != nullptr || scenario.scriptFile != nullptr) {
        parley::ExtensionConfig extension;
        extension.name = "bench";
        if (scenario.scriptFile != nullptr) {
            extension.scriptPath = std::string(PARLEY_SOURCE_DIR) + "/" + scenario.scriptFile;
        } else {
            const auto path = dir / "hook.lua";
            std::ofstream(path) << scenario.script;
            extension.scriptPath = path.string();
        }
        extension.options = scenario.options;
        config.extensions.push_back(extension);
    }
    parley::store::SqliteStore store(config.store.sqlite, 1000);
    store.migrate();
    MemoryTransport transport;
    parley::SystemClock clock;
    {
        parley::Server server(config, store, transport, clock);
        if (scenario.nativeHook) {
            server.hooks().add(parley::Hook::MessageBeforeStore, "native",
                               [](const parley::HookPayload&, std::chrono::milliseconds) {
                                   return parley::Verdict::proceed();
                               });
        }
        server.start();
        body(server, transport);
        server.stop();
    }
    std::filesystem::remove_all(dir);
}

Figures run(const Scenario& scenario, int messages, int workers) {
    Figures figures;
    withServer(scenario, workers, [&](parley::Server& server, MemoryTransport& transport) {
        const auto submit = [&](const std::string& uid, const json& command) {
            server.onInbound(InboundMessage{kTopics.commandTopic(uid), command.dump(), ""});
        };
        submit("alice", {{"op", "conv.open"}, {"peer", "bob"}, {"id", "open"}});
        auto opened = transport.waitFor(kTopics.replyTopic("alice"),
                                        [](const json& reply) { return reply["id"] == "open"; });
        const std::string conv = opened.payload["conv"];
        // One message first: how many publishes one msg.send makes, and a warm cache.
        size_t before = transport.count();
        submit("alice", {{"op", "msg.send"}, {"conv", conv}, {"cmid", "warm"}, {"body", "hi"}});
        transport.waitFor(kTopics.conversationTopic("bob", conv),
                          [](const json& event) { return event["cmid"] == "warm"; });
        waitForCount(transport, before + 1);
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        const size_t perMessage = transport.count() - before;
        before = transport.count();

        const auto started = std::chrono::steady_clock::now();
        for (int i = 0; i < messages; ++i) {
            submit("alice", {{"op", "msg.send"},
                             {"conv", conv},
                             {"cmid", "m" + std::to_string(i)},
                             {"body", "message number " + std::to_string(i)}});
        }
        waitForCount(transport, before + perMessage * static_cast<size_t>(messages));
        figures.seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        figures.messages = messages;
        auto last = transport.waitFor(kTopics.replyTopic("alice"), [&](const json& reply) {
            return reply.value("seq", 0) == messages + 1;
        });
        if (!last.payload.value("ok", false)) {
            std::fprintf(stderr, "%s: unexpected reply %s\n", scenario.label,
                         last.payload.dump().c_str());
        }
    });
    return figures;
}

// Nanoseconds per HookBus::beforeMessageStore call (the whole chain of the scenario).
double hookCallNs(const Scenario& scenario, int calls) {
    double nanoseconds = 0;
    withServer(scenario, 1, [&](parley::Server& server, MemoryTransport&) {
        parley::MessageDraft draft;
        draft.sender = "alice";
        draft.conv = "c1";
        draft.cmid = "m1";
        const std::string body = "message number 42";
        const auto started = std::chrono::steady_clock::now();
        for (int i = 0; i < calls; ++i) {
            draft.body = body;
            draft.meta = nullptr;
            server.hooks().beforeMessageStore(draft);
        }
        nanoseconds =
            std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - started)
                .count() /
            calls;
    });
    return nanoseconds;
}

// Seconds for `count` typing commands of alice in her 1:1 with bob (one event to bob each).
double runTyping(const Scenario& scenario, int count, int workers) {
    double seconds = 0;
    withServer(scenario, workers, [&](parley::Server& server, MemoryTransport& transport) {
        const auto submit = [&](const json& command) {
            server.onInbound(InboundMessage{kTopics.commandTopic("alice"), command.dump(), ""});
        };
        submit({{"op", "conv.open"}, {"peer", "bob"}, {"id", "open"}});
        auto opened = transport.waitFor(kTopics.replyTopic("alice"),
                                        [](const json& reply) { return reply["id"] == "open"; });
        const std::string conv = opened.payload["conv"];
        const json typing = {{"op", "typing"}, {"conv", conv}, {"state", "start"}};
        submit(typing);
        transport.waitFor(kTopics.conversationTopic("bob", conv),
                          [](const json& event) { return event["ev"] == "typing"; });
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        const size_t before = transport.count();
        const auto started = std::chrono::steady_clock::now();
        for (int i = 0; i < count; ++i) {
            submit(typing);
        }
        waitForCount(transport, before + 2 * static_cast<size_t>(count));  // event and reply
        seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    });
    return seconds;
}

// Nanoseconds per HookBus::beforeDeliver call for a typing event to one recipient.
double deliverCallNs(const Scenario& scenario, int calls) {
    double nanoseconds = 0;
    withServer(scenario, 1, [&](parley::Server& server, MemoryTransport&) {
        // One draft for every call: no handler here drops a recipient (no block is stored), and
        // building it is TypingHandler's cost only when there are handlers.
        parley::DeliveryDraft draft{
            "typing",
            "c1",
            "alice",
            {{"ev", "typing"}, {"conv", "c1"}, {"user", "alice"}, {"state", "start"}},
            {"bob"}};
        const auto started = std::chrono::steady_clock::now();
        for (int i = 0; i < calls; ++i) {
            server.hooks().beforeDeliver(draft);
        }
        nanoseconds =
            std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - started)
                .count() /
            calls;
    });
    return nanoseconds;
}

}  // namespace

int main(int argc, char** argv) {
    const int messages = argc > 1 ? std::stoi(argv[1]) : 20000;
    const int workers = argc > 2 ? std::stoi(argv[2]) : 1;
    const int rounds = argc > 3 ? std::stoi(argv[3]) : 3;
    spdlog::set_level(spdlog::level::warn);
    const Scenario scenarios[] = {
        {"none", nullptr},
        // Any before_store handler makes msg.send check membership and resends before the hook
        // runs: this row is that, and the bus, without Lua.
        {"c++-noop", nullptr, true},
        {"lua-trivial",
         "parley.hook('message.before_store', function(event)\n"
         "  if event.body == 'forbidden' then return false, 'forbidden', 'no' end\n"
         "end)\n"},
        {"lua-rewrite",
         "parley.hook('message.before_store', function(event)\n"
         "  event.body = event.body:gsub('number', 'no.')\n"
         "  event.meta = {checked = true}\n"
         "end)\n"},
        {"moderation", nullptr, false, "scripts/moderation.lua",
         json{{"messages_per_minute", 0}, {"words", {"scam", "cr\u00E9dit"}}}},
    };
    std::printf(
        "%d msg.send per run, best of %d, %d worker(s), one conversation, "
        "SQLite synchronous=normal\n",
        messages, rounds, workers);
    constexpr size_t kScenarios = sizeof scenarios / sizeof scenarios[0];
    double best[kScenarios] = {};
    for (int round = 0; round < rounds; ++round) {
        for (size_t i = 0; i < kScenarios; ++i) {
            const Figures figures = run(scenarios[i], messages, workers);
            if (round == 0 || figures.seconds < best[i]) {
                best[i] = figures.seconds;
            }
        }
    }
    std::printf("%-12s %12s %14s %16s %16s\n", "hooks", "messages/s", "us/message", "vs none (us)",
                "vs c++-noop (us)");
    double baseline = 0;
    double native = 0;
    for (size_t i = 0; i < kScenarios; ++i) {
        const Scenario& scenario = scenarios[i];
        const Figures figures{best[i], messages};
        const double perMessageUs = figures.seconds * 1e6 / figures.messages;
        if (scenario.script == nullptr && scenario.scriptFile == nullptr && !scenario.nativeHook) {
            baseline = perMessageUs;
        }
        if (scenario.nativeHook) {
            native = perMessageUs;
        }
        std::printf("%-12s %12.0f %14.2f %16.2f %16.2f\n", scenario.label,
                    figures.messages / figures.seconds, perMessageUs, perMessageUs - baseline,
                    scenario.script != nullptr || scenario.scriptFile != nullptr
                        ? perMessageUs - native
                        : 0.0);
    }

    constexpr int kCalls = 200000;
    std::printf("\nthe before_store chain alone, %d calls (HookBus::beforeMessageStore)\n", kCalls);
    std::printf("%-12s %14s\n", "hooks", "ns/call");
    for (const auto& scenario : scenarios) {
        std::printf("%-12s %14.0f\n", scenario.label, hookCallNs(scenario, kCalls));
    }

    const Scenario typingScenarios[] = {scenarios[0], scenarios[4]};
    double typingBest[2] = {};
    for (int round = 0; round < rounds; ++round) {
        for (size_t i = 0; i < 2; ++i) {
            const double seconds = runTyping(typingScenarios[i], messages, workers);
            if (round == 0 || seconds < typingBest[i]) {
                typingBest[i] = seconds;
            }
        }
    }
    std::printf("\n%d typing commands per run (1:1, one recipient), best of %d\n", messages,
                rounds);
    std::printf("%-12s %12s %14s %16s\n", "hooks", "typing/s", "us/typing", "vs none (us)");
    for (size_t i = 0; i < 2; ++i) {
        const double perTypingUs = typingBest[i] * 1e6 / messages;
        std::printf("%-12s %12.0f %14.2f %16.2f\n", typingScenarios[i].label,
                    messages / typingBest[i], perTypingUs,
                    perTypingUs - typingBest[0] * 1e6 / messages);
    }
    constexpr int kDeliverCalls = 20000;
    std::printf("\nthe event.before_deliver chain alone, %d calls (HookBus::beforeDeliver)\n",
                kDeliverCalls);
    std::printf("%-12s %14s\n", "hooks", "ns/call");
    for (const auto& scenario : typingScenarios) {
        std::printf("%-12s %14.0f\n", scenario.label, deliverCallNs(scenario, kDeliverCalls));
    }
    return 0;
}
