#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace parley {

struct LimitsConfig {
    int64_t maxPayloadBytes = 65536;
    int64_t maxBodyBytes = 16384;
    int64_t maxMetaBytes = 4096;
    int maxGroupMembers = 100;
    // Per-user ingress limits, checked when a command arrives, before it is queued (per instance).
    // Commands past them are answered rate_limited at once. 0 turns a limit off.
    double userCommandsPerSecond = 100;  // token bucket refill
    int userCommandBurst = 300;          // token bucket size
    int userQueuedCommands = 100;        // commands of one user waiting for or in a worker
    // Commands with bytes ("{prefix}/c2s/{uid}/bin", a file's chunks): at most this many bytes
    // after the command, and instead of the command rate above, a budget of bytes per user:
    // each costs its bytes (at least kMinTransferCost) and then the bytes of its reply. Past it:
    // transfer_limited. 0 turns the budget off.
    int64_t maxBytesPerCommand = 1024 * 1024;
    double userTransferBytesPerSecond = 16 * 1024 * 1024;
    int64_t userTransferBurstBytes = 32 * 1024 * 1024;
    static constexpr int64_t kMinTransferCost = 64 * 1024;
    // How long after it was stored its sender may edit a message (msg.edit); 0 = never.
    int64_t editWindowMs = 24 * 3600 * 1000;
    int maxReactionEmojis = 20;  // different emojis on one message
};

// msg.search (docs/design.md, "Search").
struct SearchConfig {
    int64_t maxQueryBytes = 256;  // of the query text, UTF-8
    int maxTerms = 16;            // words in a query
    int maxPage = 50;             // results in one reply; more are cut to this
    // How long the words of a deleted message may stay in the full-text index before a purge
    // rewrites it (an admin's erasure purges at once). 0: at the next sweep.
    int64_t purgeAfterMs = 10 * 60 * 1000;
};

struct TypingConfig {
    int burst = 5;
    double perSecond = 1.0;
};

struct PresenceConfig {
    int64_t awayAfterMs = 300000;
    int64_t sweepIntervalMs = 15000;
};

// Who may be put in a conversation (conv.open, conv.create).
enum class UserDirectory {
    None,   // any valid uid: Parley holds no list of users
    Known,  // only users Parley knows: registered by an admin (admin.user.set), or seen
};

struct UsersConfig {
    UserDirectory directory = UserDirectory::None;
    // What a member added to a group (conv.add) may read: false, from when they joined; true,
    // the whole history.
    bool newMembersSeeWholeHistory = false;
};

// The rules of chat that every component applies alike (handlers, message posting, extensions'
// services, Lua and plugins): the config's top-level sections admins, limits, search, typing,
// presence and users. Config is made of them and of each component's own settings.
struct ChatRules {
    // Users allowed the admin commands (admin.*, and extensions' admin-only ops).
    std::vector<std::string> admins;
    LimitsConfig limits;
    SearchConfig search;
    TypingConfig typing;
    PresenceConfig presence;
    UsersConfig users;

    bool isAdmin(std::string_view uid) const {
        return std::find(admins.begin(), admins.end(), uid) != admins.end();
    }
};

}  // namespace parley
