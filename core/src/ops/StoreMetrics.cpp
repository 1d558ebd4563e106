#include "ops/StoreMetrics.h"

#include <string>

namespace parley::ops {

namespace {
// Every method a store reports, so each has its series (at 0) from the start.
constexpr const char* kMethods[] = {"migrate",
                                    "findDirect",
                                    "openDirect",
                                    "createGroup",
                                    "conversation",
                                    "listConversations",
                                    "updateContext",
                                    "conversationsAbout",
                                    "memberView",
                                    "appendMessage",
                                    "findByCmid",
                                    "messageContext",
                                    "history",
                                    "markRead",
                                    "unreadTotals",
                                    "setDisplayName",
                                    "user",
                                    "knownUsers",
                                    "updateUser",
                                    "listUsers",
                                    "setPresence",
                                    "recordActivity",
                                    "markIdleAway",
                                    "kvGet",
                                    "kvSet",
                                    "kvDelete",
                                    "kvIncr",
                                    "kvList",
                                    "kvPurgeExpired",
                                    "memberConversations",
                                    "messagesBySender",
                                    "eraseUser",
                                    "searchMessages",
                                    "purgeSearchIndex",
                                    "changeSettings"};
}  // namespace

StoreMetrics::StoreMetrics(Metrics& metrics) : metrics_(metrics) {
    for (const char* method : kMethods) {
        stats_[method] = &metrics.storeMethod(method);
    }
}

void StoreMetrics::storeCall(std::string_view method, std::chrono::steady_clock::duration took,
                             bool failed) {
    const auto known = stats_.find(method);
    StoreMethodMetrics& stats =
        known != stats_.end() ? *known->second : metrics_.storeMethod(std::string(method));
    stats.duration.observe(std::chrono::duration<double>(took).count());
    if (failed) {
        stats.errors.fetch_add(1, std::memory_order_relaxed);
    }
}

void StoreMetrics::appendBatch(size_t messages, std::chrono::steady_clock::duration took) {
    metrics_.appendBatches.fetch_add(1, std::memory_order_relaxed);
    metrics_.appendBatchMessages.fetch_add(messages, std::memory_order_relaxed);
    metrics_.appendBatchDuration.observe(std::chrono::duration<double>(took).count());
}

}  // namespace parley::ops
