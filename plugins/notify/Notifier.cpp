#include "Notifier.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <set>
#include <stdexcept>

namespace parley::notify {

namespace {

using nlohmann::json;

int64_t msOption(const json& options, const char* name, int64_t fallback, int64_t minimum) {
    if (!options.contains(name)) {
        return fallback;
    }
    if (!options[name].is_number_integer() || options[name].get<int64_t>() < minimum) {
        throw std::runtime_error(std::string("notify: option ") + name +
                                 " must be an integer >= " + std::to_string(minimum));
    }
    return options[name].get<int64_t>();
}

std::string textOption(const json& options, const char* name, const std::string& fallback = {}) {
    if (!options.contains(name)) {
        return fallback;
    }
    if (!options[name].is_string()) {
        throw std::runtime_error(std::string("notify: option ") + name + " must be a string");
    }
    return options[name].get<std::string>();
}

// The first line of a file: a secret kept out of the YAML.
std::string firstLine(const std::string& path, const std::string& option) {
    std::ifstream file(path);
    std::string line;
    if (!file || !std::getline(file, line)) {
        throw std::runtime_error("notify: cannot read " + option + " " + path);
    }
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) {
        line.pop_back();
    }
    return line;
}

std::string secretOption(const json& options, const char* name, const char* fileName) {
    const std::string inline_ = textOption(options, name);
    const std::string file = textOption(options, fileName);
    if (!inline_.empty() && !file.empty()) {
        throw std::runtime_error(std::string("notify: set ") + name + " or " + fileName +
                                 ", not both");
    }
    return file.empty() ? inline_ : firstLine(file, fileName);
}

// "p/{uid}/{conv}": uid and conv never contain '/'.
std::pair<std::string, std::string> splitPendingKey(const std::string& key) {
    const auto slash = key.find('/', 2);
    return {key.substr(2, slash - 2), key.substr(slash + 1)};
}

}  // namespace

NotifierSettings NotifierSettings::fromOptions(const json& options) {
    NotifierSettings settings;
    settings.delayMs = msOption(options, "delay_ms", settings.delayMs, 0);
    settings.pollMs = msOption(options, "poll_ms", settings.pollMs, 10);
    settings.throttleMinMs = msOption(options, "throttle_min_ms", settings.throttleMinMs, 0);
    settings.throttleMaxMs =
        msOption(options, "throttle_max_ms", settings.throttleMaxMs, settings.throttleMinMs);
    settings.retryBaseMs = msOption(options, "retry_base_ms", settings.retryBaseMs, 10);
    settings.retryMaxMs =
        msOption(options, "retry_max_ms", settings.retryMaxMs, settings.retryBaseMs);
    settings.leaseMs = msOption(options, "lease_ms", settings.leaseMs, 1000);
    settings.overlapMs = msOption(options, "overlap_ms", settings.overlapMs, 0);
    settings.latestMessages = static_cast<size_t>(msOption(options, "latest_messages", 3, 0));
    settings.templatesDir = textOption(options, "templates");
    if (settings.templatesDir.empty()) {
        throw std::runtime_error("notify: option templates (a folder) is required");
    }
    if (options.contains("smtp")) {
        const json& smtp = options["smtp"];
        if (!smtp.is_object()) {
            throw std::runtime_error("notify: option smtp must be a mapping");
        }
        settings.smtp.url = textOption(smtp, "url");
        if (settings.smtp.url.rfind("smtp://", 0) != 0 &&
            settings.smtp.url.rfind("smtps://", 0) != 0) {
            throw std::runtime_error("notify: smtp.url must start with smtp:// or smtps://");
        }
        settings.smtp.starttls = textOption(smtp, "starttls", "try");
        if (settings.smtp.starttls != "off" && settings.smtp.starttls != "try" &&
            settings.smtp.starttls != "require") {
            throw std::runtime_error("notify: smtp.starttls is off, try or require");
        }
        settings.smtp.username = textOption(smtp, "username");
        settings.smtp.password = secretOption(smtp, "password", "password_file");
        settings.smtp.from = textOption(smtp, "from");
        if (settings.smtp.from.empty()) {
            throw std::runtime_error("notify: smtp.from is required");
        }
        settings.smtp.caFile = textOption(smtp, "ca_file");
        settings.smtp.timeoutMs = msOption(smtp, "timeout_ms", settings.smtp.timeoutMs, 100);
    }
    if (options.contains("push")) {
        const json& push = options["push"];
        if (!push.is_object()) {
            throw std::runtime_error("notify: option push must be a mapping");
        }
        settings.push.url = textOption(push, "url");
        settings.push.secret = secretOption(push, "secret", "secret_file");
        if (settings.push.url.empty() || settings.push.secret.empty()) {
            throw std::runtime_error("notify: push needs url and secret (or secret_file)");
        }
        settings.push.timeoutMs = msOption(push, "timeout_ms", settings.push.timeoutMs, 100);
    }
    if (options.contains("unsubscribe")) {
        const json& unsubscribe = options["unsubscribe"];
        if (!unsubscribe.is_object()) {
            throw std::runtime_error("notify: option unsubscribe must be a mapping");
        }
        settings.unsubscribeBaseUrl = textOption(unsubscribe, "base_url");
        settings.unsubscribeSecret = secretOption(unsubscribe, "secret", "secret_file");
        if (settings.unsubscribeBaseUrl.empty() || settings.unsubscribeSecret.size() < 16) {
            throw std::runtime_error(
                "notify: unsubscribe needs base_url and a secret of at least 16 characters");
        }
    }
    // A claim must outlive the slowest send, or a second instance would send the same digest.
    const int64_t slowestSend = std::max(settings.smtp.url.empty() ? 0 : settings.smtp.timeoutMs,
                                         settings.push.url.empty() ? 0 : settings.push.timeoutMs);
    if (settings.leaseMs < 2 * slowestSend) {
        throw std::runtime_error("notify: lease_ms must be at least twice the send timeouts");
    }
    return settings;
}

// ---- Notifier ----

Notifier::Notifier(Host host, NotifierSettings settings)
    : host_(host),
      settings_(std::move(settings)),
      templates_(std::make_unique<DigestTemplates>(settings_.templatesDir)) {}

Notifier::~Notifier() {
    stop();
}

void Notifier::start() {
    worker_ = std::thread([this] { loop(); });
}

void Notifier::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (worker_.joinable()) {
        worker_.join();
    }
}

void Notifier::loop() {
    while (!stopping_) {
        try {
            runOnce();
        } catch (const std::exception& error) {
            host_.log(PARLEY_LOG_WARNING, std::string("round failed, retrying: ") + error.what());
        }
        std::unique_lock lock(mutex_);
        wake_.wait_for(lock, std::chrono::milliseconds(settings_.pollMs),
                       [this] { return stopping_.load(); });
    }
}

void Notifier::runOnce() {
    discover();
    deliverDue();
}

void Notifier::discover() {
    const int64_t now = host_.now();
    const auto stored = host_.kvGet("cursor");
    // The first start notifies about what happens from now on, not about old history.
    int64_t cursor = stored ? std::stoll(*stored) : now;
    // Messages commit in an order their timestamps do not follow exactly: look back a little.
    int64_t since = cursor - settings_.overlapMs;
    std::map<std::string, json> states;
    std::map<std::string, int64_t> recordedNow;
    constexpr size_t kPage = 500;
    for (;;) {
        const json rows = host_.unreadScan(since, nullptr, kPage);
        for (const auto& row : rows) {
            const std::string uid = row["user"];
            const std::string conv = row["conv"];
            const int64_t lastSeq = row["last_seq"];
            cursor = std::max<int64_t>(cursor, row["last_activity"].get<int64_t>());
            if (row["presence"] == "online") {
                continue;  // they saw it live
            }
            const std::string key = "p/" + uid + "/" + conv;
            // Rows come back every round while they are within the overlap: what this
            // instance already recorded at this seq is not read again.
            const auto known = recorded_.find(key);
            if (known != recorded_.end() && known->second == lastSeq) {
                recordedNow.emplace(key, lastSeq);
                continue;
            }
            auto found = states.find(uid);
            if (found == states.end()) {
                const auto text = host_.kvGet("u/" + uid);
                found = states.emplace(uid, text ? json::parse(*text) : json::object()).first;
                const auto seen = host_.kvGet("seen/" + uid);
                found->second["seen"] = seen ? std::stoll(*seen) : int64_t{0};
            }
            // Online after the conversation's newest message: they had their chance to see it.
            if (found->second["seen"].get<int64_t>() >= row["last_activity"].get<int64_t>()) {
                recordedNow.emplace(key, lastSeq);
                continue;
            }
            const json& notified = found->second.value("notified", json::object());
            if (notified.value(conv, int64_t{0}) >= lastSeq) {
                continue;
            }
            if (!host_.kvGet(key)) {
                host_.kvSet(key, json{{"since", row["last_activity"]}}.dump());
            }
            recordedNow.emplace(key, lastSeq);
        }
        if (rows.size() < kPage) {
            break;
        }
        const int64_t last = rows.back()["last_activity"];
        // A page of one instant only: the next page would be the same one.
        since = last > since ? last : since + 1;
    }
    recorded_ = std::move(recordedNow);
    if (!stored || cursor > std::stoll(*stored)) {
        host_.kvSet("cursor", std::to_string(cursor));
    }
}

void Notifier::deliverDue() {
    // Pending per user, and users whose outbox waits.
    std::map<std::string, std::pair<std::vector<std::string>, int64_t>> pending;
    // Named: items() of a temporary would dangle in a range-for.
    const json pendingKeys = host_.kvList("p/", 1000);
    for (const auto& [key, value] : pendingKeys.items()) {
        const auto [uid, conv] = splitPendingKey(key);
        const int64_t since = json::parse(value.get<std::string>()).value("since", int64_t{0});
        auto& entry = pending.try_emplace(uid, std::vector<std::string>{}, since).first->second;
        entry.first.push_back(conv);
        entry.second = std::min(entry.second, since);
    }
    std::set<std::string> users;
    for (const auto& [uid, entry] : pending) {
        users.insert(uid);
    }
    const json queuedKeys = host_.kvList("q/", 1000);
    for (const auto& [key, value] : queuedKeys.items()) {
        users.insert(key.substr(2));
    }
    for (const auto& uid : users) {
        if (stopping_) {
            return;
        }
        try {
            const auto found = pending.find(uid);
            if (found != pending.end()) {
                processUser(uid, found->second.first, found->second.second);
            } else {
                processUser(uid, {}, 0);
            }
        } catch (const std::exception& error) {
            host_.log(PARLEY_LOG_WARNING, "user " + uid + ": " + error.what());
        }
    }
}

bool Notifier::claim(const std::string& uid) {
    // One instance per user at a time; the lease frees it if that instance dies.
    return host_.kvIncr("c/" + uid, 1, settings_.leaseMs) == 1;
}

void Notifier::processUser(const std::string& uid, const std::vector<std::string>& pendingConvs,
                           int64_t pendingSince) {
    const int64_t now = host_.now();
    auto stateText = host_.kvGet("u/" + uid);
    json state = stateText ? json::parse(*stateText) : json::object();
    if (state.contains("outbox")) {
        // The digest already made waits for delivery; what is pending joins the next one.
        if (state["outbox"].value("next_try", int64_t{0}) > now || !claim(uid)) {
            return;
        }
        const Release release{host_, uid};
        // Read again under the claim: another instance may have just delivered it.
        stateText = host_.kvGet("u/" + uid);
        state = stateText ? json::parse(*stateText) : json::object();
        if (state.contains("outbox")) {
            deliverOutbox(uid, state);
        }
        return;
    }
    if (pendingConvs.empty()) {
        host_.kvDelete("q/" + uid);
        return;
    }
    const json prefs = preferences(uid);
    if (pendingSince + prefs.value("delay_ms", settings_.delayMs) > now) {
        return;  // not due yet
    }
    const auto seenText = host_.kvGet("seen/" + uid);
    const int64_t lastSent = state.value("last_sent", int64_t{0});
    int64_t interval = state.value("interval", settings_.throttleMinMs);
    // They came back since the last digest (or never had one): the throttle starts over.
    const int64_t seenMs = seenText ? std::stoll(*seenText) : 0;
    const bool fresh = lastSent == 0 || seenMs > lastSent;
    if (fresh) {
        interval = settings_.throttleMinMs;
    }
    if (lastSent > 0 && lastSent + interval > now) {
        return;  // throttled: everything stays pending for the next digest
    }
    if (!claim(uid)) {
        return;
    }
    const Release release{host_, uid};
    // Under the claim: if another instance sent (or queued) a digest meanwhile, next round.
    if (host_.kvGet("u/" + uid) != stateText) {
        return;
    }

    // What is unread now (they may have read or come online since it was found).
    std::map<std::string, json> unread;
    std::string presence = "offline";
    int64_t badge = 0;
    for (const auto& row : host_.unreadScan(0, &uid, 1000)) {
        unread[row["conv"]] = row;
        presence = row["presence"];
        badge += row["last_seq"].get<int64_t>() - row["read_seq"].get<int64_t>();
    }
    const auto dropPending = [&] {
        for (const auto& conv : pendingConvs) {
            host_.kvDelete("p/" + uid + "/" + conv);
        }
    };
    if (presence == "online") {
        dropPending();
        return;
    }
    json notified = state.value("notified", json::object());
    const json muted = prefs.value("muted", json::array());
    const json user = host_.user(uid);
    const bool wantsEmail = prefs.value("email", true) && !settings_.smtp.url.empty() &&
                            user.contains("email") && user["email"].is_string();
    const auto devicesText = host_.kvGet("dev/" + uid);
    const json devices = devicesText ? json::parse(*devicesText) : json::array();
    const bool wantsPush = !settings_.push.url.empty() && !devices.empty();

    Digest digest{uid, user.value("name", ""), unsubscribeUrl(uid), {}};
    for (const auto& conv : pendingConvs) {
        const auto row = unread.find(conv);
        if (row == unread.end()) {
            continue;  // read in time
        }
        if (seenMs >= row->second["last_activity"].get<int64_t>()) {
            continue;  // they came online after its newest message
        }
        const int64_t lastSeq = row->second["last_seq"];
        const int64_t from =
            std::max(row->second["read_seq"].get<int64_t>(), notified.value(conv, int64_t{0}));
        if (from >= lastSeq) {
            continue;
        }
        if (std::find(muted.begin(), muted.end(), conv) != muted.end()) {
            notified[conv] = lastSeq;
            continue;
        }
        const auto summary = host_.conversation(conv);
        if (!summary) {
            continue;
        }
        const json page = {
            {"msgs", host_.latestMessages(conv, std::min<int64_t>(lastSeq - from, 20))}};
        digest.conversations.push_back(
            conversationFrom(*summary, page, uid, from, lastSeq, settings_.latestMessages));
    }
    if (digest.conversations.empty() || (!wantsEmail && !wantsPush)) {
        for (const auto& conversation : digest.conversations) {
            notified[conversation.conv] = conversation.lastSeq;  // nobody to tell: done
        }
        state["notified"] = notified;
        host_.kvSet("u/" + uid, state.dump());
        dropPending();
        return;
    }

    // The outbox is written before anything is sent and before the pending entries go: a
    // crash from here on resends this digest (at most), never loses it.
    const std::string digestId = uid + "." + std::to_string(now);
    json outbox = {
        {"id", digestId}, {"attempts", 0}, {"next_try", now}, {"created", now}, {"fresh", fresh}};
    json covers = json::object();
    for (const auto& conversation : digest.conversations) {
        covers[conversation.conv] = conversation.lastSeq;
    }
    outbox["covers"] = covers;
    if (wantsEmail) {
        const RenderedMail mail = templates_->render(digest);
        outbox["email"] = {{"to", user["email"]},
                           {"subject", mail.subject},
                           {"text", mail.text},
                           {"html", mail.html},
                           {"unsubscribe", digest.unsubscribeUrl},
                           {"done", false}};
    }
    if (wantsPush) {
        json conversations = json::array();
        for (const auto& conversation : digest.conversations) {
            conversations.push_back({{"conv", conversation.conv},
                                     {"title", conversation.title},
                                     {"count", conversation.count},
                                     {"senders", conversation.senderNames}});
        }
        outbox["push"] = {{"payload",
                           {{"user", uid},
                            {"digest", digestId},
                            {"conversations", conversations},
                            {"messages", digest.total()},
                            {"badge", badge},
                            {"devices", devices}}},
                          {"done", false}};
    }
    state["outbox"] = outbox;
    state["interval"] = interval;
    host_.kvSet("u/" + uid, state.dump());
    host_.kvSet("q/" + uid, "1");
    dropPending();
    deliverOutbox(uid, state);
}

void Notifier::deliverOutbox(const std::string& uid, json& state) {
    json& outbox = state["outbox"];
    const std::string digestId = outbox["id"];
    const int64_t now = host_.now();
    std::string failure;
    if (outbox.contains("email") && !outbox["email"].value("done", false)) {
        const json& email = outbox["email"];
        const RenderedMail mail{email["subject"], email["text"], email["html"]};
        const std::string message = mimeMessage(settings_.smtp.from, email["to"], mail,
                                                outbox["id"].get<std::string>() + "@parley",
                                                email["unsubscribe"], outbox["created"]);
        const SendResult sent = sendMail(settings_.smtp, email["to"], message, stopping_);
        if (sent.ok) {
            outbox["email"]["done"] = true;
        } else {
            failure = "email: " + sent.error;
        }
    }
    if (outbox.contains("push") && !outbox["push"].value("done", false)) {
        const SendResult sent =
            postPush(settings_.push, outbox["push"]["payload"].dump(), now, stopping_);
        if (sent.ok) {
            outbox["push"]["done"] = true;
        } else {
            failure += (failure.empty() ? "" : "; ") + std::string("push: ") + sent.error;
        }
    }
    if (failure.empty()) {
        json notified = state.value("notified", json::object());
        for (const auto& [conv, seq] : outbox["covers"].items()) {
            notified[conv] = seq;
        }
        state["notified"] = notified;
        // The gap before the next digest doubles with every digest while the user stays away,
        // and starts over at throttle_min_ms once they came back.
        const int64_t interval = state.value("interval", settings_.throttleMinMs);
        state["interval"] =
            outbox.value("fresh", true)
                ? settings_.throttleMinMs
                : std::min(settings_.throttleMaxMs, std::max<int64_t>(interval * 2, 1));
        state["last_sent"] = now;
        state.erase("outbox");  // `outbox` refers to it: not used from here on
        host_.kvSet("u/" + uid, state.dump());
        host_.kvDelete("q/" + uid);
        host_.log(PARLEY_LOG_INFO, "digest " + digestId + " delivered");
        return;
    }
    const int attempts = outbox.value("attempts", 0) + 1;
    outbox["attempts"] = attempts;
    const int64_t backoff =
        std::min(settings_.retryMaxMs, settings_.retryBaseMs << std::min(attempts - 1, 20));
    outbox["next_try"] = now + backoff;
    host_.kvSet("u/" + uid, state.dump());
    host_.log(PARLEY_LOG_WARNING, "digest " + digestId + " attempt " + std::to_string(attempts) +
                                      " failed (" + failure + "), next in " +
                                      std::to_string(backoff) + " ms");
}

void Notifier::userConnected(const std::string& uid) {
    host_.kvSet("seen/" + uid, std::to_string(host_.now()));
    const json pendingKeys = host_.kvList("p/" + uid + "/", 1000);
    for (const auto& [key, value] : pendingKeys.items()) {
        host_.kvDelete(key);
    }
}

json Notifier::preferences(const std::string& uid) const {
    const auto text = host_.kvGet("prefs/" + uid);
    json prefs = {{"email", true}, {"delay_ms", settings_.delayMs}, {"muted", json::array()}};
    if (text) {
        prefs.update(json::parse(*text));
    }
    return prefs;
}

json Notifier::setPreferences(const std::string& uid, const json& change) {
    json prefs = preferences(uid);
    if (change.contains("email")) {
        if (!change["email"].is_boolean()) {
            throw std::invalid_argument("\"email\" must be true or false");
        }
        prefs["email"] = change["email"];
    }
    if (change.contains("delay_ms")) {
        if (!change["delay_ms"].is_number_integer() || change["delay_ms"].get<int64_t>() < 0 ||
            change["delay_ms"].get<int64_t>() > int64_t{7} * 24 * 3600 * 1000) {
            throw std::invalid_argument("\"delay_ms\" must be 0 to 604800000 (a week)");
        }
        prefs["delay_ms"] = change["delay_ms"];
    }
    for (const char* field : {"mute", "unmute"}) {
        if (!change.contains(field)) {
            continue;
        }
        const json& convs = change[field];
        if (!convs.is_array() || convs.size() > 1000 ||
            !std::all_of(convs.begin(), convs.end(), [](const json& c) {
                return c.is_string() && !c.get<std::string>().empty() &&
                       c.get<std::string>().size() <= 64;
            })) {
            throw std::invalid_argument(std::string("\"") + field +
                                        "\" must be a list of conversation ids");
        }
        json& muted = prefs["muted"];
        for (const auto& conv : convs) {
            const auto at = std::find(muted.begin(), muted.end(), conv);
            if (std::string(field) == "mute" && at == muted.end()) {
                muted.push_back(conv);
            } else if (std::string(field) == "unmute" && at != muted.end()) {
                muted.erase(at);
            }
        }
    }
    host_.kvSet("prefs/" + uid, prefs.dump());
    return prefs;
}

void Notifier::registerDevice(const std::string& uid, const std::string& token,
                              const std::string& platform, bool add) {
    const auto text = host_.kvGet("dev/" + uid);
    json devices = text ? json::parse(*text) : json::array();
    json kept = json::array();
    for (const auto& device : devices) {
        if (device.value("token", "") != token) {
            kept.push_back(device);
        }
    }
    if (add) {
        if (kept.size() >= 20) {
            kept.erase(kept.begin());  // the oldest device goes
        }
        kept.push_back({{"token", token}, {"platform", platform}});
    }
    host_.kvSet("dev/" + uid, kept.dump());
}

std::string Notifier::unsubscribeUrl(const std::string& uid) const {
    if (settings_.unsubscribeBaseUrl.empty()) {
        return {};
    }
    return settings_.unsubscribeBaseUrl +
           (settings_.unsubscribeBaseUrl.find('?') == std::string::npos ? "?" : "&") +
           "u=" + percentEncode(uid) + "&t=" + unsubscribeToken(settings_.unsubscribeSecret, uid);
}

std::pair<int, std::string> Notifier::unsubscribe(const std::string& method,
                                                  const std::string& query) {
    const auto uid = queryValue(query, "u");
    const auto token = queryValue(query, "t");
    if (settings_.unsubscribeSecret.empty() || !uid || !token || uid->empty() || uid->size() > 64 ||
        !verifyUnsubscribeToken(settings_.unsubscribeSecret, *uid, *token)) {
        return {403,
                "<!doctype html><title>Invalid link</title><p>This unsubscribe link is "
                "not valid.</p>\n"};
    }
    if (method != "POST") {
        // Mail scanners follow links: only the form (or a one-click client, RFC 8058) changes.
        return {200,
                "<!doctype html><title>Unsubscribe</title><form method=\"post\">"
                "<p>Stop email notifications?</p><button>Unsubscribe</button></form>\n"};
    }
    setPreferences(*uid, json{{"email", false}});
    host_.log(PARLEY_LOG_INFO, "user " + *uid + " turned email notifications off (link)");
    return {200,
            "<!doctype html><title>Unsubscribed</title><p>You will get no more email "
            "notifications.</p>\n"};
}

}  // namespace parley::notify
