// log.format: json (core/src/log): every line one JSON object with the fields a person searching
// an incident filters on.

#include <gtest/gtest.h>
#include <spdlog/details/log_msg.h>
#include <nlohmann/json.hpp>

#include <regex>
#include <thread>

#include "log/JsonLogFormatter.h"
#include "log/LogFields.h"

namespace parley::log {
namespace {

using nlohmann::json;

json lineOf(const std::string& text, spdlog::level::level_enum level = spdlog::level::info) {
    spdlog::details::log_msg message("parleyd", level, text);
    const std::string line = JsonLogFormatter::line(message);
    EXPECT_EQ(line.back(), '\n');
    EXPECT_EQ(line.find('\n'), line.size() - 1) << "one line: " << line;
    return json::parse(line);
}

TEST(JsonLogFormat, CarriesTimeLevelLoggerComponentAndMessage) {
    const json line = lineOf("store: applying sqlite schema migration 5", spdlog::level::warn);
    EXPECT_TRUE(std::regex_match(line.at("ts").get<std::string>(),
                                 std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")))
        << line;
    EXPECT_EQ(line.at("level"), "warn") << "the word log.level uses";
    EXPECT_EQ(line.at("logger"), "parleyd");
    EXPECT_EQ(line.at("component"), "store");
    EXPECT_EQ(line.at("msg"), "store: applying sqlite schema migration 5");
    EXPECT_TRUE(line.at("thread").is_number());
    EXPECT_FALSE(line.contains("uid"));
    EXPECT_EQ(lineOf("x", spdlog::level::err).at("level"), "error");
}

TEST(JsonLogFormat, TimeIsUtcWithMilliseconds) {
    spdlog::details::log_msg message("parleyd", spdlog::level::info, "x");
    message.time = std::chrono::system_clock::time_point(std::chrono::milliseconds(1763712000042));
    EXPECT_EQ(json::parse(JsonLogFormatter::line(message)).at("ts"), "2025-11-21T08:00:00.042Z");
}

TEST(JsonLogFormat, CommandFieldsComeFromTheScopeAndEndWithIt) {
    {
        const LogFields::Scope command{
            {"uid", "alice"}, {"op", "msg.send"}, {"id", "7"}, {"conv", "c1"}, {"id2", nullptr}};
        {
            const LogFields::Scope refusal{{"code", "forbidden"}};
            const json line = lineOf("command refused: uid=alice ...");
            EXPECT_EQ(line.at("uid"), "alice");
            EXPECT_EQ(line.at("op"), "msg.send");
            EXPECT_EQ(line.at("id"), "7");
            EXPECT_EQ(line.at("conv"), "c1");
            EXPECT_EQ(line.at("code"), "forbidden");
            EXPECT_FALSE(line.contains("id2")) << "null values are left out";
            EXPECT_EQ(line.at("component"), "command");
        }
        EXPECT_FALSE(lineOf("x").contains("code")) << "the inner scope ended";
        EXPECT_EQ(lineOf("store: retrying").at("uid"), "alice")
            << "a store line written for the command names it";
        std::thread other([] { EXPECT_FALSE(lineOf("x").contains("uid")) << "per thread"; });
        other.join();
    }
    const json after = lineOf("parleyd ready: store=sqlite");
    EXPECT_FALSE(after.contains("uid"));
    EXPECT_EQ(after.at("component"), "parleyd");
}

TEST(JsonLogFormat, ComponentsFromTheMessagePrefix) {
    std::string extension;
    EXPECT_EQ(componentOf("transport: connected to tcp://x", false, extension), "transport");
    EXPECT_EQ(componentOf("http: listening on 127.0.0.1:1", false, extension), "http");
    EXPECT_EQ(componentOf("ingress: uid=m over its limit", true, extension), "ingress");
    EXPECT_TRUE(extension.empty());
    EXPECT_EQ(componentOf("plugin 'echo': command_register refused", false, extension),
              "extension");
    EXPECT_EQ(extension, "echo");
    EXPECT_EQ(componentOf("[moderation] muted bob", true, extension), "extension");
    EXPECT_EQ(extension, "moderation");
    extension.clear();
    EXPECT_EQ(componentOf("SIGHUP: reloading scripts", false, extension), "parleyd");
    EXPECT_EQ(componentOf("internal error: uid=a op=b", true, extension), "command");
    EXPECT_EQ(componentOf("internal error: uid=a op=b", false, extension), "parleyd");
    EXPECT_EQ(componentOf(":", false, extension), "parleyd");
    EXPECT_EQ(componentOf("[] x", false, extension), "parleyd");
}

TEST(JsonLogFormat, AnyTextStaysOneValidLine) {
    const std::string nasty =
        "quote \" backslash \\ newline \n tab \t bell \x07 bad utf-8 \xC3\x28 end";
    const json line = lineOf(nasty);
    const std::string message = line.at("msg");
    EXPECT_NE(message.find("quote \" backslash \\ newline \n tab"), std::string::npos) << message;
    EXPECT_NE(message.find("end"), std::string::npos);
    const LogFields::Scope fields{{"topic", "parley/v1/c2s/\xFF"}};
    EXPECT_TRUE(lineOf("x").at("topic").is_string());
}

}  // namespace
}  // namespace parley::log
