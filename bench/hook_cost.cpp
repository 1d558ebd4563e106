// What a Lua message.before_store hook costs per message: N msg.send commands pushed through
// Server::onInbound (MemoryTransport, SQLite with synchronous=normal in a temporary folder), once
// with no extension, once with a C++ hook that does nothing (what any before_store handler costs
// msg.send: the bus, and the membership and resend checks the handler makes MessageHandler do),
// once with a trivial Lua hook, once with a Lua hook that rewrites the body and sets a meta.
//
//   parley_bench_hooks [messages=20000] [workers=1] [rounds=3]
//
// With one worker and one conversation every message runs alone, so time/messages is the cost of
// one msg.send and the difference between runs is the cost of the hook. Each scenario runs
// `rounds` times, interleaved, and the fastest run counts (other work on the machine only ever
// adds time). SQLite dominates and varies by tens of microseconds, so a second table times the
// hook chain alone: HookBus::beforeMessageStore called in a loop on the loaded server.

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "MemoryTransport.h"
#include "server/Server.h"
#include "store/SqliteStore.h"
#include "util/Clock.h"

namespace {

using nlohmann::json;
using parley::Config;
using parley::InboundMessage;
using parley::testing::MemoryTransport;

struct Scenario {
    const char* label;
    const char* script;       // nullptr: no script
    bool nativeHook = false;  // a C++ hook that does nothing, registered on the bus directly
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
    // One user sends every message as fast as it can: the ingress limits would answer most of
    // them rate_limited (one publish instead of a message's two), and the count never came.
    config.limits.userCommandsPerSecond = 1e12;
    config.limits.userCommandBurst = 1 << 30;
    config.limits.userQueuedCommands = 1 << 30;
    if (scenario.script != nullptr) {
        const auto path = dir / "hook.lua";
        std::ofstream(path) << scenario.script;
        parley::ExtensionConfig extension;
        extension.name = "bench";
        extension.scriptPath = path.string();
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
            server.onInbound(InboundMessage{"parley/v1/c2s/" + uid, command.dump(), ""});
        };
        submit("alice", {{"op", "conv.open"}, {"peer", "bob"}, {"id", "open"}});
        auto opened = transport.waitFor("parley/v1/u/alice/resp",
                                        [](const json& reply) { return reply["id"] == "open"; });
        const std::string conv = opened.payload["conv"];
        // One message first: how many publishes one msg.send makes, and a warm cache.
        size_t before = transport.count();
        submit("alice", {{"op", "msg.send"}, {"conv", conv}, {"cmid", "warm"}, {"body", "hi"}});
        transport.waitFor("parley/v1/u/bob/c/" + conv,
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
        auto last = transport.waitFor("parley/v1/u/alice/resp", [&](const json& reply) {
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
        if (scenario.script == nullptr && !scenario.nativeHook) {
            baseline = perMessageUs;
        }
        if (scenario.nativeHook) {
            native = perMessageUs;
        }
        std::printf("%-12s %12.0f %14.2f %16.2f %16.2f\n", scenario.label,
                    figures.messages / figures.seconds, perMessageUs, perMessageUs - baseline,
                    scenario.script != nullptr ? perMessageUs - native : 0.0);
    }

    constexpr int kCalls = 200000;
    std::printf("\nthe before_store chain alone, %d calls (HookBus::beforeMessageStore)\n", kCalls);
    std::printf("%-12s %14s\n", "hooks", "ns/call");
    for (const auto& scenario : scenarios) {
        std::printf("%-12s %14.0f\n", scenario.label, hookCallNs(scenario, kCalls));
    }
    return 0;
}
