#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "ExitCode.h"
#include "Session.h"

namespace parley::client {

// A command failed with the server's error reply, or a local one.
class CommandRefused : public std::runtime_error {
  public:
    explicit CommandRefused(nlohmann::json reply);
    const nlohmann::json& reply() const { return reply_; }

  private:
    nlohmann::json reply_;
};

struct Output {
    std::ostream& out;
    bool json = false;
};

// What `send` and `open` address: a conversation id, or a peer (and optional listing) whose 1:1
// conversation is opened first.
struct Target {
    std::string conv;
    std::string peer;
    std::string listing;
    std::string title;
};

// The scriptable subcommands. Each throws CommandRefused for an error reply and SessionError when
// no reply comes.
class Commands {
  public:
    Commands(Session& session, Output output, std::chrono::milliseconds timeout);

    void send(const Target& target, const std::string& body, const std::string& metaText,
              const std::string& cmid);
    void history(const std::string& conv, std::optional<long long> before,
                 std::optional<long long> after, int limit, bool all);
    void list(int limit, const std::string& listing);
    void open(const Target& target);
    void create(const std::vector<std::string>& members, const std::string& title);
    void read(const std::string& conv, std::optional<long long> seq);
    void call(const std::string& commandText);

  private:
    nlohmann::json request(nlohmann::json command);
    std::string openDirect(const Target& target);
    void printMessage(const nlohmann::json& message);

    Session& session_;
    Output output_;
    std::chrono::milliseconds timeout_;
};

}  // namespace parley::client
