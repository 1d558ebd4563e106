#pragma once

#include <cstddef>

#include "extensions/ExtensionCallScope.h"

// A plugin runs inside parleyd with all of its privileges: its crash is parleyd's crash. What
// parleyd can do is say whose crash it was. The report is one line on stderr (parleyd's log),
// written with write(2) from the signal handler:
//
//   parleyd: FATAL: signal SIGSEGV (11) in plugin 'crashy' during hook message.before_store
//
// then the signal takes its course, so the exit status and the core dump are those of the
// signal: the handler that was installed before (AddressSanitizer's, in sanitized builds: its
// report follows) runs, or else the default action.
namespace parley {

// Installs the report for SIGSEGV, SIGBUS, SIGFPE, SIGILL and SIGABRT (SA_ONSTACK, on an
// alternate signal stack so a stack overflow is reported too). Call once, from the main
// thread, before extensions load: parleyd's main does. Idempotent.
void installFatalSignalReport();

// Gives the calling thread an alternate signal stack if it has none (sanitizer runtimes give
// their threads one; parleyd's others get one here, freed when the thread ends). Does nothing
// until the report is installed; cheap after the first call on a thread.
void prepareThreadForFatalSignals() noexcept;

// The report's text for `signal` while `call` (innermost first, or nullptr) runs, into
// `buffer`; returns its length (cut to `size`). Async-signal-safe; the handler's formatter.
size_t formatFatalSignalReport(int signal, const ExtensionCall* call, char* buffer,
                               size_t size) noexcept;

}  // namespace parley
