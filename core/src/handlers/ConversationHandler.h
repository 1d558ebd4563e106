#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "handlers/HandlerContext.h"
#include "protocol/Command.h"

namespace parley {

class Dispatcher;

// conv.open, conv.create, conv.list, conv.get, and a group's membership: conv.add, conv.remove,
// conv.leave, conv.rename, conv.admin
class ConversationHandler {
  public:
    explicit ConversationHandler(HandlerContext context) : context_(context) {}

    void registerOps(Dispatcher& dispatcher);

    nlohmann::json open(const Command& command);
    nlohmann::json create(const Command& command);
    nlohmann::json list(const Command& command);
    nlohmann::json get(const Command& command);
    nlohmann::json add(const Command& command);
    nlohmann::json remove(const Command& command);
    nlohmann::json leave(const Command& command);
    nlohmann::json rename(const Command& command);
    nlohmann::json makeAdmin(const Command& command);

  private:
    // With a user directory (users.directory: known), throws not_found naming every one of
    // `uids` Parley does not know.
    void requireKnown(const std::vector<std::string>& uids);
    // Runs conversation.after_create, then announces the conversation as the hooks left it, and
    // returns it so (for the reply).
    store::ConversationRecord afterCreate(store::ConversationRecord conversation);
    // Tells every member on ".../n" that a conversation appeared, with their own unread count.
    void announceCreated(const store::ConversationRecord& conversation);
    // Runs a membership change, turns a refusal into its error, tells everyone concerned (the
    // members and whoever went) of each change, and answers with what changed.
    nlohmann::json changeMembership(store::MembershipRequest request);

    HandlerContext context_;
};

}  // namespace parley
