#pragma once

#include <string>
#include <variant>
#include <vector>

#include "hooks/Hook.h"
#include "parley/plugin.h"

namespace parley {

// A hook payload as the C event struct plugin.h names for its hook. Holds whatever the struct
// points to that the payload does not already own (the meta's JSON text, the members' array),
// so the pointers stay valid for the whole callback. The payload must outlive it.
class PluginEvent {
  public:
    explicit PluginEvent(const HookPayload& payload);
    PluginEvent(const PluginEvent&) = delete;
    PluginEvent& operator=(const PluginEvent&) = delete;

    const void* data() const;

  private:
    void build(const MessageDraft& draft);
    void build(const StoredMessage& stored);
    void build(const ConversationDraft& draft);
    void build(const store::ConversationRecord& conversation);
    void build(const ReadMoved& moved);
    void build(const store::PresenceRecord& presence);
    void build(const DeliveryDraft& delivery);

    std::string metaJson_;         // message.before_store's meta, event.before_deliver's event
    std::string attachmentsJson_;  // message.before_store's attachment ids
    std::vector<const char*> members_;
    std::variant<parley_message_event, parley_conversation_event, parley_read_event,
                 parley_presence_event, parley_delivery_event>
        event_;
};

}  // namespace parley
