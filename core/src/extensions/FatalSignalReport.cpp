#include "extensions/FatalSignalReport.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <mutex>

namespace parley {

namespace {

constexpr int kFatalSignals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
constexpr size_t kSignalCount = std::size(kFatalSignals);
constexpr size_t kMinAltStackBytes = 64 * 1024;

std::atomic<bool> gInstalled{false};
// What was installed before ours, per signal of kFatalSignals; written once before any handler
// of ours can run, then only read.
struct sigaction gPrevious[kSignalCount];

const char* signalName(int signal) {
    switch (signal) {
        case SIGSEGV:
            return "SIGSEGV";
        case SIGBUS:
            return "SIGBUS";
        case SIGFPE:
            return "SIGFPE";
        case SIGILL:
            return "SIGILL";
        case SIGABRT:
            return "SIGABRT";
        default:
            return "signal";
    }
}

// Appends to a fixed buffer with no library call but what is async-signal-safe.
struct Text {
    char* buffer;
    size_t size;
    size_t used = 0;

    void add(const char* text) {
        for (; text != nullptr && *text != '\0' && used < size; ++text) {
            buffer[used++] = *text;
        }
    }
    void add(int number) {
        char digits[16];
        size_t count = 0;
        unsigned value = number < 0 ? 0U - static_cast<unsigned>(number) : number;
        do {
            digits[count++] = static_cast<char>('0' + value % 10);
            value /= 10;
        } while (value != 0 && count < sizeof digits);
        if (number < 0) {
            add("-");
        }
        while (count > 0 && used < size) {
            buffer[used++] = digits[--count];
        }
    }
    void addCall(const ExtensionCall& call) {
        add(call.kind);
        add(" '");
        add(call.extension);
        add("'");
        if (call.point != nullptr) {
            add(" during ");
            add(call.point);
            if (call.detail != nullptr) {
                add(" ");
                add(call.detail);
            }
        }
    }
};

void writeAll(int fd, const char* text, size_t length) {
    while (length > 0) {
        const ssize_t written = ::write(fd, text, length);
        if (written <= 0) {
            if (written < 0 && errno == EINTR) {
                continue;
            }
            return;
        }
        text += written;
        length -= static_cast<size_t>(written);
    }
}

int slotOf(int signal) {
    for (size_t i = 0; i < kSignalCount; ++i) {
        if (kFatalSignals[i] == signal) {
            return static_cast<int>(i);
        }
    }
    return -1;
}

void onFatalSignal(int signal, siginfo_t* info, void* context) {
    const int savedErrno = errno;
    char buffer[1024];
    const size_t length =
        formatFatalSignalReport(signal, ExtensionCallScope::current(), buffer, sizeof buffer);
    writeAll(STDERR_FILENO, buffer, length);

    const int slot = slotOf(signal);
    if (slot >= 0) {
        const struct sigaction& previous = gPrevious[slot];
        if ((previous.sa_flags & SA_SIGINFO) != 0 && previous.sa_sigaction != nullptr) {
            // AddressSanitizer's, in sanitized builds: its report follows ours, and it ends the
            // process itself. Reinstalled first, in case it raises again.
            sigaction(signal, &previous, nullptr);
            previous.sa_sigaction(signal, info, context);
        } else if ((previous.sa_flags & SA_SIGINFO) == 0 && previous.sa_handler != SIG_DFL &&
                   previous.sa_handler != SIG_IGN) {
            sigaction(signal, &previous, nullptr);
            previous.sa_handler(signal);
        }
    }
    // The default action, so the process dies by this signal (exit status, core dump). The
    // signal is blocked while this handler runs: raised now, it is delivered the moment the
    // handler returns (a fault would also come again from the instruction that caused it).
    struct sigaction fallback {};
    fallback.sa_handler = SIG_DFL;
    sigemptyset(&fallback.sa_mask);
    sigaction(signal, &fallback, nullptr);
    raise(signal);
    errno = savedErrno;
}

// The alternate signal stack this thread got from prepareThreadForFatalSignals, if any.
class AltStack {
  public:
    AltStack() = default;
    AltStack(const AltStack&) = delete;
    AltStack& operator=(const AltStack&) = delete;
    ~AltStack() {
        if (memory_ != nullptr) {
            stack_t disabled{};
            disabled.ss_flags = SS_DISABLE;
            sigaltstack(&disabled, nullptr);
            munmap(memory_, size_);
        }
    }

    void prepare() noexcept {
        if (prepared_) {
            return;
        }
        prepared_ = true;
        stack_t current{};
        if (sigaltstack(nullptr, &current) != 0 || (current.ss_flags & SS_DISABLE) == 0) {
            // One is there already: the sanitizer runtime's (which unmaps whatever stack is
            // installed when its thread ends: a stack of ours in its place would be unmapped
            // twice).
            return;
        }
        size_t size = kMinAltStackBytes;
#ifdef _SC_SIGSTKSZ
        size = std::max(size, static_cast<size_t>(std::max(0L, sysconf(_SC_SIGSTKSZ))));
#endif
        void* memory =
            mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (memory == MAP_FAILED) {
            return;  // the report still runs, on the thread's own stack
        }
        stack_t stack{};
        stack.ss_sp = memory;
        stack.ss_size = size;
        if (sigaltstack(&stack, nullptr) != 0) {
            munmap(memory, size);
            return;
        }
        memory_ = memory;
        size_ = size;
    }

  private:
    bool prepared_ = false;
    void* memory_ = nullptr;
    size_t size_ = 0;
};

}  // namespace

size_t formatFatalSignalReport(int signal, const ExtensionCall* call, char* buffer,
                               size_t size) noexcept {
    Text text{buffer, size};
    text.add("parleyd: FATAL: signal ");
    text.add(signalName(signal));
    text.add(" (");
    text.add(signal);
    text.add(")");
    if (call == nullptr) {
        text.add(" while no plugin or script was running on this thread\n");
        return text.used;
    }
    text.add(" in ");
    text.addCall(*call);
    int depth = 0;
    for (const ExtensionCall* outer = call->outer; outer != nullptr && depth < 8;
         outer = outer->outer, ++depth) {
        text.add(depth == 0 ? ", called from " : ", from ");
        text.addCall(*outer);
    }
    text.add(" (an extension runs with parleyd's privileges: its crash is parleyd's)\n");
    if (text.used == size && size > 0) {
        buffer[size - 1] = '\n';
    }
    return text.used;
}

void prepareThreadForFatalSignals() noexcept {
    if (!gInstalled.load(std::memory_order_acquire)) {
        return;
    }
    thread_local AltStack altStack;
    altStack.prepare();
}

void installFatalSignalReport() {
    static std::once_flag once;
    std::call_once(once, [] {
        struct sigaction action {};
        action.sa_sigaction = &onFatalSignal;
        action.sa_flags = SA_SIGINFO | SA_ONSTACK;
        sigemptyset(&action.sa_mask);
        for (int signal : kFatalSignals) {
            sigaddset(&action.sa_mask, signal);  // one report at a time
        }
        for (size_t i = 0; i < kSignalCount; ++i) {
            sigaction(kFatalSignals[i], &action, &gPrevious[i]);
        }
        gInstalled.store(true, std::memory_order_release);
        prepareThreadForFatalSignals();
    });
}

}  // namespace parley
