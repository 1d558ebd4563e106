#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "chat/ChatRules.h"
#include "hooks/HookBus.h"
#include "protocol/Outbox.h"
#include "store/Store.h"
#include "util/Clock.h"

namespace parley {

// A message someone posts: a member with msg.send, or an extension as "system".
struct MessageSubmission {
    std::string conv;
    std::string sender;  // the member's uid; store::kSystemSender for an extension's message
    std::string cmid;
    std::string body;
    nlohmann::json meta;  // null or an object
    // An extension's message: needs no membership, and message.before_store does not see it
    // (the hook is for what members send).
    bool system = false;
    // null, or the attachment ids the sender attached (1-10 strings, checked by the handler): an
    // extension must resolve each (message.before_store, host->set_attachments) or the message
    // is refused.
    nlohmann::json attachments = nullptr;
    std::optional<int64_t> replyTo{};  // the seq of a message of conv this one answers
};

struct PostedMessage {
    store::MessageRecord message;
    bool duplicate = false;  // a resend of a stored message: `message` is the original
};

// The one path of a message, whoever posts it (MessageHandler for msg.send, ExtensionServices for
// an extension's post): the limits checked (messageProblem), message.before_store run for a
// member's new message, the message stored (one transaction, group-committed with others), the
// msg event delivered to the members, then message.after_store. Thread-safe: workers and the
// timer thread post at once.
class MessagePosting {
  public:
    static constexpr size_t kMaxAttachments = 10;
    static constexpr size_t kMaxAttachmentsBytes = 16 * 1024;

    MessagePosting(const LimitsConfig& limits, store::Store& store, Outbox& outbox,
                   const HookBus& hooks, const Clock& clock)
        : limits_(limits), store_(store), outbox_(outbox), hooks_(hooks), clock_(clock) {}

    // Throws ProtocolError (bad_request, too_large, not_found, forbidden, or what an extension
    // rejected with) having stored nothing, or store::StoreUnavailable.
    PostedMessage post(MessageSubmission submission) const;

  private:
    // The meta as stored; throws ProtocolError if the message breaks a limit.
    std::optional<std::string> checkLimits(const MessageSubmission& submission,
                                           const char* whose) const;
    // Runs message.before_store on a member's new message (not a resend) and applies its rewrite;
    // true if the message is a resend (the hooks did not run).
    bool runBeforeStore(MessageSubmission& submission, std::optional<std::string>& metaJson) const;
    // The attachments as stored, once every id became an extension's object; throws
    // ProtocolError if one did not.
    std::optional<std::string> resolvedAttachments(const MessageSubmission& submission,
                                                   const nlohmann::json& requested) const;
    // The message a reply answers, checked to exist in the conversation (ProtocolError not_found
    // otherwise), as its preview.
    std::optional<store::ReplyPreview> answered(const MessageSubmission& submission) const;

    const LimitsConfig& limits_;
    store::Store& store_;
    Outbox& outbox_;
    const HookBus& hooks_;
    const Clock& clock_;
};

}  // namespace parley
