#include "server/Server.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>

#include "log/LogFields.h"
#include "lua/LuaExtension.h"
#include "plugins/PluginExtension.h"

namespace parley {

namespace {
HandlerContext contextOf(const Config& config, store::Store& store, Outbox& outbox,
                         const HookBus& hooks, const Clock& clock) {
    return HandlerContext{config, store, outbox, hooks, clock};
}

// What the JSON log says about every line written while this command is handled.
std::vector<log::LogFields::Field> commandLogFields(const Command& command) {
    const auto conv = command.args.find("conv");
    return {{"uid", command.uid},
            {"op", command.op},
            {"id", command.requestId},
            {"conv", conv != command.args.end() && conv->is_string() ? *conv : nlohmann::json()}};
}

HookPolicy policyOf(const HookPolicyConfig& config) {
    return HookPolicy{std::chrono::milliseconds(config.budgetMs), config.failClosed};
}

void applyPolicies(const Config& config, HookBus& hooks) {
    for (const auto& [name, policy] : config.hooks) {
        if (auto hook = hookByName(name)) {
            hooks.setPolicy(*hook, policyOf(policy));
        } else if (name == "command") {
            hooks.setCommandPolicy(policyOf(policy));
        } else if (name == "timer") {
            hooks.setTimerPolicy(policyOf(policy));
        }
    }
}
}  // namespace

Server::Server(const Config& config, store::Store& store, Transport& transport, const Clock& clock,
               ops::Metrics* metrics)
    : config_(config),
      ownMetrics_(metrics ? nullptr : std::make_unique<ops::Metrics>()),
      metrics_(metrics ? *metrics : *ownMetrics_),
      store_(store),
      transport_(transport),
      clock_(clock),
      topics_(config.topicPrefix),
      decoder_(topics_, static_cast<size_t>(config.limits.maxPayloadBytes),
               static_cast<size_t>(config.limits.maxBytesPerCommand)),
      outbox_(transport, topics_),
      posting_(config.limits, store, outbox_, hooks_, clock),
      services_(config, store, outbox_, hooks_, timers_, clock, posting_),
      extensions_(
          config.extensions, services_,
          [this](const ExtensionConfig& extension) { return loadPlugin(extension, services_); },
          [this](const ExtensionConfig& extension) {
              return loadScript(extension, config_.lua, services_);
          }),
      dispatcher_(
          outbox_, hooks_, [this](const std::string& uid) { return services_.isAdmin(uid); },
          metrics_),
      conversations_(contextOf(config, store, outbox_, hooks_, clock)),
      conversationSettings_(contextOf(config, store, outbox_, hooks_, clock)),
      messages_(contextOf(config, store, outbox_, hooks_, clock), posting_, metrics_),
      messageChanges_(contextOf(config, store, outbox_, hooks_, clock)),
      search_(contextOf(config, store, outbox_, hooks_, clock)),
      typing_(contextOf(config, store, outbox_, hooks_, clock)),
      presence_(contextOf(config, store, outbox_, hooks_, clock)),
      profiles_(contextOf(config, store, outbox_, hooks_, clock)),
      admin_(contextOf(config, store, outbox_, hooks_, clock), extensions_),
      userData_(contextOf(config, store, outbox_, hooks_, clock)),
      ingress_(config.limits.userCommandsPerSecond, config.limits.userCommandBurst,
               config.limits.userQueuedCommands),
      transfer_(config.limits.userTransferBytesPerSecond,
                static_cast<int>(std::min<int64_t>(config.limits.userTransferBurstBytes,
                                                   std::numeric_limits<int>::max())),
                config.limits.userQueuedCommands),
      workers_(static_cast<size_t>(config.server.workers),
               static_cast<size_t>(config.server.queueCapacity)) {
    conversations_.registerOps(dispatcher_);
    messages_.registerOps(dispatcher_);
    messageChanges_.registerOps(dispatcher_);
    conversationSettings_.registerOps(dispatcher_);
    search_.registerOps(dispatcher_);
    typing_.registerOps(dispatcher_);
    presence_.registerOps(dispatcher_);
    profiles_.registerOps(dispatcher_);
    admin_.registerOps(dispatcher_);
    userData_.registerOps(dispatcher_);
    applyPolicies(config, hooks_);
    hooks_.setReservedOps(dispatcher_.ops());
}

Server::~Server() {
    stop();
}

bool Server::start() {
    extensions_.loadAll();
    sweeper_ = std::jthread([this](const std::stop_token& stop) { sweepLoop(stop); });
    if (!transport_.start([this](InboundMessage&& message) { onInbound(std::move(message)); })) {
        return false;
    }
    spdlog::info("parleyd ready: store={} topics={} workers={}", store_.backendName(),
                 topics_.prefix(), config_.server.workers);
    return true;
}

void Server::stop() {
    if (stopping_.exchange(true)) {
        return;
    }
    spdlog::info("parleyd stopping: no new commands, finishing those in flight");
    transport_.stopReceiving();
    // Ends a purge of the search index in progress meanwhile, rather than after the commands.
    sweeper_.request_stop();
    workers_.shutdown(std::chrono::milliseconds(config_.server.shutdownTimeoutMs));
    {
        std::lock_guard lock(sweepMutex_);
        sweepWake_.notify_all();
    }
    if (sweeper_.joinable()) {
        sweeper_.join();
    }
    extensions_.unloadAll();
    timers_.stop();
    transport_.stop();
    spdlog::info("parleyd stopped");
}

void Server::onInbound(InboundMessage&& message) {
    auto decoded = decoder_.decode(message.topic, message.payload, message.correlationData);
    if (auto* failure = std::get_if<DecodeFailure>(&decoded)) {
        const log::LogFields::Scope logFields{
            {"uid", failure->replyUid ? nlohmann::json(*failure->replyUid) : nlohmann::json()},
            {"id", failure->requestId},
            {"topic", message.topic},
            {"code", errorCodeName(failure->code)}};
        spdlog::info("command refused: topic={} code={} message={} bytes={}", message.topic,
                     errorCodeName(failure->code), failure->message, message.payload.size());
        metrics_.op(ops::Metrics::kUnknownOp).count(failure->code);
        if (failure->replyUid) {
            outbox_.replyError(*failure->replyUid, failure->requestId, message.correlationData,
                               message.shard, failure->code, failure->message);
        }
        return;
    }
    auto command = std::make_shared<Command>(std::move(std::get<Command>(decoded)));
    command->shard = message.shard;
    // Checked before queueing, on this (the broker's receive) thread: a flooder's excess is
    // answered here and never waits in a worker's queue ahead of other users' commands. A
    // command with bytes (a file's chunk) is charged to the user's byte budget instead of the
    // command rate, at least LimitsConfig::kMinTransferCost.
    const bool withBytes = command->bytes.has_value();
    IngressLimiter& limiter = withBytes ? transfer_ : ingress_;
    const auto verdict = withBytes
                             ? transfer_.admit(command->uid, clock_.steadyMs(),
                                               static_cast<double>(std::max<int64_t>(
                                                   static_cast<int64_t>(message.payload.size()),
                                                   LimitsConfig::kMinTransferCost)))
                             : ingress_.admit(command->uid, clock_.steadyMs());
    if (!verdict.admitted()) {
        const log::LogFields::Scope logFields(commandLogFields(*command));
        refuseAtIngress(*command, verdict);
        return;
    }
    const auto arrived = std::chrono::steady_clock::now();
    // Commands with bytes run in any order, several at once (each its own key): the chunks of a
    // file are independent, and one user's window of them spreads over the workers.
    const std::string key =
        withBytes ? command->uid + "\n" + std::to_string(bytesCommandSerial_.fetch_add(1))
                  : command->orderingKey();
    const bool taken = workers_.submit(key, command->uid, [this, command, arrived, &limiter] {
        metrics_.queueWait.observe(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - arrived).count());
        struct Release {
            IngressLimiter& limiter;
            const std::string& uid;
            ~Release() { limiter.release(uid); }
        } release{limiter, command->uid};
        const size_t replied = process(*command);
        if (replied > 0) {
            // A download's bytes cost the budget too, after the fact: the next command waits.
            limiter.charge(command->uid, clock_.steadyMs(), static_cast<double>(replied));
        }
    });
    if (!taken) {
        limiter.release(command->uid);
        // Shutting down: no reply, the client resends to whichever instance is up.
        spdlog::info("command not taken during shutdown: uid={} op={}", command->uid, command->op);
    }
}

void Server::refuseAtIngress(const Command& command, const IngressLimiter::Verdict& verdict) {
    const bool overRate = verdict.kind == IngressLimiter::Verdict::Kind::OverRate;
    (overRate ? metrics_.ingressRateLimited : metrics_.ingressQueueLimited)
        .fetch_add(1, std::memory_order_relaxed);
    if (command.bytes && overRate) {
        dispatcher_.opMetrics(command.op).count(ErrorCode::TransferLimited);
        if (verdict.refusalsToLog > 0) {
            spdlog::warn(
                "ingress: uid={} over its limits.user_transfer_bytes_per_second: {} command(s) "
                "with bytes answered transfer_limited (logged at most every {} s per user)",
                command.uid, verdict.refusalsToLog, IngressLimiter::kLogIntervalMs / 1000);
        }
        outbox_.replyError(
            command, ErrorCode::TransferLimited,
            "too many bytes of files at once, slow down (the server takes " +
                std::to_string(static_cast<int64_t>(config_.limits.userTransferBytesPerSecond)) +
                " bytes per second per user)",
            {{"retry_after_ms", verdict.retryAfterMs}});
        return;
    }
    dispatcher_.opMetrics(command.op).count(ErrorCode::RateLimited);
    if (verdict.refusalsToLog > 0) {
        spdlog::warn(
            "ingress: uid={} over its {} limit: {} command(s) answered rate_limited (logged at "
            "most every {} s per user)",
            command.uid,
            overRate ? "limits.user_commands_per_second" : "limits.user_queued_commands",
            verdict.refusalsToLog, IngressLimiter::kLogIntervalMs / 1000);
    }
    outbox_.replyError(command, ErrorCode::RateLimited,
                       overRate ? "too many commands, slow down" : "too many commands queued",
                       {{"retry_after_ms", verdict.retryAfterMs}});
}

size_t Server::process(const Command& command) {
    const log::LogFields::Scope logFields(commandLogFields(command));
    if (dispatcher_.isActivity(command)) {
        presence_.noteActivity(command.uid);
    }
    return dispatcher_.dispatch(command);
}

void Server::sweepLoop(const std::stop_token& stop) {
    const auto interval = std::chrono::milliseconds(config_.presence.sweepIntervalMs);
    std::unique_lock lock(sweepMutex_);
    while (!sweepWake_.wait_for(lock, interval, [this] { return stopping_.load(); })) {
        lock.unlock();
        presence_.sweep();
        try {
            store_.kvPurgeExpired(clock_.nowMs(), 1000);
        } catch (const std::exception& error) {
            spdlog::warn("purging expired extension keys failed: {}", error.what());
        }
        try {
            // Pushes deleted messages' words out of the full-text index (docs/design.md,
            // "Search"); a no-op query unless a deletion has waited search.purge_after. A stop
            // ends a rebuild between two batches: the next start finishes it.
            if (store_.purgeSearchIndex(clock_.nowMs() - config_.search.purgeAfterMs, stop)) {
                spdlog::info("search: purged deleted messages' words from the full-text index");
            }
        } catch (const std::exception& error) {
            spdlog::warn("purging the search index failed: {}", error.what());
        }
        lock.lock();
    }
}

}  // namespace parley
