#include "server/Server.h"

#include <spdlog/spdlog.h>

namespace parley {

namespace {
HandlerContext contextOf(const Config& config, store::Store& store, Outbox& outbox,
                         const HookBus& hooks, const Clock& clock) {
    return HandlerContext{config, store, outbox, hooks, clock};
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

Server::Server(const Config& config, store::Store& store, Transport& transport, const Clock& clock)
    : config_(config),
      store_(store),
      transport_(transport),
      clock_(clock),
      topics_(config.topicPrefix),
      decoder_(topics_, static_cast<size_t>(config.limits.maxPayloadBytes)),
      outbox_(transport, topics_),
      services_(config, store, outbox_, hooks_, timers_, clock),
      extensions_(config, services_),
      dispatcher_(outbox_, hooks_,
                  [this](const std::string& uid) { return services_.isAdmin(uid); }),
      conversations_(contextOf(config, store, outbox_, hooks_, clock)),
      messages_(contextOf(config, store, outbox_, hooks_, clock)),
      typing_(contextOf(config, store, outbox_, hooks_, clock)),
      presence_(contextOf(config, store, outbox_, hooks_, clock)),
      profiles_(contextOf(config, store, outbox_, hooks_, clock)),
      admin_(contextOf(config, store, outbox_, hooks_, clock), extensions_),
      workers_(static_cast<size_t>(config.server.workers),
               static_cast<size_t>(config.server.queueCapacity / config.server.workers + 1)) {
    conversations_.registerOps(dispatcher_);
    messages_.registerOps(dispatcher_);
    typing_.registerOps(dispatcher_);
    presence_.registerOps(dispatcher_);
    profiles_.registerOps(dispatcher_);
    admin_.registerOps(dispatcher_);
    applyPolicies(config, hooks_);
    hooks_.setReservedOps(dispatcher_.ops());
}

Server::~Server() {
    stop();
}

void Server::start() {
    extensions_.loadAll();
    sweeper_ = std::thread([this] { sweepLoop(); });
    transport_.start([this](InboundMessage&& message) { onInbound(std::move(message)); });
    spdlog::info("parleyd ready: store={} topics={} workers={}", store_.backendName(),
                 topics_.prefix(), config_.server.workers);
}

void Server::stop() {
    if (stopping_.exchange(true)) {
        return;
    }
    spdlog::info("parleyd stopping: no new commands, finishing those in flight");
    transport_.stopReceiving();
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
        spdlog::info("command refused: topic={} code={} message={} bytes={}", message.topic,
                     errorCodeName(failure->code), failure->message, message.payload.size());
        if (failure->replyUid) {
            outbox_.replyError(*failure->replyUid, failure->requestId, message.correlationData,
                               failure->code, failure->message);
        }
        return;
    }
    auto command = std::make_shared<Command>(std::move(std::get<Command>(decoded)));
    const std::string key = command->orderingKey();
    if (!workers_.submit(key, [this, command] { process(*command); })) {
        // Shutting down: no reply, the client resends to whichever instance is up.
        spdlog::info("command not taken during shutdown: uid={} op={}", command->uid, command->op);
    }
}

void Server::process(const Command& command) {
    if (command.op != "presence") {
        presence_.noteActivity(command.uid);
    }
    dispatcher_.dispatch(command);
}

void Server::sweepLoop() {
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
        lock.lock();
    }
}

}  // namespace parley
