#pragma once

#include <string>

namespace parley {

// One call into an extension that a thread is running. The strings outlive the call: names the
// extension holds, literals, the op of the command being run.
struct ExtensionCall {
    const char* kind = nullptr;       // "plugin" or "script"
    const char* extension = nullptr;  // its configured name
    const char* point = nullptr;      // "hook", "command", "timer", "load", "parley_plugin_init"...
    const char* detail = nullptr;     // the hook's name, the command's op, or nullptr
    const ExtensionCall* outer = nullptr;  // the call this one runs inside, on the same thread
};

// Marks the calling thread as running a call into an extension for the scope's lifetime (they
// nest: a plugin's post_message runs other extensions' hooks inside its call). A crash inside
// the extension is reported with it (FatalSignalReport.h): which plugin and which hook or
// command was running when a fatal signal arrived.
class ExtensionCallScope {
  public:
    ExtensionCallScope(const char* kind, const std::string& extension, const char* point,
                       const char* detail = nullptr) noexcept;
    ~ExtensionCallScope();
    ExtensionCallScope(const ExtensionCallScope&) = delete;
    ExtensionCallScope& operator=(const ExtensionCallScope&) = delete;

    // The innermost call running on this thread, or nullptr. Async-signal-safe: a signal handler
    // on this thread may read it and follow `outer`.
    static const ExtensionCall* current() noexcept;

  private:
    ExtensionCall call_;
};

}  // namespace parley
