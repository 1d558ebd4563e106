#include "LoadRun.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "ProcessStats.h"
#include "parley/wire/UserShard.h"

namespace parley::bench {

const std::string& LoadOptions::uriOf(const std::string& uid) const {
    return shardUris.empty() ? uri : shardUris[shardOfUser(uid, shardUris.size())];
}

namespace {

nlohmann::json latencyJson(const LatencySummary& latency) {
    return {{"count", latency.count},
            {"p50_ms", latency.p50},
            {"p90_ms", latency.p90},
            {"p99_ms", latency.p99},
            {"max_ms", latency.max}};
}

std::string userName(const LoadOptions& options, size_t index) {
    char number[24];
    std::snprintf(number, sizeof(number), "%04zu", index + 1);
    return options.userPrefix + number;
}

int64_t nanosSince(Clock::time_point start, Clock::time_point when) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(when - start).count();
}

}  // namespace

LatencySummary summarizeLatencies(std::vector<uint32_t>& micros) {
    LatencySummary summary;
    summary.count = micros.size();
    if (micros.empty()) {
        return summary;
    }
    std::sort(micros.begin(), micros.end());
    const auto at = [&](double fraction) {
        const size_t index = std::min(
            micros.size() - 1, static_cast<size_t>(fraction * static_cast<double>(micros.size())));
        return micros[index] / 1000.0;
    };
    summary.p50 = at(0.50);
    summary.p90 = at(0.90);
    summary.p99 = at(0.99);
    summary.max = micros.back() / 1000.0;
    return summary;
}

void writeReplyTimeline(const std::string& path, std::chrono::steady_clock::time_point start,
                        std::vector<std::pair<int64_t, uint32_t>>& timeline) {
    std::sort(timeline.begin(), timeline.end());
    std::ofstream out(path);
    // CLOCK_MONOTONIC (steady_clock here), to line the replies up with other readings.
    char started[96];
    std::snprintf(started, sizeof(started), "# sending started at monotonic %.3f s\n",
                  std::chrono::duration<double>(start.time_since_epoch()).count());
    out << started << "sent_ms,reply_ms\n";
    char line[64];
    for (const auto& [sentMicros, replyMicros] : timeline) {
        std::snprintf(line, sizeof(line), "%.3f,%.3f\n", static_cast<double>(sentMicros) / 1000.0,
                      static_cast<double>(replyMicros) / 1000.0);
        out << line;
    }
    if (!out) {
        throw std::runtime_error("parley-bench: cannot write " + path);
    }
}

nlohmann::json LoadReport::toJson() const {
    return {{"users", options.users},
            {"group_size", options.groupSize},
            {"offered_rate", options.rate},
            {"window", options.window},
            {"sending_seconds", sendingSeconds},
            {"sent", sent},
            {"stored", stored},
            {"refused", refused},
            {"unanswered", unanswered},
            {"duplicate_stores", duplicateStores},
            {"seq_gaps", seqGaps},
            {"deliveries_expected", deliveriesExpected},
            {"delivered", delivered},
            {"lost_deliveries", lostDeliveries},
            {"duplicate_deliveries", duplicateDeliveries},
            {"stored_per_second", storedPerSecond},
            {"delivered_per_second", deliveredPerSecond},
            {"reply_latency", latencyJson(replyLatency)},
            {"delivery_latency", latencyJson(deliveryLatency)},
            {"server_cpu_percent", serverCpuPercent},
            {"server_rss_max_kib", serverRssMaxKiB},
            {"database_cpu_percent", databaseCpuPercent},
            {"broker_cpu_percent", brokerCpuPercent},
            {"brokers", brokers},
            {"broker_cpu_us_per_message", brokerCpuMicrosPerMessage},
            {"bench_cpu_percent", benchCpuPercent},
            {"bench_cpu_us_per_message", benchCpuMicrosPerMessage},
            {"server_cpu_us_per_message", serverCpuMicrosPerMessage},
            {"held_back", heldBack},
            {"generator", generator},
            {"machine_steal_percent", stealPercent},
            {"machine_runqueue_wait_ms", runQueueWaitMs},
            {"server_runqueue_wait_ms", serverRunQueueWaitMs},
            {"flooder",
             {{"commands", options.flooderCommands},
              {"whole_run", options.flooderWholeRun},
              {"sent", flooderSent},
              {"stored", flooderStored},
              {"refused", flooderRefused},
              {"refused_at_broker", flooderRefusedAtBroker},
              {"publishes_failed", flooderPublishesFailed},
              {"reconnects", flooderReconnects},
              {"denied_topic", options.flooderDenied},
              {"unanswered", flooderUnanswered},
              {"send_seconds", flooderSendSeconds}}}};
}

std::string LoadReport::toText() const {
    std::ostringstream text;
    text.setf(std::ios::fixed);
    text.precision(1);
    text << options.users << " users, "
         << (options.groupSize == 2 ? std::string("1:1 pairs")
                                    : "groups of " + std::to_string(options.groupSize))
         << ", offered "
         << (options.rate > 0 ? std::to_string(static_cast<long long>(options.rate)) + " msg/s"
                              : "flood (window " + std::to_string(options.window) + " per user)")
         << ", " << sendingSeconds << " s of sending\n";
    text << "  messages: sent " << sent << ", stored " << stored << " (" << storedPerSecond
         << " msg/s), unanswered " << unanswered;
    for (const auto& [code, count] : refused) {
        text << ", refused " << code << " " << count;
    }
    text << "\n  deliveries: " << delivered << " of " << deliveriesExpected << " ("
         << deliveredPerSecond << " /s to other members), lost " << lostDeliveries << ", duplicate "
         << duplicateDeliveries << "; duplicate stores " << duplicateStores << ", seq gaps "
         << seqGaps << '\n';
    text.precision(2);
    text << "  latency to the reply (ms):    p50 " << replyLatency.p50 << "  p90 "
         << replyLatency.p90 << "  p99 " << replyLatency.p99 << "  max " << replyLatency.max
         << '\n';
    text << "  latency to the recipient (ms): p50 " << deliveryLatency.p50 << "  p90 "
         << deliveryLatency.p90 << "  p99 " << deliveryLatency.p99 << "  max "
         << deliveryLatency.max << '\n';
    text.precision(0);
    if (serverCpuPercent >= 0) {
        text << "  server: CPU " << serverCpuPercent << "% of a core, RSS max "
             << serverRssMaxKiB / 1024 << " MiB; ";
    } else {
        text << "  ";
    }
    if (databaseCpuPercent >= 0) {
        text << "database: CPU " << databaseCpuPercent << "% of a core; ";
    }
    if (brokerCpuPercent >= 0) {
        text << "broker" << (brokers > 1 ? "s (" + std::to_string(brokers) + " shards)" : "")
             << ": CPU " << brokerCpuPercent << "% of a core";
        if (brokerCpuMicrosPerMessage >= 0) {
            text << ", " << brokerCpuMicrosPerMessage << " µs per message";
        }
        text << "; ";
    }
    text << "bench: CPU " << benchCpuPercent << "% of a core";
    if (benchCpuMicrosPerMessage >= 0) {
        text.precision(1);
        text << ", " << benchCpuMicrosPerMessage << " µs per message (" << generator << ")";
        if (serverCpuMicrosPerMessage >= 0) {
            text << "; server " << serverCpuMicrosPerMessage << " µs per message";
        }
        text.precision(0);
    }
    text << '\n';
    if (heldBack > 0) {
        text << "  held back: " << heldBack << " messages were due but never sent (their user "
             << "awaited " << options.maxUnansweredPerUser << " replies until the end)\n";
    }
    if (stealPercent >= 0) {
        text << "  machine: the hypervisor took " << stealPercent
             << "% of the CPU while sending (steal)\n";
    }
    if (runQueueWaitMs >= 0) {
        text.precision(3);
        text << "  waits for a CPU while sending (ms per timeslice): every thread "
             << runQueueWaitMs;
        if (serverRunQueueWaitMs >= 0) {
            text << ", the server's " << serverRunQueueWaitMs;
        }
        text << '\n';
        text.precision(0);
    }
    if (options.flooderCommands > 0 || options.flooderWholeRun) {
        text.precision(2);
        text << "  flooder: sent " << flooderSent << " in " << flooderSendSeconds
             << " s, dropped by the broker " << flooderRefusedAtBroker << ", stored "
             << flooderStored;
        for (const auto& [code, count] : flooderRefused) {
            text << ", refused " << code << " " << count;
        }
        text << ", unanswered " << flooderUnanswered;
        if (flooderPublishesFailed > 0 || flooderReconnects > 0) {
            text << ", lost with its connection " << flooderPublishesFailed << " (disconnected "
                 << flooderReconnects << " times, back at once)";
        }
        text << '\n';
    }
    return text.str();
}

LoadRun::LoadRun(LoadOptions options) : options_(std::move(options)) {
    if (options_.users < 2 || options_.groupSize < 2 || options_.users < options_.groupSize) {
        throw std::invalid_argument("need at least 2 users and users >= group size");
    }
    body_.assign(options_.bodyBytes, 'x');
    runTag_ = "-" +
              std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count()) +
              "-";
}

LoadRun::~LoadRun() {
    if (flooder_) {
        try {
            flooder_->disconnect();
        } catch (...) {
        }
    }
    for (auto& user : users_) {
        if (user->client) {
            try {
                user->client->disconnect();
            } catch (...) {
            }
        }
    }
}

nlohmann::json LoadRun::setupCall(size_t user, nlohmann::json command) {
    const std::string id = "s" + std::to_string(user) + "-" + command.value("op", "");
    command["id"] = id;
    users_[user]->client->publish(command.dump());
    std::unique_lock lock(setupMutex_);
    if (!setupArrived_.wait_for(lock, std::chrono::seconds(20),
                                [&] { return setupReplies_.count(id) > 0; })) {
        throw std::runtime_error("no reply to " + command.dump() + " within 20 s");
    }
    nlohmann::json reply = std::move(setupReplies_[id]);
    setupReplies_.erase(id);
    if (!reply.value("ok", false)) {
        throw std::runtime_error("setup refused: " + command.dump() + " -> " + reply.dump());
    }
    return reply;
}

void LoadRun::setUp() {
    const size_t count = static_cast<size_t>(options_.users);
    for (size_t i = 0; i < count; ++i) {
        auto user = std::make_unique<User>();
        user->client = std::make_unique<BenchClient>(
            options_.uriOf(userName(options_, i)), options_.tls, options_.prefix,
            userName(options_, i), options_.password,
            [this](BenchClient& client, const std::string& suffix, nlohmann::json&& payload,
                   Clock::time_point arrived) {
                onMessage(client, suffix, std::move(payload), arrived);
            });
        user->client->index = i;
        users_.push_back(std::move(user));
    }
    for (size_t i = 0; i < count; ++i) {
        users_[i]->client->connect();
        if (options_.progress && (i + 1) % 50 == 0) {
            std::cerr << "\r  connected " << (i + 1) << " of " << count << std::flush;
        }
    }
    const size_t size = static_cast<size_t>(options_.groupSize);
    for (size_t first = 0; first + size <= count; first += size) {
        auto conversation = std::make_unique<Conversation>();
        nlohmann::json reply;
        if (size == 2) {
            reply =
                setupCall(first, {{"op", "conv.open"}, {"peer", users_[first + 1]->client->uid()}});
        } else {
            std::vector<std::string> others;
            for (size_t m = first + 1; m < first + size; ++m) {
                others.push_back(users_[m]->client->uid());
            }
            reply =
                setupCall(first, {{"op", "conv.create"}, {"members", others}, {"title", "bench"}});
        }
        conversation->id = reply.at("conv").get<std::string>();
        for (size_t m = first; m < first + size; ++m) {
            conversation->members.push_back(m);
            users_[m]->conversation = conversations_.size();
        }
        conversationIndex_[conversation->id] = conversations_.size();
        conversations_.push_back(std::move(conversation));
    }
    // Users past the last full group do not send.
    users_.resize(conversations_.size() * size);
    if (flooding()) {
        flooder_ = std::make_unique<BenchClient>(
            options_.uri, options_.tls, options_.prefix, userName(options_, count),
            options_.password,
            [this](BenchClient&, const std::string& suffix, nlohmann::json&& payload,
                   Clock::time_point) { onFlooderMessage(suffix, payload); },
            1000);
        flooder_->connect();
        const std::string id = "s-flooder";
        flooder_->publish(
            nlohmann::json{{"op", "conv.open"}, {"id", id}, {"peer", users_[0]->client->uid()}}
                .dump());
        std::unique_lock lock(setupMutex_);
        if (!setupArrived_.wait_for(lock, std::chrono::seconds(20),
                                    [&] { return setupReplies_.count(id) > 0; })) {
            throw std::runtime_error("the flooder's conv.open got no reply within 20 s");
        }
        flooderConversation_ = setupReplies_[id].value("conv", "");
        if (flooderConversation_.empty()) {
            throw std::runtime_error("the flooder's conv.open was refused: " +
                                     setupReplies_[id].dump());
        }
        lock.unlock();
        flooderUid_ = flooder_->uid();
        // Gone before the flood: its inbox would get every answer to the flood too.
        flooder_->disconnect();
        flooder_.reset();
    }
    if (options_.progress) {
        std::cerr << "\r  " << users_.size() << " users connected, " << conversations_.size()
                  << " conversations\n";
    }
}

void LoadRun::onFlooderMessage(const std::string& suffix, const nlohmann::json& payload) {
    if (suffix == "resp" && payload.value("id", "") == "s-flooder") {
        std::lock_guard lock(setupMutex_);
        setupReplies_["s-flooder"] = payload;
        setupArrived_.notify_all();
    }
}

pid_t LoadRun::startFlood(const std::string& outputFile) {
    const std::string program =
        options_.flooderProgram.empty() ? "/proc/self/exe" : options_.flooderProgram;
    std::vector<std::string> arguments = {program,         "--uri",
                                          options_.uri,    "--prefix",
                                          options_.prefix, "flood",
                                          "--user",        flooderUid_,
                                          "--conv",        flooderConversation_,
                                          "--drain",       std::to_string(options_.drainSeconds)};
    // The same TLS files as the simulated users (parley-bench's global flags).
    for (const auto& [flag, file] : {std::pair{"--ca-file", options_.tls.caFile},
                                     {"--cert", options_.tls.certFile},
                                     {"--key", options_.tls.keyFile}}) {
        if (!file.empty()) {
            arguments.insert(arguments.begin() + 1, {flag, file});
        }
    }
    if (options_.flooderDenied) {
        arguments.insert(arguments.end(), {"--denied-peer", users_[0]->client->uid()});
    }
    if (options_.flooderWholeRun) {
        arguments.insert(arguments.end(), {"--seconds", std::to_string(options_.seconds)});
    } else {
        arguments.insert(arguments.end(), {"--count", std::to_string(options_.flooderCommands)});
    }
    std::vector<char*> argv;
    for (auto& argument : arguments) {
        argv.push_back(argument.data());
    }
    argv.push_back(nullptr);
    // The password through the environment, not the command line (ps shows that).
    std::vector<std::string> environment;
    for (char** entry = environ; *entry != nullptr; ++entry) {
        if (std::string_view(*entry).substr(0, 22) != "PARLEY_BENCH_PASSWORD=") {
            environment.emplace_back(*entry);
        }
    }
    environment.push_back("PARLEY_BENCH_PASSWORD=" + options_.password);
    std::vector<char*> envp;
    for (auto& entry : environment) {
        envp.push_back(entry.data());
    }
    envp.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, outputFile.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    pid_t pid = -1;
    const int failed =
        posix_spawn(&pid, program.c_str(), &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    if (failed != 0) {
        throw std::runtime_error("cannot start the flooder (" + program +
                                 "): " + std::strerror(failed));
    }
    return pid;
}

FloodReport LoadRun::finishFlood(pid_t flooder, const std::string& outputFile) {
    // It sends for the run's seconds (or its count), then drains for as long as this run does.
    const auto deadline =
        Clock::now() +
        std::chrono::milliseconds(static_cast<long long>((options_.drainSeconds + 30) * 1000));
    int status = 0;
    while (waitpid(flooder, &status, WNOHANG) == 0) {
        if (Clock::now() > deadline) {
            kill(flooder, SIGKILL);
            waitpid(flooder, &status, 0);
            throw std::runtime_error("the flooder did not finish");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    std::ifstream output(outputFile);
    std::string line, last;
    while (std::getline(output, line)) {
        if (!line.empty()) {
            last = line;
        }
    }
    std::remove(outputFile.c_str());
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        throw std::runtime_error("the flooder failed (status " + std::to_string(status) + ")");
    }
    return FloodReport::fromJson(nlohmann::json::parse(last));
}

bool LoadRun::sendingActive() const {
    if (!sending_) {
        return false;
    }
    if (options_.count > 0) {
        return sent_.load() < options_.count;
    }
    return Clock::now() < sendDeadline_;
}

void LoadRun::sendOne(size_t index) {
    User& user = *users_[index];
    const auto now = Clock::now();
    size_t number = 0;
    {
        std::lock_guard lock(user.mutex);
        number = user.sendTimes.size();
        user.sendTimes.push_back(now);
    }
    const Conversation& conversation = *conversations_[user.conversation];
    std::string payload;
    payload.reserve(body_.size() + 160);
    payload += R"({"op":"msg.send","id":"m)";
    payload += std::to_string(number);
    payload += R"(","conv":")";
    payload += conversation.id;
    payload += R"(","cmid":")";
    payload += user.client->uid();
    payload += runTag_;  // cmids are unique per sender forever: a later run must not repeat one
    payload += std::to_string(number);
    payload += R"(","body":")";
    payload += body_;
    payload += R"(","meta":{"t":)";
    payload += std::to_string(nanosSince(start_, now));
    payload += "}}";
    ++outstanding_;
    ++sent_;
    try {
        user.client->publish(payload);
    } catch (const std::exception& error) {
        std::cerr << "\nbench: publish failed for " << user.client->uid() << ": " << error.what()
                  << '\n';
    }
}

void LoadRun::onMessage(BenchClient& client, const std::string& suffix, nlohmann::json&& payload,
                        Clock::time_point arrived) {
    User& user = *users_[client.index];
    if (suffix == "resp") {
        const std::string id = payload.value("id", "");
        if (id.empty()) {
            return;
        }
        if (id[0] == 's') {
            std::lock_guard lock(setupMutex_);
            setupReplies_[id] = std::move(payload);
            setupArrived_.notify_all();
            return;
        }
        if (id[0] != 'm') {
            return;  // presence and the like
        }
        const size_t number = std::stoul(id.substr(1));
        Clock::time_point sentAt;
        {
            std::lock_guard lock(user.mutex);
            if (number >= user.sendTimes.size()) {
                return;
            }
            sentAt = user.sendTimes[number];
        }
        const auto micros =
            std::chrono::duration_cast<std::chrono::microseconds>(arrived - sentAt).count();
        if (payload.value("ok", false)) {
            const long long seq = payload.value("seq", 0LL);
            Conversation& conversation = *conversations_[user.conversation];
            {
                std::lock_guard lock(conversation.mutex);
                if (conversation.repliesBySeq.size() <= static_cast<size_t>(seq)) {
                    conversation.repliesBySeq.resize(static_cast<size_t>(seq) + 1024, 0);
                }
                ++conversation.repliesBySeq[static_cast<size_t>(seq)];
            }
            ++stored_;
        } else {
            std::lock_guard lock(statsMutex_);
            ++refused_[payload.value("error", nlohmann::json::object()).value("code", "?")];
        }
        {
            std::lock_guard lock(statsMutex_);
            replyMicros_.push_back(static_cast<uint32_t>(micros));
            if (!options_.timelinePath.empty()) {
                replyTimeline_.emplace_back(nanosSince(start_, sentAt) / 1000,
                                            static_cast<uint32_t>(micros));
            }
        }
        ++replies_;
        --outstanding_;
        lastReplyNs_ = nanosSince(start_, arrived);
        if (options_.rate <= 0 && sendingActive()) {
            sendOne(client.index);  // flood: the next one as soon as this one is answered
        }
        return;
    }
    if (suffix.rfind("c/", 0) != 0 || payload.value("ev", "") != "msg") {
        return;
    }
    auto found = conversationIndex_.find(suffix.substr(2));
    if (found == conversationIndex_.end()) {
        return;
    }
    const long long seq = payload.value("seq", 0LL);
    if (seq <= 0) {
        return;
    }
    {
        std::lock_guard lock(user.mutex);
        auto& seen = user.receivedBySeq[found->second];
        if (seen.size() <= static_cast<size_t>(seq)) {
            seen.resize(static_cast<size_t>(seq) + 1024, 0);
        }
        ++seen[static_cast<size_t>(seq)];
    }
    ++deliveredAll_;
    if (payload.value("sender", "") == client.uid()) {
        return;  // the sender's own copy: counted, but the latency that matters is the others'
    }
    ++deliveredOthers_;
    lastDeliveryNs_ = nanosSince(start_, arrived);
    const auto meta = payload.find("meta");
    if (meta != payload.end() && meta->is_object() && meta->contains("t")) {
        const int64_t sentNs = (*meta)["t"].get<int64_t>();
        const int64_t micros = (nanosSince(start_, arrived) - sentNs) / 1000;
        std::lock_guard lock(statsMutex_);
        deliveryMicros_.push_back(static_cast<uint32_t>(std::max<int64_t>(0, micros)));
    }
}

void LoadRun::printProgress(double elapsed) {
    if (!options_.progress) {
        return;
    }
    char line[200];
    std::snprintf(line, sizeof(line),
                  "\r  %5.1f s  sent %lld  stored %lld  delivered %lld  awaiting replies %lld   ",
                  elapsed, sent_.load(), stored_.load(), deliveredOthers_.load(),
                  outstanding_.load());
    std::cerr << line << std::flush;
}

LoadReport LoadRun::run() {
    setUp();
    const ProcessSample serverBefore = sampleProcess(options_.serverPid);
    const ProcessSample benchBefore = sampleProcess(getpid());
    const ProcessSample databaseBefore = sampleProcess(options_.databasePid);
    long serverRssMax = serverBefore.rssKiB;

    const MachineSample machineBefore = sampleMachine();
    const RunQueueSample runQueueBefore = sampleRunQueue();
    const RunQueueSample serverRunQueueBefore =
        options_.serverPid > 0 ? sampleRunQueue(options_.serverPid) : RunQueueSample{};
    start_ = Clock::now();
    sendDeadline_ =
        start_ + std::chrono::milliseconds(static_cast<long long>(options_.seconds * 1000));
    sending_ = true;
    char floodOutput[] = "/tmp/parley-bench-flood-XXXXXX";
    pid_t flooder = -1;
    if (flooding()) {
        const int descriptor = mkstemp(floodOutput);
        if (descriptor < 0) {
            throw std::runtime_error("cannot create a file for the flooder's report");
        }
        close(descriptor);
        flooder = startFlood(floodOutput);
    }
    std::thread pacer;
    if (options_.rate > 0) {
        pacer = std::thread([this] {
            const auto interval =
                std::chrono::nanoseconds(static_cast<long long>(1e9 / options_.rate));
            auto next = Clock::now();
            size_t user = 0;
            std::mt19937 random(20261122);  // the same draws in every run
            std::uniform_int_distribution<size_t> anyUser(0, users_.size() - 1);
            while (sendingActive()) {
                std::this_thread::sleep_until(next);
                if (outstanding_.load() >= static_cast<long long>(options_.maxUnansweredPerUser) *
                                               static_cast<long long>(users_.size())) {
                    std::this_thread::sleep_for(std::chrono::microseconds(200));
                    next = Clock::now();  // what could not be offered is not owed later
                    continue;
                }
                if (options_.sendersInTurns) {
                    sendOne(user);
                    user = (user + 1) % users_.size();
                } else {
                    sendOne(anyUser(random));
                }
                next += interval;
                if (Clock::now() - next > std::chrono::milliseconds(100)) {
                    next = Clock::now();  // fell behind: do not burst to catch up
                }
            }
        });
    } else {
        for (int round = 0; round < options_.window; ++round) {
            for (size_t user = 0; user < users_.size() && sendingActive(); ++user) {
                sendOne(user);
            }
        }
    }
    auto lastProgress = Clock::now();
    while (sendingActive()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        if (Clock::now() - lastProgress >= std::chrono::seconds(1)) {
            lastProgress = Clock::now();
            printProgress(std::chrono::duration<double>(lastProgress - start_).count());
            serverRssMax = std::max(serverRssMax, sampleProcess(options_.serverPid).rssKiB);
        }
    }
    sending_ = false;
    const MachineSample machineAfterSending = sampleMachine();
    const RunQueueSample runQueueAfterSending = sampleRunQueue();
    const RunQueueSample serverRunQueueAfterSending =
        options_.serverPid > 0 ? sampleRunQueue(options_.serverPid) : RunQueueSample{};
    if (pacer.joinable()) {
        pacer.join();
    }

    const double sendingSeconds = std::chrono::duration<double>(Clock::now() - start_).count();
    // Drain: every reply, and every member's copy of every stored message, or the time is up.
    const auto drainDeadline =
        Clock::now() +
        std::chrono::milliseconds(static_cast<long long>(options_.drainSeconds * 1000));
    while (Clock::now() < drainDeadline) {
        const long long expected = stored_.load() * options_.groupSize;
        if (replies_.load() >= sent_.load() && deliveredAll_.load() >= expected) {
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        if (Clock::now() - lastProgress >= std::chrono::seconds(1)) {
            lastProgress = Clock::now();
            printProgress(std::chrono::duration<double>(lastProgress - start_).count());
            serverRssMax = std::max(serverRssMax, sampleProcess(options_.serverPid).rssKiB);
        }
    }
    printProgress(std::chrono::duration<double>(Clock::now() - start_).count());
    if (options_.progress) {
        std::cerr << '\n';
    }
    const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
    if (flooder > 0) {
        flooderReport_ = finishFlood(flooder, floodOutput);
    }
    const ProcessSample serverAfter = sampleProcess(options_.serverPid);
    const ProcessSample benchAfter = sampleProcess(getpid());
    const ProcessSample databaseAfter = sampleProcess(options_.databasePid);

    LoadReport report = collect(sendingSeconds);
    if (serverBefore.valid && serverAfter.valid) {
        report.serverCpuPercent =
            100.0 * (serverAfter.cpuSeconds - serverBefore.cpuSeconds) / elapsed;
        report.serverRssMaxKiB = std::max(serverRssMax, serverAfter.rssKiB);
    }
    if (databaseBefore.valid && databaseAfter.valid) {
        report.databaseCpuPercent =
            100.0 * (databaseAfter.cpuSeconds - databaseBefore.cpuSeconds) / elapsed;
    }
    report.benchCpuPercent = 100.0 * (benchAfter.cpuSeconds - benchBefore.cpuSeconds) / elapsed;
    report.stealPercent = stealPercent(machineBefore, machineAfterSending);
    report.runQueueWaitMs = meanRunQueueWaitMs(runQueueBefore, runQueueAfterSending);
    report.serverRunQueueWaitMs =
        meanRunQueueWaitMs(serverRunQueueBefore, serverRunQueueAfterSending);
    return report;
}

LoadReport LoadRun::collect(double sendingSeconds) {
    LoadReport report;
    report.options = options_;
    report.sendingSeconds = sendingSeconds;
    report.sent = sent_.load();
    report.stored = stored_.load();
    report.unanswered = report.sent - replies_.load();
    report.flooderSent = flooderReport_.sent;
    report.flooderStored = flooderReport_.stored;
    report.flooderRefused = flooderReport_.refused;
    report.flooderRefusedAtBroker = flooderReport_.refusedAtBroker;
    report.flooderPublishesFailed = flooderReport_.publishesFailed;
    report.flooderUnanswered = flooderReport_.unanswered;
    report.flooderSendSeconds = flooderReport_.sendSeconds;
    report.flooderReconnects = flooderReport_.reconnects;
    for (size_t index = 0; index < conversations_.size(); ++index) {
        Conversation* conversation = conversations_[index].get();
        std::lock_guard lock(conversation->mutex);
        // A conversation may hold earlier runs' messages: this run's seqs start where they end.
        size_t lowest = 0;
        size_t highest = 0;
        long long storedHere = 0;
        for (size_t seq = 1; seq < conversation->repliesBySeq.size(); ++seq) {
            const uint32_t replies = conversation->repliesBySeq[seq];
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
        for (size_t member : conversation->members) {
            User& user = *users_[member];
            std::lock_guard userLock(user.mutex);
            const auto& seen = user.receivedBySeq[index];
            for (size_t seq = lowest; storedHere > 0 && seq <= highest; ++seq) {
                if (conversation->repliesBySeq[seq] == 0) {
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
    std::lock_guard lock(statsMutex_);
    if (!options_.timelinePath.empty()) {
        writeReplyTimeline(options_.timelinePath, start_, replyTimeline_);
    }
    report.refused = refused_;
    report.replyLatency = summarizeLatencies(replyMicros_);
    report.deliveryLatency = summarizeLatencies(deliveryMicros_);
    const double replySeconds = static_cast<double>(lastReplyNs_.load()) / 1e9;
    const double deliverySeconds = static_cast<double>(lastDeliveryNs_.load()) / 1e9;
    report.storedPerSecond =
        replySeconds > 0 ? static_cast<double>(report.stored) / replySeconds : 0;
    report.deliveredPerSecond =
        deliverySeconds > 0 ? static_cast<double>(deliveredOthers_.load()) / deliverySeconds : 0;
    return report;
}

}  // namespace parley::bench
