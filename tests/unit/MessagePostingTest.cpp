// The one message path (chat/MessagePosting) through both of its callers: a client's msg.send
// and an extension's post (ExtensionServices::postMessage, what plugins' post_message and Lua's
// parley.post call). Both must keep the same limits, run the same hooks and deliver the same way.

#include <gtest/gtest.h>

#include <mutex>
#include <string_view>
#include <utility>
#include <vector>

#include "parley/testing/ServerHarness.h"
#include "protocol/ErrorCode.h"

namespace parley::testing {
namespace {

using nlohmann::json;

class MessagePostingTest : public ServerHarness {
  protected:
    MessagePostingTest() {
        config_.limits.maxBodyBytes = 10;
        config_.limits.maxMetaBytes = 20;
    }

    // An extension's post; the error code it was refused with, or "ok".
    std::string post(const std::string& conv, const std::string& cmid, const std::string& body,
                     const json& meta = nullptr) {
        try {
            server().extensionServices().postMessage("probe", conv, cmid, body, meta);
            return "ok";
        } catch (const ProtocolError& error) {
            return std::string(errorCodeName(error.code()));
        }
    }

    // The seqs of the msg events `uid` got in `conv`, in the order they were published.
    std::vector<int64_t> delivered(const std::string& uid, const std::string& conv) const {
        std::vector<int64_t> seqs;
        for (const auto& sent : transport_.sentTo("parley/v1/u/" + uid + "/c/" + conv)) {
            if (sent.payload.value("ev", "") == "msg") {
                seqs.push_back(sent.payload["seq"].get<int64_t>());
            }
        }
        return seqs;
    }

    int64_t lastSeq(const std::string& conv) { return store_->conversation(conv)->lastSeq; }
};

TEST_F(MessagePostingTest, AMembersMessageAndAnExtensionsKeepTheSameLimits) {
    const std::string conv = openDirect("alice", "bob");
    const std::string eleven(11, 'x');
    const json bigMeta = {{"k", std::string(30, 'm')}};

    EXPECT_EQ(codeOf(sendMessage("alice", conv, "m1", eleven)), "too_large");
    EXPECT_EQ(post(conv, "p1", eleven), "too_large");
    EXPECT_EQ(codeOf(sendMessage("alice", conv, "m2", "hi", bigMeta)), "too_large");
    EXPECT_EQ(post(conv, "p2", "hi", bigMeta), "too_large");
    EXPECT_EQ(codeOf(sendMessage("alice", conv, "m3", "")), "bad_request");
    EXPECT_EQ(post(conv, "p3", ""), "bad_request");
    EXPECT_EQ(post(conv, "p4", "\xC3"), "bad_request") << "not UTF-8";
    EXPECT_EQ(lastSeq(conv), 0) << "nothing was stored";
    EXPECT_TRUE(delivered("bob", conv).empty()) << "nothing was delivered";

    // Within the limits, both are stored in the same sequence.
    EXPECT_EQ(codeOf(sendMessage("alice", conv, "m4", std::string(10, 'x'))), "ok");
    EXPECT_EQ(post(conv, "p5", "", {{"k", "v"}}), "ok") << "a meta alone is a message";
    EXPECT_EQ(delivered("bob", conv), (std::vector<int64_t>{1, 2}));
}

TEST_F(MessagePostingTest, BeforeStoreSeesMembersNewMessagesAndItsRewriteKeepsTheLimits) {
    const std::string conv = openDirect("alice", "bob");
    std::mutex mutex;
    std::vector<std::string> seen;  // cmids before_store saw
    idleServer().hooks().add(Hook::MessageBeforeStore, "probe",
                             [&](const HookPayload& payload, std::chrono::milliseconds) {
                                 auto& draft = *std::get<MessageDraft*>(payload);
                                 std::lock_guard lock(mutex);
                                 seen.push_back(draft.cmid);
                                 if (draft.body == "grow") {
                                     draft.body =
                                         std::string(11, 'x');  // past limits.max_body_bytes
                                 } else if (draft.body == "wipe") {
                                     draft.body.clear();
                                 } else {
                                     draft.body += "!";
                                 }
                                 return Verdict::proceed();
                             });

    EXPECT_EQ(codeOf(sendMessage("alice", conv, "m1", "hi")), "ok");
    EXPECT_EQ(store_->history({conv, {}, {}, 10}).messages.at(0).body, "hi!") << "rewritten";
    EXPECT_EQ(codeOf(sendMessage("alice", conv, "m1", "hi")), "ok") << "a resend";
    const auto tooLarge = sendMessage("alice", conv, "m2", "grow");
    EXPECT_EQ(codeOf(tooLarge), "too_large") << tooLarge;
    EXPECT_NE(tooLarge["error"]["message"].get<std::string>().find("rewritten"), std::string::npos)
        << tooLarge;
    EXPECT_EQ(codeOf(sendMessage("alice", conv, "m3", "wipe")), "bad_request");
    EXPECT_EQ(codeOf(sendMessage("mallory", conv, "m4", "hi")), "forbidden");
    EXPECT_EQ(post(conv, "p1", "hi"), "ok");
    EXPECT_EQ(lastSeq(conv), 2) << "m1 and p1 only";
    std::lock_guard lock(mutex);
    EXPECT_EQ(seen, (std::vector<std::string>{"m1", "m2", "m3"}))
        << "not the resend, an outsider's message, nor an extension's (docs/extending.md)";
}

TEST_F(MessagePostingTest, AttachmentsAreStoredOnlyAsAnExtensionResolvedThem) {
    const std::string conv = openDirect("alice", "bob");
    const auto sendWith = [&](const std::string& cmid, const json& attachments) {
        return call("alice", {{"op", "msg.send"},
                              {"conv", conv},
                              {"cmid", cmid},
                              {"body", "pic"},
                              {"attachments", attachments}});
    };
    // No extension takes attachments: refused, nothing stored.
    const auto unresolved = sendWith("a1", json::array({"att1"}));
    EXPECT_EQ(codeOf(unresolved), "bad_request") << unresolved;
    EXPECT_EQ(codeOf(sendWith("a2", json::array())), "bad_request") << "an empty list";
    EXPECT_EQ(codeOf(sendWith("a3", json::array({"x/y"}))), "bad_request") << "not an id";
    EXPECT_EQ(codeOf(sendWith("a4", json::array({"same", "same"}))), "bad_request");
    EXPECT_EQ(lastSeq(conv), 0);

    // One that resolves every id but the one named "skip".
    idleServer().hooks().add(Hook::MessageBeforeStore, "files",
                             [&](const HookPayload& payload, std::chrono::milliseconds) {
                                 auto& draft = *std::get<MessageDraft*>(payload);
                                 json resolved = json::array();
                                 for (const auto& id : draft.attachments) {
                                     if (id == "skip") {
                                         return Verdict::proceed();
                                     }
                                     resolved.push_back({{"id", id}, {"name", "f.png"}});
                                 }
                                 draft.attachments = resolved;
                                 return Verdict::proceed();
                             });
    EXPECT_EQ(codeOf(sendWith("a5", json::array({"att1", "skip"}))), "bad_request");
    EXPECT_EQ(lastSeq(conv), 0);
    const auto sent = sendWith("a6", json::array({"att1", "att2"}));
    ASSERT_EQ(codeOf(sent), "ok") << sent;
    const json expected =
        json::array({{{"id", "att1"}, {"name", "f.png"}}, {{"id", "att2"}, {"name", "f.png"}}});
    const auto history = call("bob", {{"op", "msg.history"}, {"conv", conv}});
    EXPECT_EQ(history["msgs"][0]["attachments"], expected) << history;
    const auto events = transport_.sentTo("parley/v1/u/bob/c/" + conv);
    ASSERT_FALSE(events.empty());
    EXPECT_EQ(events.back().payload["attachments"], expected);
    // A message without attachments looks as it always did.
    ASSERT_EQ(codeOf(sendMessage("alice", conv, "plain", "hi")), "ok");
    const auto plain = call("bob", {{"op", "msg.history"}, {"conv", conv}});
    EXPECT_FALSE(plain["msgs"][1].contains("attachments")) << plain;

    // Erasing the sender drops the attachments with the body: how a file loses a reference.
    ASSERT_GT(store_->eraseUser("alice", 1).messages, 0);
    const auto erased = store_->history({conv, {}, {}, 10}).messages.at(0);
    EXPECT_TRUE(erased.erased);
    EXPECT_FALSE(erased.attachmentsJson.has_value());
}

TEST_F(MessagePostingTest, AfterStoreRunsOnceAfterTheMembersGotTheMessageWhoeverPostedIt) {
    const std::string conv = openDirect("alice", "bob");
    std::mutex mutex;
    std::vector<std::pair<std::string, bool>> calls;  // sender, delivered to bob before the hook
    idleServer().hooks().add(Hook::MessageAfterStore, "probe",
                             [&](const HookPayload& payload, std::chrono::milliseconds) {
                                 const auto& stored = *std::get<const StoredMessage*>(payload);
                                 const auto got = delivered("bob", stored.message.conv);
                                 const bool deliveredFirst =
                                     std::find(got.begin(), got.end(), stored.message.seq) !=
                                     got.end();
                                 std::lock_guard lock(mutex);
                                 calls.emplace_back(stored.message.sender, deliveredFirst);
                                 return Verdict::proceed();
                             });

    EXPECT_EQ(codeOf(sendMessage("alice", conv, "m1")), "ok");
    EXPECT_EQ(post(conv, "p1", "notice"), "ok");
    EXPECT_EQ(codeOf(sendMessage("alice", conv, "m1")), "ok") << "a resend";
    EXPECT_EQ(post(conv, "p1", "notice"), "ok") << "an extension's retry";
    std::lock_guard lock(mutex);
    EXPECT_EQ(calls, (std::vector<std::pair<std::string, bool>>{{"alice", true}, {"system", true}}))
        << "once per stored message, never for a resend";
}

// Why members get a message before message.after_store runs: a message posted from that hook
// (a welcome on the first message) has the next seq, and members get the two in seq order.
TEST_F(MessagePostingTest, AMessagePostedFromAfterStoreReachesMembersAfterTheOneThatCausedIt) {
    const std::string conv = openDirect("alice", "bob");
    auto& services = idleServer().extensionServices();
    idleServer().hooks().add(Hook::MessageAfterStore, "probe",
                             [&](const HookPayload& payload, std::chrono::milliseconds) {
                                 const auto& stored = *std::get<const StoredMessage*>(payload);
                                 if (stored.message.seq == 1) {
                                     services.postMessage("probe", stored.message.conv, "welcome",
                                                          "welcome", nullptr);
                                 }
                                 return Verdict::proceed();
                             });

    EXPECT_EQ(codeOf(sendMessage("alice", conv, "m1")), "ok");
    EXPECT_EQ(lastSeq(conv), 2);
    EXPECT_EQ(delivered("bob", conv), (std::vector<int64_t>{1, 2}));
    EXPECT_EQ(delivered("alice", conv), (std::vector<int64_t>{1, 2}));
}

// The store calls a message makes, each one transaction (appendMessage's batch is one).
class MessageStoreCalls final : public store::StoreObserver {
  public:
    void storeCall(std::string_view method, std::chrono::steady_clock::duration, bool) override {
        // Presence and the sweeps write on their own schedule; they are no message's cost.
        if (method == "recordActivity" || method == "markIdleAway" || method == "kvPurgeExpired") {
            return;
        }
        std::lock_guard lock(mutex_);
        calls_.emplace_back(method);
    }
    void appendBatch(size_t, std::chrono::steady_clock::duration) override {}

    // The calls since the last take.
    std::vector<std::string> take() {
        std::lock_guard lock(mutex_);
        return std::exchange(calls_, {});
    }

  private:
    std::mutex mutex_;
    std::vector<std::string> calls_;
};

TEST_F(MessagePostingTest, AMessageCostsOneTransactionOrTwoWithABeforeStoreHandler) {
    using Calls = std::vector<std::string>;
    const std::string conv = openDirect("alice", "bob");
    MessageStoreCalls calls;
    const auto observing = observeStore(calls);

    EXPECT_EQ(codeOf(sendMessage("alice", conv, "m1")), "ok");
    EXPECT_EQ(calls.take(), Calls{"appendMessage"});

    idleServer().hooks().add(
        Hook::MessageBeforeStore, "probe",
        [](const HookPayload&, std::chrono::milliseconds) { return Verdict::proceed(); });
    EXPECT_EQ(codeOf(sendMessage("alice", conv, "m2")), "ok");
    EXPECT_EQ(calls.take(), (Calls{"messageContext", "appendMessage"}))
        << "the membership and resend reads are one transaction";
    EXPECT_EQ(codeOf(sendMessage("alice", conv, "m2")), "ok") << "a resend";
    EXPECT_EQ(calls.take(), (Calls{"messageContext", "appendMessage"}));
    EXPECT_EQ(post(conv, "p1", "notice"), "ok");
    EXPECT_EQ(calls.take(), Calls{"appendMessage"}) << "before_store is for members' messages";
}

}  // namespace
}  // namespace parley::testing
