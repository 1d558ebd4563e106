#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

#include "handlers/HandlerContext.h"
#include "protocol/Command.h"

namespace parley {

class Dispatcher;

// msg.edit, msg.delete, msg.react and msg.changes: changes to stored messages and their catch-up
// (docs/design.md, "Changes to stored messages"). Every change is checked again in the store's
// transaction; the checks here only spare extensions and the store a change that cannot pass.
class MessageChangeHandler {
  public:
    explicit MessageChangeHandler(HandlerContext context) : context_(context) {}

    void registerOps(Dispatcher& dispatcher);

    nlohmann::json edit(const Command& command);
    nlohmann::json remove(const Command& command);
    nlohmann::json react(const Command& command);
    nlohmann::json changes(const Command& command);

  private:
    // Who may delete messages they did not send in any conversation, member or not: server
    // admins (config `admins`). A group's admins may in their group: the store checks that in
    // the deletion's transaction.
    bool mayDeleteOthers(const std::string& uid, const std::string& conv) const;
    // Publishes the change event to the members and answers the command.
    nlohmann::json announce(const store::MessageChange& change, const char* kind,
                            const std::string& by) const;

    HandlerContext context_;
};

// Why `emoji` is not a reaction parleyd stores, or empty: 1 to kMaxEmojiCodePoints code points
// (kMaxEmojiBytes bytes), at least one outside ASCII, no ASCII but the digits, '#' and '*' of a
// keycap, no whitespace or control characters.
constexpr size_t kMaxEmojiCodePoints = 10;
constexpr size_t kMaxEmojiBytes = 64;
std::string emojiProblem(std::string_view emoji);

}  // namespace parley
