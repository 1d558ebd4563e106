#include "extensions/ExtensionCallScope.h"

#include <atomic>

#include "extensions/FatalSignalReport.h"

namespace parley {

namespace {
// constinit: no TLS initialisation function, so a signal handler may read it at any moment.
thread_local constinit std::atomic<const ExtensionCall*> tCurrentCall{nullptr};
static_assert(std::atomic<const ExtensionCall*>::is_always_lock_free,
              "read by a signal handler: must not take a lock");
}  // namespace

ExtensionCallScope::ExtensionCallScope(const char* kind, const std::string& extension,
                                       const char* point, const char* detail) noexcept
    : call_{kind, extension.c_str(), point, detail, tCurrentCall.load(std::memory_order_relaxed)} {
    prepareThreadForFatalSignals();
    // The record is complete before a handler interrupting this thread can see it.
    std::atomic_signal_fence(std::memory_order_release);
    tCurrentCall.store(&call_, std::memory_order_relaxed);
}

ExtensionCallScope::~ExtensionCallScope() {
    tCurrentCall.store(call_.outer, std::memory_order_relaxed);
    std::atomic_signal_fence(std::memory_order_release);
}

const ExtensionCall* ExtensionCallScope::current() noexcept {
    const ExtensionCall* call = tCurrentCall.load(std::memory_order_relaxed);
    std::atomic_signal_fence(std::memory_order_acquire);
    return call;
}

}  // namespace parley
