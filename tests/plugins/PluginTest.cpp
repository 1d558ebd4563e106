// Shared-object plugins end to end: the example plugin and fixture plugins that break the
// contract on purpose, loaded into a whole Server (decoder, workers, dispatcher, hook bus, SQLite
// store) with an in-memory transport.

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "FixtureProbe.h"
#include "extensions/ExtensionManager.h"
#include "lua/LuaExtension.h"
#include "parley/plugin.h"
#include "parley/testing/ServerHarness.h"
#include "plugins/PluginExtension.h"

namespace parley::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// fixture_checks() of the invalid_args fixture.
struct FixtureCheck {
    const char* what;
    int got;
    int expected;
};

ExtensionConfig pluginConfig(const std::string& name, const std::string& path,
                             json options = json::object()) {
    ExtensionConfig extension;
    extension.name = name;
    extension.pluginPath = path;
    extension.options = std::move(options);
    return extension;
}

// Polls until `condition` holds; false after the timeout.
template <typename Condition>
bool eventually(Condition&& condition, std::chrono::milliseconds timeout = 5s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!condition()) {
        if (std::chrono::steady_clock::now() > deadline) {
            return false;
        }
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

class PluginTest : public ServerHarness {
  protected:
    void addPlugin(const std::string& name, const std::string& path,
                   json options = json::object()) {
        config_.extensions.push_back(pluginConfig(name, path, std::move(options)));
    }

    // What Server::start() refused with.
    std::string startError() {
        try {
            idleServer().start();
        } catch (const ExtensionError& error) {
            return error.what();
        }
        ADD_FAILURE() << "the server started";
        return {};
    }

    // What loadPlugin refused with.
    std::string loadError(const ExtensionConfig& extension) {
        try {
            auto loaded = loadPlugin(extension, idleServer().extensionServices());
        } catch (const ExtensionError& error) {
            return error.what();
        }
        ADD_FAILURE() << extension.pluginPath << " loaded";
        return {};
    }

    // sendMessage with a fresh cmid.
    json send(const std::string& uid, const std::string& conv, const std::string& body,
              const json& meta = nullptr) {
        return sendMessage(uid, conv, "m" + std::to_string(nextId_), body, meta);
    }

    json history(const std::string& uid, const std::string& conv) {
        auto reply = call(uid, {{"op", "msg.history"}, {"conv", conv}});
        EXPECT_TRUE(reply["ok"]) << reply;
        return reply["msgs"];
    }

    // A counter of HookBus::stats() (calls, failures, overruns, rejections), 0 if never counted.
    uint64_t stat(const std::string& extension, const std::string& point,
                  const std::string& counter) {
        for (const auto& entry : server_->hooks().stats()) {
            if (entry["extension"] == extension && entry["point"] == point) {
                return entry[counter].get<uint64_t>();
            }
        }
        return 0;
    }
};

// --- The example plugin (plugins/example_echo) ---------------------------------------------

TEST_F(PluginTest, EchoSayAnswersWithTheGreetingAndCountsPerUser) {
    addPlugin("echo", ECHO_PLUGIN_PATH, {{"greeting", "hi"}, {"tick_ms", 0}});
    auto first = call("alice", {{"op", "echo.say"}, {"text", "hello"}});
    ASSERT_TRUE(first["ok"]) << first;
    EXPECT_EQ(first["text"], "hi, hello");
    EXPECT_EQ(first["count"], 1);
    EXPECT_EQ(call("alice", {{"op", "echo.say"}, {"text", "again"}})["count"], 2);
    EXPECT_EQ(call("bob", {{"op", "echo.say"}, {"text", "me too"}})["count"], 1);
    EXPECT_EQ(store_->kvGet("echo", "count:alice", clock_.nowMs()), "2");
    EXPECT_EQ(store_->kvGet("echo", "count:bob", clock_.nowMs()), "1");

    // Escapes survive the plugin's copy from the command into the reply.
    const std::string tricky = "say \"yes\"\n\\ \u00e9";
    EXPECT_EQ(call("alice", {{"op", "echo.say"}, {"text", tricky}})["text"], "hi, " + tricky);

    auto missing = call("alice", {{"op", "echo.say"}});
    EXPECT_EQ(codeOf(missing), "bad_request");
    EXPECT_EQ(missing["error"]["message"], "echo.say needs a short \"text\" string");
    EXPECT_TRUE(logged("[echo] echo: ready", 0ms));
}

TEST_F(PluginTest, EchoRejectsTheBannedWordWithTheCodeTheSenderSees) {
    addPlugin("echo", ECHO_PLUGIN_PATH, {{"banned", "spam"}, {"tick_ms", 0}});
    const std::string conv = openDirect("alice", "bob");
    auto refused = send("alice", conv, "cheap spam here");
    EXPECT_EQ(codeOf(refused), "forbidden") << refused;
    EXPECT_EQ(refused["error"]["message"], "that word is not welcome here");
    EXPECT_TRUE(history("alice", conv).empty()) << "a rejected message is not stored";

    auto accepted = send("alice", conv, "hello bob");
    ASSERT_TRUE(accepted["ok"]) << accepted;
    EXPECT_EQ(accepted["seq"], 1);
    // message.after_store logged it, with both members.
    EXPECT_TRUE(logged("[echo] echo: message 1 in " + conv + " from alice, 2 members"));
    EXPECT_EQ(stat("echo", "message.before_store", "rejections"), 1U);
}

TEST_F(PluginTest, EchoTimerLogsAndCleanupRunsOnUnload) {
    addPlugin("echo", ECHO_PLUGIN_PATH, {{"tick_ms", 20}});
    server();
    EXPECT_TRUE(call("alice", {{"op", "echo.say"}, {"text", "x"}})["ok"]);
    EXPECT_TRUE(logged("[echo] echo: 1 echoes so far"));
    server_->stop();
    EXPECT_TRUE(logged("[echo] echo: stopped after 1 echoes", 0ms));
    EXPECT_FALSE(server_->hooks().hasCommand("echo.say"));
}

// --- Refusals ------------------------------------------------------------------------------

TEST_F(PluginTest, MissingFileIsRefusedNamingThePath) {
    const std::string path = "/nonexistent/plugins/parley_nothing.so";
    const std::string error = loadError(pluginConfig("nothing", path));
    EXPECT_EQ(error.rfind(path + ": plugin 'nothing' not loaded: ", 0), 0U) << error;
    EXPECT_NE(error.find("cannot open shared object file"), std::string::npos) << error;
}

TEST_F(PluginTest, AFileThatIsNoSharedObjectIsRefused) {
    const auto path = std::filesystem::temp_directory_path() /
                      ("parley-not-a-plugin-" + std::to_string(::getpid()) + ".so");
    std::ofstream(path) << std::string(256, 'x');  // longer than an ELF header, not one
    const std::string error = loadError(pluginConfig("text", path.string()));
    std::filesystem::remove(path);
    EXPECT_EQ(error.rfind(path.string() + ": plugin 'text' not loaded: ", 0), 0U) << error;
    EXPECT_NE(error.find("invalid ELF header"), std::string::npos) << error;
}

TEST_F(PluginTest, MissingInitSymbolIsRefusedNamingTheSymbol) {
    const std::string error = loadError(pluginConfig("noinit", FIXTURE_NO_INIT_PATH));
    EXPECT_EQ(error, std::string(FIXTURE_NO_INIT_PATH) +
                         ": plugin 'noinit' not loaded: it does not export parley_plugin_init "
                         "(built with -fvisibility=hidden but without PARLEY_PLUGIN_EXPORT?)");
}

TEST_F(PluginTest, UnsupportedAbiVersionIsRefusedBeforeInit) {
    const FixtureProbe probe(FIXTURE_BAD_VERSION_PATH);
    const std::string error = loadError(pluginConfig("badversion", FIXTURE_BAD_VERSION_PATH));
    EXPECT_EQ(error, std::string(FIXTURE_BAD_VERSION_PATH) +
                         ": plugin 'badversion' not loaded: it speaks none of the plugin ABI "
                         "versions parleyd supports (1): parley_plugin_version returned -1");
    EXPECT_EQ(probe.call<int>("fixture_offered_count"), 1);
    EXPECT_EQ(probe.call<int>("fixture_offered_first"), PARLEY_PLUGIN_ABI_VERSION);
    EXPECT_EQ(probe.call<int>("fixture_init_calls"), 0);
}

TEST_F(PluginTest, DuplicateNameIsRefusedAndFreedOnUnload) {
    const FixtureProbe probe(FIXTURE_BAD_VERSION_PATH);
    const int versionCalls = probe.call<int>("fixture_version_calls");
    auto& services = idleServer().extensionServices();
    auto first = loadPlugin(pluginConfig("echo", ECHO_PLUGIN_PATH, {{"tick_ms", 0}}), services);
    const std::string error =
        loadError(pluginConfig("echo", FIXTURE_BAD_VERSION_PATH));  // another file, same name
    EXPECT_EQ(error, std::string(FIXTURE_BAD_VERSION_PATH) +
                         ": plugin 'echo' not loaded: a plugin named 'echo' is already loaded "
                         "(from " ECHO_PLUGIN_PATH ")");
    EXPECT_EQ(probe.call<int>("fixture_version_calls"), versionCalls)
        << "refused before any of the duplicate's code ran";
    EXPECT_TRUE(server_->hooks().hasCommand("echo.say")) << "the refusal removed nothing";

    first.reset();
    EXPECT_FALSE(server_->hooks().hasCommand("echo.say"));
    auto again = loadPlugin(pluginConfig("echo", ECHO_PLUGIN_PATH, {{"tick_ms", 0}}), services);
    EXPECT_TRUE(server_->hooks().hasCommand("echo.say"));
}

TEST_F(PluginTest, DuplicateNameInTheConfigStopsTheStart) {
    addPlugin("echo", ECHO_PLUGIN_PATH, {{"tick_ms", 0}});
    addPlugin("echo", ECHO_PLUGIN_PATH, {{"tick_ms", 0}});
    const std::string error = startError();
    EXPECT_NE(error.find("a plugin named 'echo' is already loaded"), std::string::npos) << error;
    EXPECT_FALSE(server_->hooks().hasCommand("echo.say")) << "the first one was unloaded again";
}

TEST_F(PluginTest, EchoRefusesAnOptionOfTheWrongType) {
    idleServer();
    const std::string error =
        loadError(pluginConfig("echo", ECHO_PLUGIN_PATH, {{"tick_ms", "every minute"}}));
    EXPECT_NE(error.find("parley_plugin_init failed with status -1 (PARLEY_ERR_INVALID)"),
              std::string::npos)
        << error;
    EXPECT_TRUE(
        logged("[echo] echo: option greeting must be a string of at most 63 bytes and "
               "tick_ms an integer of at least 0",
               0ms));
    EXPECT_FALSE(server_->hooks().hasCommand("echo.say"));
}

TEST_F(PluginTest, FailingInitHasEverythingItRegisteredRemoved) {
    const FixtureProbe probe(FIXTURE_INIT_FAILS_PATH);
    auto& services = idleServer().extensionServices();
    const std::string error = loadError(pluginConfig("initfail", FIXTURE_INIT_FAILS_PATH));
    EXPECT_EQ(error, std::string(FIXTURE_INIT_FAILS_PATH) +
                         ": plugin 'initfail' not loaded: parley_plugin_init failed with status "
                         "-6 (PARLEY_ERR_FORBIDDEN)");
    EXPECT_FALSE(server_->hooks().has(Hook::MessageBeforeStore));
    EXPECT_FALSE(server_->hooks().hasCommand("initfail.ping"));
    std::this_thread::sleep_for(100ms);  // the timer was due at once, then every 10 ms
    EXPECT_EQ(probe.call<int>("fixture_timer_fires"), 0);
    EXPECT_EQ(probe.call<int>("fixture_cleanup_calls"), 0) << "cleanup is not called after init";

    // The same plugin with an init that succeeds: the name was released, and the timer, hook and
    // command the test just saw removed do exist when init succeeds.
    {
        auto loaded = loadPlugin(
            pluginConfig("initfail", FIXTURE_INIT_FAILS_PATH, {{"fail", false}}), services);
        EXPECT_TRUE(server_->hooks().has(Hook::MessageBeforeStore));
        EXPECT_TRUE(server_->hooks().hasCommand("initfail.ping"));
        EXPECT_TRUE(eventually([&] { return probe.call<int>("fixture_timer_fires") >= 2; }));
    }
    EXPECT_EQ(probe.call<int>("fixture_cleanup_calls"), 1);
    EXPECT_FALSE(server_->hooks().has(Hook::MessageBeforeStore));
    const int firesAtUnload = probe.call<int>("fixture_timer_fires");
    std::this_thread::sleep_for(100ms);
    EXPECT_EQ(probe.call<int>("fixture_timer_fires"), firesAtUnload) << "a timer outlived unload";
}

TEST_F(PluginTest, ExtensionManagerFailureNamesTheFileAndUnloadsTheOthers) {
    addPlugin("echo", ECHO_PLUGIN_PATH, {{"tick_ms", 0}});
    addPlugin("ghost", "/nonexistent/ghost.so");
    auto& services = idleServer().extensionServices();
    ExtensionManager manager(
        config_.extensions, services,
        [&](const ExtensionConfig& extension) { return loadPlugin(extension, services); },
        [&](const ExtensionConfig& extension) {
            return loadScript(extension, config_.lua, services);
        });
    try {
        manager.loadAll();
        ADD_FAILURE() << "loadAll succeeded";
    } catch (const ExtensionError& error) {
        EXPECT_EQ(std::string(error.what()).rfind("/nonexistent/ghost.so: plugin 'ghost'", 0), 0U)
            << error.what();
    }
    EXPECT_FALSE(services.hooks().hasCommand("echo.say")) << "echo was unloaded again";
    EXPECT_EQ(manager.describe(), json::array());
}

// --- Failures at run time --------------------------------------------------------------------

TEST_F(PluginTest, NegativeStatusIsAFailureThatFailsOpenByDefault) {
    addPlugin("negative", FIXTURE_NEGATIVE_STATUS_PATH);
    const std::string conv = openDirect("alice", "bob");
    auto sent = send("alice", conv, "hello");
    ASSERT_TRUE(sent["ok"]) << sent;
    EXPECT_EQ(history("bob", conv).size(), 1U);
    EXPECT_EQ(stat("negative", "message.before_store", "failures"), 1U);
    EXPECT_TRUE(logged(
        "extension 'negative' failed in message.before_store: status -8 (PARLEY_ERR_INTERNAL)"));
    EXPECT_TRUE(
        eventually([&] { return stat("negative", "message.after_store", "failures") == 1; }));
    EXPECT_TRUE(logged("status 42 (not a parley_status)", 0ms));

    auto command = call("alice", {{"op", "negative.cmd"}});
    EXPECT_EQ(codeOf(command), "internal");
    EXPECT_EQ(command["error"]["message"], "extension 'negative' failed");
}

TEST_F(PluginTest, NegativeStatusRefusesTheMessageWhenTheHookFailsClosed) {
    config_.hooks["message.before_store"] = HookPolicyConfig{50, true};
    addPlugin("negative", FIXTURE_NEGATIVE_STATUS_PATH);
    const std::string conv = openDirect("alice", "bob");
    auto refused = send("alice", conv, "hello");
    EXPECT_EQ(codeOf(refused), "internal");
    EXPECT_EQ(refused["error"]["message"], "refused: extension 'negative' failed");
    EXPECT_TRUE(history("alice", conv).empty());
}

TEST_F(PluginTest, CppExceptionsAreCaughtCountedAndParleydGoesOn) {
    addPlugin("throws", FIXTURE_THROWS_PATH);
    server();
    EXPECT_TRUE(eventually([&] { return stat("throws", "timer", "failures") == 1; }));
    const std::string conv = openDirect("alice", "bob");
    auto sent = send("alice", conv, "hello");
    ASSERT_TRUE(sent["ok"]) << sent;
    EXPECT_EQ(stat("throws", "message.before_store", "failures"), 1U);
    EXPECT_TRUE(
        logged("extension 'throws' failed in message.before_store: threw a C++ "
               "exception: boom from plugin",
               0ms));

    auto command = call("alice", {{"op", "throws.cmd"}});
    EXPECT_EQ(codeOf(command), "internal");
    EXPECT_TRUE(logged("threw a C++ exception that is not a std::exception", 0ms));
    EXPECT_TRUE(send("alice", conv, "still here")["ok"]);
    EXPECT_EQ(stat("throws", "message.before_store", "failures"), 2U);
    EXPECT_TRUE(call("alice", {{"op", "ping"}})["ok"]);
}

TEST_F(PluginTest, CppExceptionFromInitIsARefusal) {
    const std::string error =
        loadError(pluginConfig("throws", FIXTURE_THROWS_PATH, {{"throw_in_init", true}}));
    EXPECT_EQ(error, std::string(FIXTURE_THROWS_PATH) +
                         ": plugin 'throws' not loaded: parley_plugin_init threw a C++ exception: "
                         "init boom");
}

TEST_F(PluginTest, InvalidArgumentsGetStatusesNotCrashes) {
    const FixtureProbe probe(FIXTURE_INVALID_ARGS_PATH);
    addPlugin("invalid", FIXTURE_INVALID_ARGS_PATH);
    const std::string conv = openDirect("alice", "bob");
    auto sent = send("alice", conv, "hello");
    ASSERT_TRUE(sent["ok"]) << sent;
    EXPECT_EQ(history("bob", conv)[0]["body"], "hello") << "failed rewrites changed nothing";
    EXPECT_EQ(probe.call<int>("fixture_hook_checks_done"), 1);

    auto reply = call("alice", {{"op", "invalid.cmd"}});
    EXPECT_EQ(reply["ok"], true) << reply;
    EXPECT_EQ(reply["id"], "r" + std::to_string(nextId_ - 1)) << "the envelope is parleyd's";
    EXPECT_EQ(reply["answer"], 42);
    ASSERT_TRUE(eventually([&] { return probe.call<int>("fixture_stale_done") == 1; }));

    size_t count = 0;
    const auto* checks = probe.call<const FixtureCheck*>("fixture_checks", &count);
    EXPECT_GT(count, 100U);
    for (size_t i = 0; i < count; ++i) {
        EXPECT_EQ(checks[i].got, checks[i].expected) << checks[i].what;
    }
    EXPECT_TRUE(logged("[invalid] invalid_args: a level out of range logs as error", 0ms));
    EXPECT_FALSE(logged("never logged", 0ms));
    EXPECT_TRUE(call("alice", {{"op", "ping"}})["ok"]);
}

// --- Rejecting and rewriting -------------------------------------------------------------------

TEST_F(PluginTest, RejectionsReachTheSenderWithTheirCode) {
    const FixtureProbe probe(FIXTURE_REJECTS_PATH);
    addPlugin("rejects", FIXTURE_REJECTS_PATH);
    const std::string conv = openDirect("alice", "bob");
    for (const std::string code : {"bad_request", "forbidden", "not_found", "too_large",
                                   "rate_limited", "unavailable", "internal"}) {
        auto refused = send("alice", conv, "reject:" + code);
        EXPECT_EQ(codeOf(refused), code) << refused;
        EXPECT_EQ(refused["error"]["message"], "rejected with " + code);
    }
    auto unknown = send("alice", conv, "reject:teapot");
    EXPECT_EQ(codeOf(unknown), "internal") << "an unknown code is sent as internal";
    EXPECT_EQ(unknown["error"]["message"], "rejected with teapot");
    auto silent = send("alice", conv, "reject-silently");
    EXPECT_EQ(codeOf(silent), "forbidden");
    EXPECT_EQ(silent["error"]["message"], "refused by extension 'rejects'");
    EXPECT_TRUE(history("alice", conv).empty());

    auto group =
        call("alice",
             {{"op", "conv.create"}, {"members", {"bob", "carol"}}, {"title", "forbidden title"}});
    EXPECT_EQ(codeOf(group), "forbidden");
    EXPECT_EQ(group["error"]["message"], "no such titles");
    EXPECT_TRUE(
        call("alice", {{"op", "conv.create"}, {"members", {"bob"}}, {"title", "fine"}})["ok"]);

    auto command = call("alice", {{"op", "rejects.cmd"}});
    EXPECT_EQ(codeOf(command), "not_found");
    EXPECT_EQ(command["error"]["message"], "nothing here");
    auto deferred = call("alice", {{"op", "rejects.defer"}});
    EXPECT_EQ(codeOf(deferred), "unknown_op");
    EXPECT_EQ(deferred["error"]["message"], "no extension answered op 'rejects.defer'");

    // An after hook cannot reject: host->reject says so, and the stored message stays.
    EXPECT_TRUE(send("alice", conv, "fine")["ok"]);
    EXPECT_TRUE(eventually(
        [&] { return probe.call<int>("fixture_after_reject_status") == PARLEY_ERR_FORBIDDEN; }));
    EXPECT_EQ(history("bob", conv).size(), 1U);
}

TEST_F(PluginTest, RewritesAreStoredAndDeliveredAndAFailedOneDoesNotStick) {
    const FixtureProbe probe(FIXTURE_REWRITES_PATH);
    addPlugin("rewrites", FIXTURE_REWRITES_PATH);
    const std::string conv = openDirect("alice", "bob");
    auto loud = send("alice", conv, "shout: make me loud");
    ASSERT_TRUE(loud["ok"]) << loud;
    auto event = transport_.waitFor("parley/v1/u/bob/c/" + conv,
                                    [](const json& e) { return e.value("ev", json()) == "msg"; });
    EXPECT_EQ(event.payload["body"], "MAKE ME LOUD");
    EXPECT_EQ(event.payload["meta"], json({{"rewritten", true}}));

    EXPECT_TRUE(send("alice", conv, "rewrite-then-fail")["ok"]);
    EXPECT_TRUE(send("alice", conv, "clear-meta", {{"lang", "en"}})["ok"]);
    const auto stored = history("bob", conv);
    ASSERT_EQ(stored.size(), 3U);
    EXPECT_EQ(stored[0]["body"], "MAKE ME LOUD");
    EXPECT_EQ(stored[1]["body"], "rewrite-then-fail");
    EXPECT_TRUE(stored[1]["meta"].is_null());
    EXPECT_EQ(stored[2]["body"], "clear-meta");
    EXPECT_TRUE(stored[2]["meta"].is_null()) << stored[2];
    EXPECT_EQ(stat("rewrites", "message.before_store", "failures"), 1U);

    EXPECT_TRUE(eventually(
        [&] { return probe.call<int>("fixture_after_set_body_status") == PARLEY_ERR_FORBIDDEN; }));
    const char* problem = probe.call<const char*>("fixture_event_problem");
    EXPECT_EQ(problem, nullptr) << problem;
}

// Issue 21: message.before_edit rewrites or refuses edits through the same calls as
// message.before_store; message.after_delete hands over the message as it was.
TEST_F(PluginTest, EditsAreRewrittenOrRefusedAndDeletionsAreTold) {
    const FixtureProbe probe(FIXTURE_REWRITES_PATH);
    addPlugin("rewrites", FIXTURE_REWRITES_PATH);
    const std::string conv = openDirect("alice", "bob");
    ASSERT_TRUE(send("alice", conv, "quiet", {{"file", "f-1"}})["ok"]);
    auto edited = call(
        "alice", {{"op", "msg.edit"}, {"conv", conv}, {"seq", 1}, {"body", "shout: now loud"}});
    ASSERT_TRUE(edited["ok"]) << edited;
    EXPECT_EQ(edited["msg"]["body"], "NOW LOUD");
    auto refused =
        call("alice", {{"op", "msg.edit"}, {"conv", conv}, {"seq", 1}, {"body", "refuse-edit"}});
    EXPECT_EQ(refused["error"]["code"], "forbidden");
    EXPECT_EQ(refused["error"]["message"], "no such edits");
    EXPECT_EQ(history("bob", conv)[0]["body"], "NOW LOUD");

    ASSERT_TRUE(call("alice", {{"op", "msg.delete"}, {"conv", conv}, {"seq", 1}})["ok"]);
    EXPECT_EQ(std::string(probe.call<const char*>("fixture_last_deleted")),
              R"(1|NOW LOUD|{"file":"f-1"})");
    EXPECT_EQ(history("bob", conv)[0]["body"], "");
    const char* problem = probe.call<const char*>("fixture_event_problem");
    EXPECT_EQ(problem, nullptr) << problem;
}

// --- Services added later in version 1 (fixture_services) ---------------------------------------

const char* const kKeep = nullptr;  // context_update's "keep it" (a C string, not nullptr_t)

class PluginServicesTest : public PluginTest {
  protected:
    PluginServicesTest() {
        addPlugin("services", FIXTURE_SERVICES_PATH,
                  {{"limit", 25},
                   {"on", true},
                   {"name", "Ann's \"shop\""},
                   {"nothing", nullptr},
                   {"huge", 18446744073709551615ULL},
                   {"smtp", {{"port", 2525}, {"tls", {{"verify", false}}}}}});
    }

    // A fixture_* function that fills a text buffer: its status, and the text as JSON (null if
    // it left none).
    template <typename... Args>
    std::pair<int, json> service(const char* function, Args... args) {
        std::string out(64 * 1024, '\0');
        const int status = probe_.call<int>(function, args..., out.data(), out.size());
        const std::string text = out.c_str();
        return {status, text.empty() ? json() : json::parse(text)};
    }

    json lastEvent(int which) {
        std::string out(4096, '\0');
        probe_.call<void>("fixture_last_event", which, out.data(), out.size());
        return out[0] == '\0' ? json() : json::parse(out.c_str());
    }

    static std::vector<std::string> sorted(std::vector<std::string> ids) {
        std::sort(ids.begin(), ids.end());
        return ids;
    }

    const FixtureProbe probe_{FIXTURE_SERVICES_PATH};
};

// Level 6: a C plugin reads its options typed, by name or dotted path, without parsing JSON.
TEST_F(PluginServicesTest, OptionsAreReadTypedByNameOrPath) {
    server();
    int64_t number = -1;
    EXPECT_EQ(probe_.call<int>("fixture_option_int", "limit", &number), PARLEY_OK);
    EXPECT_EQ(number, 25);
    EXPECT_EQ(probe_.call<int>("fixture_option_int", "smtp.port", &number), PARLEY_OK);
    EXPECT_EQ(number, 2525);
    number = 7;
    EXPECT_EQ(probe_.call<int>("fixture_option_int", "name", &number), PARLEY_ERR_INVALID);
    EXPECT_EQ(probe_.call<int>("fixture_option_int", "huge", &number), PARLEY_ERR_INVALID)
        << "an integer past int64_t";
    EXPECT_EQ(probe_.call<int>("fixture_option_int", "nothing", &number), PARLEY_ERR_NOT_FOUND)
        << "null is absent";
    EXPECT_EQ(probe_.call<int>("fixture_option_int", "smtp.port.x", &number), PARLEY_ERR_NOT_FOUND);
    EXPECT_EQ(probe_.call<int>("fixture_option_int", "smtp", &number), PARLEY_ERR_INVALID);
    EXPECT_EQ(number, 7) << "nothing written unless PARLEY_OK";

    int flag = 1;
    EXPECT_EQ(probe_.call<int>("fixture_option_bool", "smtp.tls.verify", &flag), PARLEY_OK);
    EXPECT_EQ(flag, 0);
    EXPECT_EQ(probe_.call<int>("fixture_option_bool", "on", &flag), PARLEY_OK);
    EXPECT_EQ(flag, 1);
    EXPECT_EQ(probe_.call<int>("fixture_option_bool", "limit", &flag), PARLEY_ERR_INVALID);

    std::string text(64, 'x');
    EXPECT_EQ(probe_.call<int>("fixture_option_string", "name", text.data(), text.size()),
              PARLEY_OK);
    EXPECT_STREQ(text.c_str(), "Ann's \"shop\"") << "unescaped: the text itself";
    std::string small(5, 'x');
    EXPECT_EQ(probe_.call<int>("fixture_option_string", "name", small.data(), small.size()),
              PARLEY_ERR_TOO_LARGE);
    EXPECT_EQ(small, "xxxxx");
    EXPECT_EQ(probe_.call<int>("fixture_option_string", "on", text.data(), text.size()),
              PARLEY_ERR_INVALID);
}

TEST_F(PluginServicesTest, ContextUpdateChangesSummariesAndTellsTheMembers) {
    const std::string aliceBike = openAbout("alice", "bob", "42", "Blue bike");
    const std::string carolBike = openAbout("carol", "bob", "42", "Blue bike");
    const std::string otherBike = openAbout("alice", "bob", "43", "Red bike");

    auto [status, ids] =
        service("fixture_context_update", "listing", "42", "Blue bike (sold)", "sold");
    ASSERT_EQ(status, PARLEY_OK);
    ASSERT_TRUE(ids.is_array()) << ids;
    EXPECT_EQ(sorted(ids.get<std::vector<std::string>>()), sorted({aliceBike, carolBike}));

    auto summary = call("alice", {{"op", "conv.get"}, {"conv", aliceBike}});
    EXPECT_EQ(
        summary["context"],
        json(
            {{"type", "listing"}, {"id", "42"}, {"title", "Blue bike (sold)"}, {"status", "sold"}}))
        << summary;
    EXPECT_TRUE(
        call("alice", {{"op", "conv.get"}, {"conv", otherBike}})["context"]["status"].is_null())
        << "another listing's conversation is untouched";
    const std::vector<std::pair<std::string, std::string>> told = {
        {"alice", aliceBike}, {"bob", aliceBike}, {"bob", carolBike}, {"carol", carolBike}};
    for (const auto& [uid, conv] : told) {
        auto event = transport_.waitFor("parley/v1/u/" + uid + "/n", [&](const json& e) {
            return e.value("ev", json()) == "conv" && e.value("reason", json()) == "changed" &&
                   e.value("conv", json()) == conv;
        });
        EXPECT_EQ(event.payload["context"]["status"], "sold") << uid << " " << event.payload;
    }

    // NULL keeps: only the status changes; no buffer is fine.
    EXPECT_EQ(probe_.call<int>("fixture_context_update", "listing", "42", kKeep, "open",
                               static_cast<char*>(nullptr), size_t{0}),
              PARLEY_OK);
    summary = call("bob", {{"op", "conv.get"}, {"conv", carolBike}});
    EXPECT_EQ(summary["context"]["title"], "Blue bike (sold)");
    EXPECT_EQ(summary["context"]["status"], "open");

    EXPECT_EQ(service("fixture_context_update", "listing", "42", kKeep, "Sold!").first,
              PARLEY_ERR_INVALID)
        << "a status is 1-32 of a-z 0-9 _ -";
    EXPECT_EQ(service("fixture_context_update", "listing", "nope", "x", kKeep),
              std::make_pair(int{PARLEY_OK}, json::array()));

    auto [listed, about] = service("fixture_context_conversations", "listing", "42", size_t{10});
    ASSERT_EQ(listed, PARLEY_OK);
    EXPECT_EQ(sorted(about.get<std::vector<std::string>>()), sorted({aliceBike, carolBike}));
    EXPECT_EQ(service("fixture_context_conversations", "listing", "42", size_t{1}).second.size(),
              1U);
    EXPECT_EQ(service("fixture_context_conversations", "listing", "nope", size_t{10}),
              std::make_pair(int{PARLEY_OK}, json::array()));
    EXPECT_EQ(probe_.call<int>("fixture_null_checks_failed"), 0);
}

TEST_F(PluginServicesTest, UnreadScanListsMembersBehindWithTheirPresence) {
    const char* const kEveryone = nullptr;
    const std::string conv = openDirect("alice", "bob");
    ASSERT_TRUE(send("alice", conv, "one")["ok"]);
    ASSERT_TRUE(send("alice", conv, "two")["ok"]);
    auto [status, rows] = service("fixture_unread_scan", int64_t{0}, kEveryone, size_t{100});
    ASSERT_EQ(status, PARLEY_OK);
    ASSERT_EQ(rows.size(), 1U) << rows;  // alice read her own
    EXPECT_EQ(rows[0]["user"], "bob");
    EXPECT_EQ(rows[0]["conv"], conv);
    EXPECT_EQ(rows[0]["read_seq"], 0);
    EXPECT_EQ(rows[0]["last_seq"], 2);
    EXPECT_EQ(rows[0]["presence"], "offline");
    const int64_t activity = rows[0]["last_activity"];
    EXPECT_EQ(service("fixture_unread_scan", activity + 1, kEveryone, size_t{100}).second,
              json::array());
    EXPECT_EQ(service("fixture_unread_scan", int64_t{0}, "alice", size_t{100}).second,
              json::array());
    ASSERT_TRUE(call("bob", {{"op", "msg.read"}, {"conv", conv}, {"seq", 2}})["ok"]);
    EXPECT_EQ(service("fixture_unread_scan", int64_t{0}, kEveryone, size_t{100}).second,
              json::array());
    EXPECT_EQ(probe_.call<int>("fixture_http_and_scan_checks_failed"), 0);
}

TEST_F(PluginServicesTest, HttpRoutesAnswerThroughThePlugin) {
    auto& services = server().extensionServices();
    auto echoed = services.handleHttp("/ext/services/echo", {"POST", {}, "a=1&b=2", "payload"});
    ASSERT_TRUE(echoed.has_value());
    EXPECT_EQ(echoed->status, 201);
    EXPECT_EQ(echoed->contentType, "text/x-echo");
    EXPECT_EQ(echoed->body, "POST /echo ?a=1&b=2 payload");
    auto silent = services.handleHttp("/ext/services/silent", {"GET", {}, "", ""});
    ASSERT_TRUE(silent.has_value());
    EXPECT_EQ(silent->status, 500);
    EXPECT_FALSE(services.handleHttp("/ext/services/nothing", {"GET", {}, "", ""}).has_value());
    EXPECT_FALSE(services.handleHttp("/ext/other/echo", {"GET", {}, "", ""}).has_value());
    // Unloaded: its routes go with it.
    server_->stop();
    EXPECT_FALSE(services.handleHttp("/ext/services/echo", {"GET", {}, "", ""}).has_value());
}

TEST_F(PluginServicesTest, MessagesGetPagesTheHistory) {
    const std::string conv = openDirect("alice", "bob");
    for (int i = 1; i <= 5; ++i) {
        ASSERT_TRUE(send("alice", conv, "message " + std::to_string(i))["ok"]);
    }
    const auto seqs = [](const json& page) {
        std::vector<int64_t> found;
        for (const auto& message : page["msgs"]) {
            found.push_back(message["seq"].get<int64_t>());
        }
        return found;
    };
    auto [status, newest] = service("fixture_messages_get", conv.c_str(), int64_t{PARLEY_NO_SEQ},
                                    int64_t{PARLEY_NO_SEQ}, size_t{2});
    ASSERT_EQ(status, PARLEY_OK);
    EXPECT_EQ(seqs(newest), (std::vector<int64_t>{4, 5}));
    EXPECT_EQ(newest["has_more"], true);
    EXPECT_EQ(newest["msgs"][1]["body"], "message 5");
    EXPECT_EQ(newest["msgs"][1]["sender"], "alice");

    auto older =
        service("fixture_messages_get", conv.c_str(), int64_t{4}, int64_t{PARLEY_NO_SEQ}, size_t{2})
            .second;
    EXPECT_EQ(seqs(older), (std::vector<int64_t>{2, 3}));
    EXPECT_EQ(older["has_more"], true);
    auto newer = service("fixture_messages_get", conv.c_str(), int64_t{PARLEY_NO_SEQ}, int64_t{3},
                         size_t{10})
                     .second;
    EXPECT_EQ(seqs(newer), (std::vector<int64_t>{4, 5}));
    EXPECT_EQ(newer["has_more"], false);
    auto oldest =
        service("fixture_messages_get", conv.c_str(), int64_t{PARLEY_NO_SEQ}, int64_t{0}, size_t{2})
            .second;
    EXPECT_EQ(seqs(oldest), (std::vector<int64_t>{1, 2})) << "after 0 starts at the first message";
    EXPECT_EQ(oldest["has_more"], true);

    EXPECT_EQ(service("fixture_messages_get", "nope", int64_t{PARLEY_NO_SEQ},
                      int64_t{PARLEY_NO_SEQ}, size_t{10}),
              std::make_pair(int{PARLEY_ERR_NOT_FOUND}, json()));
    EXPECT_EQ(service("fixture_messages_get", conv.c_str(), int64_t{PARLEY_NO_SEQ},
                      int64_t{PARLEY_NO_SEQ}, size_t{0})
                  .first,
              PARLEY_ERR_INVALID);
    EXPECT_EQ(service("fixture_messages_get", conv.c_str(), int64_t{PARLEY_NO_SEQ},
                      int64_t{PARLEY_NO_SEQ}, size_t{101})
                  .first,
              PARLEY_ERR_INVALID);
}

TEST_F(PluginServicesTest, BeforeStoreEventCarriesTheConversation) {
    const std::string conv = openAbout("alice", "bob", "42", "Blue bike");
    ASSERT_TRUE(send("alice", conv, "first")["ok"]);
    EXPECT_EQ(lastEvent(0), json({{"has_fields", true},
                                  {"kind", "direct"},
                                  {"context_type", "listing"},
                                  {"context_id", "42"},
                                  {"context_title", "Blue bike"},
                                  {"context_status", nullptr},
                                  {"last_seq", 0},
                                  {"member_count", 2},
                                  {"first_member", "alice"}}))
        << "the members come with the draft";
    // message.after_store leaves the conversation's fields NULL and 0.
    ASSERT_TRUE(eventually([&] { return lastEvent(1)["has_fields"] == true; }));
    const json after = lastEvent(1);
    EXPECT_TRUE(after["kind"].is_null()) << after;
    EXPECT_TRUE(after["context_type"].is_null()) << after;
    EXPECT_EQ(after["last_seq"], 0);
    EXPECT_EQ(after["member_count"], 2);

    ASSERT_EQ(probe_.call<int>("fixture_context_update", "listing", "42", kKeep, "sold",
                               static_cast<char*>(nullptr), size_t{0}),
              PARLEY_OK);
    ASSERT_TRUE(send("bob", conv, "second")["ok"]);
    auto second = lastEvent(0);
    EXPECT_EQ(second["context_status"], "sold");
    EXPECT_EQ(second["last_seq"], 1);

    auto group = call("alice", {{"op", "conv.create"}, {"members", {"bob", "carol"}}});
    ASSERT_TRUE(group["ok"]) << group;
    ASSERT_TRUE(send("carol", group["conv"].get<std::string>(), "hi all")["ok"]);
    auto inGroup = lastEvent(0);
    EXPECT_EQ(inGroup["kind"], "group");
    EXPECT_TRUE(inGroup["context_type"].is_null()) << inGroup;
    EXPECT_EQ(inGroup["last_seq"], 0);
}

TEST_F(PluginServicesTest, RejectWithDetailsReachesTheClientsErrorObject) {
    const std::string conv = openDirect("alice", "bob");
    auto limited = send("alice", conv, "limit");
    EXPECT_EQ(limited["error"],
              json({{"code", "rate_limited"}, {"message", "slow down"}, {"retry_after_ms", 1200}}))
        << "the details' own code and message are dropped";

    auto command = call("alice", {{"op", "services.limit"}});
    EXPECT_EQ(command["error"], json({{"code", "rate_limited"},
                                      {"message", "not so fast"},
                                      {"retry_after_ms", 1200},
                                      {"scope", {{"op", "services.limit"}}}}));

    EXPECT_EQ(send("alice", conv, "reject-twice")["error"],
              json({{"code", "forbidden"}, {"message", "second"}}))
        << "reject after reject_with leaves no details";

    // Wrong details: reject_with says so, and the rejection stands without them.
    const std::vector<std::pair<std::string, int>> wrong = {{"array", PARLEY_ERR_INVALID},
                                                            {"json", PARLEY_ERR_INVALID},
                                                            {"large", PARLEY_ERR_TOO_LARGE}};
    for (const auto& [kind, expected] : wrong) {
        auto refused = send("alice", conv, "bad-details:" + kind);
        EXPECT_EQ(refused["error"], json({{"code", "forbidden"}, {"message", "bad details"}}))
            << kind;
        EXPECT_EQ(probe_.call<int>("fixture_bad_details_status"), expected) << kind;
    }
    EXPECT_TRUE(history("alice", conv).empty());
}

// --- Hooks and services added with blocks that hide everything (fixture_blocks)
// -------------------

class PluginBlocksTest : public PluginTest {
  protected:
    PluginBlocksTest() { addPlugin("blocks", FIXTURE_BLOCKS_PATH); }

    json lastEvent(int which) {
        std::string out(4096, '\0');
        probe_.call<void>("fixture_last_event", which, out.data(), out.size());
        return out[0] == '\0' ? json() : json::parse(out.c_str());
    }

    // How many events of kind `ev` `uid` received about `conv`.
    size_t received(const std::string& uid, const std::string& conv, const std::string& ev) {
        size_t count = 0;
        for (const auto& sent : transport_.sentTo("parley/v1/u/" + uid + "/c/" + conv)) {
            count += sent.payload.value("ev", "") == ev;
        }
        return count;
    }

    // The folded text and its spans (JSON, or null when none were asked for or left).
    std::tuple<int, std::string, json> fold(int form, const std::string& text, bool spans) {
        std::string out(4096, '\0');
        std::string where(64 * 1024, '\0');
        const int status = probe_.call<int>(
            "fixture_text_fold", form, text.data(), text.size(), out.data(), out.size(),
            spans ? where.data() : static_cast<char*>(nullptr), where.size());
        const std::string whereText = where.c_str();
        return {status, out.c_str(), whereText.empty() ? json() : json::parse(whereText)};
    }

    const FixtureProbe probe_{FIXTURE_BLOCKS_PATH};
};

TEST_F(PluginBlocksTest, BeforeOpenSeesEveryOpenAndMayRefuseAnExistingConversation) {
    auto opened = call("dave", {{"op", "conv.open"}, {"peer", "carol"}});
    ASSERT_TRUE(opened["ok"]) << opened;
    EXPECT_EQ(lastEvent(0),
              json({{"conv", nullptr}, {"creator", "dave"}, {"kind", "direct"}, {"members", 2}}))
        << "a new conversation: conv is NULL";
    const std::string conv = opened["conv"];
    auto again = call("dave", {{"op", "conv.open"}, {"peer", "carol"}});
    EXPECT_EQ(codeOf(again), "forbidden") << again;
    EXPECT_EQ(again["error"]["message"], "not allowed");
    EXPECT_EQ(lastEvent(0)["conv"], conv) << "the existing conversation";
    auto byCarol = call("carol", {{"op", "conv.open"}, {"peer", "dave"}});
    EXPECT_EQ(byCarol["conv"], conv) << byCarol;
    EXPECT_EQ(byCarol["created"], false);
}

TEST_F(PluginBlocksTest, BeforeDeliverDropsOneRecipientOfTypingAndRead) {
    auto group = call("erin", {{"op", "conv.create"}, {"members", {"carol", "dave"}}});
    ASSERT_TRUE(group["ok"]) << group;
    const std::string conv = group["conv"];
    ASSERT_TRUE(call("dave", {{"op", "typing"}, {"conv", conv}, {"state", "start"}})["ok"]);
    EXPECT_EQ(received("erin", conv, "typing"), 1U);
    EXPECT_EQ(received("carol", conv, "typing"), 0U) << "dropped for carol only";
    EXPECT_EQ(
        lastEvent(1),
        json({{"kind", "typing"},
              {"conv", conv},
              {"uid", "dave"},
              {"event", {{"ev", "typing"}, {"conv", conv}, {"user", "dave"}, {"state", "start"}}},
              {"recipients", 2}}));
    EXPECT_EQ(probe_.call<int>("fixture_misuse_failures"), 0)
        << "drop_recipient: a second drop, an unknown uid and NULL are refused, and so is reject";

    ASSERT_TRUE(send("erin", conv, "hello")["ok"]);
    ASSERT_TRUE(call("dave", {{"op", "msg.read"}, {"conv", conv}, {"seq", 1}})["ok"]);
    EXPECT_EQ(received("dave", conv, "read"), 1U) << "the reader's own devices";
    EXPECT_EQ(received("erin", conv, "read"), 1U);
    EXPECT_EQ(received("carol", conv, "read"), 0U);
    EXPECT_EQ(lastEvent(1)["recipients"], 3) << "read goes to the reader too";
    ASSERT_TRUE(call("carol", {{"op", "typing"}, {"conv", conv}, {"state", "start"}})["ok"]);
    EXPECT_EQ(received("dave", conv, "typing"), 1U) << "the fixture hides only dave's events";
    EXPECT_EQ(probe_.call<int>("fixture_store_drop_status"), PARLEY_ERR_FORBIDDEN)
        << "drop_recipient outside event.before_deliver";
}

TEST_F(PluginBlocksTest, TextFoldNormalizesAndSkeletonsWithSpans) {
    server();  // loads the plugin
    auto [status, folded, spans] = fold(PARLEY_TEXT_NORMALIZED, "CR\u00C9\u200BDIT", true);
    EXPECT_EQ(status, PARLEY_OK);
    EXPECT_EQ(folded, "cr\u00E9dit");
    // c r é(2 bytes) d i t: é came from bytes 2-3 and the zero-width space after it (4-6),
    // which folds to nothing and so belongs to the piece before it.
    EXPECT_EQ(spans, json::parse("[[0,1],[1,2],[2,7],[2,7],[7,8],[8,9],[9,10]]"));
    auto [skeletonStatus, skeleton, none] =
        fold(PARLEY_TEXT_SKELETON, "\u0455\u0441\u0430m", false);
    EXPECT_EQ(skeletonStatus, PARLEY_OK);
    EXPECT_EQ(skeleton, std::get<1>(fold(PARLEY_TEXT_SKELETON, "scam", false)));
    EXPECT_TRUE(none.is_null());

    EXPECT_EQ(std::get<0>(fold(PARLEY_TEXT_NORMALIZED, "bad \xFF", true)), PARLEY_ERR_INVALID);
    EXPECT_EQ(std::get<0>(fold(7, "scam", false)), PARLEY_ERR_INVALID) << "an unknown form";
    const std::string huge(1024 * 1024 + 1, 'a');
    EXPECT_EQ(std::get<0>(fold(PARLEY_TEXT_SKELETON, huge, false)), PARLEY_ERR_TOO_LARGE);
    EXPECT_EQ(std::get<0>(fold(PARLEY_TEXT_SKELETON, "", true)), PARLEY_OK);
}

}  // namespace
}  // namespace parley::testing
