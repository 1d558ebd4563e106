#include "PollLoadRun.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <stdexcept>

#include "ProcessStats.h"
#include "parley/wire/TopicScheme.h"

namespace parley::bench {

namespace {

using Clock = std::chrono::steady_clock;

// Replies and events are compact JSON with their keys in order (nlohmann's dump, and the
// Socket.IO stack is not read here); the bench's bodies hold only 'x'. A field is found by its
// first `"name":`, which is enough for the handful the generator reads and far cheaper than a
// parse of every payload (the generator must not be what the benchmark measures).
std::string_view stringField(std::string_view json, std::string_view key) {
    const auto at = json.find(key);
    if (at == std::string_view::npos || at + key.size() >= json.size() ||
        json[at + key.size()] != '"') {
        return {};
    }
    const size_t begin = at + key.size() + 1;
    const auto end = json.find('"', begin);
    return end == std::string_view::npos ? std::string_view() : json.substr(begin, end - begin);
}

long long numberField(std::string_view json, std::string_view key, long long otherwise = -1) {
    const auto at = json.find(key);
    if (at == std::string_view::npos) {
        return otherwise;
    }
    long long value = otherwise;
    const char* begin = json.data() + at + key.size();
    std::from_chars(begin, json.data() + json.size(), value);
    return value;
}

}  // namespace

long raiseDescriptorLimit() {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) {
        return -1;
    }
    if (limit.rlim_cur < limit.rlim_max) {
        rlimit raised = limit;
        raised.rlim_cur = limit.rlim_max;
        if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) {
            limit = raised;
        }
    }
    return limit.rlim_cur == RLIM_INFINITY ? -1 : static_cast<long>(limit.rlim_cur);
}

PollLoadRun::PollLoadRun(LoadOptions options) : options_(std::move(options)) {
    if (options_.users < 2 || options_.groupSize < 2 || options_.users < options_.groupSize) {
        throw std::invalid_argument("need at least 2 users and users >= group size");
    }
    raiseDescriptorLimit();
    body_.assign(options_.bodyBytes, 'x');
    runTag_ = "-" +
              std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count()) +
              "-";
}

PollLoadRun::~PollLoadRun() {
    for (auto& user : users_) {
        if (user->connection) {
            user->connection->disconnect();
        }
    }
}

int64_t PollLoadRun::nanosNow() const {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start_).count();
}

bool PollLoadRun::sendingActive(Clock::time_point now) const {
    if (!sending_) {
        return false;
    }
    if (options_.count > 0) {
        return sent_ < options_.count;
    }
    return now < sendDeadline_;
}

std::string PollLoadRun::setupCall(size_t user, const std::string& op,
                                   const std::string& arguments) {
    const std::string id = "s" + std::to_string(user) + "-" + op;
    const std::string command = R"({"op":")" + op + R"(","id":")" + id + "\"" +
                                (arguments.empty() ? "" : ",") + arguments + "}";
    users_[user]->connection->publish(users_[user]->commandTopic, command);
    if (!runUntil([&] { return setupReplies_.count(id) > 0; }, std::chrono::seconds(20))) {
        throw std::runtime_error("no reply to " + command + " within 20 s");
    }
    std::string reply = std::move(setupReplies_[id]);
    setupReplies_.erase(id);
    if (reply.find(R"("ok":true)") == std::string::npos) {
        throw std::runtime_error("setup refused: " + command + " -> " + reply);
    }
    return reply;
}

void PollLoadRun::setUp() {
    const TopicScheme topics(options_.prefix);
    const size_t count = static_cast<size_t>(options_.users);
    for (size_t i = 0; i < count; ++i) {
        auto user = std::make_unique<User>();
        user->index = i;
        char number[24];
        std::snprintf(number, sizeof(number), "%04zu", i + 1);
        user->uid = options_.userPrefix + number;
        user->commandTopic = topics.commandTopic(user->uid);
        user->inboxPrefix = topics.inboxPrefix(user->uid);
        user->connection = std::make_unique<MosquittoConnection>(
            options_.uriOf(user->uid), options_.tls, user->uid + "-bench", user->uid,
            options_.password,
            // The broker's receive maximum (Parley's broker settings: 1000).
            std::max(100, options_.window * 2),
            [this, i](MosquittoConnection&, std::string_view topic, std::string_view payload) {
                onMessage(i, topic, payload);
            },
            // One descriptor per user instead of three (MosquittoConnection.cpp): 10,000 users
            // fit in a process. The generator has no other thread.
            options_.bare ? MosquittoConnection::WakeupPair::kept
                          : MosquittoConnection::WakeupPair::without);
        if (options_.bare) {
            connections_.push_back(user->connection.get());
        }
        users_.push_back(std::move(user));
    }
    // In steps of 200: thousands of connects at once overflow the broker's listen backlog
    // (ECONNREFUSED).
    constexpr size_t kConnectStep = 200;
    for (size_t first = 0; first < count; first += kConnectStep) {
        const size_t end = std::min(count, first + kConnectStep);
        for (size_t i = first; i < end; ++i) {
            users_[i]->connection->startConnect();
            if (!options_.bare) {
                loop_.add(*users_[i]->connection);
            }
        }
        if (!runUntil(
                [&] {
                    return std::all_of(users_.begin() + static_cast<std::ptrdiff_t>(first),
                                       users_.begin() + static_cast<std::ptrdiff_t>(end),
                                       [](const auto& u) { return u->connection->connected(); });
                },
                std::chrono::seconds(30))) {
            throw std::runtime_error("the bench users did not all connect within 30 s");
        }
    }
    for (auto& user : users_) {
        user->connection->subscribe(topics.inboxSubscription(user->uid), 1);
    }
    if (!runUntil(
            [&] {
                return std::all_of(users_.begin(), users_.end(),
                                   [](const auto& u) { return u->connection->subscribed() > 0; });
            },
            std::chrono::seconds(30))) {
        throw std::runtime_error("the bench users' subscriptions were not all acknowledged");
    }
    if (!options_.emailDomain.empty()) {
        for (size_t i = 0; i < count; ++i) {
            setupCall(0, "admin.user.set",
                      R"("user":")" + users_[i]->uid + R"(","email":")" + users_[i]->uid + "@" +
                          options_.emailDomain + "\"");
        }
    }
    if (options_.recipientsAway) {
        // Chosen away stays away while they send (docs/protocol.md, presence), so every member
        // has unread messages while away: what makes the notify plugin build digests.
        for (size_t i = 0; i < count; ++i) {
            setupCall(i, "presence", R"("state":"away")");
        }
    }
    const size_t size = static_cast<size_t>(options_.groupSize);
    for (size_t first = 0; first + size <= count; first += size) {
        Conversation conversation;
        std::string reply;
        if (size == 2) {
            reply = setupCall(first, "conv.open", R"("peer":")" + users_[first + 1]->uid + "\"");
        } else {
            std::string members;
            for (size_t m = first + 1; m < first + size; ++m) {
                members += (members.empty() ? "\"" : ",\"") + users_[m]->uid + "\"";
            }
            reply =
                setupCall(first, "conv.create", R"("title":"bench","members":[)" + members + "]");
        }
        conversation.id = nlohmann::json::parse(reply).at("conv").get<std::string>();
        for (size_t m = first; m < first + size; ++m) {
            conversation.members.push_back(m);
            users_[m]->conversation = conversations_.size();
        }
        conversations_.push_back(std::move(conversation));
    }
    // Users past the last full group do not send (they stay connected, idle).
    if (options_.progress) {
        std::cerr << "  " << conversations_.size() * size << " users connected (libmosquitto, one "
                  << (options_.bare ? "poll()" : "epoll") << " loop), " << conversations_.size()
                  << " conversations\n";
    }
}

void PollLoadRun::send(size_t index, int64_t dueNs) {
    User& user = *users_[index];
    const Conversation& conversation = conversations_[user.conversation];
    const size_t number = user.dueNs.size();
    user.dueNs.push_back(dueNs);
    thread_local std::string payload;
    payload.clear();
    payload += R"({"op":"msg.send","id":"m)";
    payload += std::to_string(number);
    payload += R"(","conv":")";
    payload += conversation.id;
    payload += R"(","cmid":")";
    payload += user.uid;
    payload += runTag_;  // cmids are unique per sender forever: a later run must not repeat one
    payload += std::to_string(number);
    payload += R"(","body":")";
    payload += body_;
    payload += R"(","meta":{"t":)";
    payload += std::to_string(dueNs);
    payload += "}}";
    ++user.outstanding;
    ++sent_;
    user.connection->publish(user.commandTopic, payload);
}

void PollLoadRun::onMessage(size_t index, std::string_view topic, std::string_view payload) {
    User& user = *users_[index];
    if (topic.size() <= user.inboxPrefix.size()) {
        return;
    }
    const std::string_view suffix = topic.substr(user.inboxPrefix.size());
    const int64_t arrivedNs = sending_ || replies_ > 0 ? nanosNow() : 0;
    if (suffix == "resp") {
        onReply(user, payload, arrivedNs);
    } else if (suffix.substr(0, 2) == "c/") {
        onEvent(user, suffix.substr(2), payload, arrivedNs);
    }
}

void PollLoadRun::onReply(User& user, std::string_view payload, int64_t arrivedNs) {
    const std::string_view id = stringField(payload, R"("id":)");
    if (id.empty()) {
        return;
    }
    if (id[0] == 's') {
        setupReplies_[std::string(id)] = std::string(payload);
        return;
    }
    if (id[0] != 'm') {
        return;
    }
    ++replies_;
    --user.outstanding;
    lastReplyNs_ = arrivedNs;
    if (!user.inFreed) {
        user.inFreed = true;
        freed_.push_back(user.index);
    }
    if (!options_.bare) {
        size_t number = 0;
        std::from_chars(id.data() + 1, id.data() + id.size(), number);
        if (number < user.dueNs.size()) {
            const int64_t micros = (arrivedNs - user.dueNs[number]) / 1000;
            replyMicros_.push_back(static_cast<uint32_t>(std::max<int64_t>(0, micros)));
            if (!options_.timelinePath.empty()) {
                replyTimeline_.emplace_back(user.dueNs[number] / 1000,
                                            static_cast<uint32_t>(std::max<int64_t>(0, micros)));
            }
        }
        if (payload.find(R"("ok":true)") != std::string_view::npos) {
            const long long seq = numberField(payload, R"("seq":)");
            if (seq > 0) {
                auto& bySeq = conversations_[user.conversation].repliesBySeq;
                if (bySeq.size() <= static_cast<size_t>(seq)) {
                    bySeq.resize(static_cast<size_t>(seq) + 1024, 0);
                }
                ++bySeq[static_cast<size_t>(seq)];
            }
            ++stored_;
        } else {
            const auto error = payload.find(R"("error":)");
            ++refused_[std::string(stringField(
                error == std::string_view::npos ? payload : payload.substr(error), R"("code":)"))];
        }
    } else {
        ++stored_;
    }
}

void PollLoadRun::onEvent(User& user, std::string_view conv, std::string_view payload,
                          int64_t arrivedNs) {
    Conversation& conversation = conversations_[user.conversation];
    if (conv != conversation.id) {
        return;
    }
    if (options_.bare) {
        ++deliveredAll_;
        ++deliveredOthers_;  // the bare loop does not tell the sender's copy apart
        lastDeliveryNs_ = arrivedNs;
        return;
    }
    if (stringField(payload, R"("ev":)") != "msg") {
        return;
    }
    const long long seq = numberField(payload, R"("seq":)");
    if (seq <= 0) {
        return;
    }
    if (user.receivedBySeq.size() <= static_cast<size_t>(seq)) {
        user.receivedBySeq.resize(static_cast<size_t>(seq) + 1024, 0);
    }
    ++user.receivedBySeq[static_cast<size_t>(seq)];
    ++deliveredAll_;
    if (stringField(payload, R"("sender":)") == user.uid) {
        return;  // the sender's own copy: counted, but the latency that matters is the others'
    }
    ++deliveredOthers_;
    lastDeliveryNs_ = arrivedNs;
    const auto meta = payload.find(R"("meta":)");
    if (meta != std::string_view::npos) {
        const long long dueNs = numberField(payload.substr(meta), R"("t":)");
        if (dueNs >= 0) {
            deliveryMicros_.push_back(
                static_cast<uint32_t>(std::max<int64_t>(0, (arrivedNs - dueNs) / 1000)));
        }
    }
}

void PollLoadRun::pass(std::chrono::microseconds timeout) {
    if (options_.bare) {
        MosquittoConnection::pollOnce(connections_, timeout);
    } else {
        loop_.runOnce(timeout);
    }
}

bool PollLoadRun::runUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
    return options_.bare ? MosquittoConnection::runUntil(connections_, done, timeout)
                         : loop_.runUntil(done, timeout);
}

void PollLoadRun::releaseHeldBack(size_t index) {
    User& user = *users_[index];
    while (!user.heldBack.empty() && user.outstanding < options_.maxUnansweredPerUser) {
        send(index, user.heldBack.front());
        user.heldBack.pop_front();
        --heldBackTotal_;
    }
}

ProcessSample PollLoadRun::sampleBrokers() const {
    ProcessSample all = sampleProcess(options_.brokerPid);
    for (const pid_t pid : options_.moreBrokerPids) {
        const ProcessSample shard = sampleProcess(pid);
        all.valid = all.valid && shard.valid;
        all.cpuSeconds += shard.cpuSeconds;
    }
    return all;
}

LoadReport PollLoadRun::run() {
    setUp();
    const size_t senders = conversations_.size() * static_cast<size_t>(options_.groupSize);
    const ProcessSample serverBefore = sampleProcess(options_.serverPid);
    const ProcessSample databaseBefore = sampleProcess(options_.databasePid);
    const ProcessSample brokerBefore = sampleBrokers();
    long serverRssMax = serverBefore.rssKiB;
    const MachineSample machineBefore = sampleMachine();
    const RunQueueSample runQueueBefore = sampleRunQueue();
    const RunQueueSample serverRunQueueBefore =
        options_.serverPid > 0 ? sampleRunQueue(options_.serverPid) : RunQueueSample{};
    const double benchCpuBefore = sampleProcess(getpid()).cpuSeconds;

    start_ = Clock::now();
    sendDeadline_ =
        start_ + std::chrono::milliseconds(static_cast<long long>(options_.seconds * 1000));
    sending_ = true;
    const bool paced = options_.rate > 0;
    const auto interval =
        std::chrono::nanoseconds(paced ? static_cast<long long>(1e9 / options_.rate) : 0LL);
    auto nextDue = start_;
    std::mt19937 random(20261122);  // the same draws in every run
    std::uniform_int_distribution<size_t> anyUser(0, senders - 1);
    size_t inTurn = 0;
    if (!paced) {
        for (int round = 0; round < options_.window; ++round) {
            for (size_t user = 0; user < senders; ++user) {
                send(user, nanosNow());
            }
        }
    }
    // Flood: a reply frees its sender's slot. Refill after each pass rather than inside the
    // callback, so the refills of one pass go out together; only the senders a reply freed are
    // visited, in user order.
    const auto refill = [&](Clock::time_point now) {
        if (!sendingActive(now)) {
            return;  // the drain releases what is still held back
        }
        const int64_t nowNs =
            std::chrono::duration_cast<std::chrono::nanoseconds>(now - start_).count();
        std::sort(freed_.begin(), freed_.end());
        size_t visited = 0;
        for (; visited < freed_.size() && sendingActive(now); ++visited) {
            const size_t user = freed_[visited];
            User& u = *users_[user];
            u.inFreed = false;
            if (paced) {
                releaseHeldBack(user);
            } else {
                while (u.outstanding < options_.window && sendingActive(now)) {
                    send(user, nowNs);
                }
            }
        }
        freed_.erase(freed_.begin(), freed_.begin() + static_cast<std::ptrdiff_t>(visited));
    };
    auto lastTick = start_;
    auto lastProgress = start_;
    const auto progress = [&](Clock::time_point now) {
        if (!options_.progress) {
            return;
        }
        char line[200];
        std::snprintf(
            line, sizeof(line),
            "\r  %5.1f s  sent %lld  stored %lld  delivered %lld  awaiting replies %lld   ",
            std::chrono::duration<double>(now - start_).count(), sent_, stored_, deliveredOthers_,
            sent_ - replies_);
        std::cerr << line << std::flush;
    };
    const auto tick = [&](Clock::time_point now) {
        if (now - lastTick >= std::chrono::seconds(1)) {
            lastTick = now;
            if (options_.bare) {
                for (MosquittoConnection* connection : connections_) {
                    connection->misc();
                    if (connection->failed()) {
                        throw std::runtime_error("a bench user's " + connection->failure());
                    }
                }
            } else {
                loop_.misc();  // throws a bench user's failure
            }
            serverRssMax = std::max(serverRssMax, sampleProcess(options_.serverPid).rssKiB);
            progress(now);
            lastProgress = now;
        }
    };
    while (true) {
        auto now = Clock::now();
        if (!sendingActive(now)) {
            break;
        }
        if (paced) {
            while (nextDue <= now && sendingActive(now)) {
                const size_t user = options_.sendersInTurns ? inTurn++ % senders : anyUser(random);
                const int64_t dueNs =
                    std::chrono::duration_cast<std::chrono::nanoseconds>(nextDue - start_).count();
                User& u = *users_[user];
                if (u.outstanding >= options_.maxUnansweredPerUser || !u.heldBack.empty()) {
                    u.heldBack.push_back(dueNs);  // as a real client would: it waits, still owed
                    ++heldBackTotal_;
                } else {
                    send(user, dueNs);
                }
                nextDue += interval;
            }
        }
        const auto wait = paced
                              ? std::chrono::duration_cast<std::chrono::microseconds>(nextDue - now)
                              : std::chrono::microseconds(10000);
        pass(std::min(wait, std::chrono::microseconds(10000)));
        now = Clock::now();
        refill(now);
        tick(now);
    }
    sending_ = false;
    const MachineSample machineAfterSending = sampleMachine();
    const RunQueueSample runQueueAfterSending = sampleRunQueue();
    const RunQueueSample serverRunQueueAfterSending =
        options_.serverPid > 0 ? sampleRunQueue(options_.serverPid) : RunQueueSample{};
    const double sendingSeconds = std::chrono::duration<double>(Clock::now() - start_).count();

    // Drain: every reply, every member's copy; paced messages still held back go out as slots
    // free (they were due before the end).
    const auto drainDeadline =
        Clock::now() +
        std::chrono::milliseconds(static_cast<long long>(options_.drainSeconds * 1000));
    while (Clock::now() < drainDeadline) {
        std::sort(freed_.begin(), freed_.end());
        for (const size_t user : freed_) {
            users_[user]->inFreed = false;
            releaseHeldBack(user);
        }
        freed_.clear();
        const long long expected = stored_ * options_.groupSize;
        if (heldBackTotal_ == 0 && replies_ >= sent_ && deliveredAll_ >= expected) {
            break;
        }
        pass(std::chrono::milliseconds(10));
        tick(Clock::now());
    }
    progress(Clock::now());
    if (options_.progress) {
        std::cerr << '\n';
    }
    const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
    const double benchCpu = sampleProcess(getpid()).cpuSeconds - benchCpuBefore;
    const ProcessSample serverAfter = sampleProcess(options_.serverPid);
    const ProcessSample databaseAfter = sampleProcess(options_.databasePid);
    const ProcessSample brokerAfter = sampleBrokers();

    LoadReport report = collect(sendingSeconds);
    for (size_t user = 0; user < senders; ++user) {
        report.heldBack += static_cast<long long>(users_[user]->heldBack.size());
    }
    if (serverBefore.valid && serverAfter.valid) {
        const double cpu = serverAfter.cpuSeconds - serverBefore.cpuSeconds;
        report.serverCpuPercent = 100.0 * cpu / elapsed;
        report.serverRssMaxKiB = std::max(serverRssMax, serverAfter.rssKiB);
        if (report.stored > 0) {
            report.serverCpuMicrosPerMessage = 1e6 * cpu / static_cast<double>(report.stored);
        }
    }
    if (databaseBefore.valid && databaseAfter.valid) {
        report.databaseCpuPercent =
            100.0 * (databaseAfter.cpuSeconds - databaseBefore.cpuSeconds) / elapsed;
    }
    if (brokerBefore.valid && brokerAfter.valid) {
        const double brokerCpu = brokerAfter.cpuSeconds - brokerBefore.cpuSeconds;
        report.brokerCpuPercent = 100.0 * brokerCpu / elapsed;
        report.brokers = 1 + static_cast<int>(options_.moreBrokerPids.size());
        if (report.stored > 0) {
            report.brokerCpuMicrosPerMessage = 1e6 * brokerCpu / static_cast<double>(report.stored);
        }
    }
    report.benchCpuPercent = 100.0 * benchCpu / elapsed;
    if (report.stored > 0) {
        report.benchCpuMicrosPerMessage = 1e6 * benchCpu / static_cast<double>(report.stored);
    }
    report.generator = options_.bare ? "bare libmosquitto poll() loop" : "libmosquitto epoll loop";
    report.stealPercent = stealPercent(machineBefore, machineAfterSending);
    report.runQueueWaitMs = meanRunQueueWaitMs(runQueueBefore, runQueueAfterSending);
    report.serverRunQueueWaitMs =
        meanRunQueueWaitMs(serverRunQueueBefore, serverRunQueueAfterSending);
    return report;
}

LoadReport PollLoadRun::collect(double sendingSeconds) {
    LoadReport report;
    report.options = options_;
    report.sendingSeconds = sendingSeconds;
    report.sent = sent_;
    report.stored = stored_;
    report.unanswered = sent_ - replies_;
    if (!options_.bare) {
        for (Conversation& conversation : conversations_) {
            size_t lowest = 0;
            size_t highest = 0;
            long long storedHere = 0;
            for (size_t seq = 1; seq < conversation.repliesBySeq.size(); ++seq) {
                const uint32_t replies = conversation.repliesBySeq[seq];
                if (replies > 0) {
                    lowest = lowest == 0 ? seq : lowest;
                    highest = seq;
                    storedHere += 1;
                    report.duplicateStores += replies - 1;
                }
            }
            if (storedHere > 0) {
                report.seqGaps += static_cast<long long>(highest - lowest + 1) - storedHere;
            }
            for (size_t member : conversation.members) {
                const auto& seen = users_[member]->receivedBySeq;
                for (size_t seq = lowest; storedHere > 0 && seq <= highest; ++seq) {
                    if (conversation.repliesBySeq[seq] == 0) {
                        continue;
                    }
                    ++report.deliveriesExpected;
                    const uint32_t copies = seq < seen.size() ? seen[seq] : 0;
                    if (copies == 0) {
                        ++report.lostDeliveries;
                    } else {
                        ++report.delivered;
                        report.duplicateDeliveries += copies - 1;
                    }
                }
            }
        }
    } else {
        report.deliveriesExpected = stored_ * options_.groupSize;
        report.delivered = deliveredAll_;
        report.lostDeliveries = std::max(0LL, report.deliveriesExpected - deliveredAll_);
    }
    if (!options_.timelinePath.empty()) {
        writeReplyTimeline(options_.timelinePath, start_, replyTimeline_);
    }
    report.refused = refused_;
    report.replyLatency = summarizeLatencies(replyMicros_);
    report.deliveryLatency = summarizeLatencies(deliveryMicros_);
    const double replySeconds = static_cast<double>(lastReplyNs_) / 1e9;
    const double deliverySeconds = static_cast<double>(lastDeliveryNs_) / 1e9;
    report.storedPerSecond =
        replySeconds > 0 ? static_cast<double>(report.stored) / replySeconds : 0;
    report.deliveredPerSecond =
        deliverySeconds > 0 ? static_cast<double>(deliveredOthers_) / deliverySeconds : 0;
    if (options_.bare) {
        // The bare loop counts the sender's copy among the deliveries: the others' share.
        report.deliveredPerSecond *=
            static_cast<double>(options_.groupSize - 1) / static_cast<double>(options_.groupSize);
    }
    return report;
}

}  // namespace parley::bench
