#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "chat/MessagePosting.h"
#include "config/Config.h"
#include "dispatch/Dispatcher.h"
#include "extensions/ExtensionManager.h"
#include "extensions/ExtensionServices.h"
#include "extensions/TimerService.h"
#include "handlers/AdminHandler.h"
#include "handlers/ConversationHandler.h"
#include "handlers/ConversationSettingsHandler.h"
#include "handlers/MessageChangeHandler.h"
#include "handlers/MessageHandler.h"
#include "handlers/PresenceHandler.h"
#include "handlers/ProfileHandler.h"
#include "handlers/SearchHandler.h"
#include "handlers/TypingHandler.h"
#include "handlers/UserDataHandler.h"
#include "hooks/HookBus.h"
#include "ops/Metrics.h"
#include "parley/wire/TopicScheme.h"
#include "protocol/Decoder.h"
#include "protocol/Outbox.h"
#include "server/IngressLimiter.h"
#include "server/WorkerPool.h"
#include "store/Store.h"
#include "transport/Transport.h"
#include "util/Clock.h"

namespace parley {

// parleyd's pipeline: Transport -> Decoder -> WorkerPool (ordered by conversation) -> Dispatcher
// -> handlers -> Store, then Outbox. Owns the periodic away sweep.
class Server {
  public:
    // `metrics`: where to count (main shares it with the HTTP endpoint); null = a private one.
    Server(const Config& config, store::Store& store, Transport& transport, const Clock& clock,
           ops::Metrics* metrics = nullptr);
    ~Server();

    // Extensions register here before start().
    HookBus& hooks() { return hooks_; }
    Dispatcher& dispatcher() { return dispatcher_; }

    // Loads the extensions (throws ExtensionError if one fails), starts the workers and the sweep,
    // then connects: blocks until subscribed (true) or until the transport is stopped from another
    // thread (false; stop() then cleans up).
    bool start();
    // Recompiles the Lua scripts (SIGHUP, admin.reload); failed ones keep running as they were.
    nlohmann::json reloadScripts() { return extensions_.reloadScripts(); }
    ExtensionServices& extensionServices() { return services_; }
    // The loaded extensions and their state (admin.extensions' "extensions").
    nlohmann::json describeExtensions() const { return extensions_.describe(); }
    ops::Metrics& metrics() { return metrics_; }
    bool brokerConnected() const { return transport_.isConnected(); }
    size_t queuedCommands() const { return workers_.queued(); }
    // Stops taking commands, finishes those in flight (up to server.shutdown_timeout), disconnects.
    void stop();

    // Entry point for one raw publish; exposed so tests can feed commands without a broker.
    void onInbound(InboundMessage&& message);

  private:
    // Returns the bytes sent after the reply (a reply with bytes).
    size_t process(const Command& command);
    // Answers rate_limited for a command the ingress limits refused.
    void refuseAtIngress(const Command& command, const IngressLimiter::Verdict& verdict);
    void sweepLoop(const std::stop_token& stop);

    const Config& config_;
    std::unique_ptr<ops::Metrics> ownMetrics_;
    ops::Metrics& metrics_;
    store::Store& store_;
    Transport& transport_;
    const Clock& clock_;
    TopicScheme topics_;
    Decoder decoder_;
    Outbox outbox_;
    HookBus hooks_;
    TimerService timers_;
    MessagePosting posting_;
    ExtensionServices services_;
    ExtensionManager extensions_;
    Dispatcher dispatcher_;
    ConversationHandler conversations_;
    ConversationSettingsHandler conversationSettings_;
    MessageHandler messages_;
    MessageChangeHandler messageChanges_;
    SearchHandler search_;
    TypingHandler typing_;
    PresenceHandler presence_;
    ProfileHandler profiles_;
    AdminHandler admin_;
    UserDataHandler userData_;
    IngressLimiter ingress_;
    // Commands with bytes: a budget of bytes per user instead of ingress_'s command rate, so
    // that a file's chunks and the user's chat do not hold each other up.
    IngressLimiter transfer_;
    std::atomic<uint64_t> bytesCommandSerial_{0};
    WorkerPool workers_;

    std::mutex sweepMutex_;
    std::condition_variable sweepWake_;
    std::atomic<bool> stopping_{false};
    // Its stop token ends a long purge of the search index between two batches.
    std::jthread sweeper_;
};

}  // namespace parley
