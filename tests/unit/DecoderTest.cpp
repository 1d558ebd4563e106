#include <gtest/gtest.h>

#include "protocol/Decoder.h"

namespace parley {
namespace {

class DecoderTest : public ::testing::Test {
  protected:
    TopicScheme topics{"parley/v1"};
    Decoder decoder{topics, 1024};

    DecodeFailure failure(const std::string& payload,
                          const std::string& topic = "parley/v1/c2s/alice") {
        auto result = decoder.decode(topic, payload, "");
        EXPECT_TRUE(std::holds_alternative<DecodeFailure>(result)) << payload;
        if (auto* failed = std::get_if<DecodeFailure>(&result)) {
            return *failed;
        }
        return {};
    }
};

TEST_F(DecoderTest, DecodesACommand) {
    auto result = decoder.decode("parley/v1/c2s/alice", R"({"op":"ping","id":"7","x":1})", "cd");
    ASSERT_TRUE(std::holds_alternative<Command>(result));
    const auto& command = std::get<Command>(result);
    EXPECT_EQ(command.uid, "alice");
    EXPECT_EQ(command.op, "ping");
    EXPECT_EQ(command.requestId, "7");
    EXPECT_EQ(command.args["x"], 1);
    EXPECT_EQ(command.correlationData, "cd");
    EXPECT_EQ(command.orderingKey(), "alice");
}

TEST_F(DecoderTest, ActivityIsTrueUnlessMarkedFalse) {
    const auto decode = [&](const std::string& payload) {
        return std::get<Command>(decoder.decode("parley/v1/c2s/alice", payload, ""));
    };
    EXPECT_TRUE(decode(R"({"op":"ping"})").activity);
    EXPECT_TRUE(decode(R"({"op":"ping","activity":true})").activity);
    EXPECT_FALSE(decode(R"({"op":"conv.list","activity":false})").activity);
    auto wrong = failure(R"({"op":"ping","id":"4","activity":"no"})");
    EXPECT_EQ(wrong.code, ErrorCode::BadRequest);
    EXPECT_EQ(wrong.requestId, "4");
    EXPECT_TRUE(decode(R"({"op":"ping","activity":null})").activity) << "null is absent";
}

TEST_F(DecoderTest, OrderingKeyIsTheConversationWhenNamed) {
    auto result = decoder.decode("parley/v1/c2s/alice", R"({"op":"msg.send","conv":"c1"})", "");
    EXPECT_EQ(std::get<Command>(result).orderingKey(), "c1");
    EXPECT_TRUE(std::get<Command>(result).requestId.is_null());
}

TEST_F(DecoderTest, NotJsonHasNullIdAndAReplyPath) {
    auto failed = failure("hello");
    EXPECT_EQ(failed.code, ErrorCode::BadRequest);
    EXPECT_TRUE(failed.requestId.is_null());
    ASSERT_TRUE(failed.replyUid.has_value());
    EXPECT_EQ(*failed.replyUid, "alice");
}

TEST_F(DecoderTest, RefusesInvalidUtf8) {
    EXPECT_EQ(failure("{\"op\":\"ping\",\"x\":\"\xC3\x28\"}").code, ErrorCode::BadRequest);
    EXPECT_EQ(failure("{\"op\":\"ping\",\"x\":\"\xED\xA0\x80\"}").code, ErrorCode::BadRequest);
}

TEST_F(DecoderTest, RefusesNonObjects) {
    EXPECT_EQ(failure("[1,2]").code, ErrorCode::BadRequest);
    EXPECT_EQ(failure("\"op\"").code, ErrorCode::BadRequest);
    EXPECT_EQ(failure("").code, ErrorCode::BadRequest);
}

TEST_F(DecoderTest, RefusesAnythingAfterTheObjectNulIncluded) {
    using namespace std::string_literals;
    // JSON readers that stop at a NUL byte (a C string) must not let a command through with
    // something after it: the whole payload is one object.
    for (const std::string& payload :
         {R"({"op":"ping","id":"z1"})"s + '\0', R"({"op":"ping","id":"z1"})"s + "\0garbage{"s,
          R"({"op":"ping","id":"z1"})"s + '\0' + R"({"op":"ping","id":"z2"})"s,
          R"({"op":"ping","id":"z1"} {"op":"ping","id":"z2"})"s, R"({"op":"ping"} x)"s,
          "\0"s + R"({"op":"ping","id":"z1"})"s, R"({"op":"ping","id":"z1\u0000"})"s + '\0'}) {
        auto failed = failure(payload);
        EXPECT_EQ(failed.code, ErrorCode::BadRequest) << payload;
        EXPECT_EQ(failed.replyUid, std::optional<std::string>("alice"));
    }
    // A NUL escaped inside a string is text like any other character, and whitespace may follow.
    auto escaped = decoder.decode("parley/v1/c2s/alice",
                                  R"({"op":"ping","x":"a\u0000b"} )"
                                  "\n",
                                  "");
    ASSERT_TRUE(std::holds_alternative<Command>(escaped));
    EXPECT_EQ(std::get<Command>(escaped).args["x"].get<std::string>(), "a\0b"s);
}

TEST_F(DecoderTest, RefusesOversizedPayloadWithoutParsing) {
    auto failed = failure(std::string(2000, '{'));
    EXPECT_EQ(failed.code, ErrorCode::TooLarge);
}

TEST_F(DecoderTest, RefusesDeepNesting) {
    std::string deep = R"({"op":"ping","x":)" + std::string(40, '[') + std::string(40, ']') + "}";
    EXPECT_EQ(failure(deep).code, ErrorCode::BadRequest);
    // Brackets inside strings do not count.
    std::string quoted = R"({"op":"ping","x":")" + std::string(100, '[') + R"("})";
    Decoder roomy(topics, 4096);
    EXPECT_TRUE(std::holds_alternative<Command>(roomy.decode("parley/v1/c2s/a", quoted, "")));
}

TEST_F(DecoderTest, ChecksIdAndOp) {
    auto badId = failure(R"({"op":"ping","id":5})");
    EXPECT_EQ(badId.code, ErrorCode::BadRequest);
    EXPECT_TRUE(badId.requestId.is_null());
    EXPECT_EQ(failure(R"({"op":"ping","id":")" + std::string(65, 'x') + R"("})").code,
              ErrorCode::BadRequest);
    auto noOp = failure(R"({"id":"9"})");
    EXPECT_EQ(noOp.code, ErrorCode::BadRequest);
    EXPECT_EQ(noOp.requestId, "9") << "the id is echoed once it could be read";
    EXPECT_EQ(failure(R"({"id":"9","op":3})").code, ErrorCode::BadRequest);
}

TEST_F(DecoderTest, InvalidUidInTopic) {
    auto spaced = failure(R"({"op":"ping"})", "parley/v1/c2s/bob smith");
    EXPECT_EQ(spaced.code, ErrorCode::BadRequest);
    ASSERT_TRUE(spaced.replyUid.has_value()) << "a topic-safe uid still gets its answer";
    auto wild = failure(R"({"op":"ping"})", "parley/v1/c2s/a+b");
    EXPECT_FALSE(wild.replyUid.has_value());
    auto other = failure(R"({"op":"ping"})", "parley/v1/other/alice");
    EXPECT_FALSE(other.replyUid.has_value());
    auto nested = failure(R"({"op":"ping"})", "parley/v1/c2s/alice/x");
    EXPECT_FALSE(nested.replyUid.has_value());
}

TEST(Uid, Validation) {
    EXPECT_TRUE(isValidUid("alice"));
    EXPECT_TRUE(isValidUid("a.b_c-d@example.com"));
    EXPECT_TRUE(isValidUid(std::string(64, 'x')));
    EXPECT_FALSE(isValidUid(""));
    EXPECT_FALSE(isValidUid(std::string(65, 'x')));
    EXPECT_FALSE(isValidUid("a+b"));
    EXPECT_FALSE(isValidUid("a#"));
    EXPECT_FALSE(isValidUid("a/b"));
    EXPECT_FALSE(isValidUid("é"));
    EXPECT_FALSE(isValidUid("a b"));
}

TEST(DecoderBytes, ACommandWithBytesIsItsJsonLineThenTheBytes) {
    TopicScheme topics{"parley/v1"};
    Decoder decoder{topics, 1024, 16};
    // The bytes may hold anything, newlines and NULs included.
    const std::string bytes("a\n\0b{\"x\"", 7);
    auto result = decoder.decode("parley/v1/c2s/alice/bin",
                                 R"({"op":"attach.chunk","id":"9","index":3})"
                                 "\n" +
                                     bytes,
                                 "");
    ASSERT_TRUE(std::holds_alternative<Command>(result));
    const auto& command = std::get<Command>(result);
    EXPECT_EQ(command.uid, "alice");
    EXPECT_EQ(command.op, "attach.chunk");
    EXPECT_EQ(command.requestId, "9");
    EXPECT_EQ(command.args["index"], 3);
    ASSERT_TRUE(command.bytes.has_value());
    EXPECT_EQ(*command.bytes, bytes);
    // Nothing after the newline is no bytes, not none.
    auto empty = decoder.decode("parley/v1/c2s/alice/bin",
                                R"({"op":"x.y"})"
                                "\n",
                                "");
    ASSERT_TRUE(std::holds_alternative<Command>(empty));
    EXPECT_EQ(std::get<Command>(empty).bytes, std::string());
    // The JSON topic never has bytes.
    auto plain = decoder.decode("parley/v1/c2s/alice", R"({"op":"x.y"})", "");
    EXPECT_FALSE(std::get<Command>(plain).bytes.has_value());
}

TEST(DecoderBytes, RefusesWhatIsNoCommandWithBytes) {
    TopicScheme topics{"parley/v1"};
    Decoder decoder{topics, 64, 16};
    const auto failure = [&](const std::string& payload) {
        auto result = decoder.decode("parley/v1/c2s/alice/bin", payload, "");
        EXPECT_TRUE(std::holds_alternative<DecodeFailure>(result)) << payload;
        return std::holds_alternative<DecodeFailure>(result) ? std::get<DecodeFailure>(result)
                                                             : DecodeFailure{};
    };
    EXPECT_EQ(failure(R"({"op":"x.y"})").code, ErrorCode::BadRequest);  // no newline
    EXPECT_EQ(failure(R"({"op":"x.y"})"
                      "\n" +
                      std::string(17, 'b'))
                  .code,
              ErrorCode::TooLarge);
    EXPECT_EQ(failure(std::string(R"({"op":"x.y","pad":")") + std::string(60, 'p') + "\"}\n").code,
              ErrorCode::TooLarge);
    EXPECT_EQ(failure("not json\nbytes").code, ErrorCode::BadRequest);
    EXPECT_EQ(failure("{\"op\":\n\"x.y\"}\n").code, ErrorCode::BadRequest);  // JSON on two lines
    EXPECT_EQ(failure(R"({"op":"x.y"})").replyUid, "alice");  // answered on alice's resp
}

TEST(TopicScheme, BuildsAndParsesTopics) {
    TopicScheme topics("chat/v9");
    EXPECT_EQ(topics.commandSubscription("grp"), "$share/grp/chat/v9/c2s/#");
    EXPECT_EQ(topics.bytesCommandTopic("u1"), "chat/v9/c2s/u1/bin");
    EXPECT_EQ(topics.bytesReplyTopic("u1"), "chat/v9/u/u1/bin");
    EXPECT_EQ(topics.uidFromBytesCommandTopic("chat/v9/c2s/u1/bin"), "u1");
    EXPECT_FALSE(topics.uidFromBytesCommandTopic("chat/v9/c2s/u1").has_value());
    EXPECT_FALSE(topics.uidFromBytesCommandTopic("chat/v9/c2s/u1/x/bin").has_value());
    EXPECT_FALSE(topics.uidFromBytesCommandTopic("chat/v9/c2s//bin").has_value());
    EXPECT_FALSE(topics.uidFromCommandTopic("chat/v9/c2s/u1/bin").has_value());
    EXPECT_EQ(topics.replyTopic("u1"), "chat/v9/u/u1/resp");
    EXPECT_EQ(topics.conversationTopic("u1", "c2"), "chat/v9/u/u1/c/c2");
    EXPECT_EQ(topics.userTopic("u1"), "chat/v9/u/u1/n");
    EXPECT_EQ(topics.presenceTopic("u1"), "chat/v9/presence/u1");
    EXPECT_EQ(topics.uidFromCommandTopic("chat/v9/c2s/u1"), "u1");
    EXPECT_FALSE(topics.uidFromCommandTopic("chat/v9/c2s/").has_value());
    EXPECT_FALSE(topics.uidFromCommandTopic("chat/v1/c2s/u1").has_value());
}

// What the C++ clients, the bench and the tests read their inbox with (parley/wire).
TEST(TopicScheme, ParsesWhatAClientReceives) {
    TopicScheme topics("chat/v9");
    EXPECT_EQ(topics.inboxPrefix("u1"), "chat/v9/u/u1/");
    EXPECT_EQ(topics.inboxSubscription("u1"), "chat/v9/u/u1/#");
    EXPECT_EQ(topics.convFromConversationTopic("u1", "chat/v9/u/u1/c/c2"), "c2");
    EXPECT_FALSE(topics.convFromConversationTopic("u2", "chat/v9/u/u1/c/c2").has_value());
    EXPECT_FALSE(topics.convFromConversationTopic("u1", "chat/v9/u/u1/c/").has_value());
    EXPECT_FALSE(topics.convFromConversationTopic("u1", "chat/v9/u/u1/resp").has_value());
    EXPECT_EQ(topics.uidFromPresenceTopic("chat/v9/presence/u1"), "u1");
    EXPECT_FALSE(topics.uidFromPresenceTopic("chat/v9/presence/").has_value());
    EXPECT_FALSE(topics.uidFromPresenceTopic("chat/v9/u/u1/n").has_value());
}

}  // namespace
}  // namespace parley
