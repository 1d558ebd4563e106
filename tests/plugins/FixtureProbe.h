#pragma once

#include <stdexcept>
#include <string>

#include "plugins/SharedLibrary.h"

namespace parley::testing {

// Opens a fixture plugin next to parleyd's loader and calls the fixture_* functions it exports
// to see inside it. dlopen counts references, so the library (and its counters) stays mapped
// while the probe lives, even after parleyd unloads the plugin.
class FixtureProbe {
  public:
    explicit FixtureProbe(const std::string& path) : library_(path) {}

    template <typename Result, typename... Args>
    Result call(const char* function, Args... args) const {
        using Function = Result (*)(Args...);
        auto* fn = reinterpret_cast<Function>(library_.symbol(function));
        if (fn == nullptr) {
            throw std::runtime_error(std::string("the fixture does not export ") + function);
        }
        return fn(args...);
    }

  private:
    SharedLibrary library_;
};

}  // namespace parley::testing
