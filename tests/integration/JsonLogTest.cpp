// log.format: json on the real parleyd: everything it prints from start to stop is one JSON object
// per line, and a refused command's lines carry what a person searching an incident filters on.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <regex>
#include <sstream>

#include "MosquittoServer.h"
#include "MqttTestClient.h"
#include "ParleydProcess.h"

namespace parley::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

TEST(JsonLogs, EveryLineIsJsonAndRefusedCommandsCarryTheirContext) {
    MosquittoServer broker({{"parleyd", "parleyd-secret"},
                            {"alice", "pw-alice"},
                            {"bob", "pw-bob"},
                            {"carol", "pw-carol"}});
    ParleydProcess parleyd("broker:\n  uri: " + broker.uri() +
                           "\n  client_id: parleyd-json\n  username: parleyd\n"
                           "  password: parleyd-secret\n"
                           "store:\n  backend: sqlite\n  sqlite: {path: parley.db}\n"
                           "log: {level: debug, format: json}\n");
    std::string conv;
    {
        MqttTestClient bob(broker.uri(), "bob", "pw-bob");
        auto opened = bob.request({{"op", "conv.open"}, {"peer", "carol"}}, 20s);
        ASSERT_EQ(codeOf(opened), "ok") << opened;
        conv = opened["conv"];
        MqttTestClient alice(broker.uri(), "alice", "pw-alice");
        auto refused = alice.request({{"op", "msg.send"},
                                      {"id", "req-7"},
                                      {"conv", conv},
                                      {"cmid", "m1"},
                                      {"body", "let me in"}},
                                     20s);
        ASSERT_EQ(codeOf(refused), "forbidden") << refused;
        // Not even JSON: refused by the decoder, before there is a command.
        EXPECT_EQ(
            alice.publishRaw("parley/v1/c2s/alice", "{\"op\": \"ping\", \"id\": \"x\"\n\"q\""), 0);
        alice.waitFor([](const Received& received) {
            return received.payload.is_object() && received.payload.value("ok", true) == false &&
                   received.payload["error"].value("code", "") == "bad_request";
        });
    }
    parleyd.stop();

    const std::regex utcMillis(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)");
    std::istringstream lines(parleyd.log());
    size_t count = 0;
    std::optional<json> refusal;
    std::optional<json> undecodable;
    bool ready = false;
    for (std::string line; std::getline(lines, line);) {
        ++count;
        const json entry = json::parse(line, nullptr, false);
        ASSERT_TRUE(entry.is_object()) << "line " << count << " is not a JSON object: " << line;
        for (const char* field : {"ts", "level", "logger", "component", "msg"}) {
            ASSERT_TRUE(entry.contains(field) && entry[field].is_string())
                << "line " << count << " lacks " << field << ": " << line;
        }
        EXPECT_TRUE(std::regex_match(entry["ts"].get<std::string>(), utcMillis)) << line;
        EXPECT_EQ(entry["logger"], "parleyd");
        const std::string message = entry["msg"];
        ready = ready || message.rfind("parleyd ready", 0) == 0;
        if (message.rfind("command refused: uid=alice op=msg.send", 0) == 0) {
            refusal = entry;
        }
        if (message.rfind("command refused: topic=", 0) == 0) {
            undecodable = entry;
        }
    }
    EXPECT_GT(count, 5U);
    EXPECT_TRUE(ready) << parleyd.log();
    ASSERT_TRUE(refusal.has_value()) << parleyd.log();
    EXPECT_EQ((*refusal)["level"], "info");
    EXPECT_EQ((*refusal)["component"], "command");
    EXPECT_EQ((*refusal)["uid"], "alice");
    EXPECT_EQ((*refusal)["op"], "msg.send");
    EXPECT_EQ((*refusal)["id"], "req-7");
    EXPECT_EQ((*refusal)["conv"], conv);
    EXPECT_EQ((*refusal)["code"], "forbidden");
    ASSERT_TRUE(undecodable.has_value()) << parleyd.log();
    EXPECT_EQ((*undecodable)["uid"], "alice");
    EXPECT_EQ((*undecodable)["topic"], "parley/v1/c2s/alice");
    EXPECT_EQ((*undecodable)["code"], "bad_request");
}

}  // namespace
}  // namespace parley::testing
