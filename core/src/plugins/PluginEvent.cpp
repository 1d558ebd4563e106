#include "plugins/PluginEvent.h"

#include "protocol/Views.h"

namespace parley {

namespace {
const char* orNull(const std::optional<std::string>& text) {
    return text ? text->c_str() : nullptr;
}
}  // namespace

PluginEvent::PluginEvent(const HookPayload& payload) {
    std::visit([this](const auto* alternative) { build(*alternative); }, payload);
}

const void* PluginEvent::data() const {
    return std::visit([](const auto& event) -> const void* { return &event; }, event_);
}

void PluginEvent::build(const MessageDraft& draft) {
    const char* meta = nullptr;
    if (!draft.meta.is_null()) {
        metaJson_ = toPayload(draft.meta);
        meta = metaJson_.c_str();
    }
    members_.clear();
    for (const auto& uid : draft.members) {
        members_.push_back(uid.c_str());
    }
    const auto* context = draft.context ? &*draft.context : nullptr;
    const char* attachments = nullptr;
    if (!draft.attachments.is_null()) {
        attachmentsJson_ = draft.attachments.dump();
        attachments = attachmentsJson_.c_str();
    }
    event_ = parley_message_event{
        .struct_size = sizeof(parley_message_event),
        .conv = draft.conv.c_str(),
        .sender = draft.sender.c_str(),
        .cmid = draft.cmid.c_str(),
        .body = draft.body.c_str(),
        .body_len = draft.body.size(),
        .meta_json = meta,
        .seq = draft.editOf,  // message.before_edit: the message edited
        .ts = 0,
        .members = members_.empty() ? nullptr : members_.data(),
        .member_count = members_.size(),
        .conv_kind = store::conversationKindName(draft.kind),
        .context_type = context ? context->type.c_str() : nullptr,
        .context_id = context ? context->id.c_str() : nullptr,
        .context_title = context ? orNull(context->title) : nullptr,
        .context_status = context ? orNull(context->status) : nullptr,
        .conv_last_seq = draft.lastSeq,
        .attachments_json = attachments,
    };
}

void PluginEvent::build(const StoredMessage& stored) {
    const store::MessageRecord& message = stored.message;
    for (const auto& uid : stored.members) {
        members_.push_back(uid.c_str());
    }
    // The conversation's fields are message.before_store's: NULL and 0 here.
    event_ = parley_message_event{
        .struct_size = sizeof(parley_message_event),
        .conv = message.conv.c_str(),
        .sender = message.sender.c_str(),
        .cmid = message.cmid.c_str(),
        .body = message.body.c_str(),
        .body_len = message.body.size(),
        .meta_json = orNull(message.metaJson),
        .seq = message.seq,
        .ts = message.ts,
        .members = members_.data(),
        .member_count = members_.size(),
        .conv_kind = nullptr,
        .context_type = nullptr,
        .context_id = nullptr,
        .context_title = nullptr,
        .context_status = nullptr,
        .conv_last_seq = 0,
        .attachments_json = orNull(message.attachmentsJson),
    };
}

void PluginEvent::build(const ConversationDraft& draft) {
    for (const auto& uid : draft.members) {
        members_.push_back(uid.c_str());
    }
    const auto* context = draft.context ? &*draft.context : nullptr;
    event_ = parley_conversation_event{sizeof(parley_conversation_event),
                                       orNull(draft.conv),
                                       store::conversationKindName(draft.kind),
                                       draft.creator.c_str(),
                                       orNull(draft.title),
                                       context ? context->type.c_str() : nullptr,
                                       context ? context->id.c_str() : nullptr,
                                       context ? orNull(context->title) : nullptr,
                                       members_.data(),
                                       members_.size()};
}

void PluginEvent::build(const store::ConversationRecord& conversation) {
    for (const auto& member : conversation.members) {
        members_.push_back(member.uid.c_str());
    }
    const auto* context = conversation.context ? &*conversation.context : nullptr;
    event_ = parley_conversation_event{sizeof(parley_conversation_event),
                                       conversation.id.c_str(),
                                       store::conversationKindName(conversation.kind),
                                       conversation.createdBy.c_str(),
                                       orNull(conversation.title),
                                       context ? context->type.c_str() : nullptr,
                                       context ? context->id.c_str() : nullptr,
                                       context ? orNull(context->title) : nullptr,
                                       members_.data(),
                                       members_.size()};
}

void PluginEvent::build(const ReadMoved& moved) {
    event_ = parley_read_event{sizeof(parley_read_event), moved.conv.c_str(), moved.uid.c_str(),
                               moved.readSeq};
}

void PluginEvent::build(const DeliveryDraft& delivery) {
    metaJson_ = toPayload(delivery.event);
    for (const auto& uid : delivery.recipients) {
        members_.push_back(uid.c_str());
    }
    event_ = parley_delivery_event{sizeof(parley_delivery_event),
                                   delivery.kind.c_str(),
                                   delivery.conv.c_str(),
                                   delivery.uid.c_str(),
                                   metaJson_.c_str(),
                                   members_.empty() ? nullptr : members_.data(),
                                   members_.size()};
}

void PluginEvent::build(const store::PresenceRecord& presence) {
    event_ = parley_presence_event{sizeof(parley_presence_event), presence.uid.c_str(),
                                   store::presenceStateName(presence.state),
                                   presence.lastSeen.value_or(0)};
}

}  // namespace parley
