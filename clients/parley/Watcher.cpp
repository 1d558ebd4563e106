#include "Watcher.h"

namespace parley::client {

Watcher::Watcher(Session& session, std::ostream& out, Options options)
    : session_(session), out_(out), options_(std::move(options)) {}

void Watcher::attach() {
    session_.onEvent([this](const Event& event) { onEvent(event); });
    session_.onConnection([this](bool connected, bool reconnect) {
        if (connected && reconnect) {
            std::lock_guard lock(mutex_);
            reconnected_ = true;  // caught up from run(): the handler must not wait for replies
            changed_.notify_all();
        }
    });
}

void Watcher::print(const nlohmann::json& line) {
    // Under mutex_.
    out_ << line.dump() << '\n';
    out_.flush();
    ++printed_;
    changed_.notify_all();
}

bool Watcher::printMessage(const std::string& conv, nlohmann::json message) {
    std::lock_guard lock(mutex_);
    const long long seq = message.value("seq", 0LL);
    if (!printedSeqs_[conv].insert(seq).second) {
        return false;
    }
    lastSeq_[conv] = std::max(lastSeq_[conv], seq);
    if (options_.count && printed_ >= *options_.count) {
        return false;
    }
    print(message);
    return true;
}

void Watcher::onEvent(const Event& event) {
    if (!options_.conv.empty() && event.conv != options_.conv && !event.presence) {
        return;
    }
    if (event.body.value("ev", "") == "msg" && !event.conv.empty()) {
        printMessage(event.conv, event.body);
        return;
    }
    std::lock_guard lock(mutex_);
    if (options_.count && printed_ >= *options_.count) {
        return;
    }
    print(event.body);
}

void Watcher::catchUp() {
    // Every conversation with messages we have not printed: page through what came meanwhile.
    nlohmann::json list = session_.call({{"op", "conv.list"}, {"limit", 100}});
    if (!list.value("ok", false)) {
        return;
    }
    for (const auto& conv : list["convs"]) {
        const std::string id = conv.value("conv", "");
        if (!options_.conv.empty() && id != options_.conv) {
            continue;
        }
        long long after = 0;
        {
            std::lock_guard lock(mutex_);
            auto found = lastSeq_.find(id);
            // A conversation unknown so far is new since the watch began: all of it is news.
            after = found == lastSeq_.end() ? 0 : found->second;
        }
        while (after < conv.value("last_seq", 0LL)) {
            nlohmann::json page = session_.call(
                {{"op", "msg.history"}, {"conv", id}, {"after", after}, {"limit", 100}});
            if (!page.value("ok", false) || page["msgs"].empty()) {
                break;
            }
            for (auto message : page["msgs"]) {
                after = message.value("seq", after);
                message["ev"] = "msg";
                message["conv"] = id;
                message["replayed"] = true;
                printMessage(id, std::move(message));
            }
            if (!page.value("has_more", false)) {
                break;
            }
        }
    }
}

int Watcher::run() {
    for (const auto& uid : options_.presence) {
        session_.watchPresence(uid);
    }
    // Where each conversation stands now, so a reconnect knows what it missed.
    nlohmann::json list = session_.call({{"op", "conv.list"}, {"limit", 100}});
    if (list.value("ok", false)) {
        std::lock_guard lock(mutex_);
        for (const auto& conv : list["convs"]) {
            auto& last = lastSeq_[conv.value("conv", "")];
            last = std::max(last, conv.value("last_seq", 0LL));
        }
    }
    const auto deadline = options_.duration ? std::chrono::steady_clock::now() + *options_.duration
                                            : std::chrono::steady_clock::time_point::max();
    std::unique_lock lock(mutex_);
    while (true) {
        if (stopping_ || (options_.interrupted != nullptr && *options_.interrupted) ||
            (options_.count && printed_ >= *options_.count) ||
            std::chrono::steady_clock::now() >= deadline) {
            return 0;
        }
        if (reconnected_) {
            reconnected_ = false;
            lock.unlock();
            try {
                catchUp();
            } catch (const SessionError&) {
                // Lost again: the next reconnect catches up.
            }
            lock.lock();
            continue;
        }
        changed_.wait_until(lock, std::min(deadline, std::chrono::steady_clock::now() +
                                                         std::chrono::milliseconds(200)));
    }
}

void Watcher::stop() {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    changed_.notify_all();
}

}  // namespace parley::client
