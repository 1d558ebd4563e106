#include "SubscriptionPolicy.h"

#include "TokenVerifier.h"

namespace parley::jwtauth {

namespace {

// `filter` is `root` itself or a filter under it (root + "/" + anything). A literal comparison:
// "parley/v1/u/+/resp" is not under "parley/v1/u/alice", whatever the wildcard could match.
bool isAtOrUnder(std::string_view filter, std::string_view root) {
    return filter.size() >= root.size() && filter.substr(0, root.size()) == root &&
           (filter.size() == root.size() || filter[root.size()] == '/');
}

}  // namespace

SubscriptionPolicy::SubscriptionPolicy(std::string topicPrefix,
                                       std::set<std::string, std::less<>> serviceUsers)
    : topicPrefix_(std::move(topicPrefix)), serviceUsers_(std::move(serviceUsers)) {}

bool SubscriptionPolicy::isServiceUser(std::string_view username) const {
    return serviceUsers_.contains(username);
}

SubscriptionPolicy::Verdict SubscriptionPolicy::check(std::string_view username,
                                                      std::string_view filter) const {
    if (isServiceUser(username)) {
        return {Decision::Allow, ""};
    }
    if (filter.substr(0, 7) == "$share/") {
        return {Decision::Refuse,
                "shared subscriptions are for the service accounts (plugin_opt_service_users)"};
    }
    if (isAtOrUnder(filter, topicPrefix_ + "/presence")) {
        return {Decision::Allow, ""};
    }
    // A name the inbox topics cannot hold (a wildcard or a '/' in it) gets presence only.
    if (TokenVerifier::isValidUid(username) &&
        isAtOrUnder(filter, topicPrefix_ + "/u/" + std::string(username))) {
        return {Decision::Allow, ""};
    }
    // The username is not in the reason: the caller logs it escaped.
    return {Decision::Refuse, "a user may subscribe only to its own inbox (" + topicPrefix_ +
                                  "/u/<uid>/...) and to presence (" + topicPrefix_ +
                                  "/presence/...)"};
}

}  // namespace parley::jwtauth
