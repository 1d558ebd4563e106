#include "TranscriptLayout.h"

#include <gtest/gtest.h>

namespace parley::client::ui {
namespace {

using nlohmann::json;
using Kind = TranscriptLine::Kind;

// 2025-11-21 08:00:00 UTC (Utf8Locale.cpp sets TZ=UTC).
constexpr int64_t kMorning = 1763712000000;

json message(int64_t seq, const std::string& sender, const std::string& body, int64_t ts) {
    return {{"conv", "d1"}, {"seq", seq}, {"sender", sender}, {"cmid", "m" + std::to_string(seq)},
            {"body", body}, {"ts", ts}};
}

class TranscriptLayoutTest : public ::testing::Test {
  protected:
    TranscriptLayoutTest() {
        model.applySummary({{"conv", "d1"},
                            {"kind", "direct"},
                            {"members",
                             {{{"user", "alice"}, {"name", ""}, {"read_seq", 0}},
                              {{"user", "bob"}, {"name", "Bob"}, {"read_seq", 0}}}},
                            {"last_seq", 0},
                            {"last_ts", kMorning}});
    }

    std::vector<TranscriptLine> build(int columns = 40) {
        return TranscriptLayout::build(model, *model.find("d1"), {columns, false});
    }

    ChatModel model{"alice"};
};

TEST_F(TranscriptLayoutTest, MessagesUnderTheirDayWithTimeAndSender) {
    model.applyHistory("d1",
                       {{"ok", true},
                        {"msgs",
                         {message(1, "bob", "Is it still available?", kMorning + 60000),
                          message(2, "alice", "Yes!", kMorning + 86400000)}}},
                       true);
    const auto lines = build();
    ASSERT_EQ(lines.size(), 4U);
    EXPECT_EQ(lines[0].kind, Kind::Day);
    EXPECT_EQ(lines[0].text, L"── Fri 21 Nov 2025 ──");
    EXPECT_EQ(lines[1].kind, Kind::Message);
    EXPECT_EQ(lines[1].time, L"08:01");
    EXPECT_EQ(lines[1].sender, L"Bob");
    EXPECT_FALSE(lines[1].mine);
    EXPECT_EQ(lines[1].text, L"Is it still available?");
    EXPECT_EQ(lines[1].indent, 11) << "\"08:01 Bob: \"";
    EXPECT_EQ(lines[1].seq, 1);
    EXPECT_EQ(lines[2].text, L"── Sat 22 Nov 2025 ──");
    EXPECT_EQ(lines[3].sender, L"you");
    EXPECT_TRUE(lines[3].mine);
}

TEST_F(TranscriptLayoutTest, LongBodiesWrapUnderTheirStart) {
    model.applyHistory(
        "d1",
        {{"ok", true},
         {"msgs", {message(1, "bob", "one two three four five six seven\nend", kMorning)}}},
        true);
    const auto lines = build(30);
    ASSERT_EQ(lines.size(), 4U);
    EXPECT_EQ(lines[1].text, L"one two three four");
    EXPECT_EQ(lines[2].kind, Kind::Continuation);
    EXPECT_EQ(lines[2].text, L"five six seven");
    EXPECT_EQ(lines[2].indent, 11);
    EXPECT_EQ(lines[2].seq, 1);
    EXPECT_EQ(lines[3].kind, Kind::Continuation);
    EXPECT_EQ(lines[3].text, L"end");
}

TEST_F(TranscriptLayoutTest, ReceiptUnderTheLastMessageReadAndOursPendingLast) {
    model.applyHistory("d1",
                       {{"ok", true},
                        {"msgs",
                         {message(1, "alice", "first", kMorning),
                          message(2, "alice", "second", kMorning + 1000)}}},
                       true);
    model.applyEvent("d1", false, {{"ev", "read"}, {"conv", "d1"}, {"user", "bob"}, {"seq", 1}},
                     ChatModel::Clock::now());
    model.addOutgoing("d1", "m-pending", "on its way", kMorning + 2000);
    model.addOutgoing("d1", "m-failed", "refused", kMorning + 3000);
    model.applySendReply("d1", "m-failed",
                         {{"ok", false}, {"error", {{"code", "forbidden"}, {"message", "muted"}}}});
    const auto lines = build();
    ASSERT_EQ(lines.size(), 7U);
    EXPECT_EQ(lines[1].text, L"first");
    EXPECT_EQ(lines[2].kind, Kind::Receipt);
    EXPECT_EQ(lines[2].text, L"✓ read by Bob");
    EXPECT_EQ(lines[3].text, L"second");
    EXPECT_EQ(lines[4].text, L"on its way");
    EXPECT_EQ(lines[4].time, L"  …  ");
    EXPECT_EQ(lines[4].seq, 0) << "not stored: nothing to mark read";
    EXPECT_EQ(lines[5].text, L"refused");
    EXPECT_TRUE(lines[5].failed);
    EXPECT_EQ(lines[6].kind, Kind::Notice);
    EXPECT_EQ(lines[6].text, L"✗ not sent: forbidden: muted");
}

TEST_F(TranscriptLayoutTest, SaysWhenOlderMessagesExistOrNoneYet) {
    auto lines = build();
    ASSERT_EQ(lines.size(), 1U);
    EXPECT_EQ(lines[0].text, L"No messages yet.");

    model.applyHistory("d1", {{"ok", true}, {"msgs", {message(7, "bob", "seventh", kMorning)}}},
                       true);
    lines = build();
    EXPECT_EQ(lines[0].kind, Kind::Notice);
    EXPECT_EQ(lines[0].text, L"↑ older messages: PgUp");
    lines = TranscriptLayout::build(model, *model.find("d1"), {40, true});
    EXPECT_EQ(lines[0].text, L"loading older messages…");
}

TEST_F(TranscriptLayoutTest, NarrowPanePutsTheBodyBelowALongName) {
    model.applyHistory("d1", {{"ok", true}, {"msgs", {message(1, "bob", "hello there", kMorning)}}},
                       true);
    const auto lines = build(16);
    ASSERT_EQ(lines.size(), 3U);
    EXPECT_EQ(lines[1].sender, L"Bob");
    EXPECT_EQ(lines[1].text, L"");
    EXPECT_EQ(lines[2].text, L"hello there");
    EXPECT_EQ(lines[2].indent, 2);
}

}  // namespace
}  // namespace parley::client::ui
