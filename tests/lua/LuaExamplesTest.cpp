// The example scripts of scripts/ load and do what their comments say, and the shipped
// listings.lua recovers from a status change that failed half way (MarketplaceTest runs the
// rest of the shipped scripts over a real broker).

#include <chrono>
#include <thread>

#include "LuaServerTest.h"

namespace parley::testing {
namespace {

using nlohmann::json;

class LuaExamplesTest : public LuaServerTest {
  protected:
    void addExample(const std::string& name, const std::string& file, json options) {
        ExtensionConfig extension;
        extension.name = name;
        extension.scriptPath = std::string(PARLEY_SOURCE_DIR) + "/scripts/" + file;
        extension.options = std::move(options);
        config_.extensions.push_back(extension);
    }
};

TEST_F(LuaExamplesTest, Hello) {
    addExample("hello", "example_hello.lua", {{"greeting", "Hi"}});
    auto reply = call("alice", {{"op", "hello.greet"}, {"name", "Ann"}});
    EXPECT_EQ(reply["greeting"], "Hi, Ann!");
    EXPECT_EQ(reply["times"], 1);
    EXPECT_EQ(call("alice", {{"op", "hello.greet"}, {"name", "Bo"}})["times"], 2);
    EXPECT_EQ(codeOf(call("alice", {{"op", "hello.greet"}})), "bad_request");
    EXPECT_EQ(waitForEvent("alice",
                           [](const json& e) { return e.value("ev", json()) == "hello"; })["text"],
              "Hi, alice");

    const std::string conv = openDirect("alice", "bob");
    ASSERT_TRUE(sendMessage("alice", conv, "m1", "/shrug whatever")["ok"]);
    auto shrug = transport_.waitFor("parley/v1/u/bob/c/" + conv,
                                    [](const json& e) { return e.value("cmid", json()) == "m1"; });
    EXPECT_EQ(shrug.payload["body"], "whatever ¯\\_(ツ)_/¯");
    EXPECT_EQ(shrug.payload["meta"]["command"], "shrug");
    auto welcome = transport_.waitFor("parley/v1/u/bob/c/" + conv, [](const json& e) {
        return e.value("sender", json()) == "system";
    });
    EXPECT_EQ(welcome.payload["body"], "Hi! This conversation has started.");
    EXPECT_TRUE(logged("[hello] hello loaded at")) << logText();
}

TEST_F(LuaExamplesTest, Moderation) {
    addExample("moderation", "example_moderation.lua",
               {{"banned_words", {"darn"}}, {"max_links", 1}, {"messages_per_minute", 4}});
    const std::string conv = openDirect("alice", "bob");
    ASSERT_TRUE(sendMessage("alice", conv, "m1", "Darn it")["ok"]);
    auto masked = transport_.waitFor("parley/v1/u/bob/c/" + conv,
                                     [](const json& e) { return e.value("cmid", json()) == "m1"; });
    EXPECT_EQ(masked.payload["body"], "**** it");
    EXPECT_EQ(masked.payload["meta"]["moderated"], true);
    EXPECT_EQ(codeOf(sendMessage("alice", conv, "m2", "http://a http://b")), "forbidden");
    EXPECT_TRUE(sendMessage("alice", conv, "m3", "fine")["ok"]);
    EXPECT_TRUE(sendMessage("alice", conv, "m4", "fine")["ok"]);
    EXPECT_EQ(codeOf(sendMessage("alice", conv, "m5", "one too many")), "rate_limited");

    EXPECT_EQ(codeOf(call("bob", {{"op", "mod.ban"}, {"user", "mallory"}})), "forbidden");
    auto banned = call("root", {{"op", "mod.ban"}, {"user", "mallory"}, {"minutes", 5}});
    EXPECT_EQ(banned["banned"], "mallory") << banned;
    EXPECT_EQ(
        waitForEvent("mallory",
                     [](const json& e) { return e.value("ev", json()) == "banned"; })["minutes"],
        5);
    EXPECT_EQ(codeOf(call("bob", {{"op", "conv.open"}, {"peer", "mallory"}})), "forbidden");
    EXPECT_EQ(call("root", {{"op", "mod.unban"}, {"user", "mallory"}})["unbanned"], true);
    EXPECT_TRUE(call("bob", {{"op", "conv.open"}, {"peer", "mallory"}})["ok"]);
}

TEST_F(LuaExamplesTest, ListingNoticesOnePerThreadAndARetryFinishesAHalfDoneChange) {
    addExample("listings", "listings.lua", json::object());
    ASSERT_TRUE(
        call("root", {{"op", "listing.upsert"}, {"listing", "L1"}, {"owner", "seller"}})["ok"]);
    std::vector<std::string> threads;
    for (const std::string buyer : {"b1", "b2", "b3"}) {
        auto opened = call(buyer, {{"op", "conv.open"},
                                   {"peer", "seller"},
                                   {"context", {{"type", "listing"}, {"id", "L1"}}}});
        ASSERT_TRUE(opened["ok"]) << opened;
        threads.push_back(opened["conv"]);
    }
    const auto notices = [&](const std::string& conv) {
        std::vector<std::string> bodies;
        // Held in a local: a range-for over a member of a temporary would read freed memory.
        const json history = call("seller", {{"op", "msg.history"}, {"conv", conv}});
        for (const auto& message : history["msgs"]) {
            if (message["sender"] == "system") {
                bodies.push_back(message["body"]);
            }
        }
        return bodies;
    };

    // A change to "sold" that stored the listing and posted the first thread's notice, then
    // failed (the database went away): the listing still says its notices are pending.
    const int64_t now = clock_.nowMs();
    auto listing = json::parse(*store_->kvGet("listings", "listing:L1", now));
    listing["status"] = "sold";
    listing["status_changes"] = 1;
    listing["notices_pending"] = true;
    store_->kvSet("listings", "listing:L1", listing.dump(), std::nullopt, now);
    ASSERT_FALSE(
        store_
            ->appendMessage(store::NewMessage{
                threads[0], store::kSystemSender, "listings:n:" + threads[0] + ":1",
                "This listing has been sold.", R"({"listing":"L1","status":"sold"})", now, true})
            .duplicate);

    // The admin retries: every thread has its one notice, the first one no second.
    auto retried = call("root", {{"op", "listing.upsert"}, {"listing", "L1"}, {"status", "sold"}});
    ASSERT_TRUE(retried["ok"]) << retried;
    EXPECT_EQ(retried["threads"], 3);
    for (const auto& conv : threads) {
        EXPECT_EQ(notices(conv), std::vector<std::string>{"This listing has been sold."}) << conv;
    }
    ASSERT_TRUE(
        call("root", {{"op", "listing.upsert"}, {"listing", "L1"}, {"status", "sold"}})["ok"]);
    ASSERT_TRUE(
        call("root", {{"op", "listing.upsert"}, {"listing", "L1"}, {"status", "open"}})["ok"]);
    for (const auto& conv : threads) {
        EXPECT_EQ(notices(conv), (std::vector<std::string>{"This listing has been sold.",
                                                           "This listing is open again."}))
            << conv;
    }
    EXPECT_FALSE(json::parse(*store_->kvGet("listings", "listing:L1", clock_.nowMs()))
                     .contains("notices_pending"));
}

// Blocks stored by moderation.lua before it hid typing and read events get their hide: entries
// when the script loads, and then hide those events both ways (MarketplaceTest covers the rest).
TEST_F(LuaExamplesTest, ModerationHidesTypingForBlocksItStoredBefore) {
    addExample("moderation", "moderation.lua", json::object());
    store_->kvSet("moderation", "block:carol:dave", "1700000000000", std::nullopt, clock_.nowMs());
    auto group = call("erin", {{"op", "conv.create"}, {"members", {"carol", "dave"}}});
    ASSERT_TRUE(group["ok"]) << group;
    const std::string conv = group["conv"];
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!store_->kvGet("moderation", "hide-index", clock_.nowMs()) &&
           std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_TRUE(store_->kvGet("moderation", "hide-index", clock_.nowMs()));
    const auto typings = [&](const std::string& uid, const std::string& from) {
        size_t count = 0;
        for (const auto& sent : transport_.sentTo("parley/v1/u/" + uid + "/c/" + conv)) {
            count +=
                sent.payload.value("ev", "") == "typing" && sent.payload.value("user", "") == from;
        }
        return count;
    };
    for (const std::string uid : {"carol", "dave", "erin"}) {
        ASSERT_TRUE(call(uid, {{"op", "typing"}, {"conv", conv}, {"state", "start"}})["ok"]);
    }
    EXPECT_EQ(typings("erin", "carol"), 1U);
    EXPECT_EQ(typings("erin", "dave"), 1U);
    EXPECT_EQ(typings("carol", "erin"), 1U);
    EXPECT_EQ(typings("carol", "dave"), 0U);
    EXPECT_EQ(typings("dave", "carol"), 0U) << "both ways";
    // Unblocked, the entries go.
    ASSERT_TRUE(call("carol", {{"op", "mod.unblock"}, {"user", "dave"}})["was_blocked"]);
    ASSERT_TRUE(call("dave", {{"op", "typing"}, {"conv", conv}, {"state", "stop"}})["ok"]);
    EXPECT_EQ(typings("carol", "dave"), 1U);
}

}  // namespace
}  // namespace parley::testing
