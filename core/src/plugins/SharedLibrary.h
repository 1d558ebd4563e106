#pragma once

#include <string>

namespace parley {

// A dlopen'ed shared object, closed when this is destroyed. Symbols stay local to it
// (RTLD_LOCAL), so two plugins may export the same names, and everything is bound at open
// (RTLD_NOW), so a missing dependency fails here rather than in the middle of a call.
class SharedLibrary {
  public:
    // Throws std::runtime_error with dlerror()'s text.
    explicit SharedLibrary(const std::string& path);
    ~SharedLibrary();
    SharedLibrary(const SharedLibrary&) = delete;
    SharedLibrary& operator=(const SharedLibrary&) = delete;

    // The address of an exported symbol, or nullptr.
    void* symbol(const char* name) const;

  private:
    void* handle_ = nullptr;
};

}  // namespace parley
