#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "store/SqlConnection.h"

namespace parley::store {

// A fixed number of connection slots. A slot whose connection broke is refilled on the next
// acquire, so a database restart costs a reconnect, not the process.
class ConnectionPool {
  public:
    using Factory = std::function<std::unique_ptr<SqlConnection>()>;

    ConnectionPool(Factory factory, size_t size);

    class Lease {
      public:
        Lease(ConnectionPool& pool, std::unique_ptr<SqlConnection> connection)
            : pool_(&pool), connection_(std::move(connection)) {}
        Lease(Lease&& other) noexcept
            : pool_(std::exchange(other.pool_, nullptr)),
              connection_(std::move(other.connection_)) {}
        Lease& operator=(Lease&&) = delete;
        Lease(const Lease&) = delete;
        ~Lease();

        SqlConnection& operator*() const { return *connection_; }
        SqlConnection* operator->() const { return connection_.get(); }
        // The connection is unusable: drop it instead of returning it to the pool, and the idle
        // ones with it (a database restart or failover broke them all; a fresh connection is
        // cheaper than a failed attempt and a retry for each).
        void discard();

      private:
        ConnectionPool* pool_;
        std::unique_ptr<SqlConnection> connection_;
    };

    // Blocks until a slot is free. Opens a connection if the slot is empty (throws SqlError if
    // that fails; the slot stays free).
    Lease acquire();

  private:
    void release(std::unique_ptr<SqlConnection> connection);
    void dropIdle();

    Factory factory_;
    std::mutex mutex_;
    std::condition_variable available_;
    std::vector<std::unique_ptr<SqlConnection>> idle_;
    size_t freeSlots_;  // slots not leased: idle connections plus empty slots
};

}  // namespace parley::store
