#include "ChatModel.h"

#include <gtest/gtest.h>

namespace parley::client::ui {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

json member(const std::string& user, const std::string& name, int64_t readSeq) {
    return {{"user", user}, {"name", name}, {"read_seq", readSeq}};
}

json directSummary(const std::string& conv, int64_t lastSeq, int64_t readSeq, int64_t lastTs,
                   int64_t bobRead = 0) {
    return {{"conv", conv},
            {"kind", "direct"},
            {"title", nullptr},
            {"context", nullptr},
            {"members", {member("alice", "Alice", readSeq), member("bob", "Bob", bobRead)}},
            {"last_seq", lastSeq},
            {"last_ts", lastTs},
            {"preview", nullptr},
            {"read_seq", readSeq},
            {"unread", lastSeq - readSeq}};
}

json message(const std::string& conv, int64_t seq, const std::string& sender,
             const std::string& body, const std::string& cmid = "") {
    return {{"conv", conv},
            {"seq", seq},
            {"sender", sender},
            {"cmid", cmid.empty() ? sender + std::to_string(seq) : cmid},
            {"body", body},
            {"meta", nullptr},
            {"ts", 1763712000000 + seq * 1000}};
}

json msgEvent(const std::string& conv, int64_t seq, const std::string& sender,
              const std::string& body, const std::string& cmid = "") {
    json event = message(conv, seq, sender, body, cmid);
    event["ev"] = "msg";
    return event;
}

json history(std::initializer_list<json> messages, bool hasMore = false) {
    return {{"ok", true}, {"msgs", json(messages)}, {"has_more", hasMore}};
}

class ChatModelTest : public ::testing::Test {
  protected:
    ChatModel model{"alice"};
    ChatModel::Clock::time_point now = ChatModel::Clock::now();

    ChatModel::EventEffect event(const json& body, const std::string& conv = "") {
        return model.applyEvent(conv.empty() ? body.value("conv", "") : conv, false, body, now);
    }
    const Conversation& conv(const std::string& id) {
        const Conversation* found = model.find(id);
        EXPECT_NE(found, nullptr) << id;
        return *found;
    }
};

TEST_F(ChatModelTest, ListOrdersByActivityAndNamesConversations) {
    json group = {{"conv", "g1"},
                  {"kind", "group"},
                  {"title", "Climbing Saturday"},
                  {"members", {member("alice", "", 0), member("carol", "Carol", 0)}},
                  {"last_seq", 3},
                  {"last_ts", 3000},
                  {"read_seq", 1},
                  {"preview", {{"seq", 3}, {"sender", "carol"}, {"body", "7am?"}, {"ts", 3000}}}};
    json listing = directSummary("d1", 0, 0, 5000);
    listing["context"] = {
        {"type", "listing"}, {"id", "42"}, {"title", "Blue bike"}, {"status", "sold"}};
    json untitled = group;
    untitled["conv"] = "g2";
    untitled["title"] = nullptr;
    untitled["last_ts"] = 1000;
    untitled["members"].push_back(member("dave", "", 0));
    model.applyList({{"ok", true}, {"convs", {group, listing, untitled}}, {"has_more", false}});

    const auto ordered = model.ordered();
    ASSERT_EQ(ordered.size(), 3U);
    EXPECT_EQ(ordered[0]->id, "d1");
    EXPECT_EQ(ordered[1]->id, "g1");
    EXPECT_EQ(ordered[2]->id, "g2");
    EXPECT_EQ(model.titleOf(*ordered[0]), "Bob · Blue bike");
    EXPECT_EQ(ordered[0]->context->status, "sold");
    EXPECT_EQ(model.titleOf(*ordered[1]), "Climbing Saturday");
    EXPECT_EQ(model.titleOf(*ordered[2]), "Carol, dave") << "members, by name or uid";
    EXPECT_EQ(ordered[1]->unread, 2);
    EXPECT_EQ(ordered[1]->preview->body, "7am?");
    EXPECT_EQ(model.unreadTotal(), 4);
    EXPECT_EQ(model.peers(), std::vector<std::string>{"bob"});
    EXPECT_EQ(model.nameOf("carol"), "Carol");
    EXPECT_EQ(model.nameOf("zed"), "zed");
}

TEST_F(ChatModelTest, KeepsMessagesBySeqOnceOpened) {
    model.applySummary(directSummary("d1", 2, 2, 2000));
    // Not opened: the summary follows, no messages are kept.
    event(msgEvent("d1", 3, "bob", "three"));
    EXPECT_TRUE(conv("d1").messages.empty());
    EXPECT_EQ(conv("d1").lastSeq, 3);
    EXPECT_EQ(conv("d1").unread, 1);
    EXPECT_EQ(conv("d1").preview->body, "three");

    model.track("d1");
    model.applyHistory(
        "d1", history({message("d1", 2, "bob", "two"), message("d1", 3, "bob", "three")}), true);
    event(msgEvent("d1", 3, "bob", "three again"));  // QoS 1: events may come twice
    event(msgEvent("d1", 4, "bob", "four"));
    const auto& messages = conv("d1").messages;
    ASSERT_EQ(messages.size(), 3U);
    EXPECT_EQ(messages.at(3).body, "three");
    EXPECT_EQ(messages.at(4).body, "four");
    EXPECT_TRUE(conv("d1").hasOlder());
    model.applyHistory("d1", history({message("d1", 1, "alice", "one")}), false);
    EXPECT_FALSE(conv("d1").hasOlder());
    EXPECT_EQ(conv("d1").lastSeq, 4);
    EXPECT_EQ(conv("d1").unread, 2);
}

TEST_F(ChatModelTest, OurMessageIsSendingUntilItsReplyOrEvent) {
    model.applySummary(directSummary("d1", 0, 0, 1000));
    model.applyHistory("d1", history({}), true);
    model.addOutgoing("d1", "cm-1", "hello", 1234);
    ASSERT_EQ(conv("d1").outgoing.size(), 1U);
    EXPECT_EQ(conv("d1").outgoing[0].state, ChatMessage::State::Sending);

    model.applySendReply("d1", "cm-1", {{"ok", true}, {"conv", "d1"}, {"seq", 1}, {"ts", 5000}});
    EXPECT_TRUE(conv("d1").outgoing.empty());
    ASSERT_EQ(conv("d1").messages.count(1), 1U);
    EXPECT_EQ(conv("d1").messages.at(1).body, "hello");
    EXPECT_EQ(conv("d1").messages.at(1).ts, 5000);
    EXPECT_EQ(conv("d1").readSeq, 1) << "our own message counts as read";
    EXPECT_EQ(conv("d1").unread, 0);

    // The event may come before the reply.
    model.addOutgoing("d1", "cm-2", "again", 1235);
    event(msgEvent("d1", 2, "alice", "again", "cm-2"));
    EXPECT_TRUE(conv("d1").outgoing.empty());
    model.applySendReply("d1", "cm-2", {{"ok", true}, {"conv", "d1"}, {"seq", 2}, {"ts", 6000}});
    EXPECT_EQ(conv("d1").messages.size(), 2U);

    model.addOutgoing("d1", "cm-3", "bad", 1236);
    model.applySendReply("d1", "cm-3",
                         {{"ok", false}, {"error", {{"code", "forbidden"}, {"message", "muted"}}}});
    ASSERT_EQ(conv("d1").outgoing.size(), 1U);
    EXPECT_EQ(conv("d1").outgoing[0].state, ChatMessage::State::Failed);
    EXPECT_EQ(conv("d1").outgoing[0].error, "forbidden: muted");
}

TEST_F(ChatModelTest, ReadReceiptsFollowTheOtherMembersWatermarks) {
    model.applySummary(directSummary("d1", 3, 3, 3000, /*bobRead=*/1));
    model.applyHistory("d1",
                       history({message("d1", 1, "alice", "one"), message("d1", 2, "bob", "two"),
                                message("d1", 3, "alice", "three")}),
                       true);
    // bob's watermark 2 is his own message: the receipt goes under the last of ours he read.
    EXPECT_EQ(model.receipts(conv("d1")),
              (std::map<int64_t, std::vector<std::string>>{{1, {"Bob"}}}));

    event({{"ev", "read"}, {"conv", "d1"}, {"user", "bob"}, {"seq", 3}});
    EXPECT_EQ(model.receipts(conv("d1")),
              (std::map<int64_t, std::vector<std::string>>{{3, {"Bob"}}}));

    // Sending moves bob's watermark to his message; the receipt stays under ours.
    event(msgEvent("d1", 4, "bob", "four"));
    EXPECT_EQ(model.receipts(conv("d1")),
              (std::map<int64_t, std::vector<std::string>>{{3, {"Bob"}}}));

    // A summary older than the event does not move it back.
    model.applySummary(directSummary("d1", 4, 3, 4000, /*bobRead=*/1));
    EXPECT_EQ(model.receipts(conv("d1")).count(3), 1U);
}

TEST_F(ChatModelTest, GroupReceiptsNameEveryReader) {
    json group = {
        {"conv", "g1"},
        {"kind", "group"},
        {"title", "Trip"},
        {"members", {member("alice", "", 1), member("bob", "Bob", 1), member("carol", "", 1)}},
        {"last_seq", 1},
        {"last_ts", 1000},
        {"read_seq", 1}};
    model.applySummary(group);
    model.applyHistory("g1", history({message("g1", 1, "alice", "who's in?")}), true);
    EXPECT_EQ(model.receipts(conv("g1")),
              (std::map<int64_t, std::vector<std::string>>{{1, {"Bob", "carol"}}}));
}

TEST_F(ChatModelTest, TypingExpiresAndEndsWithAMessage) {
    model.applySummary(directSummary("d1", 0, 0, 1000));
    event({{"ev", "typing"}, {"conv", "d1"}, {"user", "bob"}, {"state", "start"}});
    EXPECT_EQ(model.typingIn(conv("d1"), now + 1s), std::vector<std::string>{"Bob"});
    EXPECT_TRUE(model.typingIn(conv("d1"), now + 7s).empty());
    EXPECT_FALSE(model.expireTyping(now + 5s));
    EXPECT_TRUE(model.expireTyping(now + 7s));

    event({{"ev", "typing"}, {"conv", "d1"}, {"user", "bob"}, {"state", "start"}});
    event({{"ev", "typing"}, {"conv", "d1"}, {"user", "bob"}, {"state", "stop"}});
    EXPECT_TRUE(model.typingIn(conv("d1"), now).empty());

    event({{"ev", "typing"}, {"conv", "d1"}, {"user", "bob"}, {"state", "start"}});
    event(msgEvent("d1", 1, "bob", "done typing"));
    EXPECT_TRUE(model.typingIn(conv("d1"), now).empty());

    event({{"ev", "typing"}, {"conv", "d1"}, {"user", "alice"}, {"state", "start"}});
    EXPECT_TRUE(model.typingIn(conv("d1"), now).empty()) << "our own other device";

    event({{"ev", "typing"}, {"conv", "d1"}, {"user", "bob"}, {"state", "start"}});
    model.clearTyping();
    EXPECT_TRUE(model.typingIn(conv("d1"), now).empty());
}

TEST_F(ChatModelTest, UnreadFromEventsRepliesAndOtherDevices) {
    model.applySummary(directSummary("d1", 5, 2, 1000));
    EXPECT_EQ(conv("d1").unread, 3);
    event({{"ev", "unread"}, {"conv", "d1"}, {"unread", 4}, {"unread_total", 4}},
          /*conv=*/"");
    EXPECT_EQ(conv("d1").unread, 4);
    model.applyReadReply(
        {{"ok", true}, {"conv", "d1"}, {"read_seq", 5}, {"unread", 0}, {"unread_total", 0}});
    EXPECT_EQ(conv("d1").unread, 0);
    EXPECT_EQ(conv("d1").readSeq, 5);

    model.applySummary(directSummary("d2", 7, 1, 2000));
    event({{"ev", "read"}, {"conv", "d2"}, {"user", "alice"}, {"seq", 6}});
    EXPECT_EQ(conv("d2").unread, 1) << "read on another device";
    EXPECT_EQ(model.unreadTotal(), 1);
}

TEST_F(ChatModelTest, UnknownConversationsAreAskedFor) {
    EXPECT_EQ(event(msgEvent("new1", 1, "bob", "hi")).unknownConv, "new1");
    EXPECT_EQ(event({{"ev", "unread"}, {"conv", "new2"}, {"unread", 1}}).unknownConv, "new2");
    EXPECT_TRUE(event({{"ev", "typing"}, {"conv", "new3"}, {"user", "bob"}, {"state", "start"}})
                    .unknownConv.empty());
    json created = directSummary("new1", 1, 0, 1000);
    created["ev"] = "conv";
    created["reason"] = "created";
    EXPECT_TRUE(event(created).changed);
    EXPECT_EQ(conv("new1").unread, 1);
}

TEST_F(ChatModelTest, CatchUpFindsHolesAndAnnouncedMessages) {
    model.applySummary(directSummary("d1", 3, 3, 1000));
    EXPECT_FALSE(model.catchUpAfter("d1")) << "not loaded: nothing to catch up";
    model.applyHistory("d1",
                       history({message("d1", 1, "bob", "1"), message("d1", 2, "bob", "2"),
                                message("d1", 3, "bob", "3")}),
                       true);
    EXPECT_FALSE(model.catchUpAfter("d1"));
    event(msgEvent("d1", 5, "bob", "5"));
    EXPECT_EQ(model.catchUpAfter("d1"), 3) << "4 is missing";
    event(msgEvent("d1", 4, "bob", "4"));
    EXPECT_FALSE(model.catchUpAfter("d1"));
    model.applySummary(directSummary("d1", 9, 5, 2000));
    EXPECT_EQ(model.catchUpAfter("d1"), 5) << "conv.list after a reconnect says there is more";

    model.applySummary(directSummary("empty", 2, 0, 1000));
    model.applyHistory("empty", history({}), true);
    EXPECT_EQ(model.catchUpAfter("empty"), 0);
}

TEST_F(ChatModelTest, PresenceAndNames) {
    model.applySummary(directSummary("d1", 0, 0, 1000));
    EXPECT_EQ(model.presenceOf("bob"), "");
    model.applyEvent("", true, {{"user", "bob"}, {"state", "online"}, {"last_seen", 1}}, now);
    EXPECT_EQ(model.presenceOf("bob"), "online");
    model.applyProfileReply({{"ok", true}, {"user", "alice"}, {"name", "Alice M."}});
    EXPECT_EQ(model.nameOf("alice"), "Alice M.");
    model.applyProfileReply({{"ok", true}, {"user", "alice"}, {"name", ""}});
    EXPECT_EQ(model.nameOf("alice"), "alice");
}

TEST_F(ChatModelTest, OddPayloadsChangeNothingAndDoNotThrow) {
    model.applySummary(directSummary("d1", 1, 1, 1000));
    EXPECT_NO_THROW(event({{"ev", "msg"}, {"conv", "d1"}, {"seq", "seven"}, {"body", 3}}));
    EXPECT_NO_THROW(event({{"ev", "listing.sold"}, {"conv", "d1"}}));
    EXPECT_NO_THROW(model.applyEvent("d1", false, json::array(), now));
    EXPECT_NO_THROW(model.applySummary({{"conv", 5}}));
    EXPECT_NO_THROW(model.applyList({{"ok", true}, {"convs", "none"}}));
    EXPECT_NO_THROW(model.applySendReply("d1", "nope", {{"ok", true}}));
    EXPECT_EQ(conv("d1").lastSeq, 1);
    EXPECT_EQ(model.ordered().size(), 1U);
}

}  // namespace
}  // namespace parley::client::ui
