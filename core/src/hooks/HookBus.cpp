#include "hooks/HookBus.h"

#include <spdlog/spdlog.h>

#include "protocol/ErrorCode.h"

namespace parley {

namespace {

// Runs every handler of a chain. ProtocolError passes through only when `mayReject`.
template <typename Chain, typename... Args>
void runChain(const char* hook, const Chain& chain, bool mayReject, Args&&... args) {
    for (const auto& entry : chain) {
        try {
            entry.handler(args...);
        } catch (const ProtocolError&) {
            if (mayReject) {
                throw;
            }
            spdlog::error("hook {}: handler '{}' rejected an event that cannot be rejected", hook,
                          entry.name);
        } catch (const std::exception& error) {
            spdlog::error("hook {}: handler '{}' failed: {}", hook, entry.name, error.what());
        } catch (...) {
            spdlog::error("hook {}: handler '{}' failed with an unknown exception", hook,
                          entry.name);
        }
    }
}

}  // namespace

void HookBus::onBeforeMessageStore(std::string name, BeforeMessageStore handler) {
    beforeMessageStore_.push_back({std::move(name), std::move(handler)});
}
void HookBus::onAfterMessageStore(std::string name, AfterMessageStore handler) {
    afterMessageStore_.push_back({std::move(name), std::move(handler)});
}
void HookBus::onBeforeConversationCreate(std::string name, BeforeConversationCreate handler) {
    beforeConversationCreate_.push_back({std::move(name), std::move(handler)});
}
void HookBus::onAfterConversationCreate(std::string name, AfterConversationCreate handler) {
    afterConversationCreate_.push_back({std::move(name), std::move(handler)});
}
void HookBus::onAfterRead(std::string name, AfterRead handler) {
    afterRead_.push_back({std::move(name), std::move(handler)});
}
void HookBus::onPresenceChanged(std::string name, PresenceChanged handler) {
    presenceChanged_.push_back({std::move(name), std::move(handler)});
}

void HookBus::beforeMessageStore(MessageDraft& draft) const {
    runChain("message.before_store", beforeMessageStore_, true, draft);
}
void HookBus::beforeConversationCreate(const ConversationDraft& draft) const {
    runChain("conversation.before_create", beforeConversationCreate_, true, draft);
}
void HookBus::afterMessageStore(const store::MessageRecord& message,
                                const std::vector<std::string>& members) const {
    runChain("message.after_store", afterMessageStore_, false, message, members);
}
void HookBus::afterConversationCreate(const store::ConversationRecord& conversation) const {
    runChain("conversation.after_create", afterConversationCreate_, false, conversation);
}
void HookBus::afterRead(const std::string& conv, const std::string& uid, int64_t readSeq) const {
    runChain("read.after", afterRead_, false, conv, uid, readSeq);
}
void HookBus::presenceChanged(const store::PresenceRecord& presence) const {
    runChain("presence.changed", presenceChanged_, false, presence);
}

}  // namespace parley
