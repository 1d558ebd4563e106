#include "StoreSuite.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <stop_token>
#include <thread>
#include <tuple>

namespace parley::testing {

using namespace parley::store;

void StoreSuite::SetUp() {
    open_ = GetParam().freshDatabase();
    store_ = open_();
    store_->migrate();
}

namespace {

NewMessage message(const std::string& conv, const std::string& sender, const std::string& cmid,
                   const std::string& body = "hi", int64_t ts = 1000) {
    return NewMessage{conv, sender, cmid, body, std::nullopt, ts};
}

std::vector<int64_t> seqs(const HistoryPage& page) {
    std::vector<int64_t> result;
    for (const auto& m : page.messages) {
        result.push_back(m.seq);
    }
    return result;
}

std::vector<int64_t> range(int64_t from, int64_t to) {
    std::vector<int64_t> result;
    for (int64_t i = from; i <= to; ++i) {
        result.push_back(i);
    }
    return result;
}

int64_t totalOf(Store& store, const std::string& uid) {
    return store.unreadTotals({uid}).at(0).unread;
}

}  // namespace

TEST_P(StoreSuite, MigrateIsIdempotent) {
    const int version = store_->migrate();
    EXPECT_GE(version, 1);
    EXPECT_EQ(open_()->migrate(), version);
}

TEST_P(StoreSuite, UnreadMembersAreThoseBehindInRecentlyActiveConversations) {
    store_->openDirect("alice", "bob", std::nullopt, "c1", 100);
    store_->openDirect("alice", "carol", std::nullopt, "c2", 100);
    store_->appendMessage(message("c1", "alice", "u1", "one", 5000));
    store_->appendMessage(message("c1", "alice", "u2", "two", 6000));
    store_->appendMessage(message("c2", "alice", "u3", "three", 7000));
    store_->setPresence("carol", PresenceState::Away, 7000);

    // The sender has read their own; members behind come with their presence, oldest first.
    auto rows = store_->unreadMembers(0, std::nullopt, 10);
    ASSERT_EQ(rows.size(), 2U);
    EXPECT_EQ(rows[0].uid, "bob");
    EXPECT_EQ(rows[0].conv, "c1");
    EXPECT_EQ(rows[0].readSeq, 0);
    EXPECT_EQ(rows[0].lastSeq, 2);
    EXPECT_EQ(rows[0].presence, PresenceState::Offline);
    EXPECT_EQ(rows[1].uid, "carol");
    EXPECT_EQ(rows[1].presence, PresenceState::Away);
    EXPECT_LE(rows[0].lastActivity, rows[1].lastActivity);
    // Only conversations active since; only one user's; a limit.
    ASSERT_EQ(store_->unreadMembers(rows[1].lastActivity, std::nullopt, 10).size(), 1U);
    EXPECT_EQ(store_->unreadMembers(rows[1].lastActivity + 1, std::nullopt, 10).size(), 0U);
    ASSERT_EQ(store_->unreadMembers(0, std::string("bob"), 10).size(), 1U);
    EXPECT_EQ(store_->unreadMembers(0, std::nullopt, 1).size(), 1U);
    // Read up to the last message: no longer behind.
    store_->markRead("c1", "bob", 2);
    auto left = store_->unreadMembers(0, std::nullopt, 10);
    ASSERT_EQ(left.size(), 1U);
    EXPECT_EQ(left[0].uid, "carol");
}

TEST_P(StoreSuite, OpenDirectIsGetOrCreatePerPairAndContext) {
    auto first = store_->openDirect("alice", "bob", std::nullopt, "c1", 100);
    EXPECT_TRUE(first.created);
    EXPECT_EQ(first.conversation.id, "c1");
    EXPECT_EQ(first.conversation.kind, ConversationKind::Direct);
    ASSERT_EQ(first.conversation.members.size(), 2U);
    EXPECT_EQ(first.conversation.createdBy, "alice");
    EXPECT_EQ(first.conversation.lastSeq, 0);

    auto again = store_->openDirect("bob", "alice", std::nullopt, "c2", 200);
    EXPECT_FALSE(again.created);
    EXPECT_EQ(again.conversation.id, "c1") << "the pair is unordered";

    ContextRef listing{"listing", "42", "Blue bike", {}};
    auto about = store_->openDirect("alice", "bob", listing, "c3", 300);
    EXPECT_TRUE(about.created);
    EXPECT_EQ(about.conversation.id, "c3");
    ASSERT_TRUE(about.conversation.context.has_value());
    EXPECT_EQ(about.conversation.context->type, "listing");
    EXPECT_EQ(about.conversation.context->id, "42");
    EXPECT_EQ(about.conversation.context->title, "Blue bike");

    auto sameListing =
        store_->openDirect("bob", "alice", ContextRef{"listing", "42", {}, {}}, "c4", 1);
    EXPECT_FALSE(sameListing.created);
    EXPECT_EQ(sameListing.conversation.id, "c3");
    auto otherListing =
        store_->openDirect("bob", "alice", ContextRef{"listing", "43", {}, {}}, "c5", 1);
    EXPECT_TRUE(otherListing.created);

    auto found = store_->findDirect("bob", "alice", listing);
    ASSERT_TRUE(found.has_value());
    EXPECT_EQ(found->id, "c3");
    EXPECT_FALSE(store_->findDirect("alice", "carol", std::nullopt).has_value());
}

TEST_P(StoreSuite, CreateGroupIsIdempotentForOneId) {
    auto group =
        store_->createGroup("alice", {"alice", "bob", "carol"}, std::string("Climbing"), "g1", 500);
    EXPECT_EQ(group.kind, ConversationKind::Group);
    EXPECT_EQ(group.title, "Climbing");
    EXPECT_EQ(group.members.size(), 3U);
    auto retried =
        store_->createGroup("alice", {"alice", "bob", "carol"}, std::string("Climbing"), "g1", 600);
    EXPECT_EQ(retried.members.size(), 3U);
    auto page = store_->listConversations("bob", 10, std::nullopt);
    EXPECT_EQ(page.conversations.size(), 1U) << "a retried create stores one group";
    EXPECT_FALSE(store_->conversation("nope").has_value());
}

TEST_P(StoreSuite, AppendAssignsGaplessSeqAndMarksOwnMessagesRead) {
    store_->openDirect("alice", "bob", std::nullopt, "c1", 100);
    for (int i = 1; i <= 5; ++i) {
        auto stored = store_->appendMessage(
            message("c1", i % 2 ? "alice" : "bob", "m" + std::to_string(i), "hello", 1000 + i));
        ASSERT_EQ(stored.access, Access::Member);
        EXPECT_FALSE(stored.duplicate);
        EXPECT_EQ(stored.message.seq, i);
        EXPECT_EQ(stored.message.ts, 1000 + i);
        EXPECT_EQ(stored.members.size(), 2U);
    }
    auto conversation = store_->conversation("c1");
    ASSERT_TRUE(conversation.has_value());
    EXPECT_EQ(conversation->lastSeq, 5);
    EXPECT_EQ(conversation->lastActivity, 1005);
    EXPECT_EQ(conversation->readSeqOf("alice"), 5) << "alice sent seq 5";
    EXPECT_EQ(conversation->readSeqOf("bob"), 4);
    ASSERT_TRUE(conversation->lastMessage.has_value());
    EXPECT_EQ(conversation->lastMessage->cmid, "m5");
}

TEST_P(StoreSuite, ResendWithSameCmidStoresNothing) {
    store_->openDirect("alice", "bob", std::nullopt, "c1", 100);
    auto first = store_->appendMessage(message("c1", "alice", "m1", "one"));
    auto second = store_->appendMessage(message("c1", "alice", "m1", "one again", 2000));
    EXPECT_TRUE(second.duplicate);
    EXPECT_EQ(second.message.seq, first.message.seq);
    EXPECT_EQ(second.message.body, "one") << "the original is returned";
    EXPECT_EQ(second.message.ts, first.message.ts);
    EXPECT_EQ(second.members.size(), 2U);
    auto bobSame = store_->appendMessage(message("c1", "bob", "m1", "bob's own m1"));
    EXPECT_FALSE(bobSame.duplicate) << "cmids are per sender";
    EXPECT_EQ(bobSame.message.seq, 2);
    EXPECT_EQ(store_->history({"c1", {}, {}, 50}).messages.size(), 2U);
    auto found = store_->findByCmid("alice", "m1");
    ASSERT_TRUE(found.has_value());
    EXPECT_EQ(found->seq, 1);
    EXPECT_FALSE(store_->findByCmid("alice", "m9").has_value());
}

TEST_P(StoreSuite, OutsidersCannotAppendOrRead) {
    store_->openDirect("alice", "bob", std::nullopt, "c1", 100);
    auto outsider = store_->appendMessage(message("c1", "mallory", "x1"));
    EXPECT_EQ(outsider.access, Access::NotMember);
    auto missing = store_->appendMessage(message("c404", "alice", "x2"));
    EXPECT_EQ(missing.access, Access::NoConversation);
    EXPECT_EQ(store_->conversation("c1")->lastSeq, 0) << "nothing was stored";
    EXPECT_FALSE(store_->findByCmid("mallory", "x1").has_value());
    EXPECT_EQ(store_->markRead("c1", "mallory", 1).access, Access::NotMember);
    EXPECT_EQ(store_->memberView("c1", "mallory").access, Access::NotMember);
    EXPECT_EQ(store_->memberView("c404", "alice").access, Access::NoConversation);
    auto view = store_->memberView("c1", "alice");
    EXPECT_EQ(view.access, Access::Member);
    EXPECT_EQ(view.memberIds.size(), 2U);
}

TEST_P(StoreSuite, MessageContextReadsTheViewAndAnEarlierCopyTogether) {
    store_->openDirect("alice", "bob", std::nullopt, "c1", 100);
    auto fresh = store_->messageContext("c1", "alice", "m1");
    EXPECT_EQ(fresh.view.access, Access::Member);
    EXPECT_EQ(fresh.view.memberIds.size(), 2U);
    EXPECT_EQ(fresh.view.lastSeq, 0);
    EXPECT_FALSE(fresh.earlier.has_value());
    store_->appendMessage(message("c1", "alice", "m1", "one"));
    auto resend = store_->messageContext("c1", "alice", "m1");
    EXPECT_EQ(resend.view.lastSeq, 1);
    ASSERT_TRUE(resend.earlier.has_value());
    EXPECT_EQ(resend.earlier->seq, 1);
    EXPECT_EQ(resend.earlier->body, "one");
    EXPECT_FALSE(store_->messageContext("c1", "bob", "m1").earlier.has_value())
        << "cmids are per sender";
    EXPECT_EQ(store_->messageContext("c1", "mallory", "x").view.access, Access::NotMember);
    EXPECT_EQ(store_->messageContext("c404", "alice", "x").view.access, Access::NoConversation);
}

TEST_P(StoreSuite, TextAndMetaRoundTripExactly) {
    store_->openDirect("alice", "bob", std::nullopt, "c1", 100);
    // Whatever a client may send comes back as it went in: quotes, backslashes, a NUL (JSON's
    // "\u0000"), placeholders and statement separators, in the body, the meta and the cmid.
    const std::string body = "caf\xC3\xA9 \xF0\x9F\x8D\xB0 \"quoted\" 'single' \\ \\' ? ; <b>" +
                             std::string(1, '\0') + "'); DELETE FROM messages; -- " +
                             std::string(16000, 'x');
    const std::string meta = R"({"k":[1,"\u00e9"],"q":"it's \\ \"?\" ;"})";
    const std::string cmid = "m\xC3\xA9'?";
    auto stored = store_->appendMessage(NewMessage{"c1", "alice", cmid, body, meta, 5});
    EXPECT_FALSE(stored.duplicate);
    auto page = store_->history({"c1", {}, {}, 10});
    ASSERT_EQ(page.messages.size(), 1U);
    EXPECT_EQ(page.messages[0].body, body);
    EXPECT_EQ(page.messages[0].cmid, cmid);
    EXPECT_EQ(page.messages[0].metaJson, meta);
    EXPECT_EQ(page.messages[0].sender, "alice");
    // Found again by that cmid: a resend stores nothing.
    EXPECT_TRUE(store_->appendMessage(NewMessage{"c1", "alice", cmid, body, meta, 6}).duplicate);
}

TEST_P(StoreSuite, HistoryPagesBackwardAndForward) {
    store_->openDirect("alice", "bob", std::nullopt, "c1", 100);
    for (int i = 1; i <= 250; ++i) {
        store_->appendMessage(message("c1", "alice", "m" + std::to_string(i)));
    }
    auto latest = store_->history({"c1", {}, {}, 100});
    EXPECT_EQ(seqs(latest), range(151, 250));
    EXPECT_TRUE(latest.hasMore);
    auto older = store_->history({"c1", 151, {}, 100});
    EXPECT_EQ(seqs(older), range(51, 150));
    EXPECT_TRUE(older.hasMore);
    auto oldest = store_->history({"c1", 51, {}, 100});
    EXPECT_EQ(seqs(oldest), range(1, 50));
    EXPECT_FALSE(oldest.hasMore);

    auto catchUp = store_->history({"c1", {}, 200, 30});
    EXPECT_EQ(seqs(catchUp), range(201, 230));
    EXPECT_TRUE(catchUp.hasMore);
    auto rest = store_->history({"c1", {}, 230, 30});
    EXPECT_EQ(seqs(rest), range(231, 250));
    EXPECT_FALSE(rest.hasMore);
    auto window = store_->history({"c1", 20, 10, 100});
    EXPECT_EQ(seqs(window), range(11, 19));
    EXPECT_FALSE(window.hasMore);
    EXPECT_TRUE(store_->history({"c1", {}, 250, 10}).messages.empty());
    EXPECT_TRUE(store_->history({"c404", {}, {}, 10}).messages.empty());
}

// The totals an append returns with its message (the recipients' `unread_total`) count every
// conversation of each recipient: the message's own, as it is after the append, and the others.
TEST_P(StoreSuite, AppendReturnsUnreadTotalsOverEveryConversation) {
    store_->openDirect("alice", "bob", std::nullopt, "ab", 100);
    store_->openDirect("carol", "bob", std::nullopt, "cb", 100);
    store_->createGroup("alice", {"alice", "bob", "carol"}, std::nullopt, "g", 100);
    const auto totalsOf = [](const AppendResult& result) {
        std::map<std::string, int64_t> totals;
        for (const auto& total : result.unreadTotals) {
            totals[total.uid] = total.unread;
        }
        return totals;
    };
    using Totals = std::map<std::string, int64_t>;

    auto first = store_->appendMessage(message("cb", "carol", "m1"));
    EXPECT_EQ(totalsOf(first), (Totals{{"bob", 1}}));
    auto second = store_->appendMessage(message("ab", "alice", "m2"));
    EXPECT_EQ(totalsOf(second), (Totals{{"bob", 2}})) << "carol's message in cb counts too";
    auto third = store_->appendMessage(message("g", "alice", "m3"));
    EXPECT_EQ(totalsOf(third), (Totals{{"bob", 3}, {"carol", 1}}));
    ASSERT_TRUE(store_->markRead("cb", "bob", 1).moved);
    auto fourth = store_->appendMessage(message("g", "carol", "m4"));
    // bob: ab 1, g 2, cb 0 (read). alice: her own message in g is read, carol's is not.
    EXPECT_EQ(totalsOf(fourth), (Totals{{"alice", 1}, {"bob", 3}}));
    auto fifth = store_->appendMessage(message("g", "bob", "m5"));
    // bob's own message marks g read for him; alice and carol have one more each.
    EXPECT_EQ(totalsOf(fifth), (Totals{{"alice", 2}, {"carol", 1}}));
    EXPECT_EQ(totalOf(*store_, "bob"), 1) << "ab only";
    EXPECT_EQ(totalOf(*store_, "alice"), 2);
    EXPECT_EQ(totalOf(*store_, "carol"), 1);
}

namespace {
// Holds every batch of messages in flight (committed, not yet answered) until released, so that
// the appends made meanwhile queue and are stored together in the next batch.
class HoldBatches : public StoreObserver {
  public:
    void storeCall(std::string_view, std::chrono::steady_clock::duration, bool) override {}
    void appendBatch(size_t messages, std::chrono::steady_clock::duration) override {
        std::unique_lock lock(mutex_);
        sizes_.push_back(messages);
        changed_.notify_all();
        changed_.wait(lock, [&] { return released_; });
    }
    // Whether `count` batches are held (or were) within `timeout`.
    bool waitForBatches(size_t count, std::chrono::milliseconds timeout) {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, timeout, [&] { return sizes_.size() >= count; });
    }
    void release() {
        std::lock_guard lock(mutex_);
        released_ = true;
        changed_.notify_all();
    }
    std::vector<size_t> sizes() {
        std::lock_guard lock(mutex_);
        return sizes_;
    }

  private:
    std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<size_t> sizes_;
    bool released_ = false;
};
}  // namespace

// One batch (one transaction) of messages to several conversations, with a resend of a stored
// message, system messages, a non-member's and one to no conversation: each
// conversation's seq stays gapless (the resend's attempt, rolled back, takes none), the senders'
// watermarks and the conversations' last seq and activity move, and the totals each message
// carries are the recipients' totals after the batch, muted conversations left out.
TEST_P(StoreSuite, ABatchSpanningConversationsKeepsSeqWatermarksAndTotalsRight) {
    store_->openDirect("alice", "bob", std::nullopt, "c1", 100);
    store_->openDirect("carol", "dave", std::nullopt, "c2", 100);
    store_->createGroup("bob", {"bob", "carol", "erin"}, std::nullopt, "g", 100);
    store_->openDirect("erin", "frank", std::nullopt, "c3", 100);
    store_->openDirect("bob", "frank", std::nullopt, "c4", 100);
    SettingsChange mute;
    mute.muted = true;
    ASSERT_TRUE(store_->changeSettings("g", "bob", mute).changed);
    ASSERT_FALSE(store_->appendMessage(message("c1", "alice", "a0", "before", 900)).duplicate);

    // Every slot for a batch (one on SQLite, store.mysql.batches_in_flight on MySQL) taken by a
    // held batch of one message to another conversation; the blocker that finds no free slot
    // waits in the queue and joins the batch under test.
    store_->openDirect("holder", "xavier", std::nullopt, "hold", 100);
    HoldBatches hold;
    store_->setObserver(&hold);
    std::vector<std::thread> blockers;
    for (size_t held = 0; held < 8; ++held) {
        blockers.emplace_back([&, held] {
            store_->appendMessage(message("hold", "holder", "h" + std::to_string(held)));
        });
        if (!hold.waitForBatches(held + 1, std::chrono::seconds(2))) {
            break;
        }
    }
    std::vector<NewMessage> queued{
        message("c1", "bob", "b1", "from bob", 1001),
        message("c2", "carol", "k1", "from carol", 1002),
        message("c2", "dave", "d1", "from dave", 1003),
        message("g", "carol", "k2", "to the group", 1004),
        NewMessage{"c3", kSystemSender, "ext:1", "notice", std::nullopt, 1005, true},
        NewMessage{"c4", kSystemSender, "ext:2", "notice", std::nullopt, 1006, true},
        message("c1", "alice", "a0", "before", 900),  // a resend of a stored message
        message("c1", "mallory", "m1", "outsider", 1007),
        message("c404", "alice", "x1", "nowhere", 1008),
    };
    std::vector<AppendResult> results(queued.size());
    std::atomic<size_t> started{0};
    std::vector<std::thread> senders;
    for (size_t i = 0; i < queued.size(); ++i) {
        senders.emplace_back([&, i] {
            ++started;
            results[i] = store_->appendMessage(queued[i]);
        });
    }
    while (started < queued.size()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // until they wait in the queue
    hold.release();
    for (auto& thread : blockers) {
        thread.join();
    }
    for (auto& sender : senders) {
        sender.join();
    }
    store_->setObserver(nullptr);
    const auto sizes = hold.sizes();
    ASSERT_FALSE(sizes.empty());
    EXPECT_GE(sizes.back(), queued.size()) << "the queued messages were stored as one batch";

    const auto& [b1, k1, d1, k2, s3, s4, resend, outsider, nowhere] =
        std::tie(results[0], results[1], results[2], results[3], results[4], results[5], results[6],
                 results[7], results[8]);
    EXPECT_EQ(b1.message.seq, 2);
    EXPECT_TRUE(resend.duplicate);
    EXPECT_EQ(resend.message.seq, 1);
    EXPECT_EQ(resend.message.body, "before");
    EXPECT_EQ(std::set<int64_t>({k1.message.seq, d1.message.seq}), (std::set<int64_t>{1, 2}));
    EXPECT_EQ(k2.message.seq, 1);
    EXPECT_EQ(s3.message.seq, 1);
    EXPECT_EQ(s4.message.seq, 1);
    EXPECT_EQ(outsider.access, Access::NotMember);
    EXPECT_EQ(nowhere.access, Access::NoConversation);
    EXPECT_EQ(seqs(store_->history({"c1", {}, {}, 50})), range(1, 2));
    EXPECT_EQ(seqs(store_->history({"c2", {}, {}, 50})), range(1, 2));

    const auto c1 = store_->conversation("c1");
    EXPECT_EQ(c1->lastSeq, 2);
    EXPECT_EQ(c1->lastActivity, 1001);
    EXPECT_EQ(c1->readSeqOf("alice"), 1);
    EXPECT_EQ(c1->readSeqOf("bob"), 2);
    const auto c2 = store_->conversation("c2");
    EXPECT_EQ(c2->lastSeq, 2);
    EXPECT_EQ(c2->readSeqOf("carol"), k1.message.seq);
    EXPECT_EQ(c2->readSeqOf("dave"), d1.message.seq);
    const auto g = store_->conversation("g");
    EXPECT_EQ(g->lastSeq, 1);
    EXPECT_EQ(g->readSeqOf("carol"), 1);
    EXPECT_EQ(g->readSeqOf("bob"), 0);
    for (const char* conv : {"c3", "c4"}) {
        const auto notice = store_->conversation(conv);
        EXPECT_EQ(notice->lastSeq, 1) << conv << ": system messages only";
        EXPECT_EQ(notice->lastActivity, conv == std::string("c3") ? 1005 : 1006) << conv;
        for (const auto& member : notice->members) {
            EXPECT_EQ(member.readSeq, 0) << conv << " " << member.uid;
        }
    }

    // Every total a message of the batch carries is that recipient's total after the batch.
    for (const AppendResult* stored : {&b1, &k1, &d1, &k2, &s3, &s4}) {
        EXPECT_FALSE(stored->unreadTotals.empty()) << stored->message.cmid;
        for (const auto& total : stored->unreadTotals) {
            EXPECT_EQ(total.unread, totalOf(*store_, total.uid))
                << stored->message.cmid << " to " << total.uid;
        }
    }
    EXPECT_EQ(totalOf(*store_, "bob"), 1) << "c4's notice; g is muted";
    EXPECT_EQ(totalOf(*store_, "erin"), 2) << "g and c3";
    EXPECT_EQ(totalOf(*store_, "frank"), 2) << "c3 and c4";
    EXPECT_EQ(totalOf(*store_, "alice"), 1) << "bob's b1";

    // The next message to each finds its seq after the batch's.
    EXPECT_EQ(store_->appendMessage(message("c2", "carol", "k3", "after", 1010)).message.seq, 3);
    EXPECT_EQ(store_->appendMessage(message("c4", "bob", "b2", "after", 1011)).message.seq, 2);
}

TEST_P(StoreSuite, ReadWatermarksMoveForwardOnlyAndDriveUnread) {
    store_->openDirect("alice", "bob", std::nullopt, "c1", 100);
    store_->createGroup("carol", {"carol", "bob"}, std::nullopt, "g1", 100);
    for (int i = 1; i <= 10; ++i) {
        store_->appendMessage(message("c1", "alice", "a" + std::to_string(i)));
    }
    for (int i = 1; i <= 3; ++i) {
        store_->appendMessage(message("g1", "carol", "c" + std::to_string(i)));
    }
    EXPECT_EQ(totalOf(*store_, "bob"), 13);
    EXPECT_EQ(totalOf(*store_, "alice"), 0);
    EXPECT_EQ(totalOf(*store_, "nobody"), 0);

    auto read = store_->markRead("c1", "bob", 4);
    EXPECT_TRUE(read.moved);
    EXPECT_EQ(read.readSeq, 4);
    EXPECT_EQ(read.lastSeq, 10);
    EXPECT_EQ(read.memberIds.size(), 2U);
    EXPECT_EQ(totalOf(*store_, "bob"), 9);

    auto back = store_->markRead("c1", "bob", 2);
    EXPECT_FALSE(back.moved);
    EXPECT_EQ(back.readSeq, 4) << "never moves back";
    auto beyond = store_->markRead("c1", "bob", 99);
    EXPECT_TRUE(beyond.moved);
    EXPECT_EQ(beyond.readSeq, 10) << "clamped to the last message";
    EXPECT_FALSE(store_->markRead("c1", "bob", 10).moved);

    auto totals = store_->unreadTotals({"bob", "alice", "carol"});
    ASSERT_EQ(totals.size(), 3U);
    EXPECT_EQ(totals[0].uid, "bob");
    EXPECT_EQ(totals[0].unread, 3);
    EXPECT_EQ(totals[1].unread, 0);
    EXPECT_EQ(totals[2].unread, 0);
}

TEST_P(StoreSuite, ListIsNewestActivityFirstWithCursor) {
    for (int i = 0; i < 7; ++i) {
        store_->openDirect("alice", "peer" + std::to_string(i), std::nullopt,
                           "c" + std::to_string(i), 100 + i);
    }
    store_->appendMessage(message("c2", "peer2", "late", "latest news", 5000));
    auto first = store_->listConversations("alice", 3, std::nullopt);
    ASSERT_EQ(first.conversations.size(), 3U);
    EXPECT_TRUE(first.hasMore);
    EXPECT_EQ(first.conversations[0].id, "c2");
    ASSERT_TRUE(first.conversations[0].lastMessage.has_value());
    EXPECT_EQ(first.conversations[0].lastMessage->body, "latest news");
    EXPECT_EQ(first.conversations[0].readSeqOf("alice"), 0);
    EXPECT_EQ(first.conversations[0].members.size(), 2U);
    EXPECT_EQ(first.conversations[1].id, "c6");
    EXPECT_EQ(first.conversations[2].id, "c5");
    EXPECT_FALSE(first.conversations[1].lastMessage.has_value());

    std::vector<std::string> all;
    std::optional<ListCursor> cursor;
    for (;;) {
        auto page = store_->listConversations("alice", 3, cursor);
        for (const auto& c : page.conversations) {
            all.push_back(c.id);
        }
        if (!page.hasMore) {
            break;
        }
        cursor = ListCursor{page.conversations.back().lastActivity, page.conversations.back().id};
    }
    EXPECT_EQ(all, (std::vector<std::string>{"c2", "c6", "c5", "c4", "c3", "c1", "c0"}));
    EXPECT_TRUE(store_->listConversations("nobody", 10, std::nullopt).conversations.empty());
}

TEST_P(StoreSuite, ListCursorBreaksTiesById) {
    for (int i = 0; i < 5; ++i) {
        store_->openDirect("alice", "p" + std::to_string(i), std::nullopt, "c" + std::to_string(i),
                           777);
    }
    auto first = store_->listConversations("alice", 2, std::nullopt);
    auto second =
        store_->listConversations("alice", 10, ListCursor{777, first.conversations.back().id});
    EXPECT_EQ(first.conversations.size() + second.conversations.size(), 5U);
    std::set<std::string> ids;
    for (const auto* page : {&first, &second}) {
        for (const auto& c : page->conversations) {
            EXPECT_TRUE(ids.insert(c.id).second) << c.id << " listed twice";
        }
    }
}

TEST_P(StoreSuite, DisplayNamesAppearInMembers) {
    store_->setDisplayName("alice", "Alice \xF0\x9F\x8C\xB8", 1);
    store_->openDirect("alice", "bob", std::nullopt, "c1", 100);
    auto conversation = store_->conversation("c1");
    ASSERT_TRUE(conversation.has_value());
    for (const auto& member : conversation->members) {
        EXPECT_EQ(member.name, member.uid == "alice" ? "Alice \xF0\x9F\x8C\xB8" : "");
    }
    store_->setDisplayName("alice", "Al", 2);
    EXPECT_EQ(store_->user("alice")->name, "Al");
    EXPECT_FALSE(store_->user("zed").has_value());
}

TEST_P(StoreSuite, PresenceFollowsActivityExceptChosenAway) {
    auto first = store_->recordActivity("alice", 1000);
    EXPECT_TRUE(first.changed);
    EXPECT_EQ(first.record.state, PresenceState::Online);
    EXPECT_FALSE(store_->recordActivity("alice", 2000).changed);

    auto away = store_->setPresence("alice", PresenceState::Away, 3000);
    EXPECT_TRUE(away.changed);
    EXPECT_TRUE(away.record.manual);
    EXPECT_FALSE(store_->recordActivity("alice", 4000).changed) << "a chosen away stays";
    EXPECT_EQ(store_->user("alice")->presence.state, PresenceState::Away);

    auto offline = store_->setPresence("alice", PresenceState::Offline, 5000);
    EXPECT_TRUE(offline.changed);
    EXPECT_EQ(store_->user("alice")->presence.lastSeen, 5000);
    auto back = store_->recordActivity("alice", 6000);
    EXPECT_TRUE(back.changed);
    EXPECT_EQ(back.record.state, PresenceState::Online);
    EXPECT_FALSE(store_->setPresence("alice", PresenceState::Online, 6500).changed);
}

TEST_P(StoreSuite, IdleUsersBecomeAwayOnceAndComeBack) {
    store_->recordActivity("idle", 1000);
    store_->recordActivity("busy", 9000);
    store_->setPresence("gone", PresenceState::Offline, 1000);
    auto swept = store_->markIdleAway(5000, 100);
    ASSERT_EQ(swept.size(), 1U);
    EXPECT_EQ(swept[0].uid, "idle");
    EXPECT_EQ(swept[0].state, PresenceState::Away);
    EXPECT_FALSE(swept[0].manual);
    EXPECT_EQ(swept[0].lastSeen, 1000);
    EXPECT_TRUE(open_()->markIdleAway(5000, 100).empty()) << "announced once, by one instance";
    auto back = store_->recordActivity("idle", 10000);
    EXPECT_TRUE(back.changed) << "an automatic away ends with activity";
    EXPECT_EQ(back.record.state, PresenceState::Online);
}

// Two stores on one database stand for two parleyd instances.
TEST_P(StoreSuite, ConcurrentSendersGetGaplessUniqueSeq) {
    auto other = open_();
    store_->createGroup("u0", {"u0", "u1", "u2", "u3"}, std::nullopt, "g1", 1);
    constexpr int kThreads = 4;
    constexpr int kEach = 40;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            Store& target = t % 2 ? *other : *store_;
            for (int i = 0; i < kEach; ++i) {
                auto stored = target.appendMessage(
                    message("g1", "u" + std::to_string(t), "m" + std::to_string(i), "x", 10 + i));
                ASSERT_EQ(stored.access, Access::Member);
            }
        });
    }
    for (auto& thread : threads) {
        thread.join();
    }
    std::vector<int64_t> all;
    std::optional<int64_t> after = 0;
    for (;;) {
        auto page = store_->history({"g1", {}, after, 100});
        for (auto seq : seqs(page)) {
            all.push_back(seq);
        }
        if (!page.hasMore) {
            break;
        }
        after = all.back();
    }
    EXPECT_EQ(all, range(1, kThreads * kEach));
    EXPECT_EQ(store_->conversation("g1")->lastSeq, kThreads * kEach);
}

TEST_P(StoreSuite, ConcurrentResendsAndOpensStoreOnce) {
    auto other = open_();
    store_->openDirect("alice", "bob", std::nullopt, "c1", 1);
    std::vector<AppendResult> results(8);
    std::vector<OpenDirectResult> opens(8);
    std::vector<std::thread> threads;
    for (size_t t = 0; t < results.size(); ++t) {
        threads.emplace_back([&, t] {
            Store& target = t % 2 ? *other : *store_;
            results[t] = target.appendMessage(message("c1", "alice", "same"));
            opens[t] = target.openDirect("carol", "dave", std::nullopt, "x" + std::to_string(t), 1);
        });
    }
    for (auto& thread : threads) {
        thread.join();
    }
    EXPECT_EQ(std::count_if(results.begin(), results.end(), [](auto& r) { return !r.duplicate; }),
              1);
    for (const auto& result : results) {
        EXPECT_EQ(result.message.seq, 1);
    }
    EXPECT_EQ(std::count_if(opens.begin(), opens.end(), [](auto& o) { return o.created; }), 1);
    for (const auto& open : opens) {
        EXPECT_EQ(open.conversation.id, opens[0].conversation.id);
        EXPECT_EQ(open.conversation.members.size(), 2U);
    }
    EXPECT_EQ(store_->conversation("c1")->lastSeq, 1);
}

// Many senders in many conversations at once, through two store instances: the store groups
// them into shared transactions (AppendBatcher), and each must still be answered as if alone.
TEST_P(StoreSuite, ConcurrentMessagesAcrossConversationsAreStoredAsIfAlone) {
    auto other = open_();
    const std::vector<std::string> users{"a", "b", "c", "d"};
    store_->openDirect("a", "b", std::nullopt, "ab", 1);
    store_->openDirect("c", "d", std::nullopt, "cd", 1);
    store_->openDirect("a", "c", std::nullopt, "ac", 1);
    store_->createGroup("a", users, std::nullopt, "g", 1);
    const std::map<std::string, std::vector<std::string>> convsOf{
        {"a", {"ab", "ac", "g"}}, {"b", {"ab", "g"}}, {"c", {"cd", "ac", "g"}}, {"d", {"cd", "g"}}};
    const std::map<std::string, std::string> notMine{
        {"a", "cd"}, {"b", "ac"}, {"c", "ab"}, {"d", "ab"}};
    constexpr int kThreads = 8;
    constexpr int kEach = 30;
    std::atomic<int> wrong{0};
    std::mutex mutex;
    std::map<std::string, int64_t> freshPerConv;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            Store& target = t % 2 ? *other : *store_;
            const std::string& sender = users[t % users.size()];
            std::optional<AppendResult> previous;
            for (int i = 0; i < kEach; ++i) {
                const std::string cmid = "t" + std::to_string(t) + "-" + std::to_string(i);
                if (i % 10 == 9) {
                    auto refused =
                        target.appendMessage(message(notMine.at(sender), sender, cmid + "x"));
                    wrong += refused.access != Access::NotMember;
                    wrong += target.appendMessage(message("nope", sender, cmid + "y")).access !=
                             Access::NoConversation;
                }
                if (i % 7 == 6 && previous) {
                    auto again = target.appendMessage(
                        message(previous->message.conv, sender, previous->message.cmid, "resent"));
                    wrong += !again.duplicate || again.message.seq != previous->message.seq ||
                             again.message.body != previous->message.body ||
                             !again.unreadTotals.empty();
                }
                const auto& mine = convsOf.at(sender);
                const std::string& conv = mine[(i + t) % mine.size()];
                auto stored = target.appendMessage(message(conv, sender, cmid, cmid, 100 + i));
                wrong += stored.access != Access::Member || stored.duplicate ||
                         stored.message.conv != conv || stored.message.body != cmid ||
                         stored.unreadTotals.size() + 1 != stored.members.size();
                {
                    std::lock_guard lock(mutex);
                    ++freshPerConv[conv];
                }
                previous = stored;
            }
        });
    }
    for (auto& thread : threads) {
        thread.join();
    }
    EXPECT_EQ(wrong.load(), 0);
    std::map<std::string, std::map<std::string, int64_t>> lastOwn;  // conv -> uid -> seq
    for (const auto& [conv, count] : freshPerConv) {
        std::vector<int64_t> all;
        std::optional<int64_t> after = 0;
        for (;;) {
            auto page = store_->history({conv, {}, after, 100});
            for (const auto& stored : page.messages) {
                all.push_back(stored.seq);
                lastOwn[conv][stored.sender] = stored.seq;
            }
            if (!page.hasMore) {
                break;
            }
            after = all.back();
        }
        EXPECT_EQ(all, range(1, count)) << conv;
        EXPECT_EQ(store_->conversation(conv)->lastSeq, count) << conv;
    }
    // Own messages count as read, and nothing else was read: each user's unread total is what
    // others sent after the user's own last message, summed over their conversations.
    for (const auto& uid : users) {
        int64_t expected = 0;
        for (const auto& conv : convsOf.at(uid)) {
            const int64_t own = lastOwn[conv].count(uid) ? lastOwn[conv][uid] : 0;
            expected += freshPerConv[conv] - own;
            EXPECT_EQ(store_->memberView(conv, uid).readSeq, own) << conv << " " << uid;
        }
        EXPECT_EQ(totalOf(*store_, uid), expected) << uid;
    }
}

TEST_P(StoreSuite, SystemMessagesNeedNoMembershipAndMoveNoWatermark) {
    store_->openDirect("alice", "bob", std::nullopt, "c1", 1);
    NewMessage notice{"c1", kSystemSender, "ext:1", "Listing sold", std::nullopt, 50, true};
    auto stored = store_->appendMessage(notice);
    ASSERT_EQ(stored.access, Access::Member);
    EXPECT_EQ(stored.message.seq, 1);
    EXPECT_EQ(stored.message.sender, "system");
    EXPECT_EQ(stored.members.size(), 2U);
    EXPECT_TRUE(store_->appendMessage(notice).duplicate) << "idempotent by cmid";
    EXPECT_EQ(totalOf(*store_, "alice"), 1) << "unread for every member";
    EXPECT_EQ(totalOf(*store_, "bob"), 1);
    notice.conv = "c404";
    notice.cmid = "ext:2";
    EXPECT_EQ(store_->appendMessage(notice).access, Access::NoConversation);
}

TEST_P(StoreSuite, KeyValuesArePerExtensionAndExpire) {
    EXPECT_FALSE(store_->kvGet("a", "k", 100).has_value());
    store_->kvSet("a", "k", "one", std::nullopt, 100);
    store_->kvSet("b", "k", "other", std::nullopt, 100);
    EXPECT_EQ(store_->kvGet("a", "k", 100), "one");
    EXPECT_EQ(store_->kvGet("b", "k", 100), "other");
    store_->kvSet("a", "k", "two \xC3\xA9", 500, 100);
    EXPECT_EQ(store_->kvGet("a", "k", 499), "two \xC3\xA9");
    EXPECT_FALSE(store_->kvGet("a", "k", 500).has_value()) << "expired";
    store_->kvSet("a", "k", "three", std::nullopt, 600);
    EXPECT_EQ(store_->kvGet("a", "k", 10000), "three") << "set again without expiry";
    EXPECT_TRUE(store_->kvDelete("a", "k"));
    EXPECT_FALSE(store_->kvDelete("a", "k"));
    EXPECT_FALSE(store_->kvGet("a", "k", 100).has_value());
    EXPECT_EQ(store_->kvGet("b", "k", 100), "other");
}

TEST_P(StoreSuite, CountersIncrementAndRestartAfterExpiry) {
    EXPECT_EQ(store_->kvIncr("rl", "u1", 1, 1000, 0), 1);
    EXPECT_EQ(store_->kvIncr("rl", "u1", 2, 1000, 10), 3);
    EXPECT_EQ(store_->kvIncr("rl", "u1", -1, 1000, 20), 2);
    EXPECT_EQ(store_->kvGet("rl", "u1", 20), "2");
    EXPECT_EQ(store_->kvIncr("rl", "u1", 1, 2000, 1000), 1) << "the window expired";
    EXPECT_EQ(store_->kvIncr("rl", "u1", 1, 5000, 1500), 2) << "the new window holds";
    store_->kvSet("rl", "text", "not a number", std::nullopt, 0);
    EXPECT_EQ(store_->kvIncr("rl", "text", 5, std::nullopt, 0), 5);
}

TEST_P(StoreSuite, ListByPrefixInKeyOrder) {
    for (const char* key : {"job:3", "job:1", "jobs", "job:2", "other", "jo"}) {
        store_->kvSet("x", key, std::string("v-") + key, std::nullopt, 0);
    }
    store_->kvSet("x", "job:0", "expired", 5, 0);
    store_->kvSet("y", "job:9", "not mine", std::nullopt, 0);
    auto jobs = store_->kvList("x", "job:", 10, 10);
    ASSERT_EQ(jobs.size(), 3U);
    EXPECT_EQ(jobs[0], (std::pair<std::string, std::string>{"job:1", "v-job:1"}));
    EXPECT_EQ(jobs[2].first, "job:3");
    EXPECT_EQ(store_->kvList("x", "job:", 2, 10).size(), 2U);
    EXPECT_EQ(store_->kvList("x", "", 100, 10).size(), 6U);
    EXPECT_EQ(store_->kvPurgeExpired(10, 100), 1);
    EXPECT_EQ(store_->kvList("x", "job:0", 10, 0).size(), 0U) << "purged";
}

TEST_P(StoreSuite, ConcurrentIncrementsFromTwoInstancesAreAllCounted) {
    auto other = open_();
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            Store& target = t % 2 ? *other : *store_;
            for (int i = 0; i < 25; ++i) {
                target.kvIncr("rl", "shared", 1, std::nullopt, 0);
            }
        });
    }
    for (auto& thread : threads) {
        thread.join();
    }
    EXPECT_EQ(store_->kvGet("rl", "shared", 0), "100");
}

TEST_P(StoreSuite, ContextsCanBeUpdatedListedAndFiltered) {
    const ContextRef bike{"listing", "bike", "Old title", {}};
    store_->openDirect("buyer1", "seller", bike, "c1", 100);
    store_->openDirect("buyer2", "seller", bike, "c2", 200);
    store_->openDirect("buyer1", "seller", ContextRef{"listing", "lamp", {}, {}}, "c3", 300);
    store_->openDirect("buyer1", "seller", std::nullopt, "c4", 400);

    auto ids =
        store_->updateContext("listing", "bike", std::string("Blue bike"), std::string("sold"));
    std::sort(ids.begin(), ids.end());
    EXPECT_EQ(ids, (std::vector<std::string>{"c1", "c2"}));
    auto c1 = store_->conversation("c1");
    ASSERT_TRUE(c1 && c1->context);
    EXPECT_EQ(c1->context->title, "Blue bike");
    EXPECT_EQ(c1->context->status, "sold");
    EXPECT_FALSE(store_->conversation("c3")->context->status.has_value())
        << "other contexts keep theirs";
    store_->updateContext("listing", "bike", std::nullopt, std::string("open"));
    EXPECT_EQ(store_->conversation("c2")->context->title, "Blue bike") << "title kept";
    EXPECT_EQ(store_->conversation("c2")->context->status, "open");
    EXPECT_TRUE(store_->updateContext("listing", "none", std::nullopt, std::string("x")).empty());

    auto about = store_->conversationsAbout("listing", "bike", 10);
    EXPECT_EQ(about, (std::vector<std::string>{"c2", "c1"})) << "most recently active first";
    EXPECT_EQ(store_->conversationsAbout("listing", "bike", 1).size(), 1U);

    auto sellerBike = store_->listConversations("seller", 10, std::nullopt,
                                                ContextRef{"listing", "bike", {}, {}});
    ASSERT_EQ(sellerBike.conversations.size(), 2U);
    EXPECT_EQ(sellerBike.conversations[0].id, "c2");
    EXPECT_EQ(store_->listConversations("seller", 10, std::nullopt).conversations.size(), 4U);
    EXPECT_EQ(
        store_->listConversations("buyer2", 10, std::nullopt, ContextRef{"listing", "lamp", {}, {}})
            .conversations.size(),
        0U);

    auto view = store_->memberView("c1", "buyer1");
    EXPECT_EQ(view.kind, ConversationKind::Direct);
    ASSERT_TRUE(view.context.has_value());
    EXPECT_EQ(view.context->id, "bike");
    EXPECT_EQ(view.context->status, "open");
    store_->createGroup("a", {"a", "b"}, std::nullopt, "g1", 1);
    EXPECT_EQ(store_->memberView("g1", "a").kind, ConversationKind::Group);
    EXPECT_FALSE(store_->memberView("g1", "a").context.has_value());
}

TEST_P(StoreSuite, EmailIsSetClearedAndIndependentOfTheName) {
    store_->recordActivity("alice", 100);
    EXPECT_FALSE(store_->user("alice")->email.has_value()) << "no address until an admin sets one";
    EXPECT_EQ(store_->user("alice")->createdAt, 100);

    auto updated = store_->updateUser("alice", {std::nullopt, true, "alice@example.org"}, 200);
    EXPECT_EQ(updated.email, std::string("alice@example.org"));
    EXPECT_EQ(updated.createdAt, 100) << "an existing user keeps when Parley first saw them";
    EXPECT_EQ(updated.presence.state, PresenceState::Online);
    store_->setDisplayName("alice", "Alice", 300);
    EXPECT_EQ(open_()->user("alice")->email, std::string("alice@example.org"))
        << "profile.set keeps the address";
    updated = store_->updateUser("alice", {std::string("Al"), false, std::nullopt}, 400);
    EXPECT_EQ(updated.name, "Al");
    EXPECT_EQ(updated.email, std::string("alice@example.org")) << "unchanged unless asked";
    updated = store_->updateUser("alice", {std::nullopt, true, std::nullopt}, 500);
    EXPECT_FALSE(updated.email.has_value());
    EXPECT_EQ(updated.name, "Al");
    EXPECT_FALSE(store_->user("alice")->email.has_value());

    // A user Parley has not seen yet is created; 254 characters, not bytes, fit.
    std::string longest = "\xC3\xA9";  // é
    while (longest.size() < 2 * 242) {
        longest += "\xC3\xA9";
    }
    longest += "@example.org";  // 242 + 12 = 254 characters
    auto created = store_->updateUser("new", {std::string("N\xC3\xA9w"), true, longest}, 600);
    EXPECT_EQ(created.createdAt, 600);
    EXPECT_EQ(store_->user("new")->email, longest);
    EXPECT_EQ(store_->user("new")->name, "N\xC3\xA9w");
    EXPECT_EQ(store_->user("new")->presence.state, PresenceState::Offline);
}

TEST_P(StoreSuite, UsersAreListedByUidInPages) {
    for (const char* uid : {"carol", "alice", "Zoe", "bob", "dave"}) {
        store_->recordActivity(uid, 100);
    }
    store_->updateUser("bob", {std::nullopt, true, "bob@example.org"}, 100);
    auto names = [](const UserPage& page) {
        std::vector<std::string> uids;
        for (const auto& user : page.users) {
            uids.push_back(user.uid);
        }
        return uids;
    };
    auto first = store_->listUsers(3, std::nullopt);
    EXPECT_EQ(names(first), (std::vector<std::string>{"Zoe", "alice", "bob"})) << "byte order";
    EXPECT_TRUE(first.hasMore);
    EXPECT_EQ(first.users[2].email, std::string("bob@example.org"));
    auto second = store_->listUsers(3, first.users.back().uid);
    EXPECT_EQ(names(second), (std::vector<std::string>{"carol", "dave"}));
    EXPECT_FALSE(second.hasMore);
    EXPECT_FALSE(store_->listUsers(2, std::string("carol")).hasMore) << "exactly a page left";
    EXPECT_TRUE(store_->listUsers(10, std::string("dave")).users.empty());
}

// --- A user's data: admin.user.export and admin.user.erase ---------------------------------------

namespace {

std::vector<std::string> idsOf(const std::vector<ConversationRecord>& conversations) {
    std::vector<std::string> ids;
    for (const auto& conversation : conversations) {
        ids.push_back(conversation.id);
    }
    return ids;
}

std::vector<std::string> cmidsOf(const std::vector<MessageRecord>& messages) {
    std::vector<std::string> cmids;
    for (const auto& message : messages) {
        cmids.push_back(message.cmid);
    }
    return cmids;
}

std::vector<std::string> memberIdsOf(const ConversationRecord& conversation) {
    std::vector<std::string> uids;
    for (const auto& member : conversation.members) {
        uids.push_back(member.uid);
    }
    return uids;
}

std::vector<MessageRecord> wholeHistory(Store& store, const std::string& conv) {
    return store.history({conv, {}, 0, 100}).messages;
}

// alice and bob in c1 (1:1), alice, bob and carol in g1, bob and carol in c2 (without alice).
void storeThreeConversations(Store& store) {
    store.updateUser("alice", {std::string("Alice"), true, "alice@example.org"}, 10);
    store.openDirect("alice", "bob", std::nullopt, "c1", 20);
    store.createGroup("alice", {"alice", "bob", "carol"}, std::string("trip"), "g1", 30);
    store.openDirect("bob", "carol", std::nullopt, "c2", 40);
    store.appendMessage(message("c1", "alice", "a-1", "secret one", 100));
    store.appendMessage(message("c1", "bob", "b-1", "hello alice", 110));
    store.appendMessage(NewMessage{"g1", "alice", "a-3", "secret two", R"({"k":"private"})", 120});
    store.appendMessage(message("g1", "carol", "c-1", "hi all", 130));
    store.appendMessage(message("c1", "alice", "a-2", "secret three", 140));
    store.appendMessage(message("c2", "bob", "b-2", "not about alice", 150));
}

}  // namespace

TEST_P(StoreSuite, ExportReadsAUsersConversationsAndMessagesInPages) {
    storeThreeConversations(*store_);

    auto all = store_->memberConversations("alice", "", 10);
    EXPECT_EQ(idsOf(all), (std::vector<std::string>{"c1", "g1"})) << "c2 is not alice's";
    ASSERT_EQ(all.size(), 2U);
    EXPECT_EQ(memberIdsOf(all[1]), (std::vector<std::string>{"alice", "bob", "carol"}));
    EXPECT_EQ(all[1].title, std::string("trip"));
    EXPECT_EQ(all[0].lastSeq, 3);
    EXPECT_EQ(all[0].readSeqOf("alice"), 3) << "her own last message";
    EXPECT_EQ(idsOf(store_->memberConversations("alice", "", 1)), (std::vector<std::string>{"c1"}));
    EXPECT_EQ(idsOf(store_->memberConversations("alice", "c1", 1)),
              (std::vector<std::string>{"g1"}));
    EXPECT_TRUE(store_->memberConversations("alice", "g1", 10).empty());

    auto first = store_->messagesBySender("alice", "", 2);
    EXPECT_EQ(cmidsOf(first), (std::vector<std::string>{"a-1", "a-2"})) << "by cmid";
    auto rest = store_->messagesBySender("alice", "a-2", 2);
    EXPECT_EQ(cmidsOf(rest), (std::vector<std::string>{"a-3"}));
    ASSERT_EQ(rest.size(), 1U);
    EXPECT_EQ(rest[0].conv, "g1");
    EXPECT_EQ(rest[0].seq, 1);
    EXPECT_EQ(rest[0].body, "secret two");
    EXPECT_EQ(rest[0].metaJson, std::string(R"({"k":"private"})"));
    EXPECT_FALSE(rest[0].erased);
    EXPECT_TRUE(store_->messagesBySender("alice", "a-3", 2).empty());
    EXPECT_TRUE(store_->messagesBySender("nobody", "", 2).empty());
}

TEST_P(StoreSuite, EraseLeavesTombstonesAndNothingOfTheProfile) {
    storeThreeConversations(*store_);
    const auto before = wholeHistory(*store_, "c1");

    const auto erasure = store_->eraseUser("alice", 5000);
    EXPECT_TRUE(erasure.known);
    EXPECT_EQ(erasure.messages, 3);
    ASSERT_EQ(erasure.conversations.size(), 2U);
    EXPECT_EQ(erasure.conversations[0].conv, "c1");
    EXPECT_EQ(erasure.conversations[0].remainingMembers, (std::vector<std::string>{"bob"}));
    EXPECT_EQ(erasure.conversations[1].conv, "g1");
    EXPECT_EQ(erasure.conversations[1].remainingMembers,
              (std::vector<std::string>{"bob", "carol"}));

    // Others' history keeps every seq; hers are tombstones, theirs untouched.
    const auto after = open_()->history({"c1", {}, 0, 100}).messages;
    ASSERT_EQ(after.size(), before.size());
    for (size_t i = 0; i < after.size(); ++i) {
        EXPECT_EQ(after[i].seq, before[i].seq);
        EXPECT_EQ(after[i].sender, before[i].sender);
        EXPECT_EQ(after[i].ts, before[i].ts);
        if (before[i].sender == "alice") {
            EXPECT_TRUE(after[i].erased) << after[i].seq;
            EXPECT_EQ(after[i].body, "");
            EXPECT_FALSE(after[i].metaJson.has_value());
        } else {
            EXPECT_FALSE(after[i].erased);
            EXPECT_EQ(after[i].body, before[i].body);
        }
    }
    const auto group = wholeHistory(*store_, "g1");
    ASSERT_EQ(group.size(), 2U);
    EXPECT_TRUE(group[0].erased);
    EXPECT_FALSE(group[0].metaJson.has_value()) << "meta erased too";
    EXPECT_EQ(group[1].body, "hi all");
    const auto c1 = store_->conversation("c1");
    ASSERT_TRUE(c1 && c1->lastMessage);
    EXPECT_TRUE(c1->lastMessage->erased) << "the preview is a tombstone too";
    EXPECT_EQ(c1->lastMessage->body, "");
    EXPECT_EQ(memberIdsOf(*c1), (std::vector<std::string>{"bob"}));
    EXPECT_EQ(c1->lastSeq, 3);
    EXPECT_EQ(wholeHistory(*store_, "c2").size(), 1U) << "a conversation without her untouched";

    // No profile, no membership, nothing to send to.
    EXPECT_FALSE(store_->user("alice").has_value());
    for (const auto& user : store_->listUsers(100, std::nullopt).users) {
        EXPECT_NE(user.uid, "alice");
    }
    EXPECT_TRUE(store_->listConversations("alice", 10, std::nullopt).conversations.empty());
    EXPECT_TRUE(store_->memberConversations("alice", "", 10).empty());
    EXPECT_EQ(store_->memberView("g1", "alice").access, Access::NotMember);
    EXPECT_EQ(store_->appendMessage(message("g1", "alice", "a-4")).access, Access::NotMember);
    EXPECT_EQ(store_->markRead("g1", "alice", 2).access, Access::NotMember);
    // What the export still finds of her: tombstones only.
    for (const auto& message : store_->messagesBySender("alice", "", 10)) {
        EXPECT_TRUE(message.erased);
        EXPECT_EQ(message.body, "");
    }
    // A 1:1 with the same uid later is a new conversation, not the erased one.
    const auto reopened = store_->openDirect("bob", "alice", std::nullopt, "c3", 6000);
    EXPECT_TRUE(reopened.created);
    EXPECT_EQ(reopened.conversation.id, "c3");
    // Others carry on: bob's resend is still recognised, unread counts still add up.
    EXPECT_TRUE(store_->appendMessage(message("c1", "bob", "b-1", "hello alice", 110)).duplicate);
    EXPECT_EQ(store_->appendMessage(message("g1", "bob", "b-3")).message.seq, 3);
    EXPECT_EQ(totalOf(*store_, "carol"), 2) << "bob's in c2, bob's new one in g1";

    // Again: nothing left to do.
    const auto again = store_->eraseUser("alice", 7000);
    EXPECT_FALSE(again.known);
    EXPECT_EQ(again.messages, 0);
    ASSERT_EQ(again.conversations.size(), 1U) << "only c3, opened after the erasure";
    EXPECT_EQ(again.conversations[0].conv, "c3");
}

TEST_P(StoreSuite, EraseDeletesAConversationNobodyIsLeftIn) {
    storeThreeConversations(*store_);
    store_->eraseUser("bob", 5000);
    const auto erasure = store_->eraseUser("alice", 6000);
    ASSERT_EQ(erasure.conversations.size(), 2U);
    EXPECT_EQ(erasure.conversations[0].conv, "c1");
    EXPECT_TRUE(erasure.conversations[0].remainingMembers.empty());
    EXPECT_FALSE(store_->conversation("c1").has_value()) << "nobody can read it: gone";
    EXPECT_TRUE(wholeHistory(*store_, "c1").empty());
    EXPECT_EQ(store_->memberView("c1", "alice").access, Access::NoConversation);
    EXPECT_EQ(erasure.conversations[1].remainingMembers, (std::vector<std::string>{"carol"}));
    ASSERT_EQ(wholeHistory(*store_, "g1").size(), 2U) << "carol still reads g1";
    EXPECT_EQ(wholeHistory(*store_, "c2").size(), 1U);
    EXPECT_TRUE(wholeHistory(*store_, "c2")[0].erased) << "bob's message to carol";
    for (const auto& message : store_->messagesBySender("bob", "", 10)) {
        EXPECT_NE(message.conv, "c1");
    }
}

// An erasure while the user is still sending, through a second store (another instance): each
// message is either stored before it (then a tombstone) or refused; seqs stay gapless.
TEST_P(StoreSuite, SendsDuringAnErasureAreErasedOrRefused) {
    auto other = open_();
    store_->createGroup("alice", {"alice", "bob"}, std::nullopt, "g1", 1);
    std::atomic<bool> erased{false};
    std::atomic<int> sent{0};
    std::vector<AppendResult> results;  // the sender's until it is joined
    std::thread sender([&] {
        // Until ten sends after the erasure, not a fixed count: under load the erasure can wait
        // for the write lock while the sender's first 2,000 go through (seen once in a full run).
        int afterErasure = 0;
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
        for (int i = 0; afterErasure < 10 && std::chrono::steady_clock::now() < deadline; ++i) {
            if (erased) {
                ++afterErasure;
            }
            results.push_back(
                other->appendMessage(message("g1", "alice", "a-" + std::to_string(i), "x", i)));
            other->appendMessage(message("g1", "bob", "b-" + std::to_string(i), "y", i));
            ++sent;
        }
    });
    while (sent < 10) {
        std::this_thread::yield();
    }
    const auto erasure = store_->eraseUser("alice", 9999);
    erased = true;
    sender.join();

    std::set<int64_t> acknowledged;  // alice's messages the store accepted
    bool refusedOnce = false;
    for (const auto& result : results) {
        if (result.access == Access::Member) {
            EXPECT_FALSE(refusedOnce) << "accepted after a refusal";
            acknowledged.insert(result.message.seq);
        } else {
            EXPECT_EQ(result.access, Access::NotMember);
            refusedOnce = true;
        }
    }
    EXPECT_TRUE(refusedOnce) << "the sender ran past the erasure";
    EXPECT_EQ(static_cast<size_t>(erasure.messages), acknowledged.size());
    std::vector<MessageRecord> all;
    std::optional<int64_t> after = 0;
    for (;;) {
        auto page = store_->history({"g1", {}, after, 100});
        all.insert(all.end(), page.messages.begin(), page.messages.end());
        if (!page.hasMore) {
            break;
        }
        after = all.back().seq;
    }
    for (size_t i = 0; i < all.size(); ++i) {
        EXPECT_EQ(all[i].seq, static_cast<int64_t>(i) + 1) << "gapless";
        if (all[i].sender == "alice") {
            EXPECT_TRUE(all[i].erased) << all[i].seq;
            EXPECT_EQ(acknowledged.count(all[i].seq), 1U) << all[i].seq;
        } else {
            EXPECT_FALSE(all[i].erased);
            EXPECT_EQ(all[i].body, "y");
        }
    }
}

TEST_P(StoreSuite, KnownUsersAreThoseRegisteredOrSeen) {
    store_->recordActivity("seen", 100);
    store_->updateUser("registered", {std::string("Reg"), false, std::nullopt}, 100);
    store_->setDisplayName("named", "Named", 100);
    const auto known =
        store_->knownUsers({"nobody", "seen", "registered", "named", "Seen", "seen"});
    EXPECT_EQ(known, (std::set<std::string>{"seen", "registered", "named"}))
        << "uids are case-sensitive";
    EXPECT_TRUE(store_->knownUsers({}).empty());
    // One query for a whole group's members.
    std::vector<std::string> many;
    for (int i = 0; i < 150; ++i) {
        many.push_back("u" + std::to_string(i));
        if (i % 3 == 0) {
            store_->recordActivity(many.back(), 100);
        }
    }
    EXPECT_EQ(store_->knownUsers(many).size(), 50U);
}

// Issue 21: changes to stored messages and their catch-up by rev (docs/design.md).

namespace {
MessageEdit editOf(const std::string& conv, int64_t seq, const std::string& editor,
                   const std::string& body, int64_t now = 2000, int64_t editableSince = 0) {
    return MessageEdit{conv, seq, editor, body, false, std::nullopt, now, editableSince};
}

ReactionChange reactionOf(const std::string& conv, int64_t seq, const std::string& uid,
                          const std::string& emoji, bool add = true, int maxEmojis = 20) {
    // Each later than the last: reactions are listed in the order they were made.
    static int64_t now = 3000;
    return ReactionChange{conv, seq, uid, emoji, add, ++now, maxEmojis};
}
}  // namespace

TEST_P(StoreSuite, EditReplacesTheTextMarksItEditedAndTakesTheNextRev) {
    store_->openDirect("alice", "bob", std::nullopt, "c1", 100);
    store_->appendMessage(NewMessage{"c1", "alice", "m1", "helo", std::string(R"({"k":1})"), 1000});
    store_->appendMessage(message("c1", "bob", "m2", "hi"));
    EXPECT_EQ(store_->conversation("c1")->rev, 0);

    auto edited = store_->editMessage(editOf("c1", 1, "alice", "hello", 2500));
    ASSERT_EQ(edited.outcome, ChangeOutcome::Changed);
    EXPECT_EQ(edited.message.body, "hello");
    EXPECT_EQ(edited.message.metaJson, std::optional<std::string>(R"({"k":1})"))
        << "meta kept when not changed";
    EXPECT_EQ(edited.message.editedAt, std::optional<int64_t>(2500));
    EXPECT_EQ(edited.message.rev, 1);
    EXPECT_EQ(edited.memberIds.size(), 2U);
    EXPECT_EQ(store_->conversation("c1")->rev, 1);
    auto page = store_->history(HistoryQuery{"c1", std::nullopt, std::nullopt, 10});
    ASSERT_EQ(page.messages.size(), 2U);
    EXPECT_EQ(page.messages[0].body, "hello");
    EXPECT_EQ(page.messages[0].editedAt, std::optional<int64_t>(2500));
    EXPECT_FALSE(page.messages[1].editedAt.has_value());
    EXPECT_EQ(page.messages[1].rev, 0);

    // The same edit again (a resend) writes nothing and keeps the rev.
    auto again = store_->editMessage(editOf("c1", 1, "alice", "hello", 2600));
    EXPECT_EQ(again.outcome, ChangeOutcome::Unchanged);
    EXPECT_EQ(again.message.rev, 1);
    EXPECT_EQ(store_->conversation("c1")->rev, 1);

    // Meta changed or cleared on request.
    auto cleared =
        store_->editMessage(MessageEdit{"c1", 1, "alice", "hello", true, std::nullopt, 2700, 0});
    ASSERT_EQ(cleared.outcome, ChangeOutcome::Changed);
    EXPECT_FALSE(cleared.message.metaJson.has_value());
    EXPECT_EQ(cleared.message.rev, 2);

    // Refusals change nothing.
    EXPECT_EQ(store_->editMessage(editOf("c1", 2, "alice", "not mine")).outcome,
              ChangeOutcome::NotSender);
    EXPECT_EQ(store_->editMessage(editOf("c1", 1, "alice", "late", 9000, 1001)).outcome,
              ChangeOutcome::WindowPassed);
    EXPECT_EQ(store_->editMessage(editOf("c1", 9, "alice", "none")).outcome,
              ChangeOutcome::NoMessage);
    EXPECT_EQ(store_->editMessage(editOf("c1", 1, "mallory", "x")).outcome,
              ChangeOutcome::NotMember);
    EXPECT_EQ(store_->editMessage(editOf("nope", 1, "alice", "x")).outcome,
              ChangeOutcome::NoConversation);
    EXPECT_EQ(store_->conversation("c1")->rev, 2);
    EXPECT_EQ(store_->message("c1", 2)->body, "hi");
}

TEST_P(StoreSuite, DeleteErasesTextKeepsTheSeqAndUnreadCounts) {
    store_->openDirect("alice", "bob", std::nullopt, "c1", 100);
    store_->appendMessage(message("c1", "alice", "m1", "one"));
    store_->appendMessage(
        NewMessage{"c1", "alice", "m2", "secret", std::string(R"({"file":"f1"})"), 1000});
    store_->appendMessage(message("c1", "alice", "m3", "three"));
    store_->reactToMessage(reactionOf("c1", 2, "bob", "👍"));
    ASSERT_EQ(totalOf(*store_, "bob"), 3);

    EXPECT_EQ(store_->deleteMessage("c1", 2, "bob", false, 4000).outcome, ChangeOutcome::NotSender);
    auto deleted = store_->deleteMessage("c1", 2, "alice", false, 4000);
    ASSERT_EQ(deleted.outcome, ChangeOutcome::Changed);
    ASSERT_TRUE(deleted.before.has_value()) << "what extensions are told it was";
    EXPECT_EQ(deleted.before->body, "secret");
    EXPECT_EQ(deleted.before->metaJson, std::optional<std::string>(R"({"file":"f1"})"));
    EXPECT_EQ(deleted.message.body, "");
    EXPECT_FALSE(deleted.message.metaJson.has_value());
    EXPECT_EQ(deleted.message.deletedBy, std::optional<std::string>("alice"));
    EXPECT_EQ(deleted.message.deletedAt, std::optional<int64_t>(4000));
    EXPECT_FALSE(deleted.message.erased);
    EXPECT_TRUE(deleted.message.reactions.empty()) << "reactions go with the text";

    auto page = store_->history(HistoryQuery{"c1", std::nullopt, std::nullopt, 10});
    EXPECT_EQ(seqs(page), range(1, 3)) << "no hole";
    EXPECT_EQ(page.messages[1].body, "");
    EXPECT_TRUE(page.messages[1].tombstone());
    EXPECT_EQ(page.messages[1].cmid, "m2");
    EXPECT_EQ(totalOf(*store_, "bob"), 3) << "unread counts do not move";
    // Erased from storage, not hidden: no query finds the text.
    for (const auto& sent : store_->messagesBySender("alice", "", 10)) {
        EXPECT_NE(sent.body, "secret");
        EXPECT_NE(sent.metaJson, std::optional<std::string>(R"({"file":"f1"})"));
    }
    // A resend of the deleted message's cmid is still a resend, never stored again.
    auto resent = store_->appendMessage(message("c1", "alice", "m2", "secret"));
    EXPECT_TRUE(resent.duplicate);
    EXPECT_EQ(resent.message.seq, 2);
    EXPECT_EQ(store_->conversation("c1")->lastSeq, 3);

    // Nothing is left to edit or react to; deleting again is a resend.
    EXPECT_EQ(store_->editMessage(editOf("c1", 2, "alice", "back")).outcome,
              ChangeOutcome::Tombstone);
    EXPECT_EQ(store_->reactToMessage(reactionOf("c1", 2, "bob", "❤️")).outcome,
              ChangeOutcome::Tombstone);
    EXPECT_EQ(store_->deleteMessage("c1", 2, "alice", false, 5000).outcome,
              ChangeOutcome::Unchanged);
    // A privileged actor (a server admin) deletes anyone's, member or not.
    EXPECT_EQ(store_->deleteMessage("c1", 3, "root", false, 5000).outcome,
              ChangeOutcome::NotMember);
    auto byAdmin = store_->deleteMessage("c1", 3, "root", true, 5000);
    ASSERT_EQ(byAdmin.outcome, ChangeOutcome::Changed);
    EXPECT_EQ(byAdmin.message.deletedBy, std::optional<std::string>("root"));
    EXPECT_EQ(store_->conversation("c1")->lastMessage->deletedBy,
              std::optional<std::string>("root"))
        << "the summary's preview says so";
}

TEST_P(StoreSuite, ReactionsAreOneOfEachEmojiPerUserWithWhoReacted) {
    store_->openDirect("alice", "bob", std::nullopt, "c1", 100);
    store_->appendMessage(message("c1", "alice", "m1", "one"));
    EXPECT_EQ(store_->reactToMessage(reactionOf("c1", 1, "alice", "👍")).outcome,
              ChangeOutcome::Changed);
    EXPECT_EQ(store_->reactToMessage(reactionOf("c1", 1, "bob", "👍")).outcome,
              ChangeOutcome::Changed);
    EXPECT_EQ(store_->reactToMessage(reactionOf("c1", 1, "bob", "👍")).outcome,
              ChangeOutcome::Unchanged);
    auto last = store_->reactToMessage(reactionOf("c1", 1, "bob", "🎉"));
    ASSERT_EQ(last.outcome, ChangeOutcome::Changed);
    EXPECT_EQ(last.message.rev, 3);
    ASSERT_EQ(last.message.reactions.size(), 2U);
    EXPECT_EQ(last.message.reactions[0].emoji, "👍");
    EXPECT_EQ(last.message.reactions[0].users, (std::vector<std::string>{"alice", "bob"}));
    EXPECT_EQ(last.message.reactions[1].emoji, "🎉");
    // A limit on different emojis; an emoji already there may still be added.
    EXPECT_EQ(store_->reactToMessage(reactionOf("c1", 1, "alice", "❤️", true, 2)).outcome,
              ChangeOutcome::TooManyReactions);
    EXPECT_EQ(store_->reactToMessage(reactionOf("c1", 1, "alice", "🎉", true, 2)).outcome,
              ChangeOutcome::Changed);
    EXPECT_EQ(store_->reactToMessage(reactionOf("c1", 1, "mallory", "👍")).outcome,
              ChangeOutcome::NotMember);
    // Removed; removing what is not there is a resend.
    EXPECT_EQ(store_->reactToMessage(reactionOf("c1", 1, "bob", "👍", false)).outcome,
              ChangeOutcome::Changed);
    EXPECT_EQ(store_->reactToMessage(reactionOf("c1", 1, "bob", "👍", false)).outcome,
              ChangeOutcome::Unchanged);
    auto now = store_->message("c1", 1);
    ASSERT_TRUE(now.has_value());
    ASSERT_EQ(now->reactions.size(), 2U);
    EXPECT_EQ(now->reactions[0].users, std::vector<std::string>{"alice"});
    EXPECT_EQ(now->reactions[1].users, (std::vector<std::string>{"bob", "alice"}));
    auto page = store_->history(HistoryQuery{"c1", std::nullopt, std::nullopt, 10});
    ASSERT_EQ(page.messages.size(), 1U);
    EXPECT_EQ(page.messages[0].reactions.size(), 2U) << "history carries them";
}

TEST_P(StoreSuite, ChangesCatchUpEveryChangeWithOneCursor) {
    store_->openDirect("alice", "bob", std::nullopt, "c1", 100);
    for (int i = 1; i <= 6; ++i) {
        store_->appendMessage(message("c1", "alice", "m" + std::to_string(i), "text"));
    }
    // A client saw everything up to rev 0, then went away.
    store_->editMessage(editOf("c1", 2, "alice", "edited"));         // rev 1
    store_->reactToMessage(reactionOf("c1", 4, "bob", "👍"));         // rev 2
    store_->deleteMessage("c1", 5, "alice", false, 3000);            // rev 3
    store_->editMessage(editOf("c1", 2, "alice", "edited twice"));   // rev 4: 2 moves on
    store_->reactToMessage(reactionOf("c1", 6, "bob", "👍"));         // rev 5
    store_->reactToMessage(reactionOf("c1", 6, "bob", "👍", false));  // rev 6

    auto all = store_->changes("c1", 0, 100);
    EXPECT_EQ(all.rev, 6);
    EXPECT_FALSE(all.hasMore);
    ASSERT_EQ(all.messages.size(), 4U) << "each changed message once, at its latest rev";
    EXPECT_EQ(all.messages[0].seq, 4);
    EXPECT_EQ(all.messages[0].rev, 2);
    EXPECT_EQ(all.messages[0].reactions.size(), 1U);
    EXPECT_EQ(all.messages[1].seq, 5);
    EXPECT_TRUE(all.messages[1].tombstone());
    EXPECT_EQ(all.messages[2].seq, 2);
    EXPECT_EQ(all.messages[2].body, "edited twice");
    EXPECT_EQ(all.messages[3].seq, 6);
    EXPECT_TRUE(all.messages[3].reactions.empty());

    // Paging by the last rev received; a message changed between pages comes again later.
    auto first = store_->changes("c1", 0, 2);
    ASSERT_EQ(first.messages.size(), 2U);
    EXPECT_TRUE(first.hasMore);
    store_->editMessage(editOf("c1", 1, "alice", "changed meanwhile"));  // rev 7
    store_->reactToMessage(reactionOf("c1", 4, "alice", "🎉"));           // rev 8: seen before
    auto second = store_->changes("c1", first.messages.back().rev, 10);
    std::vector<int64_t> seen;
    for (const auto& m : second.messages) {
        seen.push_back(m.seq);
    }
    EXPECT_EQ(seen, (std::vector<int64_t>{2, 6, 1, 4}));
    EXPECT_EQ(second.rev, 8);
    EXPECT_TRUE(store_->changes("c1", 8, 10).messages.empty());
}

TEST_P(StoreSuite, RepliesKeepTheSeqTheyAnswerAndShowItsPreview) {
    store_->openDirect("alice", "bob", std::nullopt, "c1", 100);
    store_->appendMessage(message("c1", "alice", "m1", "question?"));
    NewMessage reply = message("c1", "bob", "m2", "answer");
    reply.replyTo = 1;
    auto stored = store_->appendMessage(reply);
    EXPECT_EQ(stored.message.replyTo, std::optional<int64_t>(1));
    auto page = store_->history(HistoryQuery{"c1", std::nullopt, std::nullopt, 10});
    ASSERT_EQ(page.messages.size(), 2U);
    ASSERT_TRUE(page.messages[1].replyPreview.has_value());
    EXPECT_EQ(page.messages[1].replyPreview->sender, "alice");
    EXPECT_EQ(page.messages[1].replyPreview->body, "question?");
    EXPECT_FALSE(page.messages[1].replyPreview->deleted);
    store_->deleteMessage("c1", 1, "alice", false, 3000);
    auto after = store_->message("c1", 2);
    ASSERT_TRUE(after.has_value() && after->replyPreview.has_value());
    EXPECT_TRUE(after->replyPreview->deleted);
    EXPECT_EQ(after->replyPreview->body, "");
}

TEST_P(StoreSuite, ErasureMovesTheRevOfEveryMessageItChanges) {
    store_->createGroup("alice", {"alice", "bob", "carol"}, std::nullopt, "g1", 100);
    store_->appendMessage(message("g1", "alice", "a1", "alice one"));
    store_->appendMessage(message("g1", "bob", "b1", "bob one"));
    store_->appendMessage(message("g1", "alice", "a2", "alice two"));
    store_->reactToMessage(reactionOf("g1", 2, "alice", "👍"));  // rev 1
    store_->eraseUser("alice", 5000);
    auto changed = store_->changes("g1", 1, 100);
    std::set<int64_t> seen;
    for (const auto& m : changed.messages) {
        seen.insert(m.seq);
        EXPECT_GT(m.rev, 1);
    }
    EXPECT_EQ(seen, (std::set<int64_t>{1, 2, 3})) << "her messages and the one she reacted to";
    EXPECT_GE(changed.rev, changed.messages.back().rev);
    auto bobs = store_->message("g1", 2);
    EXPECT_TRUE(bobs->reactions.empty()) << "her reaction is her data: erased";
    EXPECT_TRUE(store_->message("g1", 1)->erased);
}

// Issue 21: groups and membership (docs/design.md, "Groups").

namespace {
MembershipRequest membership(const std::string& conv, const std::string& actor,
                             MembershipAction action, std::vector<std::string> uids = {},
                             int64_t now = 5000) {
    MembershipRequest request;
    request.conv = conv;
    request.actor = actor;
    request.action = action;
    request.uids = std::move(uids);
    request.now = now;
    return request;
}

std::vector<std::string> memberIdsOf(Store& store, const std::string& conv) {
    std::vector<std::string> ids;
    const auto conversation = store.conversation(conv);
    for (const auto& member : conversation->members) {
        ids.push_back(member.uid);
    }
    return ids;
}

std::vector<std::string> adminsOf(Store& store, const std::string& conv) {
    std::vector<std::string> ids;
    const auto conversation = store.conversation(conv);
    for (const auto& member : conversation->members) {
        if (member.admin) {
            ids.push_back(member.uid);
        }
    }
    return ids;
}

HistoryPage historyOf(Store& store, const std::string& conv, const std::string& reader) {
    HistoryQuery query{conv, std::nullopt, std::nullopt, 100};
    query.reader = reader;
    return store.history(query);
}
}  // namespace

TEST_P(StoreSuite, TheCreatorIsTheFirstAdminAndOnlyAdminsChangeAGroup) {
    store_->createGroup("alice", {"alice", "bob"}, std::nullopt, "g1", 100);
    EXPECT_EQ(adminsOf(*store_, "g1"), (std::vector<std::string>{"alice"}));

    auto refused =
        store_->changeMembership(membership("g1", "bob", MembershipAction::Add, {"carol"}));
    EXPECT_EQ(refused.outcome, MembershipOutcome::NotAdmin);
    EXPECT_EQ(store_->changeMembership(membership("g1", "dave", MembershipAction::Add, {"carol"}))
                  .outcome,
              MembershipOutcome::NotMember);
    EXPECT_EQ(
        store_->changeMembership(membership("nope", "alice", MembershipAction::Leave)).outcome,
        MembershipOutcome::NoConversation);
    store_->openDirect("alice", "bob", std::nullopt, "d1", 100);
    for (auto action : {MembershipAction::Add, MembershipAction::Leave, MembershipAction::Rename}) {
        EXPECT_EQ(store_->changeMembership(membership("d1", "alice", action, {"carol"})).outcome,
                  MembershipOutcome::NotGroup);
    }
    EXPECT_EQ(memberIdsOf(*store_, "d1"), (std::vector<std::string>{"alice", "bob"}));

    auto added =
        store_->changeMembership(membership("g1", "alice", MembershipAction::Add, {"carol"}));
    ASSERT_EQ(added.outcome, MembershipOutcome::Changed);
    ASSERT_EQ(added.changes.size(), 1U);
    EXPECT_EQ(added.changes[0].kind, MemberChangeKind::Joined);
    EXPECT_EQ(added.changes[0].uid, "carol");
    EXPECT_EQ(added.changes[0].by, "alice");
    EXPECT_EQ(added.changes[0].rev, 1);
    EXPECT_EQ(added.joined, (std::vector<std::string>{"carol"}));
    EXPECT_EQ(memberIdsOf(*store_, "g1"), (std::vector<std::string>{"alice", "bob", "carol"}));
    EXPECT_EQ(store_->conversation("g1")->rev, 1);

    auto again =
        store_->changeMembership(membership("g1", "alice", MembershipAction::Add, {"dave", "bob"}));
    EXPECT_EQ(again.outcome, MembershipOutcome::AlreadyMember);
    EXPECT_EQ(again.offending, (std::vector<std::string>{"bob"}));
    EXPECT_EQ(memberIdsOf(*store_, "g1").size(), 3U) << "dave was not added either";

    auto full = membership("g1", "alice", MembershipAction::Add, {"dave", "erin"});
    full.maxMembers = 4;
    EXPECT_EQ(store_->changeMembership(full).outcome, MembershipOutcome::GroupFull);
    auto notThere =
        store_->changeMembership(membership("g1", "alice", MembershipAction::Remove, {"zed"}));
    EXPECT_EQ(notThere.outcome, MembershipOutcome::TargetNotMember);
    EXPECT_EQ(notThere.offending, (std::vector<std::string>{"zed"}));

    auto promoted =
        store_->changeMembership(membership("g1", "alice", MembershipAction::Promote, {"bob"}));
    EXPECT_EQ(promoted.outcome, MembershipOutcome::Changed);
    EXPECT_EQ(adminsOf(*store_, "g1"), (std::vector<std::string>{"alice", "bob"}));
    EXPECT_EQ(store_->changeMembership(membership("g1", "bob", MembershipAction::Promote, {"bob"}))
                  .outcome,
              MembershipOutcome::Unchanged)
        << "already an admin";
    // The new admin may now remove the one who made them admin.
    auto removed =
        store_->changeMembership(membership("g1", "bob", MembershipAction::Remove, {"alice"}));
    ASSERT_EQ(removed.outcome, MembershipOutcome::Changed);
    EXPECT_EQ(memberIdsOf(*store_, "g1"), (std::vector<std::string>{"bob", "carol"}));
    EXPECT_EQ(removed.told, (std::vector<std::string>{"bob", "carol", "alice"}))
        << "the removed member is told too";

    auto rename = membership("g1", "bob", MembershipAction::Rename);
    rename.title = "Trip";
    auto renamed = store_->changeMembership(rename);
    ASSERT_EQ(renamed.outcome, MembershipOutcome::Changed);
    EXPECT_EQ(renamed.changes.at(0).kind, MemberChangeKind::Renamed);
    EXPECT_EQ(store_->conversation("g1")->title, std::optional<std::string>("Trip"));
    EXPECT_EQ(store_->changeMembership(rename).outcome, MembershipOutcome::Unchanged);
    rename.actor = "carol";
    EXPECT_EQ(store_->changeMembership(rename).outcome, MembershipOutcome::NotAdmin);
}

TEST_P(StoreSuite, AFormerMemberReadsOnlyUpToTheirGoingAndSendsNothing) {
    store_->createGroup("alice", {"alice", "bob", "carol"}, std::nullopt, "g1", 100);
    for (int i = 1; i <= 3; ++i) {
        store_->appendMessage(message("g1", "alice", "a" + std::to_string(i)));
    }
    auto removed =
        store_->changeMembership(membership("g1", "alice", MembershipAction::Remove, {"bob"}));
    ASSERT_EQ(removed.outcome, MembershipOutcome::Changed);
    EXPECT_EQ(removed.changes.at(0).seq, 3) << "the removal's point: the last seq stored";
    EXPECT_EQ(store_->appendMessage(message("g1", "bob", "b1")).access, Access::NotMember);
    store_->appendMessage(message("g1", "alice", "a4"));
    store_->appendMessage(message("g1", "carol", "c1"));

    auto bobs = historyOf(*store_, "g1", "bob");
    EXPECT_EQ(bobs.access, Access::Member);
    EXPECT_EQ(seqs(bobs), range(1, 3));
    ASSERT_TRUE(bobs.range.has_value());
    EXPECT_EQ(bobs.range->toSeq, std::optional<int64_t>(3));
    EXPECT_EQ(seqs(historyOf(*store_, "g1", "carol")), range(1, 5));
    EXPECT_EQ(historyOf(*store_, "g1", "zed").access, Access::NotMember);
    EXPECT_TRUE(historyOf(*store_, "g1", "zed").messages.empty());
    EXPECT_EQ(historyOf(*store_, "nope", "bob").access, Access::NoConversation);
    EXPECT_EQ(store_->memberView("g1", "bob").access, Access::NotMember) << "cannot send or mark";
    EXPECT_EQ(store_->markRead("g1", "bob", 5).access, Access::NotMember);

    // Changes after the removal: to a message bob saw (he learns it was deleted), to one he did
    // not (he does not), and membership changes after his own (he does not see them).
    store_->deleteMessage("g1", 2, "alice", false, 6000);
    store_->editMessage(editOf("g1", 4, "alice", "later"));
    store_->changeMembership(membership("g1", "alice", MembershipAction::Add, {"dave"}));
    auto bobsChanges = store_->changes("g1", 0, 100, std::string("bob"));
    EXPECT_EQ(bobsChanges.access, Access::Member);
    ASSERT_EQ(bobsChanges.messages.size(), 1U);
    EXPECT_EQ(bobsChanges.messages[0].seq, 2);
    ASSERT_EQ(bobsChanges.memberChanges.size(), 1U);
    EXPECT_EQ(bobsChanges.memberChanges[0].kind, MemberChangeKind::Removed);
    EXPECT_EQ(bobsChanges.memberChanges[0].uid, "bob");
    auto carols = store_->changes("g1", 0, 100, std::string("carol"));
    EXPECT_EQ(carols.messages.size(), 2U);
    EXPECT_EQ(carols.memberChanges.size(), 2U);
    EXPECT_EQ(store_->changes("g1", 0, 100, std::string("zed")).access, Access::NotMember);

    // Unread counts and the conversation list are members' only.
    EXPECT_EQ(totalOf(*store_, "bob"), 0);
    EXPECT_TRUE(store_->listConversations("bob", 10, std::nullopt).conversations.empty());
    for (const auto& unread : store_->unreadMembers(0, std::nullopt, 100)) {
        EXPECT_NE(unread.uid, "bob") << "no email about a group he left";
    }

    // Added back, he reads from his return (the earlier range is not kept).
    store_->changeMembership(membership("g1", "alice", MembershipAction::Add, {"bob"}));
    store_->appendMessage(message("g1", "bob", "b2"));
    EXPECT_EQ(seqs(historyOf(*store_, "g1", "bob")), range(6, 6));
}

TEST_P(StoreSuite, AnAddedMemberReadsFromJoiningOrTheWholeHistory) {
    store_->createGroup("alice", {"alice", "bob"}, std::nullopt, "g1", 100);
    store_->appendMessage(message("g1", "alice", "a1"));
    store_->appendMessage(message("g1", "alice", "a2"));
    store_->editMessage(editOf("g1", 1, "alice", "edited"));  // rev 1
    store_->changeMembership(membership("g1", "alice", MembershipAction::Add, {"carol"}));
    auto whole = membership("g1", "alice", MembershipAction::Add, {"dave"});
    whole.wholeHistoryForNewMembers = true;
    store_->changeMembership(whole);
    store_->appendMessage(message("g1", "carol", "c1"));

    EXPECT_EQ(seqs(historyOf(*store_, "g1", "carol")), range(3, 3));
    EXPECT_EQ(seqs(historyOf(*store_, "g1", "dave")), range(1, 3));
    EXPECT_EQ(totalOf(*store_, "dave"), 1) << "what came before joining is not unread";
    EXPECT_EQ(store_->conversation("g1")->readSeqOf("carol"), 3);

    auto carols = store_->changes("g1", 0, 100, std::string("carol"));
    EXPECT_TRUE(carols.messages.empty()) << "the edit was of a message before she joined";
    ASSERT_EQ(carols.memberChanges.size(), 2U) << "from her own joining on";
    EXPECT_EQ(carols.memberChanges[0].uid, "carol");
    EXPECT_EQ(store_->changes("g1", 0, 100, std::string("dave")).messages.size(), 1U);
}

TEST_P(StoreSuite, WhenTheLastAdminGoesTheLongestStandingMemberIsAdmin) {
    store_->createGroup("alice", {"alice", "bob", "carol"}, std::nullopt, "g1", 100);
    store_->changeMembership(membership("g1", "alice", MembershipAction::Add, {"dave"}, 200));
    auto left = store_->changeMembership(membership("g1", "alice", MembershipAction::Leave));
    ASSERT_EQ(left.outcome, MembershipOutcome::Changed);
    ASSERT_EQ(left.changes.size(), 2U);
    EXPECT_EQ(left.changes[0].kind, MemberChangeKind::Left);
    EXPECT_EQ(left.changes[1].kind, MemberChangeKind::Admin);
    EXPECT_EQ(left.changes[1].uid, "bob");
    EXPECT_EQ(adminsOf(*store_, "g1"), (std::vector<std::string>{"bob"}));
    EXPECT_EQ(store_->changeMembership(membership("g1", "alice", MembershipAction::Leave)).outcome,
              MembershipOutcome::NotMember)
        << "a second leave";

    // An erasure of the last admin too.
    store_->eraseUser("bob", 9000);
    EXPECT_EQ(adminsOf(*store_, "g1"), (std::vector<std::string>{"carol"}));
    // The last member leaves: the group stays, with no one in it, for its former members.
    store_->changeMembership(membership("g1", "carol", MembershipAction::Leave));
    store_->changeMembership(membership("g1", "dave", MembershipAction::Leave));
    EXPECT_TRUE(store_->conversation("g1")->members.empty());
    EXPECT_EQ(historyOf(*store_, "g1", "dave").access, Access::Member);
}

TEST_P(StoreSuite, MembershipChangesTakeRevsAndPageWithMessageChanges) {
    store_->createGroup("alice", {"alice", "bob"}, std::nullopt, "g1", 100);
    store_->appendMessage(message("g1", "alice", "a1"));
    store_->editMessage(editOf("g1", 1, "alice", "one"));                                   // 1
    store_->changeMembership(membership("g1", "alice", MembershipAction::Add, {"carol"}));  // 2
    store_->editMessage(editOf("g1", 1, "alice", "two"));                                   // 3
    auto rename = membership("g1", "alice", MembershipAction::Rename);
    rename.title = "Trip";
    store_->changeMembership(rename);                                                        // 4
    store_->changeMembership(membership("g1", "alice", MembershipAction::Remove, {"bob"}));  // 5

    auto all = store_->changes("g1", 0, 100);
    EXPECT_EQ(all.rev, 5);
    ASSERT_EQ(all.messages.size(), 1U);
    EXPECT_EQ(all.messages[0].rev, 3);
    ASSERT_EQ(all.memberChanges.size(), 3U);
    EXPECT_EQ(all.memberChanges[0].rev, 2);
    EXPECT_EQ(all.memberChanges[1].kind, MemberChangeKind::Renamed);
    EXPECT_EQ(all.memberChanges[1].title, std::optional<std::string>("Trip"));
    EXPECT_EQ(all.memberChanges[2].rev, 5);

    // Pages of two hold the first two revs of both kinds together.
    auto first = store_->changes("g1", 0, 2);
    EXPECT_TRUE(first.hasMore);
    ASSERT_EQ(first.memberChanges.size(), 1U);
    EXPECT_EQ(first.memberChanges[0].rev, 2);
    ASSERT_EQ(first.messages.size(), 1U);
    EXPECT_EQ(first.messages[0].rev, 3);
    auto second = store_->changes("g1", 3, 2);
    EXPECT_FALSE(second.hasMore);
    ASSERT_EQ(second.memberChanges.size(), 2U);
    EXPECT_EQ(second.memberChanges[1].rev, 5);
}

// A message sent while its sender is being removed, through a second and third store (other
// instances): stored before the removal (seq at most the removal's) or refused, never after.
TEST_P(StoreSuite, SendsDuringARemovalAreStoredBeforeItOrRefused) {
    for (int round = 0; round < 3; ++round) {
        const std::string conv = "g" + std::to_string(round);
        store_->createGroup("alice", {"alice", "bob", "carol"}, std::nullopt, conv, 1);
        std::atomic<int> sent{0};
        std::atomic<bool> removed{false};
        std::vector<std::vector<AppendResult>> results(2);
        std::vector<std::thread> senders;
        for (int t = 0; t < 2; ++t) {
            senders.emplace_back([&, t] {
                auto other = open_();
                int afterRemoval = 0;
                const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
                for (int i = 0; afterRemoval < 10 && std::chrono::steady_clock::now() < deadline;
                     ++i) {
                    if (removed) {
                        ++afterRemoval;
                    }
                    const std::string cmid =
                        conv + "-" + std::to_string(t) + "-" + std::to_string(i);
                    results[t].push_back(other->appendMessage(message(conv, "bob", cmid, "b", i)));
                    other->appendMessage(message(conv, "carol", cmid, "c", i));
                    ++sent;
                }
            });
        }
        while (sent < 10 + round * 10) {
            std::this_thread::yield();
        }
        auto removal =
            store_->changeMembership(membership(conv, "alice", MembershipAction::Remove, {"bob"}));
        removed = true;
        for (auto& sender : senders) {
            sender.join();
        }
        ASSERT_EQ(removal.outcome, MembershipOutcome::Changed);
        const int64_t point = removal.changes.at(0).seq;

        std::set<int64_t> acknowledged;
        int refused = 0;
        for (const auto& own : results) {
            for (const auto& result : own) {
                if (result.access == Access::Member) {
                    acknowledged.insert(result.message.seq);
                    EXPECT_LE(result.message.seq, point) << "acknowledged after the removal";
                } else {
                    EXPECT_EQ(result.access, Access::NotMember);
                    ++refused;
                }
            }
        }
        EXPECT_GE(refused, 20) << "both senders ran past the removal";
        std::set<int64_t> stored;
        int64_t last = 0;
        std::optional<int64_t> after = 0;
        for (;;) {
            auto page = store_->history({conv, {}, after, 100});
            for (const auto& m : page.messages) {
                EXPECT_EQ(m.seq, ++last) << "gapless";
                if (m.sender == "bob") {
                    stored.insert(m.seq);
                    EXPECT_LE(m.seq, point) << "stored after the removal";
                }
            }
            if (!page.hasMore) {
                break;
            }
            after = page.messages.back().seq;
        }
        EXPECT_EQ(stored, acknowledged) << "what was acknowledged is what is stored";
        const auto bobs = historyOf(*store_, conv, "bob");
        ASSERT_FALSE(bobs.messages.empty());
        EXPECT_EQ(bobs.messages.back().seq, point) << "bob reads up to his removal, no further";
    }
}

TEST_P(StoreSuite, AGroupAdminDeletesOthersMessagesAndOtherMembersDoNot) {
    store_->createGroup("alice", {"alice", "bob", "carol"}, std::nullopt, "g1", 100);
    store_->appendMessage(message("g1", "bob", "b1"));
    store_->appendMessage(message("g1", "alice", "a1"));
    EXPECT_EQ(store_->deleteMessage("g1", 2, "carol", false, 6000).outcome,
              ChangeOutcome::NotSender);
    EXPECT_EQ(store_->deleteMessage("g1", 1, "alice", false, 6000).outcome, ChangeOutcome::Changed)
        << "the admin deletes bob's";
    store_->openDirect("alice", "bob", std::nullopt, "d1", 100);
    store_->appendMessage(message("d1", "bob", "b2"));
    EXPECT_EQ(store_->deleteMessage("d1", 1, "alice", false, 6000).outcome,
              ChangeOutcome::NotSender)
        << "a 1:1 has no admin";
}

}  // namespace parley::testing

// msg.search and conv.set (issue 21): docs/design.md, "Search" and "A member's own settings".
namespace parley::testing {

namespace {
SearchQuery searchOf(const std::string& reader, std::vector<std::string> terms, int limit = 20,
                     std::optional<int64_t> before = std::nullopt,
                     std::optional<std::string> conv = std::nullopt) {
    SearchQuery query;
    query.reader = reader;
    query.terms = std::move(terms);
    query.limit = limit;
    query.before = before;
    query.conv = std::move(conv);
    return query;
}

std::vector<std::string> foundCmids(const SearchPage& page) {
    std::vector<std::string> cmids;
    for (const auto& m : page.messages) {
        cmids.push_back(m.cmid);
    }
    return cmids;
}
}  // namespace

TEST_P(StoreSuite, SearchFindsOnlyReadableMessagesNewestFirstInPages) {
    store_->openDirect("alice", "bob", std::nullopt, "c1", 100);
    store_->openDirect("alice", "carol", std::nullopt, "c2", 100);
    store_->openDirect("bob", "carol", std::nullopt, "c3", 100);
    store_->appendMessage(message("c1", "alice", "a1", "selling my blue bike", 1000));
    store_->appendMessage(message("c3", "bob", "b1", "carol, want my bike?", 1001));
    store_->appendMessage(message("c2", "carol", "k1", "Is the bike still there?", 1002));
    store_->appendMessage(message("c1", "bob", "b2", "how old is the bike", 1003));
    store_->appendMessage(message("c1", "bob", "b3", "nothing to see here", 1004));
    store_->appendMessage(message("c2", "alice", "a2", "BIKE sold, sorry", 1005));

    auto first = store_->searchMessages(searchOf("alice", {"bike"}, 2));
    EXPECT_EQ(foundCmids(first), (std::vector<std::string>{"a2", "b2"}));
    EXPECT_TRUE(first.hasMore);
    std::set<std::string> convs;
    for (const auto& conversation : first.conversations) {
        convs.insert(conversation.id);
        EXPECT_FALSE(conversation.members.empty());
    }
    EXPECT_EQ(convs, (std::set<std::string>{"c1", "c2"})) << "each message's conversation, once";
    auto second = store_->searchMessages(searchOf("alice", {"bike"}, 2, first.nextBefore));
    EXPECT_EQ(foundCmids(second), (std::vector<std::string>{"k1", "a1"}));
    EXPECT_FALSE(second.hasMore) << "c3's message is bob's and carol's, never alice's";
    auto everything = store_->searchMessages(searchOf("alice", {"bike"}, 50));
    EXPECT_EQ(foundCmids(everything), (std::vector<std::string>{"a2", "b2", "k1", "a1"}));

    EXPECT_EQ(foundCmids(store_->searchMessages(searchOf("bob", {"bike"}))),
              (std::vector<std::string>{"b2", "b1", "a1"}));
    EXPECT_EQ(foundCmids(store_->searchMessages(searchOf("alice", {"bike"}, 20, {}, "c2"))),
              (std::vector<std::string>{"a2", "k1"}));
    EXPECT_TRUE(store_->searchMessages(searchOf("mallory", {"bike"})).messages.empty());
}

TEST_P(StoreSuite, SearchNeedsEveryTermAndIgnoresCaseAndAccents) {
    store_->openDirect("alice", "bob", std::nullopt, "c1", 100);
    store_->appendMessage(message("c1", "alice", "a1", "Meet at the Café Mozart tomorrow"));
    store_->appendMessage(message("c1", "bob", "b1", "which cafe? the one near the station"));
    store_->appendMessage(message("c1", "bob", "b2", "OK, tomorrow then"));

    EXPECT_EQ(foundCmids(store_->searchMessages(searchOf("alice", {"cafe"}))),
              (std::vector<std::string>{"b1", "a1"}));
    EXPECT_EQ(foundCmids(store_->searchMessages(searchOf("alice", {"CAFÉ", "tomorrow"}))),
              (std::vector<std::string>{"a1"}));
    EXPECT_EQ(foundCmids(store_->searchMessages(searchOf("alice", {"tomorrow"}))),
              (std::vector<std::string>{"b2", "a1"}));
    EXPECT_EQ(foundCmids(store_->searchMessages(searchOf("alice", {"the", "station"}))),
              (std::vector<std::string>{"b1"}))
        << "no stopwords: every word counts";
    EXPECT_TRUE(store_->searchMessages(searchOf("alice", {"mozart", "station"})).messages.empty());
    EXPECT_TRUE(store_->searchMessages(searchOf("alice", {"bicycle"})).messages.empty());
}

TEST_P(StoreSuite, SearchNeverFindsDeletedOrErasedTextAndFollowsEdits) {
    store_->createGroup("alice", {"alice", "bob", "carol"}, std::nullopt, "g1", 100);
    store_->appendMessage(message("g1", "alice", "a1", "the password is swordfish"));
    store_->appendMessage(message("g1", "bob", "b1", "swordfish noted"));
    store_->appendMessage(message("g1", "carol", "k1", "swordfish? really"));
    store_->appendMessage(message("g1", "carol", "k2", "typo here: helo"));
    ASSERT_EQ(store_->searchMessages(searchOf("alice", {"swordfish"})).messages.size(), 3U);

    ASSERT_EQ(store_->deleteMessage("g1", 1, "alice", false, 4000).outcome, ChangeOutcome::Changed);
    EXPECT_EQ(foundCmids(store_->searchMessages(searchOf("alice", {"swordfish"}))),
              (std::vector<std::string>{"k1", "b1"}));
    EXPECT_TRUE(store_->searchMessages(searchOf("alice", {"password"})).messages.empty());

    store_->eraseUser("bob", 5000);
    EXPECT_EQ(foundCmids(store_->searchMessages(searchOf("alice", {"swordfish"}))),
              (std::vector<std::string>{"k1"}));
    EXPECT_TRUE(store_->searchMessages(searchOf("alice", {"noted"})).messages.empty());

    ASSERT_EQ(store_->editMessage(editOf("g1", 4, "carol", "typo fixed: hello")).outcome,
              ChangeOutcome::Changed);
    EXPECT_TRUE(store_->searchMessages(searchOf("alice", {"helo"})).messages.empty())
        << "the old text no longer matches";
    auto found = store_->searchMessages(searchOf("alice", {"hello"}));
    ASSERT_EQ(foundCmids(found), (std::vector<std::string>{"k2"})) << "the new text does";
    EXPECT_EQ(found.messages[0].body, "typo fixed: hello");
    EXPECT_EQ(found.messages[0].editedAt, std::optional<int64_t>(2000));
}

TEST_P(StoreSuite, SearchIndexIsPurgedOnceWhenADeletionIsDue) {
    store_->openDirect("alice", "bob", std::nullopt, "c1", 100);
    store_->appendMessage(message("c1", "alice", "a1", "keep this message"));
    store_->appendMessage(message("c1", "alice", "a2", "delete this message"));
    EXPECT_FALSE(store_->purgeSearchIndex(10000)) << "nothing deleted yet";
    store_->deleteMessage("c1", 2, "alice", false, 4000);
    EXPECT_FALSE(store_->purgeSearchIndex(3999)) << "the deletion is not due yet";
    // A second instance (another store on the same database) sees the same pending purge; only
    // one of them runs it.
    auto other = open_();
    EXPECT_TRUE(other->purgeSearchIndex(4000));
    EXPECT_FALSE(store_->purgeSearchIndex(4000)) << "purged already";
    EXPECT_EQ(foundCmids(store_->searchMessages(searchOf("alice", {"message"}))),
              (std::vector<std::string>{"a1"}))
        << "the index still holds what was not deleted";
    store_->appendMessage(message("c1", "bob", "b1", "a new message after the purge"));
    EXPECT_EQ(foundCmids(store_->searchMessages(searchOf("bob", {"message"}))),
              (std::vector<std::string>{"b1", "a1"}));

    // An erasure purges at once.
    store_->deleteMessage("c1", 3, "bob", false, 7000);
    store_->eraseUser("alice", 8000);
    EXPECT_FALSE(store_->purgeSearchIndex(100000)) << "the erasure purged, deletion included";
}

// parleyd stopping while it purges (the sweep's stop token): SQLite's purge is one statement and
// finishes; MariaDB's rebuild returns before its first batch. Either way nothing is lost, and a
// purge left part way is still due, for the next to finish.
TEST_P(StoreSuite, SearchPurgeAskedToStopLeavesItDueAndLosesNothing) {
    store_->openDirect("alice", "bob", std::nullopt, "c1", 100);
    store_->appendMessage(message("c1", "alice", "a1", "keep this message"));
    store_->appendMessage(message("c1", "alice", "a2", "delete this message"));
    store_->deleteMessage("c1", 2, "alice", false, 4000);
    std::stop_source stopping;
    stopping.request_stop();
    const bool finished = store_->purgeSearchIndex(4000, stopping.get_token());
    EXPECT_EQ(finished, GetParam().name == "sqlite") << "MariaDB's rebuild stops between batches";
    EXPECT_EQ(foundCmids(store_->searchMessages(searchOf("bob", {"message"}))),
              (std::vector<std::string>{"a1"}));
    store_->appendMessage(message("c1", "bob", "b1", "a message after the stop"));
    EXPECT_EQ(open_()->purgeSearchIndex(4000), !finished) << "due again only if it stopped";
    EXPECT_FALSE(store_->purgeSearchIndex(100000)) << "nothing due any more";
    EXPECT_EQ(foundCmids(store_->searchMessages(searchOf("bob", {"message"}))),
              (std::vector<std::string>{"b1", "a1"}));
    const auto kept = store_->findByCmid("alice", "a1");
    ASSERT_TRUE(kept.has_value());
    EXPECT_EQ(kept->body, "keep this message");
}

TEST_P(StoreSuite, MembersKeepTheirOwnSettingsAndMutedConversationsLeaveTheTotal) {
    store_->openDirect("alice", "bob", std::nullopt, "c1", 100);
    store_->openDirect("alice", "carol", std::nullopt, "c2", 100);
    store_->appendMessage(message("c1", "bob", "b1", "one", 1000));
    store_->appendMessage(message("c1", "bob", "b2", "two", 1001));
    store_->appendMessage(message("c2", "carol", "k1", "three", 1002));
    ASSERT_EQ(totalOf(*store_, "alice"), 3);

    SettingsChange mute;
    mute.muted = true;
    mute.now = 2000;
    auto muted = store_->changeSettings("c1", "alice", mute);
    EXPECT_EQ(muted.access, Access::Member);
    EXPECT_TRUE(muted.changed);
    EXPECT_TRUE(muted.settings.muted);
    EXPECT_FALSE(muted.settings.archived);
    EXPECT_EQ(totalOf(*store_, "alice"), 1) << "a muted conversation is no part of the total";
    EXPECT_EQ(totalOf(*store_, "bob"), 0);
    auto c1 = store_->conversation("c1");
    EXPECT_EQ(c1->lastSeq - c1->readSeqOf("alice"), 2) << "its own count stays";
    EXPECT_TRUE(c1->settingsOf("alice").muted);
    EXPECT_FALSE(c1->settingsOf("bob").muted) << "one member's settings are theirs alone";
    EXPECT_FALSE(store_->changeSettings("c1", "alice", mute).changed) << "a resend";

    // Nobody is notified about a muted conversation.
    for (const auto& member : store_->unreadMembers(0, std::nullopt, 100)) {
        EXPECT_FALSE(member.uid == "alice" && member.conv == "c1");
    }
    auto unread = store_->unreadMembers(0, std::string("alice"), 100);
    ASSERT_EQ(unread.size(), 1U);
    EXPECT_EQ(unread[0].conv, "c2");

    // Appending in a muted conversation: the others' totals as before, hers without it.
    auto appended = store_->appendMessage(message("c1", "bob", "b3", "four", 1003));
    ASSERT_EQ(appended.unreadTotals.size(), 1U);
    EXPECT_EQ(appended.unreadTotals[0].uid, "alice");
    EXPECT_EQ(appended.unreadTotals[0].unread, 1);

    SettingsChange pinArchive;
    pinArchive.pinned = true;
    pinArchive.archived = true;
    pinArchive.now = 3000;
    auto pinned = store_->changeSettings("c2", "alice", pinArchive);
    EXPECT_EQ(pinned.settings.pinnedAt, std::optional<int64_t>(3000));
    EXPECT_TRUE(pinned.settings.archived);
    pinArchive.now = 3500;
    EXPECT_EQ(store_->changeSettings("c2", "alice", pinArchive).settings.pinnedAt,
              std::optional<int64_t>(3000))
        << "pinning again keeps when it was pinned";
    auto listed = store_->listConversations("alice", 10, std::nullopt);
    ASSERT_EQ(listed.conversations.size(), 2U);
    for (const auto& conversation : listed.conversations) {
        const auto settings = conversation.settingsOf("alice");
        EXPECT_EQ(settings.muted, conversation.id == "c1");
        EXPECT_EQ(settings.archived, conversation.id == "c2");
        EXPECT_EQ(settings.pinnedAt.has_value(), conversation.id == "c2");
    }

    SettingsChange unmuteUnpin;
    unmuteUnpin.muted = false;
    unmuteUnpin.now = 4000;
    store_->changeSettings("c1", "alice", unmuteUnpin);
    unmuteUnpin.muted.reset();
    unmuteUnpin.pinned = false;
    auto unpinned = store_->changeSettings("c2", "alice", unmuteUnpin);
    EXPECT_FALSE(unpinned.settings.pinnedAt.has_value());
    EXPECT_TRUE(unpinned.settings.archived) << "what was not named stays";
    EXPECT_EQ(totalOf(*store_, "alice"), 4);

    EXPECT_EQ(store_->changeSettings("c1", "carol", mute).access, Access::NotMember);
    EXPECT_EQ(store_->changeSettings("nope", "alice", mute).access, Access::NoConversation);
}

}  // namespace parley::testing
