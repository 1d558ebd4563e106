// Users sharded over brokers: the uid-to-shard function, ShardedTransport's routing, and the whole
// server over two in-memory shards (a reply goes back where its command came from, each event to
// its recipient's shard, presence to every shard).

#include <gtest/gtest.h>

#include <unistd.h>
#include <filesystem>
#include <map>
#include <set>

#include "parley/testing/MemoryTransport.h"
#include "parley/testing/ServerHarness.h"
#include "parley/wire/UserShard.h"
#include "server/Server.h"
#include "store/SqliteStore.h"
#include "transport/ShardedTransport.h"

namespace parley::testing {
namespace {

using json = nlohmann::json;

TEST(UserShard, IsFnv1aOfTheUidModuloTheShards) {
    // The published FNV-1a test vectors: client authors check their port against these.
    EXPECT_EQ(fnv1a32(""), 0x811c9dc5u);
    EXPECT_EQ(fnv1a32("a"), 0xe40c292cu);
    EXPECT_EQ(fnv1a32("foobar"), 0xbf9cf968u);
    // The examples docs/protocol.md gives.
    EXPECT_EQ(fnv1a32("alice"), 0x872213e7u);
    EXPECT_EQ(shardOfUser("alice", 2), 1u);
    EXPECT_EQ(shardOfUser("bob", 2), 0u);
    EXPECT_EQ(shardOfUser("alice", 3), 2u);
    EXPECT_EQ(shardOfUser("dave", 3), 1u);
    for (const char* uid : {"alice", "bob", "x@example.com"}) {
        EXPECT_EQ(shardOfUser(uid, 1), 0u) << uid;
        EXPECT_EQ(shardOfUser(uid, 0), 0u) << uid;
    }
    static_assert(shardOfUser("bob", 2) == 0, "usable at compile time");
}

TEST(UserShard, SpreadsUsersEvenly) {
    for (size_t shards : {2u, 3u, 5u}) {
        std::map<size_t, int> users;
        const int total = 30000;
        for (int i = 0; i < total; ++i) {
            users[shardOfUser("user" + std::to_string(i), shards)]++;
        }
        ASSERT_EQ(users.size(), shards);
        for (const auto& [shard, count] : users) {
            EXPECT_NEAR(count, total / static_cast<double>(shards), total * 0.02 / shards * 5)
                << shards << " shards, shard " << shard;
        }
    }
}

// A shard's transport that records what it is asked, and hands out the handler it was given.
class RecordingTransport final : public Transport {
  public:
    bool start(InboundHandler handler) override {
        handler_ = std::move(handler);
        return startAnswer;
    }
    void stopReceiving() override {}
    void stop() override { ++stops; }
    bool isConnected() const override { return connected; }
    void publish(OutboundMessage message) override { published.push_back(std::move(message)); }

    void deliver(InboundMessage message) { handler_(std::move(message)); }

    bool startAnswer = true;
    bool connected = true;
    int stops = 0;
    std::vector<OutboundMessage> published;

  private:
    InboundHandler handler_;
};

struct TwoRecordingShards {
    TwoRecordingShards() {
        std::vector<std::unique_ptr<Transport>> owned;
        for (auto*& shard : shards) {
            auto made = std::make_unique<RecordingTransport>();
            shard = made.get();
            owned.push_back(std::move(made));
        }
        transport = std::make_unique<ShardedTransport>(std::move(owned));
    }
    RecordingTransport* shards[2] = {nullptr, nullptr};
    std::unique_ptr<ShardedTransport> transport;
};

TEST(ShardedTransport, RoutesByShardThenRecipientElseEverywhere) {
    TwoRecordingShards two;
    auto& sharded = *two.transport;
    // "alice" hashes to shard 1, "bob" to shard 0.
    sharded.publish(OutboundMessage{"parley/v1/u/alice/c/x", "1", 1, false, {}, {}, "alice"});
    sharded.publish(OutboundMessage{"parley/v1/u/bob/c/x", "2", 1, false, {}, {}, "bob"});
    // A reply to alice's command that came through shard 0 goes back there.
    sharded.publish(OutboundMessage{"parley/v1/u/alice/resp", "3", 1, false, {}, 0, "alice"});
    // No recipient (retained presence): every shard.
    sharded.publish(OutboundMessage{"parley/v1/presence/alice", "4", 1, true, {}});
    // A shard index past the end (a misconfiguration elsewhere) falls back to the recipient.
    sharded.publish(OutboundMessage{"parley/v1/u/bob/resp", "5", 1, false, {}, 7, "bob"});

    auto payloads = [](const RecordingTransport& shard) {
        std::vector<std::string> seen;
        for (const auto& message : shard.published) {
            seen.push_back(message.payload);
        }
        return seen;
    };
    EXPECT_EQ(payloads(*two.shards[0]), (std::vector<std::string>{"2", "3", "4", "5"}));
    EXPECT_EQ(payloads(*two.shards[1]), (std::vector<std::string>{"1", "4"}));
    EXPECT_TRUE(two.shards[1]->published.back().retain);
}

TEST(ShardedTransport, TagsCommandsWithTheirShardAndStartsAndStopsEveryShard) {
    TwoRecordingShards two;
    std::vector<InboundMessage> received;
    ASSERT_TRUE(
        two.transport->start([&](InboundMessage&& m) { received.push_back(std::move(m)); }));
    two.shards[1]->deliver(InboundMessage{"parley/v1/c2s/bob", "{}", ""});
    two.shards[0]->deliver(InboundMessage{"parley/v1/c2s/alice", "{}", ""});
    ASSERT_EQ(received.size(), 2u);
    EXPECT_EQ(received[0].shard, 1u);
    EXPECT_EQ(received[1].shard, 0u);

    EXPECT_TRUE(two.transport->isConnected());
    two.shards[0]->connected = false;
    EXPECT_FALSE(two.transport->isConnected()) << "ready only with every shard";
    two.transport->stop();
    two.transport->stop();
    EXPECT_EQ(two.shards[0]->stops, 1);
    EXPECT_EQ(two.shards[1]->stops, 1);
}

TEST(ShardedTransport, NotStartedUnlessEveryShardStarted) {
    TwoRecordingShards two;
    two.shards[1]->startAnswer = false;  // stopped while connecting
    EXPECT_FALSE(two.transport->start([](InboundMessage&&) {}));
}

// The whole server over two in-memory shards.
class ShardedServerTest : public ::testing::Test {
  protected:
    ShardedServerTest() {
        dir_ = std::filesystem::temp_directory_path() /
               ("parley-shard-test-" + std::to_string(::getpid()));
        std::filesystem::create_directories(dir_);
        config_.store.sqlite.path = (dir_ / "parley.db").string();
        config_.store.sqlite.synchronous = "normal";
        store_ = std::make_unique<store::SqliteStore>(config_.store.sqlite, 1000);
        store_->migrate();
        std::vector<std::unique_ptr<Transport>> owned;
        for (auto*& shard : shards_) {
            auto made = std::make_unique<MemoryTransport>();
            shard = made.get();
            owned.push_back(std::move(made));
        }
        transport_ = std::make_unique<ShardedTransport>(std::move(owned));
        server_ = std::make_unique<Server>(config_, *store_, *transport_, clock_);
        server_->start();
    }
    ~ShardedServerTest() override {
        server_.reset();
        transport_.reset();
        store_.reset();
        std::error_code ignored;
        std::filesystem::remove_all(dir_, ignored);
    }

    // Sends `command` as `uid` through shard `via` and returns the reply, which must come back on
    // that shard.
    json call(const std::string& uid, size_t via, json command) {
        const std::string id = "r" + std::to_string(nextId_++);
        command["id"] = id;
        server_->onInbound(InboundMessage{"parley/v1/c2s/" + uid, command.dump(), "", via});
        return shards_[via]
            ->waitFor("parley/v1/u/" + uid + "/resp",
                      [&](const json& reply) { return reply["id"] == id; })
            .payload;
    }

    Config config_;
    std::filesystem::path dir_;
    std::unique_ptr<store::SqliteStore> store_;
    ManualClock clock_;
    MemoryTransport* shards_[2] = {nullptr, nullptr};
    std::unique_ptr<ShardedTransport> transport_;
    std::unique_ptr<Server> server_;
    int nextId_ = 1;
};

TEST_F(ShardedServerTest, EachEventOnItsRecipientsShardPresenceOnEvery) {
    ASSERT_EQ(shardOfUser("alice", 2), 1u);
    ASSERT_EQ(shardOfUser("bob", 2), 0u);
    ASSERT_EQ(shardOfUser("carol", 2), 0u);
    ASSERT_EQ(shardOfUser("dave", 2), 1u);
    auto group = call(
        "alice", 1, {{"op", "conv.create"}, {"members", {"bob", "carol", "dave"}}, {"title", "g"}});
    ASSERT_TRUE(group["ok"]) << group;
    const std::string conv = group["conv"];
    auto sent =
        call("bob", 0, {{"op", "msg.send"}, {"conv", conv}, {"cmid", "m1"}, {"body", "hi"}});
    ASSERT_TRUE(sent["ok"]) << sent;
    for (const std::string uid : {"alice", "bob", "carol", "dave"}) {
        const size_t home = shardOfUser(uid, 2);
        const std::string topic = "parley/v1/u/" + uid + "/c/" + conv;
        shards_[home]->waitFor(topic, [](const json& e) { return e.value("ev", "") == "msg"; });
        EXPECT_TRUE(shards_[1 - home]->sentTo(topic).empty())
            << uid << " got events on the other shard";
    }
    auto typing = call("dave", 1, {{"op", "typing"}, {"conv", conv}, {"state", "start"}});
    ASSERT_TRUE(typing["ok"]) << typing;
    shards_[0]->waitFor("parley/v1/u/bob/c/" + conv,
                        [](const json& e) { return e.value("ev", "") == "typing"; });
    auto presence = call("carol", 0, {{"op", "presence"}, {"state", "online"}});
    ASSERT_TRUE(presence["ok"]) << presence;
    for (auto* shard : shards_) {
        auto retained = shard->waitFor("parley/v1/presence/carol", [](const json& p) {
            return p.value("state", "") == "online";
        });
        EXPECT_TRUE(retained.message.retain);
    }
}

TEST_F(ShardedServerTest, AReplyGoesBackWhereItsCommandCameFrom) {
    // alice's shard is 1; a command that reached parleyd through shard 0 (she connected to the
    // wrong broker) is still answered there, as is one that could not be decoded.
    EXPECT_TRUE(call("alice", 0, {{"op", "ping"}})["ok"]);
    EXPECT_EQ(call("alice", 0, {{"op", "teleport"}})["error"]["code"], "unknown_op");
    server_->onInbound(InboundMessage{"parley/v1/c2s/alice", "{not json", "", 0});
    shards_[0]->waitFor("parley/v1/u/alice/resp", [](const json& reply) {
        return reply.contains("error") && reply["id"].is_null();
    });
    EXPECT_TRUE(shards_[1]->sentTo("parley/v1/u/alice/resp").empty());
}

}  // namespace
}  // namespace parley::testing
