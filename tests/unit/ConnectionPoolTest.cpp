#include <gtest/gtest.h>

#include <memory>

#include "store/ConnectionPool.h"

namespace parley::store {
namespace {

// A connection that does nothing: the pool's bookkeeping is what is tested.
class NullConnection : public SqlConnection {
  public:
    void beginRead() override {}
    void beginWrite() override {}
    void commit() override {}
    void rollback() override {}
    int64_t execute(std::string_view, const SqlParams&) override { return 0; }
    std::vector<SqlRow> query(std::string_view, const SqlParams&) override { return {}; }
    void executeScript(std::string_view) override {}
};

TEST(ConnectionPool, ReusesIdleConnections) {
    int opened = 0;
    ConnectionPool pool(
        [&] {
            ++opened;
            return std::make_unique<NullConnection>();
        },
        2);
    { auto lease = pool.acquire(); }
    { auto lease = pool.acquire(); }
    EXPECT_EQ(opened, 1);
}

TEST(ConnectionPool, ADiscardedConnectionTakesTheIdleOnesWithIt) {
    int opened = 0;
    ConnectionPool pool(
        [&] {
            ++opened;
            return std::make_unique<NullConnection>();
        },
        3);
    {
        auto first = pool.acquire();
        auto second = pool.acquire();
        auto third = pool.acquire();
    }
    EXPECT_EQ(opened, 3);
    {
        auto broken = pool.acquire();  // the database restarted: this one failed
        broken.discard();
    }
    // The two idle ones were from before the restart too: fresh connections instead.
    auto first = pool.acquire();
    auto second = pool.acquire();
    auto third = pool.acquire();
    EXPECT_EQ(opened, 6);
}

TEST(ConnectionPool, AFailedOpenFreesItsSlot) {
    bool fail = true;
    ConnectionPool pool(
        [&]() -> std::unique_ptr<SqlConnection> {
            if (fail) {
                throw SqlError(SqlError::Kind::ConnectionLost, "refused");
            }
            return std::make_unique<NullConnection>();
        },
        1);
    EXPECT_THROW(pool.acquire(), SqlError);
    fail = false;
    auto lease = pool.acquire();  // would block forever if the slot had leaked
    EXPECT_NE(lease.operator->(), nullptr);
}

}  // namespace
}  // namespace parley::store
