#include "ChatLoad.h"

#include <mqtt/async_client.h>

#include <algorithm>
#include <sstream>
#include <stdexcept>

namespace parley::testing {

namespace {

constexpr size_t kMaxProblems = 40;  // enough to see the pattern, not a flood
constexpr int kHistoryPage = 100;
constexpr auto kAskTimeout = std::chrono::seconds(30);

std::string codeOfReply(const nlohmann::json& reply) {
    if (reply.value("ok", false)) {
        return "ok";
    }
    const auto error = reply.find("error");
    if (error == reply.end() || !error->is_object()) {
        return "?";
    }
    return error->value("code", "?");
}

}  // namespace

std::string ChatLoadVerdict::summary() const {
    std::ostringstream text;
    text << conversations << " conversations, " << acknowledged << " messages acknowledged, "
         << stored << " stored; deliveries: " << deliveredLive << " live + " << caughtUp
         << " caught up through msg.history of " << deliveriesExpected
         << "; answers: " << duplicateAnswers << " dup, " << unavailableAnswers << " unavailable, "
         << disconnectedAnswers << " given up at a reconnect (resent); " << readsAcknowledged
         << " msg.read; database " << (databaseChecked ? "checked" : "not checked");
    if (!problems.empty()) {
        text << "\n" << problems.size() << " problem(s):";
        for (const auto& problem : problems) {
            text << "\n  - " << problem;
        }
    }
    return text.str();
}

ChatLoad::ChatLoad(ChatLoadOptions options) : options_(std::move(options)) {
    if (options_.users.size() < 2) {
        throw std::invalid_argument("ChatLoad: needs at least two users");
    }
    for (const auto& login : options_.users) {
        auto user = std::make_unique<User>();
        user->login = login;
        users_.push_back(std::move(user));
    }
}

ChatLoad::~ChatLoad() {
    stopping_ = true;
    abandon_ = true;
    wake_.notify_all();
    for (auto& user : users_) {
        if (user->sender.joinable()) {
            user->sender.join();
        }
    }
    for (auto& user : users_) {
        if (user->session) {
            user->session->close();
        }
    }
}

void ChatLoad::connect() {
    for (size_t index = 0; index < users_.size(); ++index) {
        User& user = *users_[index];
        client::ConnectionOptions connection;
        connection.uri = user.login.uri.empty() ? options_.uri : user.login.uri;
        connection.user = user.login.uid;
        connection.password = user.login.password;
        connection.announcePresence = false;
        connection.resendAfter = options_.resendAfter;
        user.session = std::make_unique<client::Session>(connection);
        user.session->onEvent([this, &user](const client::Event& event) {
            if (event.conv.empty() || event.body.value("ev", "") != "msg") {
                return;
            }
            const auto seq = event.body.value("seq", int64_t{0});
            std::lock_guard lock(mutex_);
            user.live[event.conv][seq] = event.body.value("cmid", "");
        });
        user.session->connect();
    }

    auto ask = [](User& user, const nlohmann::json& command) {
        for (int attempt = 1;; ++attempt) {
            auto reply = user.session->call(command, kAskTimeout);
            const std::string code = codeOfReply(reply);
            if (code == "ok") {
                return reply;
            }
            if (attempt == 10 || (code != "unavailable" && code != "rate_limited")) {
                throw std::runtime_error("ChatLoad: " + command.dump() + " answered " +
                                         reply.dump());
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(500));
        }
    };
    auto addConversation = [this](const std::string& conv, std::vector<size_t> members) {
        for (size_t member : members) {
            users_[member]->conversations.push_back(conv);
        }
        members_[conv] = std::move(members);
    };

    const size_t count = users_.size();
    for (int direct = 0; direct < options_.directConversations; ++direct) {
        const size_t first = static_cast<size_t>(direct) % count;
        const size_t second = (first + 1 + static_cast<size_t>(direct) / count) % count;
        if (first == second) {
            throw std::invalid_argument("ChatLoad: more 1:1 conversations than pairs of users");
        }
        auto reply =
            ask(*users_[first], {{"op", "conv.open"}, {"peer", users_[second]->login.uid}});
        if (!reply.value("created", false)) {
            throw std::invalid_argument("ChatLoad: two 1:1 conversations for one pair");
        }
        addConversation(reply.at("conv").get<std::string>(), {first, second});
    }
    const size_t groupSize = std::min(static_cast<size_t>(options_.groupSize), count);
    for (int group = 0; group < options_.groups; ++group) {
        std::vector<size_t> members;
        nlohmann::json uids = nlohmann::json::array();
        for (size_t i = 0; i < groupSize; ++i) {
            members.push_back((static_cast<size_t>(group) * groupSize + i) % count);
            uids.push_back(users_[members.back()]->login.uid);
        }
        auto reply = ask(
            *users_[members.front()],
            {{"op", "conv.create"}, {"members", uids}, {"title", "load " + std::to_string(group)}});
        addConversation(reply.at("conv").get<std::string>(), std::move(members));
    }
}

void ChatLoad::start() {
    for (size_t index = 0; index < users_.size(); ++index) {
        if (!users_[index]->conversations.empty()) {
            std::lock_guard lock(mutex_);
            ++runningSenders_;
            users_[index]->sender = std::thread([this, index] { sendLoop(index); });
        }
    }
}

std::optional<nlohmann::json> ChatLoad::untilAnswered(User& user, const nlohmann::json& command) {
    while (!abandon_) {
        auto future = user.session->send(command);  // a fresh request id each time
        std::optional<nlohmann::json> reply;
        while (!abandon_) {
            if (future.wait_for(std::chrono::milliseconds(100)) == std::future_status::ready) {
                reply = future.get();
                break;
            }
        }
        if (!reply) {
            break;
        }
        const std::string code = codeOfReply(*reply);
        if (code == "unavailable" || code == "rate_limited") {
            const auto wait = std::chrono::milliseconds(std::clamp<int64_t>(
                (*reply)["error"].value("retry_after_ms", int64_t{200}), 10, 2000));
            std::unique_lock lock(mutex_);
            if (code == "unavailable") {
                ++unavailableAnswers_;
            }
            wake_.wait_for(lock, wait, [this] { return abandon_.load(); });
            continue;
        }
        if (code == "disconnected") {
            std::lock_guard lock(mutex_);
            ++disconnectedAnswers_;
            continue;
        }
        return reply;
    }
    return std::nullopt;
}

void ChatLoad::sendLoop(size_t index) {
    struct Done {
        ChatLoad& load;
        ~Done() {
            {
                std::lock_guard lock(load.mutex_);
                --load.runningSenders_;
            }
            load.progress_.notify_all();
        }
    } done{*this};
    User& user = *users_[index];
    using Clock = std::chrono::steady_clock;
    const auto interval = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
        static_cast<double>(users_.size()) / std::max(options_.messagesPerSecond, 0.001)));
    // Users start spread over one interval, not all at once.
    Clock::time_point next = Clock::now() + interval * index / users_.size();
    size_t acknowledgedHere = 0;
    for (size_t turn = 0; !stopping_; ++turn) {
        {
            std::unique_lock lock(mutex_);
            wake_.wait_until(lock, next, [this] { return stopping_.load(); });
        }
        if (stopping_) {
            break;
        }
        next = std::max(next + interval, Clock::now() - interval);
        if (options_.maxMessages > 0 && sent_.fetch_add(1) >= options_.maxMessages) {
            --sent_;
            break;
        }
        if (options_.maxMessages == 0) {
            ++sent_;
        }
        const std::string& conv = user.conversations[turn % user.conversations.size()];
        const std::string cmid = user.session->newCmid();
        user.inFlight = true;
        auto reply = untilAnswered(user, {{"op", "msg.send"},
                                          {"conv", conv},
                                          {"cmid", cmid},
                                          {"body", "load " + std::to_string(turn)}});
        user.inFlight = false;
        if (!reply) {
            ++unanswered_;
            break;
        }
        {
            std::lock_guard lock(mutex_);
            if (codeOfReply(*reply) != "ok") {
                if (problems_.size() < kMaxProblems) {
                    problems_.push_back(user.login.uid + ": msg.send " + cmid + " answered " +
                                        reply->dump());
                }
                continue;
            }
            const auto seq = reply->value("seq", int64_t{0});
            if (reply->value("dup", false)) {
                ++duplicateAnswers_;
            }
            auto [where, fresh] = acks_.emplace(cmid, Ack{conv, seq, user.login.uid});
            if (!fresh && (where->second.seq != seq || where->second.conv != conv) &&
                problems_.size() < kMaxProblems) {
                problems_.push_back("cmid " + cmid + " acknowledged as seq " +
                                    std::to_string(where->second.seq) + " and as seq " +
                                    std::to_string(seq));
            }
            if (reply->value("conv", "") != conv && problems_.size() < kMaxProblems) {
                problems_.push_back("cmid " + cmid +
                                    " acknowledged in another conversation: " + reply->dump());
            }
            int64_t& own = user.ownNewest[conv];
            own = std::max(own, seq);
        }
        progress_.notify_all();

        if (options_.readEvery > 0 && ++acknowledgedHere % options_.readEvery == 0) {
            const std::string& readConv =
                user.conversations[(acknowledgedHere / options_.readEvery) %
                                   user.conversations.size()];
            int64_t upTo = 0;
            {
                std::lock_guard lock(mutex_);
                const auto& seen = user.live[readConv];
                if (!seen.empty()) {
                    upTo = seen.rbegin()->first;
                }
            }
            if (upTo > 0) {
                auto read =
                    untilAnswered(user, {{"op", "msg.read"}, {"conv", readConv}, {"seq", upTo}});
                if (!read) {
                    ++unanswered_;
                    break;
                }
                std::lock_guard lock(mutex_);
                if (codeOfReply(*read) != "ok") {
                    if (problems_.size() < kMaxProblems) {
                        problems_.push_back(user.login.uid + ": msg.read answered " + read->dump());
                    }
                    continue;
                }
                ++readsAcknowledged_;
                int64_t& watermark = user.readAcknowledged[readConv];
                watermark = std::max(watermark, read->value("read_seq", int64_t{0}));
            }
        }
    }
}

bool ChatLoad::stop(std::chrono::milliseconds drain) {
    {
        std::unique_lock lock(mutex_);
        stopping_ = true;
        wake_.notify_all();
        // Senders finish their message in flight (resending until it is answered), then exit.
        if (!progress_.wait_for(lock, drain, [this] { return runningSenders_ == 0; })) {
            abandon_ = true;
            wake_.notify_all();
        }
    }
    for (auto& user : users_) {
        if (user->sender.joinable()) {
            user->sender.join();
        }
    }
    return !abandon_ && unanswered_ == 0;
}

size_t ChatLoad::acknowledged() const {
    std::lock_guard lock(mutex_);
    return acks_.size();
}

std::map<std::string, ChatLoad::Ack> ChatLoad::acknowledgedMessages() const {
    std::lock_guard lock(mutex_);
    return acks_;
}

bool ChatLoad::waitForAcknowledged(size_t count, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return progress_.wait_for(lock, timeout, [&] { return acks_.size() >= count; });
}

bool ChatLoad::dropConnection(size_t index, std::chrono::milliseconds timeout) {
    User& user = *users_.at(index);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!user.inFlight && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    const bool midSend = user.inFlight && user.session->unanswered() > 0;
    // A second connection with the same client id: the broker drops the first one at once,
    // without a DISCONNECT from it, as when its network goes away.
    mqtt::async_client thief(user.login.uri.empty() ? options_.uri : user.login.uri,
                             user.session->clientId(), mqtt::create_options(MQTTVERSION_5),
                             nullptr);
    mqtt::connect_options connectOptions;
    connectOptions.set_mqtt_version(MQTTVERSION_5);
    connectOptions.set_clean_start(true);
    connectOptions.set_user_name(user.login.uid);
    connectOptions.set_password(user.login.password);
    connectOptions.set_connect_timeout(10);
    if (!thief.connect(connectOptions)->wait_for(std::chrono::seconds(15))) {
        throw std::runtime_error("ChatLoad: could not take over " + user.session->clientId());
    }
    thief.disconnect()->wait_for(std::chrono::seconds(5));
    return midSend;
}

std::vector<nlohmann::json> ChatLoad::fullHistory(User& user, const std::string& conv,
                                                  int64_t after) {
    std::vector<nlohmann::json> messages;
    while (true) {
        nlohmann::json reply;
        for (int attempt = 1;; ++attempt) {
            reply = user.session->call(
                {{"op", "msg.history"}, {"conv", conv}, {"after", after}, {"limit", kHistoryPage}},
                kAskTimeout);
            const std::string code = codeOfReply(reply);
            if (code == "ok") {
                break;
            }
            if (attempt == 10 || (code != "unavailable" && code != "rate_limited")) {
                throw std::runtime_error("ChatLoad: msg.history answered " + reply.dump());
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(500));
        }
        const auto& page = reply.at("msgs");
        for (const auto& message : page) {
            messages.push_back(message);
            after = std::max(after, message.at("seq").get<int64_t>());
        }
        if (!reply.value("has_more", false) || page.empty()) {
            return messages;
        }
    }
}

ChatLoadVerdict ChatLoad::verify(store::SqlConnection* database) {
    ChatLoadVerdict verdict;
    auto problem = [&verdict](std::string text) {
        if (verdict.problems.size() < kMaxProblems) {
            verdict.problems.push_back(std::move(text));
        }
    };
    std::map<std::string, Ack> acks;
    {
        std::lock_guard lock(mutex_);
        for (const auto& text : problems_) {
            problem(text);
        }
        acks = acks_;
        verdict.duplicateAnswers = duplicateAnswers_;
        verdict.unavailableAnswers = unavailableAnswers_;
        verdict.disconnectedAnswers = disconnectedAnswers_;
        verdict.readsAcknowledged = readsAcknowledged_;
    }
    if (unanswered_ > 0) {
        problem(std::to_string(unanswered_.load()) +
                " command(s) still unanswered at the end of the drain");
    }
    verdict.acknowledged = acks.size();
    verdict.conversations = members_.size();

    std::map<std::string, size_t> ackedPerConv;
    for (const auto& [cmid, ack] : acks) {
        ++ackedPerConv[ack.conv];
    }
    std::map<std::string, int64_t> lastSeq;  // conv -> what msg.history holds
    for (const auto& [conv, members] : members_) {
        auto stored = fullHistory(*users_[members.front()], conv, 0);
        verdict.stored += stored.size();
        lastSeq[conv] = static_cast<int64_t>(stored.size());
        std::map<int64_t, std::string> cmidOfSeq;
        std::set<std::string> storedCmids;
        for (size_t i = 0; i < stored.size(); ++i) {
            const auto seq = stored[i].at("seq").get<int64_t>();
            const auto cmid = stored[i].at("cmid").get<std::string>();
            const auto sender = stored[i].at("sender").get<std::string>();
            if (seq != static_cast<int64_t>(i) + 1) {
                problem("conversation " + conv + ": position " + std::to_string(i + 1) +
                        " holds seq " + std::to_string(seq) + " (gap or repeat)");
            }
            if (!storedCmids.insert(sender + "/" + cmid).second) {
                problem("conversation " + conv + ": cmid " + cmid + " of " + sender +
                        " stored twice");
            }
            cmidOfSeq[seq] = cmid;
            auto ack = acks.find(cmid);
            if (ack == acks.end()) {
                problem("conversation " + conv + ": seq " + std::to_string(seq) + " (cmid " + cmid +
                        ") stored but never acknowledged");
            } else if (ack->second.conv != conv || ack->second.seq != seq ||
                       ack->second.sender != sender) {
                problem("cmid " + cmid + " acknowledged as " + ack->second.conv + "#" +
                        std::to_string(ack->second.seq) + " but stored as " + conv + "#" +
                        std::to_string(seq));
            }
        }
        if (ackedPerConv[conv] != stored.size()) {
            std::string missing;
            for (const auto& [cmid, ack] : acks) {
                if (ack.conv == conv && cmidOfSeq[ack.seq] != cmid) {
                    missing += " " + cmid + " (acknowledged as #" + std::to_string(ack.seq) + ")";
                }
            }
            problem("conversation " + conv + ": " + std::to_string(ackedPerConv[conv]) +
                    " acknowledged, " + std::to_string(stored.size()) +
                    " stored; not stored:" + missing);
        }

        // Every member has every message: live, or fetched now as a client catching up would.
        for (size_t member : members) {
            User& user = *users_[member];
            std::map<int64_t, std::string> live;
            {
                std::lock_guard lock(mutex_);
                live = user.live[conv];
            }
            verdict.deliveriesExpected += stored.size();
            std::optional<int64_t> firstMissing;
            for (const auto& [seq, cmid] : cmidOfSeq) {
                auto seen = live.find(seq);
                if (seen == live.end()) {
                    firstMissing = firstMissing ? std::min(*firstMissing, seq) : seq;
                    continue;
                }
                ++verdict.deliveredLive;
                if (seen->second != cmid) {
                    problem(user.login.uid + " got " + conv + "#" + std::to_string(seq) +
                            " live as cmid " + seen->second + ", stored is " + cmid);
                }
            }
            for (const auto& [seq, cmid] : live) {
                if (cmidOfSeq.count(seq) == 0) {
                    problem(user.login.uid + " got " + conv + "#" + std::to_string(seq) +
                            " live, which is not stored");
                }
            }
            if (!firstMissing) {
                continue;
            }
            std::set<int64_t> fetched;
            for (const auto& message : fullHistory(user, conv, *firstMissing - 1)) {
                fetched.insert(message.at("seq").get<int64_t>());
            }
            for (const auto& [seq, cmid] : cmidOfSeq) {
                if (live.count(seq) > 0) {
                    continue;
                }
                if (fetched.count(seq) > 0) {
                    ++verdict.caughtUp;
                } else {
                    problem(user.login.uid + " cannot get " + conv + "#" + std::to_string(seq));
                }
            }
        }
    }

    // Unread counts: what conv.list says against the watermarks the replies acknowledged.
    for (auto& userPointer : users_) {
        User& user = *userPointer;
        std::map<std::string, int64_t> expectedRead;
        {
            std::lock_guard lock(mutex_);
            for (const auto& conv : user.conversations) {
                expectedRead[conv] = std::max(user.readAcknowledged[conv], user.ownNewest[conv]);
            }
        }
        std::map<std::string, nlohmann::json> listed;
        std::optional<int64_t> unreadTotal;
        nlohmann::json command = {{"op", "conv.list"}, {"limit", 100}};
        while (true) {
            auto reply = user.session->call(command, kAskTimeout);
            if (codeOfReply(reply) != "ok") {
                problem(user.login.uid + ": conv.list answered " + reply.dump());
                break;
            }
            if (!unreadTotal) {
                unreadTotal = reply.value("unread_total", int64_t{-1});
            }
            for (const auto& summary : reply.at("convs")) {
                listed[summary.at("conv").get<std::string>()] = summary;
            }
            if (!reply.value("has_more", false)) {
                break;
            }
            command["before"] = reply.at("next_before");
        }
        int64_t expectedTotal = 0;
        for (const auto& [conv, read] : expectedRead) {
            auto found = listed.find(conv);
            if (found == listed.end()) {
                problem(user.login.uid + ": conv.list lacks " + conv);
                continue;
            }
            const auto& summary = found->second;
            const int64_t last = lastSeq[conv];
            expectedTotal += last - read;
            if (summary.value("last_seq", int64_t{-1}) != last ||
                summary.value("read_seq", int64_t{-1}) != read ||
                summary.value("unread", int64_t{-1}) != last - read) {
                problem(user.login.uid + " in " + conv + ": conv.list says last_seq " +
                        std::to_string(summary.value("last_seq", int64_t{-1})) + ", read_seq " +
                        std::to_string(summary.value("read_seq", int64_t{-1})) + ", unread " +
                        std::to_string(summary.value("unread", int64_t{-1})) +
                        "; expected last_seq " + std::to_string(last) + ", read_seq " +
                        std::to_string(read) + ", unread " + std::to_string(last - read));
            }
        }
        if (unreadTotal && *unreadTotal != expectedTotal) {
            problem(user.login.uid + ": unread_total " + std::to_string(*unreadTotal) +
                    ", expected " + std::to_string(expectedTotal));
        }
    }

    if (database != nullptr) {
        checkDatabase(*database, verdict);
    }
    return verdict;
}

void ChatLoad::checkDatabase(store::SqlConnection& database, ChatLoadVerdict& verdict) {
    auto problem = [&verdict](std::string text) {
        if (verdict.problems.size() < kMaxProblems) {
            verdict.problems.push_back(std::move(text));
        }
    };
    database.beginRead();
    std::map<std::string, int64_t> lastSeq;
    for (const auto& row : database.query("SELECT id, last_seq FROM conversations", {})) {
        lastSeq[row.text(0)] = row.integer(1);
    }
    for (const auto& row : database.query(
             "SELECT conv, COUNT(*), COUNT(DISTINCT seq), MIN(seq), MAX(seq) FROM messages "
             "GROUP BY conv",
             {})) {
        const std::string conv = row.text(0);
        const int64_t count = row.integer(1);
        if (row.integer(2) != count || row.integer(3) != 1 || row.integer(4) != count ||
            lastSeq[conv] != count) {
            problem("database: conversation " + conv + " has " + std::to_string(count) + " rows, " +
                    std::to_string(row.integer(2)) + " distinct seqs from " +
                    std::to_string(row.integer(3)) + " to " + std::to_string(row.integer(4)) +
                    ", last_seq " + std::to_string(lastSeq[conv]));
        }
    }
    for (const auto& row : database.query("SELECT sender, cmid, COUNT(*) FROM messages GROUP BY "
                                          "sender, cmid HAVING COUNT(*) > 1",
                                          {})) {
        problem("database: cmid " + row.text(1) + " of " + row.text(0) + " stored " +
                std::to_string(row.integer(2)) + " times");
    }
    std::map<std::pair<std::string, std::string>, int64_t> readSeq;
    for (const auto& row : database.query("SELECT conv, uid, read_seq FROM members", {})) {
        readSeq[{row.text(0), row.text(1)}] = row.integer(2);
    }
    database.commit();
    std::lock_guard lock(mutex_);
    for (const auto& user : users_) {
        for (const auto& conv : user->conversations) {
            const int64_t expected =
                std::max(user->readAcknowledged.count(conv) ? user->readAcknowledged.at(conv) : 0,
                         user->ownNewest.count(conv) ? user->ownNewest.at(conv) : 0);
            const auto found = readSeq.find({conv, user->login.uid});
            if (found == readSeq.end() || found->second != expected) {
                problem("database: " + user->login.uid + " in " + conv + " has read_seq " +
                        (found == readSeq.end() ? "none" : std::to_string(found->second)) +
                        ", expected " + std::to_string(expected));
            }
        }
    }
    verdict.databaseChecked = true;
}

}  // namespace parley::testing
