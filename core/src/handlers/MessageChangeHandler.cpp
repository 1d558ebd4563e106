#include "handlers/MessageChangeHandler.h"

#include <algorithm>
#include <limits>

#include "chat/Membership.h"
#include "chat/MessageLimits.h"
#include "dispatch/Dispatcher.h"
#include "protocol/Args.h"
#include "protocol/ErrorCode.h"
#include "protocol/Views.h"
#include "util/Utf8.h"

namespace parley {

namespace {
constexpr int64_t kMaxSeq = int64_t{1} << 53;  // exact in every JSON parser
constexpr int kDefaultChangesLimit = 100;
constexpr int kMaxChangesLimit = 500;

// Turns what the store found into the client's error; returns for Changed and Unchanged.
void requireChanged(store::ChangeOutcome outcome, const std::string& conv, int64_t seq) {
    using store::ChangeOutcome;
    switch (outcome) {
        case ChangeOutcome::Changed:
        case ChangeOutcome::Unchanged:
            return;
        case ChangeOutcome::NoConversation:
            requireMember(store::Access::NoConversation, conv);
            break;
        case ChangeOutcome::NotMember:
            requireMember(store::Access::NotMember, conv);
            break;
        case ChangeOutcome::NoMessage:
            throw ProtocolError(ErrorCode::NotFound,
                                "no message " + std::to_string(seq) + " in " + conv);
        case ChangeOutcome::NotSender:
            throw ProtocolError(ErrorCode::NotSender,
                                "message " + std::to_string(seq) + " is not yours");
        case ChangeOutcome::WindowPassed:
            throw ProtocolError(ErrorCode::EditWindowPassed, "message " + std::to_string(seq) +
                                                                 " is older than the edit window");
        case ChangeOutcome::Tombstone:
            throw ProtocolError(ErrorCode::MessageDeleted,
                                "message " + std::to_string(seq) + " was deleted");
        case ChangeOutcome::TooManyReactions:
            throw ProtocolError(
                ErrorCode::TooManyReactions,
                "message " + std::to_string(seq) + " has as many different reactions as it may");
    }
    throw ProtocolError(ErrorCode::Internal, "unexpected change outcome");
}

// Decodes one code point of valid UTF-8 at `i`, moving `i` past it.
char32_t nextCodePoint(std::string_view text, size_t& i) {
    const auto lead = static_cast<unsigned char>(text[i]);
    const size_t length = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
    char32_t code = length == 1 ? lead : lead & (0x3F >> (length - 1));
    for (size_t k = 1; k < length && i + k < text.size(); ++k) {
        code = (code << 6) | (static_cast<unsigned char>(text[i + k]) & 0x3F);
    }
    i += length;
    return code;
}
}  // namespace

std::string emojiProblem(std::string_view emoji) {
    if (emoji.empty() || emoji.size() > kMaxEmojiBytes || !isValidUtf8(emoji)) {
        return "\"emoji\" must be 1-" + std::to_string(kMaxEmojiBytes) + " bytes of UTF-8";
    }
    size_t codePoints = 0;
    bool beyondAscii = false;
    for (size_t i = 0; i < emoji.size();) {
        const char32_t code = nextCodePoint(emoji, i);
        ++codePoints;
        if (code >= 0x80) {
            // Spaces and invisible separators make reactions that look alike but differ.
            if (code == 0x85 || code == 0xA0 || code == 0x1680 ||
                (code >= 0x2000 && code <= 0x200B) || code == 0x2028 || code == 0x2029 ||
                code == 0x202F || code == 0x205F || code == 0x3000 ||
                (code >= 0x80 && code < 0xA0)) {
                return "\"emoji\" must not contain spaces or control characters";
            }
            beyondAscii = true;
        } else if (!((code >= '0' && code <= '9') || code == '#' || code == '*')) {
            return "\"emoji\" must be an emoji, not text";
        }
    }
    if (!beyondAscii || codePoints > kMaxEmojiCodePoints) {
        return "\"emoji\" must be one emoji (at most " + std::to_string(kMaxEmojiCodePoints) +
               " code points)";
    }
    return {};
}

void MessageChangeHandler::registerOps(Dispatcher& dispatcher) {
    dispatcher.add("msg.edit", [this](const Command& c) { return edit(c); });
    dispatcher.add("msg.delete", [this](const Command& c) { return remove(c); });
    dispatcher.add("msg.react", [this](const Command& c) { return react(c); });
    dispatcher.add("msg.changes", [this](const Command& c) { return changes(c); });
}

bool MessageChangeHandler::mayDeleteOthers(const std::string& uid, const std::string&) const {
    const auto& admins = context_.rules.admins;
    return std::find(admins.begin(), admins.end(), uid) != admins.end();
}

nlohmann::json MessageChangeHandler::announce(const store::MessageChange& change, const char* kind,
                                              const std::string& by) const {
    const auto& message = change.message;
    if (change.outcome == store::ChangeOutcome::Changed) {
        nlohmann::json event = {{"ev", "change"},
                                {"kind", kind},
                                {"conv", message.conv},
                                {"seq", message.seq},
                                {"rev", message.rev},
                                {"by", by},
                                {"msg", messageJson(message)}};
        context_.outbox.toConversation(change.memberIds, message.conv, event);
    }
    return {{"conv", message.conv},
            {"seq", message.seq},
            {"rev", message.rev},
            {"changed", change.outcome == store::ChangeOutcome::Changed},
            {"msg", messageJson(message)}};
}

nlohmann::json MessageChangeHandler::edit(const Command& command) {
    const Args args(command.args);
    const std::string conv = args.requireConversation();
    const int64_t seq = args.requireInt("seq", 1, kMaxSeq);
    auto body = command.args.find("body");
    if (body == command.args.end() || !body->is_string()) {
        throw ProtocolError(ErrorCode::BadRequest, "\"body\" is required (a string)");
    }
    const auto& limits = context_.rules.limits;
    const bool changeMeta = command.args.contains("meta");
    nlohmann::json meta = nullptr;
    if (const nlohmann::json* given = args.optionalObject("meta")) {
        meta = *given;
    }
    // Checked first against what is stored now, so that extensions see only edits that can pass
    // (a refused edit counts against no rate limit); the store checks all of it again.
    auto view = context_.store.memberView(conv, command.uid);
    requireMember(view.access, conv);
    auto stored = context_.store.message(conv, seq);
    if (!stored) {
        requireChanged(store::ChangeOutcome::NoMessage, conv, seq);
    }
    const int64_t now = context_.clock.nowMs();
    const int64_t editableSince =
        limits.editWindowMs > 0 ? now - limits.editWindowMs : std::numeric_limits<int64_t>::max();
    if (stored->tombstone()) {
        requireChanged(store::ChangeOutcome::Tombstone, conv, seq);
    }
    if (stored->sender != command.uid) {
        requireChanged(store::ChangeOutcome::NotSender, conv, seq);
    }
    if (stored->ts < editableSince) {
        requireChanged(store::ChangeOutcome::WindowPassed, conv, seq);
    }
    if (!changeMeta && stored->metaJson) {
        meta = nlohmann::json::parse(*stored->metaJson, nullptr, false);
    }
    std::optional<std::string> metaJson;
    const std::string text = body->get<std::string>();
    if (auto problem = messageProblem(limits, text, meta, &metaJson)) {
        throw ProtocolError(problem->code, problem->message);
    }
    MessageDraft draft{command.uid,
                       conv,
                       stored->cmid,
                       text,
                       std::move(meta),
                       view.kind,
                       std::move(view.context),
                       std::move(view.memberIds),
                       view.lastSeq,
                       seq};
    std::string newBody = text;
    if (context_.hooks.has(Hook::MessageBeforeEdit)) {
        context_.hooks.beforeMessageEdit(draft);
        // Whatever an extension rewrote still keeps the limits of a message.
        if (auto problem = messageProblem(limits, draft.body, draft.meta, &metaJson)) {
            throw ProtocolError(problem->code, "the rewritten message: " + problem->message);
        }
        newBody = std::move(draft.body);
    }
    auto change = context_.store.editMessage(
        store::MessageEdit{conv, seq, command.uid, newBody, true, metaJson, now, editableSince});
    requireChanged(change.outcome, conv, seq);
    return announce(change, "edit", command.uid);
}

nlohmann::json MessageChangeHandler::remove(const Command& command) {
    const Args args(command.args);
    const std::string conv = args.requireConversation();
    const int64_t seq = args.requireInt("seq", 1, kMaxSeq);
    auto change = context_.store.deleteMessage(
        conv, seq, command.uid, mayDeleteOthers(command.uid, conv), context_.clock.nowMs());
    requireChanged(change.outcome, conv, seq);
    if (change.outcome == store::ChangeOutcome::Changed && change.before) {
        // Extensions drop what they keep about it (an attachment's reference) after the commit.
        context_.hooks.afterMessageDelete(*change.before, change.memberIds, command.uid);
    }
    return announce(change, "delete", command.uid);
}

nlohmann::json MessageChangeHandler::react(const Command& command) {
    const Args args(command.args);
    const std::string conv = args.requireConversation();
    const int64_t seq = args.requireInt("seq", 1, kMaxSeq);
    auto emoji = command.args.find("emoji");
    if (emoji == command.args.end() || !emoji->is_string()) {
        throw ProtocolError(ErrorCode::BadRequest, "\"emoji\" is required (a string)");
    }
    const std::string text = emoji->get<std::string>();
    if (auto problem = emojiProblem(text); !problem.empty()) {
        throw ProtocolError(ErrorCode::BadRequest, problem);
    }
    bool remove = false;
    if (auto found = command.args.find("remove");
        found != command.args.end() && !found->is_null()) {
        if (!found->is_boolean()) {
            throw ProtocolError(ErrorCode::BadRequest, "\"remove\" must be true or false");
        }
        remove = found->get<bool>();
    }
    auto change = context_.store.reactToMessage(
        store::ReactionChange{conv, seq, command.uid, text, !remove, context_.clock.nowMs(),
                              context_.rules.limits.maxReactionEmojis});
    requireChanged(change.outcome, conv, seq);
    return announce(change, "react", command.uid);
}

nlohmann::json MessageChangeHandler::changes(const Command& command) {
    const Args args(command.args);
    const std::string conv = args.requireConversation();
    const int64_t sinceRev = args.requireInt("since_rev", 0, kMaxSeq);
    const int limit = static_cast<int>(std::min<int64_t>(
        args.optionalInt("limit", 1, kMaxSeq).value_or(kDefaultChangesLimit), kMaxChangesLimit));
    auto page = context_.store.changes(conv, sinceRev, limit, command.uid);
    requireMember(page.access, conv);
    nlohmann::json msgs = nlohmann::json::array();
    int64_t lastRev = sinceRev;
    for (const auto& message : page.messages) {
        msgs.push_back(messageJson(message));
        lastRev = std::max(lastRev, message.rev);
    }
    nlohmann::json members = nlohmann::json::array();
    for (const auto& change : page.memberChanges) {
        members.push_back(memberChangeJson(change));
        lastRev = std::max(lastRev, change.rev);
    }
    // Where the next page starts: the last rev answered, or, on the last page, the
    // conversation's rev (which a client keeps as its cursor).
    const int64_t next = page.hasMore ? lastRev : std::max(page.rev, sinceRev);
    return {{"conv", conv},       {"rev", page.rev},          {"msgs", msgs},
            {"members", members}, {"has_more", page.hasMore}, {"next_rev", next}};
}

}  // namespace parley
