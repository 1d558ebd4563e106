#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "protocol/Command.h"
#include "protocol/ErrorCode.h"
#include "store/Model.h"

namespace parley {

// The hook points. The numbering matches parley_hook in parley/plugin.h.
enum class Hook {
    MessageBeforeStore = 1,
    MessageAfterStore = 2,
    ConversationBeforeCreate = 3,
    ConversationAfterCreate = 4,
    ReadAfter = 5,
    PresenceChanged = 6,
    UserConnected = 7,
    UserDisconnected = 8,
    ConversationBeforeOpen = 9,
    EventBeforeDeliver = 10,
    MessageBeforeEdit = 11,
    MessageAfterDelete = 12,
};
constexpr int kHookCount = 12;
constexpr Hook kAllHooks[] = {
    Hook::MessageBeforeStore,      Hook::MessageAfterStore, Hook::ConversationBeforeCreate,
    Hook::ConversationAfterCreate, Hook::ReadAfter,         Hook::PresenceChanged,
    Hook::UserConnected,           Hook::UserDisconnected,  Hook::ConversationBeforeOpen,
    Hook::EventBeforeDeliver,      Hook::MessageBeforeEdit, Hook::MessageAfterDelete};

// "message.before_store", ...
std::string_view hookName(Hook hook);
std::optional<Hook> hookByName(std::string_view name);
// "before" hooks may reject (and message.before_store rewrite), but event.before_deliver, which
// may only drop recipients.
bool hookMayReject(Hook hook);

// A message about to be stored (message.before_store), or a stored message about to be edited
// (message.before_edit: `editOf` is its seq, body and meta the new ones). Handlers may rewrite
// body and meta; the rest tells them about the conversation without a query of their own.
struct MessageDraft {
    std::string sender;
    std::string conv;
    std::string cmid;
    std::string body;
    nlohmann::json meta;  // an object, or null
    store::ConversationKind kind = store::ConversationKind::Direct;
    std::optional<store::ContextRef> context;
    std::vector<std::string> members;
    int64_t lastSeq = 0;  // of the conversation before this message: 0 = the first message
    int64_t editOf{};     // message.before_edit: the seq of the message edited; 0 otherwise
    // null, or the ids the sender attached (strings) until an extension resolves each into the
    // object that is stored and delivered (host->set_attachments; docs/attachments.md).
    nlohmann::json attachments = nullptr;
};

// A conversation about to be created (conversation.before_create), or a 1:1 about to be opened
// (conversation.before_open: `creator` is who opens it, `conv` the existing conversation, none
// if it would be created).
struct ConversationDraft {
    std::string creator;
    store::ConversationKind kind = store::ConversationKind::Direct;
    std::vector<std::string> members;  // creator included
    std::optional<std::string> title;
    std::optional<store::ContextRef> context;
    std::optional<std::string> conv;
};

// An event that is not stored (typing, read) about to be published to members of a
// conversation. Handlers of event.before_deliver may drop recipients, never add any.
struct DeliveryDraft {
    std::string kind;  // "typing" or "read"
    std::string conv;
    std::string uid;       // whose typing or read watermark it is
    nlohmann::json event;  // as each recipient gets it
    std::vector<std::string> recipients;
};

// message.after_store: the message stored. message.after_delete: the message as it was before
// its deletion (body and meta, e.g. the attachments it referenced), `deletedBy` who deleted it.
struct StoredMessage {
    const store::MessageRecord& message;
    const std::vector<std::string>& members;
    std::string_view deletedBy{};
};

struct ReadMoved {
    std::string conv;
    std::string uid;
    int64_t readSeq = 0;
};

// What a handler receives; the alternative is fixed by the hook:
//   MessageBeforeStore, MessageBeforeEdit: MessageDraft*
//   MessageAfterStore, MessageAfterDelete: const StoredMessage*
//   ConversationBeforeCreate: const ConversationDraft*
//   ConversationAfterCreate: const store::ConversationRecord*
//   ReadAfter: const ReadMoved*                PresenceChanged, UserConnected, UserDisconnected:
//   const store::PresenceRecord*       ConversationBeforeOpen: const ConversationDraft*
//   EventBeforeDeliver: DeliveryDraft*
using HookPayload = std::variant<MessageDraft*, const StoredMessage*, const ConversationDraft*,
                                 const store::ConversationRecord*, const ReadMoved*,
                                 const store::PresenceRecord*, DeliveryDraft*>;

// What one handler decided.
struct Verdict {
    enum class Kind {
        Continue,  // accepted, or no opinion: the next handler runs
        Reject,    // refused (before hooks, commands): code and message go to the client
        Reply,     // commands: `reply` holds the reply's fields
        Defer,     // commands: not mine, ask the next handler of the op
        Fail,      // the handler failed (error, exception): the failure policy applies
    };
    Kind kind = Kind::Continue;
    ErrorCode code = ErrorCode::Forbidden;
    std::string message;  // the rejection's message, or the failure's reason
    nlohmann::json reply = nlohmann::json::object();
    // A rejection's extra fields for the client's error object (e.g. retry_after_ms).
    nlohmann::json details = nlohmann::json::object();
    // A reply's raw bytes (plugin.h, reply_bytes): sent after the reply on "{prefix}/u/{uid}/bin".
    std::optional<std::string> replyBytes = std::nullopt;

    static Verdict proceed() { return {}; }
    static Verdict reject(ErrorCode code, std::string message,
                          nlohmann::json details = nlohmann::json::object()) {
        return {Kind::Reject,       code,        std::move(message), nlohmann::json::object(),
                std::move(details), std::nullopt};
    }
    static Verdict replyWith(nlohmann::json fields) {
        return {Kind::Reply,       ErrorCode::Forbidden,     {},
                std::move(fields), nlohmann::json::object(), std::nullopt};
    }
    static Verdict defer() {
        return {Kind::Defer,
                ErrorCode::Forbidden,
                {},
                nlohmann::json::object(),
                nlohmann::json::object(),
                std::nullopt};
    }
    static Verdict fail(std::string reason) {
        return {Kind::Fail,
                ErrorCode::Internal,
                std::move(reason),
                nlohmann::json::object(),
                nlohmann::json::object(),
                std::nullopt};
    }
};

// The extra fields of a rejection's error object as an extension gives them: a JSON object of at
// most kMaxRejectionDetailsBytes encoded. Returns it without "code" and "message" (parleyd's,
// never overridden). Throws ProtocolError: bad_request if it is no object, too_large if larger.
constexpr size_t kMaxRejectionDetailsBytes = 4096;
nlohmann::json rejectionDetails(nlohmann::json details);

// A hook handler. `budget` is how long it may take: a handler that can stop itself (Lua) uses
// it; the bus measures every handler and treats an overrun as a failure.
using HookFunction = std::function<Verdict(const HookPayload&, std::chrono::milliseconds budget)>;

// A custom command handler: Reply, Reject, Defer or Fail.
struct CommandCall {
    const Command& command;
    bool isAdmin = false;
};
// What a custom command answered: the reply's fields, and raw bytes to send after them.
struct CommandAnswer {
    nlohmann::json fields = nlohmann::json::object();
    std::optional<std::string> bytes;
};
using CommandFunction =
    std::function<Verdict(const CommandCall&, std::chrono::milliseconds budget)>;

// How long handlers of one hook may take, and what a failure means. Fail closed only matters for
// hooks that may reject: the event is then refused with "internal".
struct HookPolicy {
    std::chrono::milliseconds budget{50};
    bool failClosed = false;
};

}  // namespace parley
