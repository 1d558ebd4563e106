#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <vector>

#include "store/Model.h"

namespace parley {

// A message about to be stored. "before" handlers may rewrite body and meta, or reject it by
// throwing ProtocolError (the sender receives that error and nothing is stored).
struct MessageDraft {
    std::string sender;
    std::string conv;
    std::string body;
    nlohmann::json meta;  // an object, or null
};

// A conversation about to be created. "before" handlers may reject it by throwing ProtocolError.
struct ConversationDraft {
    std::string creator;
    store::ConversationKind kind = store::ConversationKind::Direct;
    std::vector<std::string> members;  // creator included
    std::optional<std::string> title;
    std::optional<store::ContextRef> context;
};

// The ordered chains handlers call at fixed points of the command flow. Extensions register at
// start-up, before commands flow; the chains are read-only afterwards, so calls take no lock. With
// no handler registered a call is a check of an empty vector.
class HookBus {
  public:
    using BeforeMessageStore = std::function<void(MessageDraft&)>;
    using AfterMessageStore =
        std::function<void(const store::MessageRecord&, const std::vector<std::string>& members)>;
    using BeforeConversationCreate = std::function<void(const ConversationDraft&)>;
    using AfterConversationCreate = std::function<void(const store::ConversationRecord&)>;
    using AfterRead =
        std::function<void(const std::string& conv, const std::string& uid, int64_t readSeq)>;
    using PresenceChanged = std::function<void(const store::PresenceRecord&)>;

    void onBeforeMessageStore(std::string name, BeforeMessageStore handler);
    void onAfterMessageStore(std::string name, AfterMessageStore handler);
    void onBeforeConversationCreate(std::string name, BeforeConversationCreate handler);
    void onAfterConversationCreate(std::string name, AfterConversationCreate handler);
    void onAfterRead(std::string name, AfterRead handler);
    void onPresenceChanged(std::string name, PresenceChanged handler);

    bool hasBeforeMessageStore() const { return !beforeMessageStore_.empty(); }
    bool hasBeforeConversationCreate() const { return !beforeConversationCreate_.empty(); }

    // "before" chains let ProtocolError through to the caller; any other failure of a handler is
    // logged with its name and the chain goes on (fail open).
    void beforeMessageStore(MessageDraft& draft) const;
    void beforeConversationCreate(const ConversationDraft& draft) const;
    // "after" chains never throw: failures are logged with the handler's name.
    void afterMessageStore(const store::MessageRecord& message,
                           const std::vector<std::string>& members) const;
    void afterConversationCreate(const store::ConversationRecord& conversation) const;
    void afterRead(const std::string& conv, const std::string& uid, int64_t readSeq) const;
    void presenceChanged(const store::PresenceRecord& presence) const;

  private:
    template <typename Fn>
    struct Named {
        std::string name;
        Fn handler;
    };
    std::vector<Named<BeforeMessageStore>> beforeMessageStore_;
    std::vector<Named<AfterMessageStore>> afterMessageStore_;
    std::vector<Named<BeforeConversationCreate>> beforeConversationCreate_;
    std::vector<Named<AfterConversationCreate>> afterConversationCreate_;
    std::vector<Named<AfterRead>> afterRead_;
    std::vector<Named<PresenceChanged>> presenceChanged_;
};

}  // namespace parley
