#include "handlers/SearchHandler.h"

#include <algorithm>

#include "chat/Membership.h"
#include "dispatch/Dispatcher.h"
#include "protocol/Args.h"
#include "protocol/ErrorCode.h"
#include "protocol/Views.h"
#include "store/SearchIndex.h"
#include "util/Utf8.h"

namespace parley {

namespace {
constexpr int kDefaultSearchLimit = 20;
constexpr int64_t kMaxCursor = int64_t{1} << 53;  // exact in every JSON parser
}  // namespace

void SearchHandler::registerOps(Dispatcher& dispatcher) {
    dispatcher.add("msg.search", [this](const Command& c) { return search(c); });
}

nlohmann::json SearchHandler::search(const Command& command) {
    const SearchConfig& limits = context_.rules.search;
    const auto q = command.args.find("q");
    if (q == command.args.end() || !q->is_string()) {
        throw ProtocolError(ErrorCode::BadRequest, "\"q\" is required (a string)");
    }
    const auto& text = q->get_ref<const std::string&>();
    if (text.size() > static_cast<size_t>(limits.maxQueryBytes)) {
        throw ProtocolError(
            ErrorCode::BadRequest,
            "\"q\" is longer than " + std::to_string(limits.maxQueryBytes) + " bytes");
    }
    if (hasControlCharacter(text)) {
        throw ProtocolError(ErrorCode::BadRequest, "\"q\" must not contain control characters");
    }
    store::SearchQuery query;
    query.reader = command.uid;
    // Quotes, operators and wildcards separate words here: they are never query syntax.
    query.terms = store::searchTerms(text);
    if (query.terms.empty()) {
        throw ProtocolError(ErrorCode::BadRequest,
                            "\"q\" has no word to search for (letters or digits)");
    }
    if (query.terms.size() > static_cast<size_t>(limits.maxTerms)) {
        throw ProtocolError(ErrorCode::BadRequest,
                            "\"q\" has more than " + std::to_string(limits.maxTerms) + " words");
    }
    const Args args(command.args);
    const auto conv = command.args.find("conv");
    if (conv != command.args.end() && !conv->is_null()) {
        query.conv = args.requireConversation();
        // The check msg.history makes, with its answers: not_found, forbidden.
        requireMember(context_.store.memberView(*query.conv, command.uid).access, *query.conv);
    }
    query.before = args.optionalInt("before", 1, kMaxCursor);
    // Larger pages are cut to the maximum rather than refused: has_more tells the client.
    query.limit = static_cast<int>(std::min<int64_t>(
        args.optionalInt("limit", 1, kMaxCursor).value_or(kDefaultSearchLimit), limits.maxPage));
    const auto page = context_.store.searchMessages(query);
    nlohmann::json msgs = nlohmann::json::array();
    for (const auto& message : page.messages) {
        msgs.push_back(messageJson(message));
    }
    nlohmann::json convs = nlohmann::json::array();
    for (const auto& conversation : page.conversations) {
        convs.push_back(summaryJson(conversation, command.uid));
    }
    nlohmann::json reply = {{"msgs", msgs}, {"convs", convs}, {"has_more", page.hasMore}};
    if (page.hasMore) {
        reply["next_before"] = page.nextBefore;
    }
    return reply;
}

}  // namespace parley
