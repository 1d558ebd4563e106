#include "ChatApp.h"

#include <poll.h>
#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <iostream>

#include "ChatScreen.h"
#include "ExitCode.h"

namespace parley::client::ui {

namespace {

using nlohmann::json;
using namespace std::chrono_literals;

volatile std::sig_atomic_t stopRequested = 0;

void onStopSignal(int) {
    stopRequested = 1;
}

constexpr int kHistoryPage = 50;
constexpr int kListPages = 10;  // 1,000 conversations are enough for a terminal list
constexpr auto kPingEvery = 60s;
// docs/protocol.md: no reply in about 10 s, publish the same command again; then less and less
// often, so that a long parleyd outage does not pile up copies.

const std::vector<std::string> kHelp = {
    "Parley — keys",
    "",
    "Tab, Shift-Tab      switch between the list and the chat",
    "↑ ↓                 list: choose a conversation · chat: scroll a line",
    "Ctrl-N, Ctrl-P      next / previous conversation, from anywhere",
    "PgUp, PgDn          scroll the chat; PgUp at the top loads older messages",
    "Enter               list: go to the chat · chat: send the message",
    "Esc                 back to the list",
    "← → Home End Del    edit (also Ctrl-A Ctrl-E Ctrl-W Ctrl-U Ctrl-K)",
    "Ctrl-L              redraw the screen",
    "Ctrl-C, /quit       quit (Ctrl-D too, on an empty line)",
    "",
    "Commands",
    "",
    "/open <user>                      the 1:1 conversation with <user>",
    "/open <user> <type> <id> [title]  a 1:1 about something: /open bob listing 42 Blue bike",
    "/group <user,user,...> [title]    a new group",
    "/name <display name>              your display name (empty: none)",
    "//text                            send a message that starts with \"/\"",
    "",
    "Any key closes this help.",
};

std::string errorText(const json& reply) {
    const json error = reply.value("error", json::object());
    std::string text = error.value("code", "error");
    const std::string message = error.value("message", "");
    return message.empty() ? text : text + ": " + message;
}

int64_t nowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

ChatApp::ChatApp(ConnectionOptions options)
    : session_(std::move(options)), model_(session_.user()) {
    // On the MQTT thread: queue and return (Session.h).
    session_.onEvent([this](const Event& event) { inbox_.push(event); });
    session_.onConnection([this](bool connected, bool reconnect) {
        inbox_.push(EventInbox::ConnectionChange{connected, reconnect});
    });
}

ChatApp::~ChatApp() = default;

int ChatApp::run() {
    // The MQTT library's threads start at connect() and inherit this mask: SIGWINCH then
    // reaches this thread only and interrupts its poll(), so a resize redraws at once.
    sigset_t resize;
    sigemptyset(&resize);
    sigaddset(&resize, SIGWINCH);
    sigset_t previous;
    pthread_sigmask(SIG_BLOCK, &resize, &previous);
    std::signal(SIGPIPE, SIG_IGN);
    try {
        session_.connect();  // Ctrl-C still ends the process meanwhile
    } catch (const SessionError& error) {
        pthread_sigmask(SIG_SETMASK, &previous, nullptr);
        std::cerr << "parley: " << error.what() << "\n";
        return kUnreachable;  // as the subcommands, for the same failure
    }
    // From now on the terminal must be given back first. (No SA_RESTART: poll() returns.)
    struct sigaction stop {};
    stop.sa_handler = onStopSignal;
    sigemptyset(&stop.sa_mask);
    for (const int number : {SIGINT, SIGTERM, SIGHUP}) {
        sigaction(number, &stop, nullptr);
    }

    std::optional<ChatScreen> screen;
    try {
        screen.emplace();
    } catch (const std::exception& error) {
        std::cerr << "parley: " << error.what() << "\n";
        session_.close();
        return 1;
    }
    screen_ = &*screen;
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);  // ncurses handles SIGWINCH now

    while (!quit_ && stopRequested == 0) {
        if (dirty_) {
            render();
        }
        pollfd waiting[2] = {{STDIN_FILENO, POLLIN, 0}, {inbox_.wakeFd(), POLLIN, 0}};
        // Replies are futures, not file descriptors: look at them often while some are due.
        ::poll(waiting, 2, pending_.empty() ? 250 : 20);
        if ((waiting[0].revents & (POLLHUP | POLLERR | POLLNVAL)) != 0) {
            break;  // the terminal is gone
        }
        drainInbox();
        while (!quit_) {
            auto key = screen->readKey();
            if (!key) {
                break;
            }
            onKey(*key);
        }
        pollReplies();
        tick();
    }

    sendTyping(typing_.stop());
    screen_ = nullptr;
    screen.reset();  // the terminal back first; saying goodbye to the broker may take a moment
    session_.close();
    return 0;
}

// ---- server side ----

void ChatApp::request(json command, ReplyHandler handler) {
    pending_.push_back({session_.send(std::move(command)), std::move(handler)});
}

void ChatApp::tell(json command) {
    // The future is dropped: nothing waits for it, and Session forgets the command on reply.
    session_.send(std::move(command));
}

void ChatApp::pollReplies() {
    std::vector<std::pair<json, ReplyHandler>> ready;
    for (auto it = pending_.begin(); it != pending_.end();) {
        if (it->reply.wait_for(0s) == std::future_status::ready) {
            json reply;
            try {
                reply = it->reply.get();
            } catch (const std::future_error&) {
                reply = {{"ok", false}, {"error", {{"code", "disconnected"}}}};
            }
            ready.emplace_back(std::move(reply), std::move(it->handler));
            it = pending_.erase(it);
            continue;
        }
        ++it;
    }
    // Handlers may send further requests (into pending_), hence after the loop.
    for (auto& [reply, handler] : ready) {
        try {
            handler(reply);
        } catch (const std::exception& error) {
            notice(std::string("unexpected reply: ") + error.what(), true);
        }
        dirty_ = true;
    }
}

void ChatApp::drainInbox() {
    for (auto& item : inbox_.takeAll()) {
        if (const auto* change = std::get_if<EventInbox::ConnectionChange>(&item)) {
            onConnection(change->connected, change->reconnect);
        } else {
            try {
                onEvent(std::get<Event>(item));
            } catch (const std::exception& error) {
                notice(std::string("unexpected event: ") + error.what(), true);
            }
        }
    }
}

void ChatApp::onConnection(bool connected, bool reconnect) {
    connected_ = connected;
    dirty_ = true;
    if (!connected) {
        notice("connection lost; reconnecting…", true);
        return;
    }
    if (reconnect) {
        // Events published while we were away are gone (clean start): storage has them.
        model_.clearTyping();
        notice("reconnected");
        for (const Conversation* conversation : model_.ordered()) {
            if (conversation->historyLoaded) {
                fetchAfter(conversation->id, conversation->lastHeld());
            }
        }
    }
    listConversations("", 0);
}

void ChatApp::onEvent(const Event& event) {
    const auto effect = model_.applyEvent(event.conv, event.presence, event.body, Clock::now());
    dirty_ = dirty_ || effect.changed;
    if (!effect.unknownConv.empty()) {
        fetchConversation(effect.unknownConv);
    }
    if (!event.body.is_object()) {
        return;
    }
    const std::string ev = event.body.value("ev", "");
    if (ev == "conv") {
        watchPeers();
    } else if (ev == "msg" && !event.conv.empty()) {
        maybeCatchUp(event.conv);  // a gap: an event was lost or overtaken
    }
}

void ChatApp::listConversations(const std::string& before, int page) {
    json command = {{"op", "conv.list"}, {"limit", 100}};
    if (!before.empty()) {
        command["before"] = before;
    }
    request(std::move(command), [this, page](const json& reply) {
        if (!reply.value("ok", false)) {
            notice("cannot list conversations: " + errorText(reply), true);
            return;
        }
        model_.applyList(reply);
        watchPeers();
        if (selected_.empty()) {
            const auto conversations = model_.ordered();
            if (!conversations.empty()) {
                select(conversations.front()->id);
            }
        }
        for (const Conversation* conversation : model_.ordered()) {
            maybeCatchUp(conversation->id);
        }
        const json next = reply.value("next_before", json());
        if (reply.value("has_more", false) && next.is_string() && page + 1 < kListPages) {
            listConversations(next.get<std::string>(), page + 1);
        }
    });
}

void ChatApp::fetchConversation(const std::string& conv) {
    if (!fetchingConv_.insert(conv).second) {
        return;
    }
    request({{"op", "conv.get"}, {"conv", conv}}, [this, conv](const json& reply) {
        fetchingConv_.erase(conv);
        if (reply.value("ok", false)) {
            model_.applySummary(reply);
            watchPeers();
            maybeCatchUp(conv);
        }
    });
}

void ChatApp::loadNewest(const std::string& conv) {
    if (!loadingNewest_.insert(conv).second) {
        return;
    }
    request({{"op", "msg.history"}, {"conv", conv}, {"limit", kHistoryPage}},
            [this, conv](const json& reply) {
                loadingNewest_.erase(conv);
                if (!reply.value("ok", false)) {
                    notice("cannot load messages: " + errorText(reply), true);
                    return;
                }
                model_.applyHistory(conv, reply, true);
                maybeCatchUp(conv);
            });
}

void ChatApp::loadOlder() {
    const Conversation* conversation = model_.find(selected_);
    if (conversation == nullptr || !conversation->historyLoaded || !conversation->hasOlder() ||
        !loadingOlder_.insert(selected_).second) {
        return;
    }
    const int64_t before =
        conversation->messages.empty() ? conversation->lastSeq + 1 : conversation->firstHeld();
    const std::string conv = selected_;
    request({{"op", "msg.history"}, {"conv", conv}, {"before", before}, {"limit", kHistoryPage}},
            [this, conv](const json& reply) {
                loadingOlder_.erase(conv);
                if (!reply.value("ok", false)) {
                    notice("cannot load older messages: " + errorText(reply), true);
                    return;
                }
                model_.applyHistory(conv, reply, false);
            });
    dirty_ = true;
}

void ChatApp::fetchAfter(const std::string& conv, int64_t after) {
    if (!catchingUp_.insert(conv).second) {
        return;  // the reply of the one in flight looks again
    }
    request({{"op", "msg.history"}, {"conv", conv}, {"after", after}, {"limit", 100}},
            [this, conv, after](const json& reply) {
                catchingUp_.erase(conv);
                if (!reply.value("ok", false)) {
                    notice("cannot catch up: " + errorText(reply), true);
                    return;
                }
                model_.applyHistory(conv, reply, false);
                const Conversation* conversation = model_.find(conv);
                if (conversation != nullptr && reply.value("has_more", false) &&
                    conversation->lastHeld() > after) {
                    fetchAfter(conv, conversation->lastHeld());
                } else {
                    maybeCatchUp(conv);
                }
            });
}

void ChatApp::maybeCatchUp(const std::string& conv) {
    if (const auto after = model_.catchUpAfter(conv)) {
        fetchAfter(conv, *after);
    }
}

void ChatApp::watchPeers() {
    for (const auto& peer : model_.peers()) {
        if (watched_.insert(peer).second) {
            session_.watchPresence(peer);
        }
    }
}

void ChatApp::markRead(int64_t lastVisibleSeq) {
    const Conversation* conversation = model_.find(selected_);
    if (conversation == nullptr || lastVisibleSeq <= conversation->readSeq ||
        lastVisibleSeq <= readSent_[selected_]) {
        return;
    }
    readSent_[selected_] = lastVisibleSeq;
    request({{"op", "msg.read"}, {"conv", selected_}, {"seq", lastVisibleSeq}},
            [this](const json& reply) { model_.applyReadReply(reply); });
}

// ---- user side ----

void ChatApp::onKey(const Key& key) {
    lastKey_ = Clock::now();
    dirty_ = true;
    if (key.code == Key::Code::Resize) {
        return;
    }
    if (help_) {
        help_ = false;  // any key closes it
        return;
    }
    switch (key.code) {
        case Key::Code::Tab:
        case Key::Code::BackTab:
            listFocus_ = !listFocus_;
            return;
        case Key::Code::Escape:
            listFocus_ = true;
            return;
        case Key::Code::Help:
            help_ = true;
            return;
        case Key::Code::Up:
            listFocus_ ? selectRelative(-1) : scrollBy(1);
            return;
        case Key::Code::Down:
            listFocus_ ? selectRelative(1) : scrollBy(-1);
            return;
        case Key::Code::PageUp:
            scrollBy(std::max(1, pageLines_ - 1));
            return;
        case Key::Code::PageDown:
            scrollBy(-std::max(1, pageLines_ - 1));
            return;
        case Key::Code::Enter:
            if (listFocus_) {
                listFocus_ = false;
            } else {
                submit();
            }
            return;
        case Key::Code::Left:
            composer_.left();
            return;
        case Key::Code::Right:
            composer_.right();
            return;
        case Key::Code::Home:
            composer_.home();
            return;
        case Key::Code::End:
            composer_.end();
            return;
        case Key::Code::Backspace:
            composer_.backspace();
            break;
        case Key::Code::Delete:
            composer_.deleteForward();
            break;
        case Key::Code::Control:
            switch (key.character) {
                case L'c':
                    quit_ = true;
                    return;
                case L'd':
                    if (composer_.empty()) {
                        quit_ = true;
                        return;
                    }
                    composer_.deleteForward();
                    break;
                case L'a':
                    composer_.home();
                    return;
                case L'e':
                    composer_.end();
                    return;
                case L'w':
                    composer_.deleteWordBackward();
                    break;
                case L'u':
                    composer_.deleteToStart();
                    break;
                case L'k':
                    composer_.deleteToEnd();
                    break;
                case L'n':
                    selectRelative(1);
                    return;
                case L'p':
                    selectRelative(-1);
                    return;
                case L'l':
                    if (screen_ != nullptr) {
                        screen_->invalidate();
                    }
                    return;
                default:
                    return;
            }
            break;
        case Key::Code::Character:
            listFocus_ = false;  // typing in the list starts a message
            composer_.insert(key.character);
            break;
        default:
            return;
    }
    edited();
}

void ChatApp::submit() {
    const InputCommand command = InputCommand::parse(composer_.utf8());
    switch (command.kind) {
        case InputCommand::Kind::Empty:
            return;
        case InputCommand::Kind::Message:
            if (selected_.empty()) {
                notice("no conversation open: /open <user> first", true);
                return;  // the text stays
            }
            sendMessage(command.text);
            break;
        case InputCommand::Kind::Open:
            openDirect(command);
            break;
        case InputCommand::Kind::Group:
            createGroup(command);
            break;
        case InputCommand::Kind::Name:
            setName(command);
            break;
        case InputCommand::Kind::Help:
            help_ = true;
            break;
        case InputCommand::Kind::Quit:
            quit_ = true;
            break;
        case InputCommand::Kind::Invalid:
            notice(command.error, true);
            return;
    }
    composer_.clear();
    sendTyping(typing_.stop());
}

void ChatApp::sendMessage(const std::string& body) {
    const std::string conv = selected_;
    const std::string cmid = session_.newCmid();
    model_.addOutgoing(conv, cmid, body, nowMs());
    // The same cmid on every resend (Session's, after a reconnect): stored once.
    request({{"op", "msg.send"}, {"conv", conv}, {"cmid", cmid}, {"body", body}},
            [this, conv, cmid](const json& reply) {
                model_.applySendReply(conv, cmid, reply);
                if (!reply.value("ok", false)) {
                    notice("message not sent: " + errorText(reply), true);
                }
                maybeCatchUp(conv);
            });
    scrollOffset_ = 0;
}

void ChatApp::openDirect(const InputCommand& command) {
    json open = {{"op", "conv.open"}, {"peer", command.peer}};
    if (!command.contextType.empty()) {
        open["context"] = {{"type", command.contextType}, {"id", command.contextId}};
        if (!command.title.empty()) {
            open["context"]["title"] = command.title;
        }
    }
    const std::string what = "open a conversation with " + command.peer;
    request(std::move(open), [this, what](const json& reply) { opened(reply, what); });
}

void ChatApp::createGroup(const InputCommand& command) {
    json create = {{"op", "conv.create"}, {"members", command.members}};
    if (!command.title.empty()) {
        create["title"] = command.title;
    }
    // Session does not resend it: a second conv.create would make a second group.
    request(std::move(create), [this](const json& reply) { opened(reply, "create the group"); });
}

void ChatApp::setName(const InputCommand& command) {
    request({{"op", "profile.set"}, {"name", command.title}}, [this](const json& reply) {
        if (!reply.value("ok", false)) {
            notice("cannot set your name: " + errorText(reply), true);
            return;
        }
        model_.applyProfileReply(reply);
        notice("name set");
    });
}

void ChatApp::opened(const json& reply, const std::string& what) {
    if (!reply.value("ok", false)) {
        notice("cannot " + what + ": " + errorText(reply), true);
        return;
    }
    const std::string conv = model_.applySummary(reply);
    watchPeers();
    select(conv);
    listFocus_ = false;
    if (const Conversation* conversation = model_.find(conv)) {
        notice((reply.value("created", false) ? "created: " : "opened: ") +
               model_.titleOf(*conversation));
    }
}

void ChatApp::select(const std::string& conv) {
    if (conv == selected_ || conv.empty()) {
        return;
    }
    sendTyping(typing_.stop());
    selected_ = conv;
    scrollOffset_ = 0;
    maxScroll_ = 0;
    model_.track(conv);
    const Conversation* conversation = model_.find(conv);
    if (conversation != nullptr && !conversation->historyLoaded) {
        loadNewest(conv);
    }
    dirty_ = true;
}

void ChatApp::selectRelative(int step) {
    const auto conversations = model_.ordered();
    if (conversations.empty()) {
        return;
    }
    int index = 0;
    for (size_t i = 0; i < conversations.size(); ++i) {
        if (conversations[i]->id == selected_) {
            index = static_cast<int>(i) + step;
        }
    }
    index = std::clamp(index, 0, static_cast<int>(conversations.size()) - 1);
    select(conversations[static_cast<size_t>(index)]->id);
}

void ChatApp::scrollBy(int lines) {
    scrollOffset_ = std::clamp(scrollOffset_ + lines, 0, maxScroll_);
    if (lines > 0 && scrollOffset_ >= maxScroll_) {
        loadOlder();  // at the top of what is loaded
    }
}

void ChatApp::edited() {
    const bool composing = !composer_.empty() && composer_.text().front() != L'/';
    sendTyping(typing_.edited(selected_, composing, Clock::now()));
}

void ChatApp::sendTyping(const std::vector<TypingNotifier::Signal>& signals) {
    // A hint, and rate-limited by the server: a refusal is not worth telling the user.
    for (const auto& signal : signals) {
        tell({{"op", "typing"}, {"conv", signal.conv}, {"state", signal.state}});
    }
}

void ChatApp::notice(std::string text, bool error) {
    notice_ = std::move(text);
    noticeIsError_ = error;
    noticeUntil_ = Clock::now() + (error ? 15s : 5s);
    dirty_ = true;
}

void ChatApp::tick() {
    const auto now = Clock::now();
    if (model_.expireTyping(now)) {
        dirty_ = true;
    }
    sendTyping(typing_.tick(now));
    if (!notice_.empty() && now >= noticeUntil_) {
        notice_.clear();
        dirty_ = true;
    }
    // The server makes an idle user "away" (presence.away_after): someone at the keyboard is not.
    if (connected_ && lastKey_ > lastPing_ && now - lastPing_ >= kPingEvery) {
        lastPing_ = now;
        tell({{"op", "ping"}});
    }
}

void ChatApp::render() {
    ChatScreen::Frame frame;
    frame.selected = selected_;
    frame.listFocus = listFocus_;
    frame.composer = &composer_;
    frame.scrollOffset = scrollOffset_;
    frame.loadingOlder = loadingOlder_.count(selected_) > 0;
    frame.connected = connected_;
    frame.notice = notice_;
    frame.noticeIsError = noticeIsError_;
    frame.help = help_ ? &kHelp : nullptr;
    frame.now = Clock::now();
    const auto drawn = screen_->draw(model_, frame);
    scrollOffset_ = drawn.scrollOffset;
    maxScroll_ = drawn.maxScroll;
    pageLines_ = drawn.pageLines;
    dirty_ = false;
    if (frame.help == nullptr) {
        markRead(drawn.lastVisibleSeq);
    }
}

}  // namespace parley::client::ui
