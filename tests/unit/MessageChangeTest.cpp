// msg.edit's window and msg.react's emoji check, through the whole server with a clock the test
// moves (no waiting). The rest of issue 21 runs over the real broker (MessageChangesTest).

#include "handlers/MessageChangeHandler.h"
#include "parley/testing/ServerHarness.h"

namespace parley::testing {
namespace {

using nlohmann::json;

class MessageChangeTest : public ServerHarness {
  protected:
    MessageChangeTest() { config_.limits.editWindowMs = 60000; }

    json editOf(const std::string& uid, const std::string& conv, int64_t seq,
                const std::string& body) {
        return call(uid, {{"op", "msg.edit"}, {"conv", conv}, {"seq", seq}, {"body", body}});
    }
};

TEST_F(MessageChangeTest, EditsAreAllowedWithinTheWindowOnly) {
    const std::string conv = openDirect("alice", "bob");
    ASSERT_TRUE(sendMessage("alice", conv, "m1", "one")["ok"]);
    clock_.advance(59999);
    EXPECT_EQ(codeOf(editOf("alice", conv, 1, "still in time")), "ok");
    clock_.advance(2);
    auto late = editOf("alice", conv, 1, "too late");
    EXPECT_EQ(codeOf(late), "edit_window_passed") << late;
    auto history = call("bob", {{"op", "msg.history"}, {"conv", conv}});
    EXPECT_EQ(history["msgs"][0]["body"], "still in time");
}

TEST_F(MessageChangeTest, AWindowOfZeroTurnsEditingOff) {
    config_.limits.editWindowMs = 0;
    const std::string conv = openDirect("alice", "bob");
    ASSERT_TRUE(sendMessage("alice", conv, "m1", "one")["ok"]);
    EXPECT_EQ(codeOf(editOf("alice", conv, 1, "two")), "edit_window_passed");
}

TEST(EmojiCheck, AcceptsEmojiAndRefusesText) {
    for (const char* good : {"👍", "❤️", "👨‍👩‍👧‍👦", "🇫🇷", "1️⃣", "#️⃣",
                             "👍🏽", "©"}) {
        EXPECT_EQ(emojiProblem(good), "") << good;
    }
    for (const char* bad :
         {"", "a", "ok", "1", " 👍", "👍\n", "\xC2\xA0", "👍\xE2\x80\x8B", "👍👍👍👍👍👍👍👍👍👍👍", "\xFF"}) {
        EXPECT_NE(emojiProblem(bad), "") << bad;
    }
    EXPECT_NE(emojiProblem(std::string(65, '\xF0')), "");
}

}  // namespace
}  // namespace parley::testing
