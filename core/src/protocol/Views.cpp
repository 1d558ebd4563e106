#include "protocol/Views.h"

#include <charconv>

#include "util/Utf8.h"

namespace parley {

namespace {
nlohmann::json metaJson(const std::optional<std::string>& text) {
    if (!text) {
        return nullptr;
    }
    auto meta = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
    return meta.is_discarded() ? nlohmann::json(nullptr) : meta;
}
}  // namespace

nlohmann::json messageJson(const store::MessageRecord& message) {
    nlohmann::json json = {{"conv", message.conv},     {"seq", message.seq},
                           {"sender", message.sender}, {"cmid", message.cmid},
                           {"body", message.body},     {"meta", metaJson(message.metaJson)},
                           {"ts", message.ts}};
    // Only tombstones carry it, so live messages look as they always did.
    if (message.erased) {
        json["erased"] = true;
    }
    // Likewise only messages with attachments carry them (docs/attachments.md).
    if (message.attachmentsJson) {
        auto attachments = nlohmann::json::parse(*message.attachmentsJson, nullptr, false);
        if (attachments.is_array()) {
            json["attachments"] = std::move(attachments);
        }
    }
    // Likewise each of these appears only when it has something to say.
    if (message.rev > 0) {
        json["rev"] = message.rev;
    }
    if (message.editedAt) {
        json["edited_at"] = *message.editedAt;
    }
    if (message.deletedBy) {
        json["deleted"] = true;
        json["deleted_by"] = *message.deletedBy;
        json["deleted_at"] = message.deletedAt.value_or(0);
    }
    if (message.replyTo) {
        json["reply_to"] = *message.replyTo;
        if (const auto& answered = message.replyPreview) {
            nlohmann::json preview = {{"seq", answered->seq},
                                      {"sender", answered->sender},
                                      {"body", utf8Prefix(answered->body, kPreviewCharacters)}};
            if (answered->deleted) {
                preview["deleted"] = true;
            }
            if (answered->erased) {
                preview["erased"] = true;
            }
            json["reply_preview"] = std::move(preview);
        }
    }
    if (!message.reactions.empty()) {
        nlohmann::json reactions = nlohmann::json::array();
        for (const auto& reaction : message.reactions) {
            reactions.push_back({{"emoji", reaction.emoji},
                                 {"count", reaction.users.size()},
                                 {"users", reaction.users}});
        }
        json["reactions"] = std::move(reactions);
    }
    return json;
}

nlohmann::json memberChangeJson(const store::MemberChange& change) {
    nlohmann::json json = {{"rev", change.rev},
                           {"kind", store::memberChangeKindName(change.kind)},
                           {"by", change.by},
                           {"seq", change.seq},
                           {"ts", change.ts}};
    if (change.kind == store::MemberChangeKind::Renamed) {
        json["title"] = change.title ? nlohmann::json(*change.title) : nlohmann::json(nullptr);
    } else {
        json["user"] = change.uid;
    }
    return json;
}

nlohmann::json summaryJson(const store::ConversationRecord& conversation,
                           const std::string& viewer) {
    nlohmann::json members = nlohmann::json::array();
    for (const auto& member : conversation.members) {
        members.push_back({{"user", member.uid},
                           {"name", member.name},
                           {"read_seq", member.readSeq},
                           {"admin", member.admin}});
    }
    nlohmann::json context = nullptr;
    if (conversation.context) {
        const auto& about = *conversation.context;
        const auto orNull = [](const std::optional<std::string>& text) {
            return text ? nlohmann::json(*text) : nlohmann::json(nullptr);
        };
        context = {{"type", about.type},
                   {"id", about.id},
                   {"title", orNull(about.title)},
                   {"status", orNull(about.status)}};
    }
    nlohmann::json preview = nullptr;
    if (conversation.lastMessage) {
        const auto& last = *conversation.lastMessage;
        preview = {{"seq", last.seq},
                   {"sender", last.sender},
                   {"body", utf8Prefix(last.body, kPreviewCharacters)},
                   {"ts", last.ts}};
        if (last.erased) {
            preview["erased"] = true;
        }
        if (last.deletedBy) {
            preview["deleted"] = true;
        }
    }
    const int64_t readSeq = conversation.readSeqOf(viewer);
    nlohmann::json summary = {{"conv", conversation.id},
                              {"kind", store::conversationKindName(conversation.kind)},
                              {"title", conversation.title ? nlohmann::json(*conversation.title)
                                                           : nlohmann::json(nullptr)},
                              {"context", context},
                              {"members", members},
                              {"created_by", conversation.createdBy},
                              {"created_at", conversation.createdAt},
                              {"last_seq", conversation.lastSeq},
                              {"last_ts", conversation.lastActivity},
                              {"rev", conversation.rev},
                              {"preview", preview},
                              {"read_seq", readSeq},
                              {"unread", std::max<int64_t>(0, conversation.lastSeq - readSeq)}};
    summary.update(settingsJson(conversation.settingsOf(viewer)));
    return summary;
}

nlohmann::json settingsJson(const store::MemberSettings& settings) {
    return {{"muted", settings.muted},
            {"archived", settings.archived},
            {"pinned_at",
             settings.pinnedAt ? nlohmann::json(*settings.pinnedAt) : nlohmann::json(nullptr)}};
}

nlohmann::json presenceJson(const store::PresenceRecord& presence) {
    return {{"user", presence.uid},
            {"state", store::presenceStateName(presence.state)},
            {"last_seen",
             presence.lastSeen ? nlohmann::json(*presence.lastSeen) : nlohmann::json(nullptr)}};
}

std::string encodeListCursor(const store::ListCursor& cursor) {
    return std::to_string(cursor.lastActivity) + "." + cursor.conv;
}

std::optional<store::ListCursor> decodeListCursor(const std::string& text) {
    const auto dot = text.find('.');
    if (dot == std::string::npos || dot == 0 || dot + 1 >= text.size()) {
        return std::nullopt;
    }
    store::ListCursor cursor;
    auto [end, error] = std::from_chars(text.data(), text.data() + dot, cursor.lastActivity);
    if (error != std::errc() || end != text.data() + dot) {
        return std::nullopt;
    }
    cursor.conv = text.substr(dot + 1);
    return cursor;
}

std::string toPayload(const nlohmann::json& value) {
    return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace parley
