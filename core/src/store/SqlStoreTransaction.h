#pragma once

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <type_traits>
#include <variant>

#include "store/SqlStore.h"

// SqlStore's transactions: how each of its methods runs (observed, retried, one attempt on a
// pooled connection). Templates over the work each method does, so every file that implements
// SqlStore's methods includes them; internal to the store.
namespace parley::store {

template <typename Call>
auto SqlStore::observed(const char* method, Call&& call) {
    StoreObserver* observer = observer_.load(std::memory_order_acquire);
    if (observer == nullptr) {
        return call();
    }
    struct Report {
        StoreObserver& observer;
        const char* method;
        std::chrono::steady_clock::time_point started;
        bool failed = true;  // until the call returned
        ~Report() {
            observer.storeCall(method, std::chrono::steady_clock::now() - started, failed);
        }
    } report{*observer, method, std::chrono::steady_clock::now()};
    if constexpr (std::is_void_v<decltype(call())>) {
        call();
        report.failed = false;
    } else {
        auto result = call();
        report.failed = false;
        return result;
    }
}

template <typename Work>
auto SqlStore::attempt(Mode mode, Work&& work) {
    auto lease = pool_.acquire();
    try {
        if (mode == Mode::Write) {
            lease->beginWrite();
        } else {
            lease->beginRead();
        }
        auto result = work(*lease);
        if constexpr (std::is_same_v<decltype(result), BatchAttempt>) {
            if (std::holds_alternative<ResendFound>(result)) {
                lease->rollback();  // it wrote nothing worth keeping
                return result;
            }
        }
        lease->commit();
        if constexpr (std::is_same_v<decltype(result), BatchAttempt>) {
            if (lease->commitNeedsConfirmation()) {
                confirmStored(*lease, std::get<std::vector<AppendResult>>(result));
            }
        }
        return result;
    } catch (const SqlError& error) {
        lease->rollback();
        if (error.kind() == SqlError::Kind::ConnectionLost) {
            lease.discard();
        }
        throw;
    } catch (...) {
        lease->rollback();
        throw;
    }
}

template <typename Work>
auto SqlStore::transaction(const char* what, Mode mode, Work&& work) {
    return observed(
        what, [&] { return transaction(what, mode, std::chrono::steady_clock::now(), work); });
}

template <typename Work>
auto SqlStore::transaction(const char* what, Mode mode, std::chrono::steady_clock::time_point since,
                           Work&& work) {
    using Clock = std::chrono::steady_clock;
    const auto deadline = since + std::chrono::milliseconds(retryForMs_);
    auto backoff = std::chrono::milliseconds(20);
    for (int attempt = 1;; ++attempt) {
        try {
            return this->attempt(mode, work);
        } catch (const SqlError& error) {
            const bool retryable = error.kind() == SqlError::Kind::Retryable ||
                                   error.kind() == SqlError::Kind::ConnectionLost;
            if (!retryable) {
                throw;
            }
            if (Clock::now() + backoff > deadline) {
                spdlog::error("store: {} failed after {} attempts: {}", what, attempt,
                              error.what());
                throw StoreUnavailable(std::string(what) + ": " + error.what());
            }
            // Busy or deadlocked transactions retry quietly; a lost database is worth a warning.
            if (error.kind() == SqlError::Kind::ConnectionLost &&
                (attempt == 1 || attempt % 10 == 0)) {
                spdlog::warn("store: {} attempt {} failed, retrying: {}", what, attempt,
                             error.what());
            }
            std::this_thread::sleep_for(backoff);
            backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
        }
    }
}

template <typename Work>
auto SqlStore::readOnce(const char* what, Work&& work) {
    try {
        return attempt(Mode::Read, work);
    } catch (const SqlError& error) {
        throw StoreUnavailable(std::string(what) + ": " + error.what());
    }
}

}  // namespace parley::store
