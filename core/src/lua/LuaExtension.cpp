#include "lua/LuaExtension.h"

#include <spdlog/spdlog.h>

#include <fstream>
#include <optional>
#include <sstream>

#include "lua/LuaScript.h"
#include "lua/LuaState.h"
#include "lua/LuaSupport.h"

namespace parley {

void checkScript(const ExtensionConfig& config, const LuaConfig& defaults) {
    const std::string& path = config.scriptPath;
    std::ifstream file(path, std::ios::binary);
    if (!file) {
        throw ExtensionError(path + ": cannot read the script");
    }
    std::ostringstream source;
    source << file.rdbuf();
    const std::string text = source.str();
    std::optional<LuaState> state;
    try {
        state.emplace(
            static_cast<size_t>(config.memoryLimitBytes > 0 ? config.memoryLimitBytes
                                                            : defaults.memoryLimitBytes),
            config.instructionLimit > 0 ? config.instructionLimit : defaults.instructionLimit);
    } catch (const std::exception& error) {
        throw ExtensionError(path + ": " + error.what());
    }
    const std::string chunkName = "@" + path;
    // lua_load parses in protected mode: a syntax or memory error comes back as a status.
    if (luaL_loadbufferx(state->get(), text.data(), text.size(), chunkName.c_str(), "t") !=
        LUA_OK) {
        const std::string error = lua::errorObjectText(state->get(), -1);
        throw ExtensionError(error.rfind(path, 0) == 0 ? error : path + ": " + error);
    }
}

std::unique_ptr<Extension> loadScript(const ExtensionConfig& config, const LuaConfig& defaults,
                                      ExtensionServices& services) {
    auto extension = std::make_unique<LuaExtension>(config, defaults, services);
    extension->start();
    return extension;
}

LuaExtension::LuaExtension(const ExtensionConfig& config, const LuaConfig& defaults,
                           ExtensionServices& services)
    : name_(config.name),
      path_(config.scriptPath),
      config_(config),
      memoryLimitBytes_(static_cast<size_t>(
          config.memoryLimitBytes > 0 ? config.memoryLimitBytes : defaults.memoryLimitBytes)),
      instructionLimit_(config.instructionLimit > 0 ? config.instructionLimit
                                                    : defaults.instructionLimit),
      services_(services) {}

LuaExtension::~LuaExtension() {
    std::lock_guard lock(mutex_);
    services_.hooks().removeExtension(name_);
    services_.cancelTimers(name_);  // waits for a timer callback of ours that is running
    if (current_) {
        current_->close();  // waits for the call in flight
        std::lock_guard currentLock(currentMutex_);
        current_.reset();
    }
}

std::shared_ptr<LuaScript> LuaExtension::compile() const {
    auto script = std::make_shared<LuaScript>(
        LuaScript::Settings{name_, path_, config_.options, memoryLimitBytes_, instructionLimit_},
        services_);
    script->load();
    return script;
}

void LuaExtension::activate(const std::shared_ptr<LuaScript>& next) {
    try {
        services_.hooks().replaceExtension(name_, next->registrations());
    } catch (const std::invalid_argument& error) {
        // A reserved or malformed op: the bus changed nothing.
        next->close();
        throw ExtensionError(path_ + ": " + error.what());
    }
    // From here on new calls reach `next`. The old version finishes its call in flight, then
    // cancels its own timers (not the extension's: `next` may already have scheduled some).
    if (current_) {
        current_->close();
    }
    next->startTimers();
    std::lock_guard currentLock(currentMutex_);
    current_ = next;
}

void LuaExtension::start() {
    std::lock_guard lock(mutex_);
    try {
        activate(compile());
    } catch (const ExtensionError&) {
        throw;
    } catch (const std::exception& error) {
        throw ExtensionError(path_ + ": " + error.what());
    }
}

nlohmann::json LuaExtension::status() const {
    std::lock_guard currentLock(currentMutex_);
    return current_ ? current_->status() : nlohmann::json{{"state", "running"}};
}

bool LuaExtension::reload(std::string& error) {
    std::lock_guard lock(mutex_);
    try {
        activate(compile());
        return true;
    } catch (const std::exception& failure) {
        error = failure.what();
        return false;
    }
}

}  // namespace parley
