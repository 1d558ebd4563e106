#include "store/ConnectionPool.h"

namespace parley::store {

ConnectionPool::ConnectionPool(Factory factory, size_t size)
    : factory_(std::move(factory)), freeSlots_(size) {}

ConnectionPool::Lease::~Lease() {
    if (pool_ != nullptr) {
        pool_->release(std::move(connection_));
    }
}

void ConnectionPool::Lease::discard() {
    connection_.reset();
    if (pool_ != nullptr) {
        pool_->dropIdle();
    }
}

void ConnectionPool::dropIdle() {
    std::vector<std::unique_ptr<SqlConnection>> dropped;
    {
        std::lock_guard lock(mutex_);
        dropped.swap(idle_);
    }
    // Closed outside the lock: closing a broken connection may wait on the network.
}

ConnectionPool::Lease ConnectionPool::acquire() {
    std::unique_ptr<SqlConnection> connection;
    {
        std::unique_lock lock(mutex_);
        available_.wait(lock, [this] { return freeSlots_ > 0; });
        --freeSlots_;
        if (!idle_.empty()) {
            connection = std::move(idle_.back());
            idle_.pop_back();
        }
    }
    if (!connection) {
        try {
            connection = factory_();
        } catch (...) {
            release(nullptr);
            throw;
        }
    }
    return Lease(*this, std::move(connection));
}

void ConnectionPool::release(std::unique_ptr<SqlConnection> connection) {
    {
        std::lock_guard lock(mutex_);
        if (connection) {
            idle_.push_back(std::move(connection));
        }
        ++freeSlots_;
    }
    available_.notify_one();
}

}  // namespace parley::store
