#pragma once

#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "ChatModel.h"
#include "Composer.h"
#include "EventInbox.h"
#include "InputCommand.h"
#include "Key.h"
#include "Session.h"
#include "TypingNotifier.h"

namespace parley::client::ui {

class ChatScreen;

// The interactive client's controller: connects, keeps the model in step with the server
// (catch-up on every connect, gaps, unknown conversations), turns keys into commands, and
// redraws. Everything runs on the thread that calls run(); Session's handlers only queue into
// the EventInbox, and replies are futures polled by the loop.
class ChatApp {
  public:
    explicit ChatApp(ConnectionOptions options);
    ~ChatApp();
    ChatApp(const ChatApp&) = delete;
    ChatApp& operator=(const ChatApp&) = delete;

    // Connects, then runs until the user quits (or SIGINT/SIGTERM/SIGHUP); returns the exit code.
    int run();

  private:
    using Clock = std::chrono::steady_clock;
    using ReplyHandler = std::function<void(const nlohmann::json&)>;

    struct PendingReply {
        std::future<nlohmann::json> reply;
        ReplyHandler handler;
    };

    // Server side. Session resends what is safe to send twice (msg.send by its cmid, reads)
    // after a reconnect and again while no reply comes; conv.create it never resends.
    void request(nlohmann::json command, ReplyHandler handler);
    void tell(nlohmann::json command);  // no interest in the reply
    void pollReplies();
    void drainInbox();
    void onConnection(bool connected, bool reconnect);
    void onEvent(const Event& event);
    void listConversations(const std::string& before, int page);
    void fetchConversation(const std::string& conv);
    void loadNewest(const std::string& conv);
    void loadOlder();
    void fetchAfter(const std::string& conv, int64_t after);
    void maybeCatchUp(const std::string& conv);
    void watchPeers();
    void markRead(int64_t lastVisibleSeq);

    // User side.
    void onKey(const Key& key);
    void submit();
    void sendMessage(const std::string& body);
    void openDirect(const InputCommand& command);
    void createGroup(const InputCommand& command);
    void setName(const InputCommand& command);
    void opened(const nlohmann::json& reply, const std::string& what);
    void select(const std::string& conv);
    void selectRelative(int step);
    void scrollBy(int lines);
    void edited();
    void sendTyping(const std::vector<TypingNotifier::Signal>& signals);
    void notice(std::string text, bool error = false);
    void tick();
    void render();

    // Declared before the session: destroyed after it, so no handler runs into a dead inbox.
    EventInbox inbox_;
    Session session_;
    ChatModel model_;
    Composer composer_;
    TypingNotifier typing_;
    ChatScreen* screen_ = nullptr;  // while run() has one

    std::vector<PendingReply> pending_;
    bool connected_ = false;
    bool quit_ = false;
    bool dirty_ = true;
    bool listFocus_ = true;
    bool help_ = false;
    std::string selected_;
    int scrollOffset_ = 0;
    int maxScroll_ = 0;
    int pageLines_ = 1;
    std::string notice_;
    bool noticeIsError_ = false;
    Clock::time_point noticeUntil_{};
    Clock::time_point lastKey_{};
    Clock::time_point lastPing_{};

    std::set<std::string> watched_;            // presence subscriptions
    std::set<std::string> fetchingConv_;       // conv.get in flight
    std::set<std::string> loadingNewest_;      // msg.history (newest page) in flight
    std::set<std::string> loadingOlder_;       // msg.history before=... in flight
    std::set<std::string> catchingUp_;         // msg.history after=... in flight
    std::map<std::string, int64_t> readSent_;  // highest msg.read sent, per conversation
};

}  // namespace parley::client::ui
