#include "chat/MessagePosting.h"

#include "chat/Membership.h"
#include "chat/MessageDelivery.h"
#include "chat/MessageLimits.h"

namespace parley {

std::optional<std::string> MessagePosting::checkLimits(const MessageSubmission& submission,
                                                       const char* whose) const {
    std::optional<std::string> metaJson;
    if (auto problem = messageProblem(limits_, submission.body, submission.meta, &metaJson)) {
        throw ProtocolError(problem->code, whose + problem->message);
    }
    return metaJson;
}

bool MessagePosting::runBeforeStore(MessageSubmission& submission,
                                    std::optional<std::string>& metaJson) const {
    // Extensions see only messages that would be stored: a member's, and not a resend (the store
    // answers a resend with the original). Both are read in one transaction.
    auto context = store_.messageContext(submission.conv, submission.sender, submission.cmid);
    requireMember(context.view.access, submission.conv);
    if (context.earlier) {
        return true;
    }
    MessageDraft draft{submission.sender,
                       submission.conv,
                       submission.cmid,
                       std::move(submission.body),
                       std::move(submission.meta),
                       context.view.kind,
                       std::move(context.view.context),
                       std::move(context.view.memberIds),
                       context.view.lastSeq,
                       /*editOf=*/0,
                       std::move(submission.attachments)};
    hooks_.beforeMessageStore(draft);
    submission.body = std::move(draft.body);
    submission.meta = std::move(draft.meta);
    submission.attachments = std::move(draft.attachments);
    // Whatever an extension rewrote still keeps the limits of a message.
    metaJson = checkLimits(submission, "the rewritten message: ");
    return false;
}

std::optional<std::string> MessagePosting::resolvedAttachments(
    const MessageSubmission& submission, const nlohmann::json& requested) const {
    if (requested.is_null()) {
        return std::nullopt;
    }
    const nlohmann::json& resolved = submission.attachments;
    for (size_t i = 0; i < requested.size(); ++i) {
        if (!resolved.is_array() || resolved.size() != requested.size() ||
            !resolved[i].is_object() || resolved[i].value("id", nlohmann::json()) != requested[i]) {
            throw ProtocolError(ErrorCode::BadRequest,
                                "this server does not take attachments (no extension resolved "
                                "\"" +
                                    requested[i].get<std::string>() + "\")");
        }
    }
    std::string text = resolved.dump();
    if (text.size() > kMaxAttachmentsBytes) {
        throw ProtocolError(ErrorCode::TooLarge, "the attachments' descriptions are too long");
    }
    return text;
}

std::optional<store::ReplyPreview> MessagePosting::answered(
    const MessageSubmission& submission) const {
    // The member's own conversation first: whether a seq exists tells outsiders nothing then.
    requireMember(store_.memberView(submission.conv, submission.sender).access, submission.conv);
    auto message = store_.message(submission.conv, *submission.replyTo);
    if (!message) {
        throw ProtocolError(ErrorCode::NotFound, "reply_to: no message " +
                                                     std::to_string(*submission.replyTo) + " in " +
                                                     submission.conv);
    }
    return store::ReplyPreview{message->seq, message->sender, message->body,
                               message->deletedBy.has_value(), message->erased};
}

PostedMessage MessagePosting::post(MessageSubmission submission) const {
    auto metaJson = checkLimits(submission, "");
    const nlohmann::json requested = submission.attachments;
    bool resend = false;
    std::optional<store::ReplyPreview> preview;
    if (submission.replyTo) {
        preview = answered(submission);
    }
    if (!submission.system && hooks_.has(Hook::MessageBeforeStore)) {
        resend = runBeforeStore(submission, metaJson);
    }
    // A resend is answered with the stored original, attachments included: nothing to resolve.
    std::optional<std::string> attachmentsJson;
    if (!resend) {
        attachmentsJson = resolvedAttachments(submission, requested);
    }
    // Membership is decided in the storing transaction, whatever was read before the hooks.
    auto stored = store_.appendMessage(store::NewMessage{
        submission.conv, submission.sender, submission.cmid, submission.body, metaJson,
        clock_.nowMs(), submission.system, std::move(attachmentsJson), submission.replyTo});
    requireMember(stored.access, submission.conv);
    if (stored.message.replyTo && stored.message.replyTo == submission.replyTo) {
        stored.message.replyPreview = std::move(preview);
    }
    // Delivered before message.after_store runs: a message an after_store handler posts in turn
    // (a welcome) has the next seq, and members must get this one first (docs/design.md). A
    // resend is delivered again too: if the first attempt died between commit and publish, this
    // is how members get it live; clients drop events whose seq they already have.
    deliverMessage(outbox_, stored);
    if (!stored.duplicate) {
        hooks_.afterMessageStore(stored.message, memberIdsOf(stored));
    }
    return PostedMessage{std::move(stored.message), stored.duplicate};
}

}  // namespace parley
