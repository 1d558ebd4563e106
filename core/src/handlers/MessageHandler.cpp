#include "handlers/MessageHandler.h"

#include "chat/Membership.h"
#include "dispatch/Dispatcher.h"
#include "protocol/Args.h"
#include "protocol/ErrorCode.h"
#include "protocol/Views.h"

namespace parley {

namespace {
constexpr size_t kCmidCharacters = 64;
constexpr int kDefaultHistoryLimit = 50;
constexpr int kMaxHistoryLimit = 100;
constexpr int64_t kMaxSeq = int64_t{1} << 53;  // exact in every JSON parser

// "attachments": absent, or 1-10 distinct ids of 1-64 of A-Z a-z 0-9 _ - (docs/attachments.md).
nlohmann::json attachmentIds(const nlohmann::json& command) {
    const auto found = command.find("attachments");
    if (found == command.end() || found->is_null()) {
        return nullptr;
    }
    const nlohmann::json& ids = *found;
    if (!ids.is_array() || ids.empty() || ids.size() > MessagePosting::kMaxAttachments) {
        throw ProtocolError(ErrorCode::BadRequest,
                            "\"attachments\" must be an array of 1-10 attachment ids");
    }
    for (size_t i = 0; i < ids.size(); ++i) {
        const bool wellFormed =
            ids[i].is_string() && !ids[i].get_ref<const std::string&>().empty() &&
            ids[i].get_ref<const std::string&>().size() <= 64 &&
            ids[i].get_ref<const std::string&>().find_first_not_of(
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") ==
                std::string::npos;
        if (!wellFormed) {
            throw ProtocolError(ErrorCode::BadRequest,
                                "\"attachments\" holds ids as attach.commit returns them");
        }
        for (size_t j = 0; j < i; ++j) {
            if (ids[j] == ids[i]) {
                throw ProtocolError(ErrorCode::BadRequest,
                                    "\"attachments\" names the same attachment twice");
            }
        }
    }
    return ids;
}

nlohmann::json duplicateReply(const store::MessageRecord& message) {
    return {{"conv", message.conv}, {"seq", message.seq}, {"ts", message.ts}, {"dup", true}};
}
}  // namespace

void MessageHandler::registerOps(Dispatcher& dispatcher) {
    dispatcher.add("msg.send", [this](const Command& c) { return send(c); });
    dispatcher.add("msg.history", [this](const Command& c) { return history(c); });
    dispatcher.add("msg.read", [this](const Command& c) { return read(c); });
}

nlohmann::json MessageHandler::send(const Command& command) {
    const Args args(command.args);
    MessageSubmission submission;
    submission.conv = args.requireConversation();
    submission.sender = command.uid;
    submission.cmid = args.requireString("cmid", kCmidCharacters);
    auto body = command.args.find("body");
    if (body == command.args.end() || !body->is_string()) {
        throw ProtocolError(ErrorCode::BadRequest, "\"body\" is required (a string)");
    }
    submission.body = body->get<std::string>();
    if (const nlohmann::json* meta = args.optionalObject("meta")) {
        submission.meta = *meta;
    }
    submission.attachments = attachmentIds(command.args);
    submission.replyTo = args.optionalInt("reply_to", 1, kMaxSeq);
    auto posted = posting_.post(std::move(submission));
    if (posted.duplicate) {
        return duplicateReply(posted.message);
    }
    // Before the reply: a client that got it sees it counted.
    metrics_.messagesStored.fetch_add(1, std::memory_order_relaxed);
    return {{"conv", posted.message.conv}, {"seq", posted.message.seq}, {"ts", posted.message.ts}};
}

nlohmann::json MessageHandler::history(const Command& command) {
    const Args args(command.args);
    store::HistoryQuery query;
    query.conv = args.requireConversation();
    query.before = args.optionalInt("before", 0, kMaxSeq);
    query.after = args.optionalInt("after", 0, kMaxSeq);
    // Larger pages are cut to the maximum rather than refused: has_more tells the client.
    query.limit = static_cast<int>(std::min<int64_t>(
        args.optionalInt("limit", 1, kMaxSeq).value_or(kDefaultHistoryLimit), kMaxHistoryLimit));
    // A member reads from when they joined; a former member up to when they went (the store
    // applies the rule, docs/design.md "Groups: who sees what").
    query.reader = command.uid;
    auto page = context_.store.history(query);
    requireMember(page.access, query.conv);
    nlohmann::json msgs = nlohmann::json::array();
    for (const auto& message : page.messages) {
        msgs.push_back(messageJson(message));
    }
    return {{"conv", query.conv}, {"msgs", msgs}, {"has_more", page.hasMore}};
}

nlohmann::json MessageHandler::read(const Command& command) {
    const Args args(command.args);
    const std::string conv = args.requireConversation();
    const int64_t seq = args.requireInt("seq", 0, kMaxSeq);
    auto result = context_.store.markRead(conv, command.uid, seq);
    requireMember(result.access, conv);
    const int64_t unread = std::max<int64_t>(0, result.lastSeq - result.readSeq);
    const int64_t unreadTotal = context_.store.unreadTotals({command.uid}).at(0).unread;
    if (result.moved) {
        context_.hooks.afterRead(conv, command.uid, result.readSeq);
        // Every member, the reader's other devices included, learns the new watermark, unless
        // an extension hides it from some (a block).
        nlohmann::json event = {
            {"ev", "read"}, {"conv", conv}, {"user", command.uid}, {"seq", result.readSeq}};
        if (context_.hooks.has(Hook::EventBeforeDeliver)) {
            DeliveryDraft draft{"read", conv, command.uid, event, std::move(result.memberIds)};
            context_.hooks.beforeDeliver(draft);
            result.memberIds = std::move(draft.recipients);
        }
        context_.outbox.toConversation(result.memberIds, conv, event);
        context_.outbox.toUser(
            command.uid,
            {{"ev", "unread"}, {"conv", conv}, {"unread", unread}, {"unread_total", unreadTotal}});
    }
    return {{"conv", conv},
            {"read_seq", result.readSeq},
            {"unread", unread},
            {"unread_total", unreadTotal}};
}

}  // namespace parley
