#pragma once

#include <map>
#include <string_view>

#include "ops/Metrics.h"
#include "store/Store.h"

namespace parley::ops {

// What the store tells its observer, as metrics: each call of a Store method into
// parley_store_duration_seconds{method}, each one that threw into
// parley_store_errors_total{method}, and the group-commit batches into parley_store_append_batch*.
// Set it on the store parleyd's server uses (Store::setObserver); the store's own probes are not
// counted.
class StoreMetrics final : public store::StoreObserver {
  public:
    explicit StoreMetrics(Metrics& metrics);

    void storeCall(std::string_view method, std::chrono::steady_clock::duration took,
                   bool failed) override;
    void appendBatch(size_t messages, std::chrono::steady_clock::duration took) override;

  private:
    Metrics& metrics_;
    // parleyd's methods, filled in the constructor and never changed: read without a lock.
    std::map<std::string_view, StoreMethodMetrics*> stats_;
};

}  // namespace parley::ops
