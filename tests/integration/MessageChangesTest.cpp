// Changes to stored messages over the real broker (issue 21): msg.edit, msg.delete, msg.react,
// reply_to and catch-up with msg.changes, each event and each refusal, on SQLite and MariaDB.
// The plain stack's edit window is 4 s (tests/support/Stack.cpp).

#include <gtest/gtest.h>

#include <map>
#include <thread>

#include "BackendTest.h"

namespace parley::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

class MessageChanges : public BackendTest {
  protected:
    static json send(MqttTestClient& from, const std::string& conv, const std::string& body,
                     const json& extra = json::object()) {
        static std::atomic<int> counter{0};
        json command = {{"op", "msg.send"},
                        {"conv", conv},
                        {"cmid", "mc" + std::to_string(++counter)},
                        {"body", body}};
        command.update(extra);
        return from.request(command);
    }

    static json change(MqttTestClient& client, const std::string& conv, const std::string& kind,
                       int64_t seq) {
        return client
            .waitFor([&](const Received& r) {
                return r.topic == "parley/v1/u/" + client.uid() + "/c/" + conv &&
                       r.payload.value("ev", "") == "change" &&
                       r.payload.value("kind", "") == kind && r.payload.value("seq", 0) == seq;
            })
            .payload;
    }

    static json history(MqttTestClient& reader, const std::string& conv) {
        return ok(reader.request({{"op", "msg.history"}, {"conv", conv}}))["msgs"];
    }
};

TEST_P(MessageChanges, TheSenderEditsAndMembersSeeTheCurrentTextAndThatItWasEdited) {
    auto alice = newClient();
    auto bob = newClient();
    const std::string conv = open(*alice, bob->uid());
    ok(send(*alice, conv, "helo", {{"meta", {{"k", 1}}}}));
    ok(send(*bob, conv, "hi"));

    auto edited =
        ok(alice->request({{"op", "msg.edit"}, {"conv", conv}, {"seq", 1}, {"body", "hello"}}));
    EXPECT_EQ(edited["rev"], 1);
    EXPECT_TRUE(edited["changed"]);
    EXPECT_EQ(edited["msg"]["body"], "hello");
    auto event = change(*bob, conv, "edit", 1);
    EXPECT_EQ(event["by"], alice->uid());
    EXPECT_EQ(event["rev"], 1);
    EXPECT_EQ(event["msg"]["body"], "hello");
    EXPECT_EQ(event["msg"]["meta"]["k"], 1) << "meta kept when the edit does not name it";
    EXPECT_TRUE(event["msg"].contains("edited_at"));
    change(*alice, conv, "edit", 1);  // the sender's other devices too

    auto msgs = history(*bob, conv);
    ASSERT_EQ(msgs.size(), 2U);
    EXPECT_EQ(msgs[0]["body"], "hello");
    EXPECT_EQ(msgs[0]["edited_at"], event["msg"]["edited_at"]);
    EXPECT_EQ(msgs[0]["rev"], 1);
    EXPECT_FALSE(msgs[1].contains("edited_at"));
    auto list = ok(bob->request({{"op", "conv.get"}, {"conv", conv}}));
    EXPECT_EQ(list["rev"], 1) << list;

    // A resend of the same edit changes nothing.
    auto again =
        ok(alice->request({{"op", "msg.edit"}, {"conv", conv}, {"seq", 1}, {"body", "hello"}}));
    EXPECT_FALSE(again["changed"]);
    EXPECT_EQ(again["rev"], 1);

    // Each refusal with its code, and nothing changed.
    auto outsider = newClient();
    EXPECT_EQ(codeOf(bob->request({{"op", "msg.edit"}, {"conv", conv}, {"seq", 1}, {"body", "x"}})),
              "not_sender");
    EXPECT_EQ(
        codeOf(outsider->request({{"op", "msg.edit"}, {"conv", conv}, {"seq", 1}, {"body", "x"}})),
        "forbidden");
    EXPECT_EQ(
        codeOf(alice->request({{"op", "msg.edit"}, {"conv", conv}, {"seq", 99}, {"body", "x"}})),
        "not_found");
    EXPECT_EQ(codeOf(alice->request({{"op", "msg.edit"}, {"conv", conv}, {"seq", 1}})),
              "bad_request");
    EXPECT_EQ(
        codeOf(alice->request(
            {{"op", "msg.edit"}, {"conv", conv}, {"seq", 1}, {"body", std::string(20000, 'x')}})),
        "too_large");
    // The window (4 s here) passes.
    std::this_thread::sleep_for(4500ms);
    EXPECT_EQ(codeOf(alice->request(
                  {{"op", "msg.edit"}, {"conv", conv}, {"seq", 1}, {"body", "too late"}})),
              "edit_window_passed");
    EXPECT_EQ(history(*bob, conv)[0]["body"], "hello");
    EXPECT_EQ(ok(bob->request({{"op", "conv.get"}, {"conv", conv}}))["rev"], 1);
}

TEST_P(MessageChanges, DeletionForEveryoneLeavesATombstoneAndTheCountsAsTheyWere) {
    auto alice = newClient();
    auto bob = newClient();
    const std::string conv = open(*alice, bob->uid());
    for (const char* body : {"one", "secret", "three"}) {
        ok(send(*alice, conv, body));
    }
    ok(bob->request({{"op", "msg.react"}, {"conv", conv}, {"seq", 2}, {"emoji", "👍"}}));
    EXPECT_EQ(codeOf(bob->request({{"op", "msg.delete"}, {"conv", conv}, {"seq", 2}})),
              "not_sender");

    auto deleted = ok(alice->request({{"op", "msg.delete"}, {"conv", conv}, {"seq", 2}}));
    EXPECT_TRUE(deleted["changed"]);
    auto event = change(*bob, conv, "delete", 2);
    EXPECT_EQ(event["msg"]["body"], "");
    EXPECT_TRUE(event["msg"]["meta"].is_null());
    EXPECT_EQ(event["msg"]["deleted"], true);
    EXPECT_EQ(event["msg"]["deleted_by"], alice->uid());
    EXPECT_FALSE(event["msg"].contains("reactions"));

    auto msgs = history(*bob, conv);
    ASSERT_EQ(msgs.size(), 3U) << "no hole";
    EXPECT_EQ(msgs[1]["seq"], 2);
    EXPECT_EQ(msgs[1]["body"], "");
    EXPECT_EQ(msgs[1]["deleted"], true);
    auto summary = ok(bob->request({{"op", "conv.get"}, {"conv", conv}}));
    EXPECT_EQ(summary["unread"], 3) << "bob had not read them; a deletion moves no count";

    EXPECT_EQ(
        codeOf(alice->request({{"op", "msg.edit"}, {"conv", conv}, {"seq", 2}, {"body", "back"}})),
        "message_deleted");
    EXPECT_EQ(
        codeOf(bob->request({{"op", "msg.react"}, {"conv", conv}, {"seq", 2}, {"emoji", "👍"}})),
        "message_deleted");
    auto again = ok(alice->request({{"op", "msg.delete"}, {"conv", conv}, {"seq", 2}}));
    EXPECT_FALSE(again["changed"]) << "a resend";
    EXPECT_EQ(codeOf(alice->request({{"op", "msg.delete"}, {"conv", conv}, {"seq", 7}})),
              "not_found");
    EXPECT_EQ(codeOf(newClient()->request({{"op", "msg.delete"}, {"conv", conv}, {"seq", 1}})),
              "forbidden");
}

TEST_P(MessageChanges, ReactionsCarryCountsAndWhoReacted) {
    auto alice = newClient();
    auto bob = newClient();
    const std::string conv = open(*alice, bob->uid());
    ok(send(*alice, conv, "lunch?"));
    ok(alice->request({{"op", "msg.react"}, {"conv", conv}, {"seq", 1}, {"emoji", "👍"}}));
    auto reacted =
        ok(bob->request({{"op", "msg.react"}, {"conv", conv}, {"seq", 1}, {"emoji", "👍"}}));
    EXPECT_EQ(reacted["rev"], 2);
    auto event =
        alice
            ->waitFor([&](const Received& r) {
                return r.payload.value("ev", "") == "change" && r.payload.value("rev", 0) == 2;
            })
            .payload;
    EXPECT_EQ(event["by"], bob->uid());
    ASSERT_EQ(event["msg"]["reactions"].size(), 1U) << event;
    EXPECT_EQ(event["msg"]["reactions"][0]["emoji"], "👍");
    EXPECT_EQ(event["msg"]["reactions"][0]["count"], 2);
    EXPECT_EQ(event["msg"]["reactions"][0]["users"], json({alice->uid(), bob->uid()}));
    auto twice =
        ok(bob->request({{"op", "msg.react"}, {"conv", conv}, {"seq", 1}, {"emoji", "👍"}}));
    EXPECT_FALSE(twice["changed"]) << "one of each emoji per user";

    ok(bob->request(
        {{"op", "msg.react"}, {"conv", conv}, {"seq", 1}, {"emoji", "👍"}, {"remove", true}}));
    auto msgs = history(*alice, conv);
    EXPECT_EQ(msgs[0]["reactions"][0]["count"], 1);
    EXPECT_EQ(msgs[0]["reactions"][0]["users"], json({alice->uid()}));

    for (const char* bad : {"", "hello", "a", " ", "👍 ", "👍👍👍👍👍👍👍👍👍👍👍"}) {
        EXPECT_EQ(
            codeOf(bob->request({{"op", "msg.react"}, {"conv", conv}, {"seq", 1}, {"emoji", bad}})),
            "bad_request")
            << "'" << bad << "'";
    }
    EXPECT_EQ(codeOf(bob->request({{"op", "msg.react"}, {"conv", conv}, {"seq", 1}})),
              "bad_request");
    EXPECT_EQ(
        codeOf(bob->request(
            {{"op", "msg.react"}, {"conv", conv}, {"seq", 1}, {"emoji", "👍"}, {"remove", "yes"}})),
        "bad_request");
    EXPECT_EQ(
        codeOf(bob->request({{"op", "msg.react"}, {"conv", conv}, {"seq", 5}, {"emoji", "👍"}})),
        "not_found");
    EXPECT_EQ(codeOf(newClient()->request(
                  {{"op", "msg.react"}, {"conv", conv}, {"seq", 1}, {"emoji", "👍"}})),
              "forbidden");
    // At most 20 different emojis on one message (limits.max_reaction_emojis).
    for (int i = 0; i < 19; ++i) {
        const std::string emoji = {'\xF0', '\x9F', '\x98', static_cast<char>('\x80' + i)};
        ok(bob->request({{"op", "msg.react"}, {"conv", conv}, {"seq", 1}, {"emoji", emoji}}));
    }
    EXPECT_EQ(
        codeOf(bob->request({{"op", "msg.react"}, {"conv", conv}, {"seq", 1}, {"emoji", "🎉"}})),
        "too_many_reactions");
    // An emoji already there may still be added.
    ok(bob->request({{"op", "msg.react"}, {"conv", conv}, {"seq", 1}, {"emoji", "👍"}}));
}

TEST_P(MessageChanges, RepliesCarryAPreviewOfWhatTheyAnswer) {
    auto alice = newClient();
    auto bob = newClient();
    const std::string conv = open(*alice, bob->uid());
    ok(send(*alice, conv, "Is the bike still available?"));
    ok(send(*bob, conv, "Yes!", {{"reply_to", 1}}));
    auto event = alice->waitFor([&](const Received& r) {
        return r.payload.value("ev", "") == "msg" && r.payload.value("seq", 0) == 2;
    });
    EXPECT_EQ(event.payload["reply_to"], 1);
    EXPECT_EQ(event.payload["reply_preview"]["sender"], alice->uid());
    EXPECT_EQ(event.payload["reply_preview"]["body"], "Is the bike still available?");
    EXPECT_EQ(codeOf(send(*bob, conv, "to nothing", {{"reply_to", 3}})), "not_found");
    EXPECT_EQ(codeOf(send(*bob, conv, "bad", {{"reply_to", "1"}})), "bad_request");
    EXPECT_EQ(codeOf(send(*newClient(), conv, "outsider", {{"reply_to", 1}})), "forbidden");
    EXPECT_EQ(ok(bob->request({{"op", "conv.get"}, {"conv", conv}}))["last_seq"], 2)
        << "refused replies stored nothing";

    ok(alice->request({{"op", "msg.delete"}, {"conv", conv}, {"seq", 1}}));
    auto msgs = history(*bob, conv);
    EXPECT_EQ(msgs[1]["reply_preview"]["deleted"], true);
    EXPECT_EQ(msgs[1]["reply_preview"]["body"], "");
}

// A client offline while messages were edited, deleted and reacted to learns every change with
// one cursor, and ends with what a fresh history shows.
TEST_P(MessageChanges, AClientOfflineAcrossChangesCatchesUpWithOneCursor) {
    auto alice = newClient();
    auto bob = newClient();
    const std::string conv = open(*alice, bob->uid());
    for (int i = 1; i <= 8; ++i) {
        ok(send(*alice, conv, "message " + std::to_string(i)));
    }
    // Bob's copy, and his cursor, before he goes away.
    std::map<int64_t, json> copy;
    for (const auto& m : history(*bob, conv)) {
        copy[m["seq"]] = m;
    }
    int64_t rev = ok(bob->request({{"op", "conv.get"}, {"conv", conv}}))["rev"];
    EXPECT_EQ(rev, 0);
    const std::string bobUid = bob->uid();
    bob.reset();  // offline: a clean session, every event meanwhile is lost to him

    auto carol = newClient();
    ok(alice->request({{"op", "msg.edit"}, {"conv", conv}, {"seq", 2}, {"body", "edited"}}));
    ok(alice->request({{"op", "msg.delete"}, {"conv", conv}, {"seq", 3}}));
    ok(alice->request({{"op", "msg.react"}, {"conv", conv}, {"seq", 4}, {"emoji", "🎉"}}));
    ok(alice->request({{"op", "msg.edit"}, {"conv", conv}, {"seq", 2}, {"body", "edited again"}}));
    ok(alice->request({{"op", "msg.react"}, {"conv", conv}, {"seq", 5}, {"emoji", "👍"}}));
    ok(alice->request(
        {{"op", "msg.react"}, {"conv", conv}, {"seq", 5}, {"emoji", "👍"}, {"remove", true}}));
    ok(send(*alice, conv, "message 9"));

    bob = stack().connect(bobUid);
    auto summary = ok(bob->request({{"op", "conv.get"}, {"conv", conv}}));
    EXPECT_EQ(summary["rev"], 6);
    EXPECT_EQ(summary["last_seq"], 9);
    // New messages by seq, as always; changes by rev, in pages of 2 to show the cursor.
    const json newer = ok(bob->request({{"op", "msg.history"}, {"conv", conv}, {"after", 8}}));
    for (const auto& m : newer["msgs"]) {
        copy[m["seq"]] = m;
    }
    int pages = 0;
    while (true) {
        auto page = ok(bob->request(
            {{"op", "msg.changes"}, {"conv", conv}, {"since_rev", rev}, {"limit", 2}}));
        ++pages;
        for (const auto& m : page["msgs"]) {
            EXPECT_GT(m["rev"].get<int64_t>(), rev);
            copy[m["seq"]] = m;
        }
        rev = page["next_rev"];
        if (!page["has_more"]) {
            break;
        }
        ASSERT_LT(pages, 10);
    }
    EXPECT_EQ(rev, 6);
    EXPECT_EQ(pages, 2) << "4 changed messages (seq 2, 3, 4, 5), once each";
    std::map<int64_t, json> fresh;
    for (const auto& m : history(*bob, conv)) {
        fresh[m["seq"]] = m;
    }
    EXPECT_EQ(copy, fresh) << "converged";
    EXPECT_EQ(fresh[2]["body"], "edited again");
    EXPECT_EQ(fresh[3]["deleted"], true);
    EXPECT_EQ(fresh[4]["reactions"][0]["emoji"], "🎉");
    EXPECT_FALSE(fresh[5].contains("reactions"));
    EXPECT_EQ(fresh[5]["rev"], 6);

    // Nothing more: an empty page at the same cursor.
    auto none = ok(bob->request({{"op", "msg.changes"}, {"conv", conv}, {"since_rev", rev}}));
    EXPECT_TRUE(none["msgs"].empty());
    EXPECT_EQ(none["next_rev"], 6);
    EXPECT_EQ(codeOf(carol->request({{"op", "msg.changes"}, {"conv", conv}, {"since_rev", 0}})),
              "forbidden");
    EXPECT_EQ(codeOf(bob->request({{"op", "msg.changes"}, {"conv", conv}})), "bad_request");
    EXPECT_EQ(codeOf(bob->request({{"op", "msg.changes"}, {"conv", conv}, {"since_rev", -1}})),
              "bad_request");
}

INSTANTIATE_TEST_SUITE_P(Backends, MessageChanges, ::testing::Values("sqlite", "mariadb"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace parley::testing
