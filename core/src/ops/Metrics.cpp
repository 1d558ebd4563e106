#include "ops/Metrics.h"

#include <chrono>
#include <mutex>

#include "parley/version.h"

namespace parley::ops {

namespace {
std::string outcomeName(size_t index) {
    return index == 0 ? "ok" : std::string(errorCodeName(static_cast<ErrorCode>(index - 1)));
}

template <typename Value>
Value& findOrCreate(std::shared_mutex& mutex, std::map<std::string, std::unique_ptr<Value>>& map,
                    const std::string& key, size_t maxKeys) {
    {
        std::shared_lock lock(mutex);
        auto found = map.find(key);
        if (found != map.end()) {
            return *found->second;
        }
    }
    std::unique_lock lock(mutex);
    const std::string& name = map.size() < maxKeys || map.count(key) ? key : "other";
    auto& slot = map[name];
    if (!slot) {
        slot = std::make_unique<Value>();
    }
    return *slot;
}
}  // namespace

Metrics::Metrics()
    : startTimeMs(std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count()) {}

OpMetrics& Metrics::op(const std::string& op) {
    return findOrCreate(mutex_, ops_, op, kMaxOps);
}

StoreMethodMetrics& Metrics::storeMethod(const std::string& method) {
    return findOrCreate(mutex_, storeMethods_, method, kMaxOps);
}

void Metrics::render(Exposition& out) const {
    std::shared_lock lock(mutex_);
    out.family("parley_build_info", "gauge", "parleyd's version; always 1");
    out.sample("parley_build_info", {{"version", PARLEY_VERSION}}, 1);
    out.family("process_start_time_seconds", "gauge",
               "When parleyd started, in seconds since the Unix epoch");
    out.sample("process_start_time_seconds", {}, static_cast<double>(startTimeMs) / 1000.0);

    out.family("parley_commands_total", "counter",
               "Commands answered, by op and outcome (ok or the error code of the reply)");
    for (const auto& [name, stats] : ops_) {
        for (size_t i = 0; i < kOutcomeCount; ++i) {
            const uint64_t value = stats->outcomes[i].load(std::memory_order_relaxed);
            if (value > 0 || i == 0) {
                out.sample("parley_commands_total", {{"op", name}, {"outcome", outcomeName(i)}},
                           value);
            }
        }
    }
    out.family("parley_command_duration_seconds", "histogram",
               "Time from a worker taking a command to its reply, by op");
    for (const auto& [name, stats] : ops_) {
        const auto snapshot = stats->duration.snapshot();
        if (snapshot.count() > 0) {
            out.histogram("parley_command_duration_seconds", {{"op", name}}, snapshot);
        }
    }
    out.family("parley_command_queue_wait_seconds", "histogram",
               "Time from a command's arrival to a worker taking it");
    out.histogram("parley_command_queue_wait_seconds", {}, queueWait.snapshot());

    out.family("parley_ingress_refused_total", "counter",
               "Commands answered rate_limited on arrival by the per-user limits, by limit");
    out.sample("parley_ingress_refused_total", {{"limit", "rate"}},
               ingressRateLimited.load(std::memory_order_relaxed));
    out.sample("parley_ingress_refused_total", {{"limit", "queued"}},
               ingressQueueLimited.load(std::memory_order_relaxed));

    out.family(
        "parley_messages_stored_total", "counter",
        "Members' messages (msg.send) stored by this instance (resends of a stored message and "
        "extensions' messages not counted)");
    out.sample("parley_messages_stored_total", {}, messagesStored.load(std::memory_order_relaxed));

    out.family("parley_store_append_batches_total", "counter",
               "Transactions that stored a batch of messages (group commit)");
    out.sample("parley_store_append_batches_total", {},
               appendBatches.load(std::memory_order_relaxed));
    out.family("parley_store_append_batch_messages_total", "counter",
               "Messages handed to those transactions (divided by the batches: mean batch size)");
    out.sample("parley_store_append_batch_messages_total", {},
               appendBatchMessages.load(std::memory_order_relaxed));
    out.family("parley_store_append_batch_duration_seconds", "histogram",
               "Time of one batch's transaction, retries included");
    out.histogram("parley_store_append_batch_duration_seconds", {}, appendBatchDuration.snapshot());

    out.family("parley_store_duration_seconds", "histogram",
               "Time of one store call (one transaction, retries included), by method");
    for (const auto& [name, stats] : storeMethods_) {
        const auto snapshot = stats->duration.snapshot();
        if (snapshot.count() > 0) {
            out.histogram("parley_store_duration_seconds", {{"method", name}}, snapshot);
        }
    }
    out.family("parley_store_errors_total", "counter",
               "Store calls that failed (database unreachable past store.retry_for, or an error)");
    for (const auto& [name, stats] : storeMethods_) {
        const uint64_t value = stats->errors.load(std::memory_order_relaxed);
        if (value > 0) {
            out.sample("parley_store_errors_total", {{"method", name}}, value);
        }
    }
}

}  // namespace parley::ops
