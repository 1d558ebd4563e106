#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include "store/ConversationStore.h"
#include "store/ExtensionDataStore.h"
#include "store/MessageStore.h"
#include "store/Model.h"
#include "store/UserStore.h"

namespace parley::store {

// The database could not be reached for longer than the configured retry window. Nothing of the
// command was committed; the client may retry.
class StoreUnavailable : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// How many users are in each presence state, over every instance (users it never saw excluded).
struct PresenceCounts {
    int64_t online = 0;
    int64_t away = 0;
    int64_t offline = 0;
};

// Told about the store's work, for metrics (ops::StoreMetrics). Called on the thread that did the
// work, from several at once.
class StoreObserver {
  public:
    virtual ~StoreObserver() = default;
    // A call of a Store method ended: `method` names it, `took` is its time (retries included;
    // for appendMessage, the wait for its batch too), `failed` whether it threw. The operations'
    // probes (ping, presenceCounts) are not reported.
    virtual void storeCall(std::string_view method, std::chrono::steady_clock::duration took,
                           bool failed) = 0;
    // A batch of `messages` messages was committed in one transaction (group commit: the
    // appendMessage calls that arrive together share one), which took `took`, retries included.
    virtual void appendBatch(size_t messages, std::chrono::steady_clock::duration took) = 0;
};

// Everything parleyd keeps. Storage is the source of truth: every method is one transaction, and
// every write is safe to retry (ids are chosen by the caller, messages deduplicate on (sender,
// cmid)). Store is the four interfaces by concern together (a component that needs one concern
// only may take that one), plus what concerns the database as a whole.
class Store : public ConversationStore,
              public MessageStore,
              public UserStore,
              public ExtensionDataStore {
  public:
    ~Store() override = default;

    virtual std::string backendName() const = 0;
    // Applies pending schema migrations; returns the resulting schema version.
    virtual int migrate() = 0;

    // For operations (readiness, metrics): one attempt each, no retry; throw StoreUnavailable if
    // the database does not answer.
    virtual void ping() = 0;
    virtual PresenceCounts presenceCounts() = 0;

    // Who is told about the store's work from now on (null: nobody). The observer must outlive
    // its being set.
    virtual void setObserver(StoreObserver* observer) = 0;
};

}  // namespace parley::store
