// admin.user.export and admin.user.erase through the whole server (ServerHarness): who may, the
// export's pages and their size bound, and what an erasure leaves for the other members.

#include <set>

#include "handlers/UserDataHandler.h"
#include "parley/testing/ServerHarness.h"

namespace parley::testing {
namespace {

class UserDataTest : public ServerHarness {
  protected:
    UserDataTest() { config_.admins = {"root"}; }

    // Every page of alice's export, following next_after.
    std::vector<json> exportPages(const std::string& uid, int limit = 100) {
        std::vector<json> pages;
        json command = {{"op", "admin.user.export"}, {"user", uid}, {"limit", limit}};
        for (int guard = 0; guard < 1000; ++guard) {
            json page = call("root", command);
            EXPECT_TRUE(page["ok"]) << page;
            pages.push_back(page);
            if (!page.value("has_more", false)) {
                break;
            }
            command["after"] = page["next_after"];
        }
        return pages;
    }
};

TEST_F(UserDataTest, OnlyAdminsExportOrEraseAndBadInputChangesNothing) {
    const std::string conv = openDirect("alice", "bob");
    sendMessage("bob", conv, "b1", "keep me");
    EXPECT_EQ(codeOf(call("alice", {{"op", "admin.user.export"}, {"user", "bob"}})), "forbidden");
    EXPECT_EQ(codeOf(call("alice", {{"op", "admin.user.erase"}, {"user", "bob"}})), "forbidden");
    EXPECT_EQ(codeOf(call("root", {{"op", "admin.user.erase"}})), "bad_request");
    EXPECT_EQ(codeOf(call("root", {{"op", "admin.user.erase"}, {"user", "a/b"}})), "bad_request");
    EXPECT_EQ(codeOf(call("root", {{"op", "admin.user.erase"}, {"user", "system"}})),
              "bad_request");
    EXPECT_EQ(codeOf(call("root", {{"op", "admin.user.export"}, {"user", "bob"}, {"limit", 0}})),
              "bad_request");
    EXPECT_EQ(
        codeOf(call("root", {{"op", "admin.user.export"}, {"user", "bob"}, {"after", "x:1"}})),
        "bad_request");
    auto history = call("alice", {{"op", "msg.history"}, {"conv", conv}});
    ASSERT_EQ(history["msgs"].size(), 1U);
    EXPECT_EQ(history["msgs"][0]["body"], "keep me");
    EXPECT_FALSE(history["msgs"][0].contains("erased"));
}

TEST_F(UserDataTest, ExportHoldsProfileConversationsAndEveryMessageOnce) {
    call("root", {{"op", "admin.user.set"}, {"user", "alice"}, {"email", "alice@example.org"}});
    call("alice", {{"op", "profile.set"}, {"name", "Alice"}});
    const std::string direct = openDirect("alice", "bob");
    auto group = call("alice", {{"op", "conv.create"}, {"members", {"bob", "carol"}}});
    const std::string groupId = group["conv"];
    std::set<std::string> sent;
    for (int i = 0; i < 25; ++i) {
        const std::string cmid = "a-" + std::to_string(100 + i);
        sendMessage("alice", i % 2 ? direct : groupId, cmid, "text " + std::to_string(i),
                    i == 3 ? json{{"reply_to", 1}} : json());
        sent.insert(cmid);
    }
    sendMessage("bob", direct, "b-1", "bob's own words");

    const auto pages = exportPages("alice", 10);
    ASSERT_GE(pages.size(), 4U) << "conversations, then 25 messages 10 a page";
    EXPECT_EQ(pages[0]["profile"]["email"], "alice@example.org");
    EXPECT_EQ(pages[0]["profile"]["name"], "Alice");
    EXPECT_TRUE(pages[0]["exported_at"].is_number());
    EXPECT_FALSE(pages[1].contains("profile")) << "only on the first page";
    std::set<std::string> convs;
    std::multiset<std::string> cmids;
    for (const auto& page : pages) {
        EXPECT_EQ(page["user"], "alice");
        for (const auto& conversation : page["conversations"]) {
            convs.insert(conversation["conv"].get<std::string>());
            EXPECT_TRUE(conversation["members"][0].is_string()) << "uids, not others' profiles";
            EXPECT_FALSE(conversation.contains("preview")) << "others' words are theirs";
        }
        for (const auto& message : page["messages"]) {
            EXPECT_EQ(message["sender"], "alice");
            cmids.insert(message["cmid"].get<std::string>());
            if (message["cmid"] == "a-103") {
                EXPECT_EQ(message["meta"]["reply_to"], 1);
                EXPECT_EQ(message["body"], "text 3");
            }
        }
    }
    EXPECT_EQ(convs, (std::set<std::string>{direct, groupId}));
    EXPECT_EQ(cmids, std::multiset<std::string>(sent.begin(), sent.end())) << "each once";
    EXPECT_FALSE(pages.back()["has_more"]);
    EXPECT_TRUE(pages.back()["next_after"].is_null());

    const auto stranger = exportPages("nobody");
    EXPECT_EQ(stranger[0]["profile"]["known"], false);
    size_t items = 0;
    for (const auto& page : stranger) {
        items += page["conversations"].size() + page["messages"].size();
    }
    EXPECT_EQ(items, 0U);
}

// Bodies whose every byte JSON escapes six-fold (as large as a command may carry them): pages
// stop near the budget, far below the broker's 1 MB packet limit, and still give every message.
TEST_F(UserDataTest, ExportPagesStayWithinTheirByteBudget) {
    const std::string conv = openDirect("alice", "bob");
    const std::string body(10000, '\x01');  // 60 KB of JSON, within max_payload_bytes
    constexpr int kMessages = 48;           // ~2.9 MB of JSON in all
    for (int i = 0; i < kMessages; ++i) {
        ASSERT_TRUE(sendMessage("alice", conv, "big-" + std::to_string(i), body)["ok"]);
    }
    const auto pages = exportPages("alice", 1000);
    size_t messages = 0;
    size_t largest = 0;
    for (const auto& page : pages) {
        largest = std::max(largest, page.dump().size());
        for (const auto& message : page["messages"]) {
            EXPECT_EQ(message["body"], body);
            ++messages;
        }
    }
    EXPECT_EQ(messages, static_cast<size_t>(kMessages));
    EXPECT_GT(pages.size(), 10U) << "the budget, not the limit of 1000, cut the pages";
    EXPECT_LT(largest, UserDataHandler::kExportPageBytes + 100 * 1024);
    EXPECT_LT(largest, 1000U * 1000U);
}

TEST_F(UserDataTest, EraseLeavesTombstonesTellsMembersAndClearsPresence) {
    call("root", {{"op", "admin.user.set"}, {"user", "alice"}, {"email", "alice@example.org"}});
    call("alice", {{"op", "presence"}, {"state", "online"}});
    const std::string direct = openDirect("alice", "bob");
    auto group = call("alice", {{"op", "conv.create"}, {"members", {"bob", "carol"}}});
    const std::string groupId = group["conv"];
    sendMessage("alice", direct, "a1", "my secret", json{{"where", "home"}});
    sendMessage("bob", direct, "b1", "bob's reply");
    sendMessage("alice", groupId, "a2", "another secret");

    auto erased = call("root", {{"op", "admin.user.erase"}, {"user", "alice"}});
    ASSERT_TRUE(erased["ok"]) << erased;
    EXPECT_EQ(erased["user"], "alice");
    EXPECT_EQ(erased["known"], true);
    EXPECT_EQ(erased["messages"], 2);
    EXPECT_EQ(erased["conversations"], 2);
    EXPECT_EQ(erased["deleted_conversations"], 0);
    EXPECT_TRUE(logged("user alice erased by root"));

    // The other members are told, on each conversation's topic.
    for (const auto& [member, conv] : std::vector<std::pair<std::string, std::string>>{
             {"bob", direct}, {"bob", groupId}, {"carol", groupId}}) {
        EXPECT_NO_THROW(transport_.waitFor("parley/v1/u/" + member + "/c/" + conv,
                                           [&](const json& event) {
                                               return event.value("ev", "") == "erased" &&
                                                      event["user"] == "alice" &&
                                                      event["conv"] == conv;
                                           }))
            << member << " in " << conv;
    }
    const auto presence = transport_.sentTo("parley/v1/presence/alice");
    ASSERT_FALSE(presence.empty());
    EXPECT_TRUE(presence.back().message.retain);
    EXPECT_EQ(presence.back().message.payload, "") << "the retained presence is removed";

    // History keeps every seq; hers are tombstones.
    auto history = call("bob", {{"op", "msg.history"}, {"conv", direct}});
    ASSERT_EQ(history["msgs"].size(), 2U);
    const auto& tombstone = history["msgs"][0];
    EXPECT_EQ(tombstone["seq"], 1);
    EXPECT_EQ(tombstone["sender"], "alice");
    EXPECT_EQ(tombstone["erased"], true);
    EXPECT_EQ(tombstone["body"], "");
    EXPECT_TRUE(tombstone["meta"].is_null());
    EXPECT_EQ(history["msgs"][1]["body"], "bob's reply");
    EXPECT_FALSE(history["msgs"][1].contains("erased"));
    auto listed = call("carol", {{"op", "conv.get"}, {"conv", groupId}});
    EXPECT_EQ(listed["preview"]["erased"], true);
    EXPECT_EQ(listed["preview"]["body"], "");
    EXPECT_EQ(listed["members"].size(), 2U) << "alice left";

    auto profile = call("root", {{"op", "admin.user.get"}, {"user", "alice"}});
    EXPECT_EQ(profile["known"], false);
    EXPECT_TRUE(profile["email"].is_null());
    EXPECT_EQ(codeOf(sendMessage("alice", groupId, "a3", "still here?")), "forbidden");
    auto reopened = call("bob", {{"op", "conv.open"}, {"peer", "alice"}});
    EXPECT_EQ(reopened["created"], true) << "a new 1:1, not the erased one";
    EXPECT_NE(reopened["conv"], direct);

    auto again = call("root", {{"op", "admin.user.erase"}, {"user", "alice"}});
    EXPECT_EQ(again["messages"], 0) << again;
}

}  // namespace
}  // namespace parley::testing
