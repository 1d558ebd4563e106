#pragma once

#include <functional>
#include <set>
#include <string>
#include <string_view>

namespace parley::jwtauth {

// Who may subscribe to what. Mosquitto 2.0's acl_file grants every SUBSCRIBE and checks READ per
// delivered message, which is harmless for a plain filter but not for a shared subscription: the
// broker hands a member its share of the matching messages first, then drops those the member
// may not read, so anyone who joined parleyd's command group made parleyd lose other users'
// commands. Checked at SUBSCRIBE, before anything is handed out.
class SubscriptionPolicy {
  public:
    enum class Decision {
        // Not refused here: a user's own inbox or presence, or anything of a service account.
        // The acl_file still has the last word.
        Allow,
        Refuse,  // SUBACK with "not authorized" (MQTT 5 0x87, 3.1.1 0x80)
    };
    struct Verdict {
        Decision decision = Decision::Refuse;
        std::string reason;  // why it was refused, for the broker log
    };

    // `topicPrefix`: parleyd's topics.prefix ("parley/v1"). `serviceUsers`: parleyd's accounts.
    SubscriptionPolicy(std::string topicPrefix, std::set<std::string, std::less<>> serviceUsers);

    // A user may subscribe to its inbox (PREFIX/u/UID and any filter under PREFIX/u/UID/) and to
    // presence (PREFIX/presence and anything under it), nothing else; shared subscriptions
    // ($share/...) are for service accounts only.
    Verdict check(std::string_view username, std::string_view filter) const;

    bool isServiceUser(std::string_view username) const;
    const std::string& topicPrefix() const { return topicPrefix_; }
    const std::set<std::string, std::less<>>& serviceUsers() const { return serviceUsers_; }

  private:
    std::string topicPrefix_;
    std::set<std::string, std::less<>> serviceUsers_;
};

}  // namespace parley::jwtauth
