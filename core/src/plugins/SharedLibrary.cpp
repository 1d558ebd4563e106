#include "plugins/SharedLibrary.h"

#include <dlfcn.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <stdexcept>

namespace parley {

namespace {
std::string lastDlError() {
    const char* error = dlerror();
    return error != nullptr ? error : "unknown dlopen error";
}
}  // namespace

SharedLibrary::SharedLibrary(const std::string& path) {
    // A path without a '/' would make dlopen search the library path: a config's "libfoo.so"
    // must mean the file next to the working directory, never one of the system's.
    const std::string resolved = std::filesystem::absolute(path).lexically_normal().string();
    dlerror();
    handle_ = dlopen(resolved.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle_ == nullptr) {
        throw std::runtime_error(lastDlError());
    }
}

SharedLibrary::~SharedLibrary() {
    if (handle_ != nullptr && dlclose(handle_) != 0) {
        spdlog::warn("dlclose failed: {}", lastDlError());
    }
}

void* SharedLibrary::symbol(const char* name) const {
    // dlsym returns nullptr both for "absent" and for a symbol whose value is 0; entry points are
    // functions, never 0, so nullptr means absent.
    return dlsym(handle_, name);
}

}  // namespace parley
