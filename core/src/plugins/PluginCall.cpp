#include "plugins/PluginCall.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "chat/MessageLimits.h"
#include "chat/MessagePosting.h"
#include "plugins/PluginInstance.h"
#include "plugins/PluginStatus.h"
#include "protocol/ErrorCode.h"
#include "protocol/Views.h"
#include "util/Utf8.h"

namespace parley {

namespace {
thread_local PluginCall* innermostCall = nullptr;
}  // namespace

PluginCall::PluginCall(const PluginInstance& plugin, std::optional<Hook> hook, MessageDraft* draft,
                       DeliveryDraft* delivery)
    : plugin_(plugin), hook_(hook), draft_(draft), delivery_(delivery), outer_(innermostCall) {
    innermostCall = this;
}

PluginCall::~PluginCall() {
    innermostCall = outer_;
}

PluginCall* PluginCall::active(const parley_call* handle) {
    // Compares addresses only: `handle` may point anywhere.
    for (PluginCall* call = innermostCall; call != nullptr; call = call->outer_) {
        if (call->handle() == handle) {
            return call;
        }
    }
    return nullptr;
}

const std::string& PluginCall::pluginName() const {
    return plugin_.name();
}

parley_status PluginCall::reject(const char* code, const char* message) {
    return rejectWith(code, message, nullptr);
}

parley_status PluginCall::rejectWith(const char* code, const char* message,
                                     const char* detailsJson) {
    if (hook_ && !hookMayReject(*hook_)) {
        return PARLEY_ERR_FORBIDDEN;
    }
    // The rejection is recorded even when an argument is wrong: a plugin that meant to refuse
    // and then returns PARLEY_REJECT refuses, with "internal" or a generic message.
    parley_status status = PARLEY_OK;
    const auto known = code != nullptr ? rejectionCodeByName(code) : std::nullopt;
    if (!known) {
        spdlog::warn("plugin '{}': reject with unknown code '{}', sent as 'internal'",
                     plugin_.name(), code != nullptr ? code : "(null)");
        status = PARLEY_ERR_INVALID;
    }
    rejectCode_ = known.value_or(ErrorCode::Internal);
    rejectMessage_.clear();
    if (message != nullptr && isValidUtf8(message)) {
        rejectMessage_ = message;
    } else if (message != nullptr) {
        status = PARLEY_ERR_INVALID;
    }
    rejectDetails_ = nlohmann::json::object();
    if (detailsJson != nullptr) {
        // Details that are wrong are left out; the rejection stands.
        try {
            rejectDetails_ = rejectionDetails(nlohmann::json::parse(detailsJson, nullptr, false));
        } catch (const ProtocolError& error) {
            spdlog::warn("plugin '{}': reject_with: {}", plugin_.name(), error.what());
            if (status == PARLEY_OK) {
                status =
                    error.code() == ErrorCode::TooLarge ? PARLEY_ERR_TOO_LARGE : PARLEY_ERR_INVALID;
            }
        }
    }
    return status;
}

parley_status PluginCall::rewriteStatus(std::string_view body, const nlohmann::json& meta) const {
    if (auto problem = messageProblem(plugin_.rules().limits, body, meta)) {
        return problem->code == ErrorCode::TooLarge ? PARLEY_ERR_TOO_LARGE : PARLEY_ERR_INVALID;
    }
    return PARLEY_OK;
}

parley_status PluginCall::setBody(const char* body, size_t bodyLen) {
    if (!rewritable()) {
        return PARLEY_ERR_FORBIDDEN;
    }
    if (body == nullptr) {
        return PARLEY_ERR_INVALID;
    }
    std::string text(body, bodyLen);
    // The draft is stored as it leaves the chain: the rewrite keeps the limits of a message.
    if (auto status = rewriteStatus(text, metaNow()); status != PARLEY_OK) {
        return status;
    }
    body_ = std::move(text);
    return PARLEY_OK;
}

parley_status PluginCall::setMeta(const char* metaJson) {
    if (!rewritable()) {
        return PARLEY_ERR_FORBIDDEN;
    }
    auto meta =
        metaJson == nullptr ? nlohmann::json() : nlohmann::json::parse(metaJson, nullptr, false);
    if (metaJson != nullptr && !meta.is_object()) {
        return PARLEY_ERR_INVALID;
    }
    if (auto status = rewriteStatus(bodyNow(), meta); status != PARLEY_OK) {
        return status;
    }
    meta_ = std::move(meta);
    return PARLEY_OK;
}

parley_status PluginCall::setAttachments(const char* attachmentsJson) {
    if (hook_ != Hook::MessageBeforeStore || draft_ == nullptr) {
        return PARLEY_ERR_FORBIDDEN;
    }
    if (attachmentsJson == nullptr) {
        return PARLEY_ERR_INVALID;
    }
    auto resolved = nlohmann::json::parse(attachmentsJson, nullptr, false);
    // Matched against the ids the sender named (draft_->attachments is never rewritten to
    // anything but their resolution, so it still holds them, or their earlier resolution).
    const nlohmann::json& named = draft_->attachments;
    if (!resolved.is_array() || !named.is_array() || resolved.size() != named.size()) {
        return PARLEY_ERR_INVALID;
    }
    for (size_t i = 0; i < resolved.size(); ++i) {
        const nlohmann::json id =
            named[i].is_object() ? named[i].value("id", nlohmann::json()) : named[i];
        if (!resolved[i].is_object() || resolved[i].value("id", nlohmann::json()) != id) {
            return PARLEY_ERR_INVALID;
        }
    }
    if (resolved.dump().size() > MessagePosting::kMaxAttachmentsBytes) {
        return PARLEY_ERR_TOO_LARGE;
    }
    attachments_ = std::move(resolved);
    return PARLEY_OK;
}

parley_status PluginCall::reply(const char* replyJson) {
    if (hook_) {
        return PARLEY_ERR_FORBIDDEN;
    }
    if (replyJson == nullptr) {
        return PARLEY_ERR_INVALID;
    }
    auto fields = nlohmann::json::parse(replyJson, nullptr, false);
    if (!fields.is_object()) {
        return PARLEY_ERR_INVALID;
    }
    // Bounded like every payload parleyd publishes (events of extensions included).
    if (static_cast<int64_t>(toPayload(fields).size()) > plugin_.rules().limits.maxPayloadBytes) {
        return PARLEY_ERR_TOO_LARGE;
    }
    reply_ = std::move(fields);
    return PARLEY_OK;
}

parley_status PluginCall::replyWithBytes(const char* replyJson, const char* bytes, size_t len) {
    if (bytes == nullptr && len > 0) {
        return PARLEY_ERR_INVALID;
    }
    if (static_cast<int64_t>(len) > plugin_.rules().limits.maxBytesPerCommand) {
        return PARLEY_ERR_TOO_LARGE;
    }
    const parley_status status = reply(replyJson);
    if (status == PARLEY_OK) {
        replyBytes_ = std::string(bytes == nullptr ? "" : std::string_view(bytes, len));
    }
    return status;
}

parley_status PluginCall::dropRecipient(const char* uid) {
    if (hook_ != Hook::EventBeforeDeliver || delivery_ == nullptr) {
        return PARLEY_ERR_FORBIDDEN;
    }
    if (uid == nullptr) {
        return PARLEY_ERR_INVALID;
    }
    const std::string_view recipient(uid);
    const auto& recipients = delivery_->recipients;
    if (std::find(recipients.begin(), recipients.end(), recipient) == recipients.end() ||
        std::find(dropped_.begin(), dropped_.end(), recipient) != dropped_.end()) {
        return PARLEY_ERR_NOT_FOUND;
    }
    dropped_.emplace_back(recipient);
    return PARLEY_OK;
}

Verdict PluginCall::rejection() const {
    if (!rejectCode_) {
        return Verdict::reject(ErrorCode::Forbidden,
                               "refused by extension '" + plugin_.name() + "'");
    }
    return Verdict::reject(
        *rejectCode_,
        rejectMessage_.empty() ? "refused by extension '" + plugin_.name() + "'" : rejectMessage_,
        rejectDetails_);
}

Verdict PluginCall::hookVerdict(int status) {
    switch (status) {
        case PARLEY_OK:
        case PARLEY_DEFER:
            if (draft_ != nullptr) {
                if (body_) {
                    draft_->body = std::move(*body_);
                }
                if (meta_) {
                    draft_->meta = std::move(*meta_);
                }
                if (attachments_) {
                    draft_->attachments = std::move(*attachments_);
                }
            }
            if (delivery_ != nullptr && !dropped_.empty()) {
                std::erase_if(delivery_->recipients, [&](const std::string& uid) {
                    return std::find(dropped_.begin(), dropped_.end(), uid) != dropped_.end();
                });
            }
            return Verdict::proceed();
        case PARLEY_REJECT:
            return rejection();
        default:
            return Verdict::fail(describeStatus(status));
    }
}

Verdict PluginCall::commandVerdict(int status) {
    switch (status) {
        case PARLEY_OK: {
            Verdict verdict =
                Verdict::replyWith(reply_ ? std::move(*reply_) : nlohmann::json::object());
            verdict.replyBytes = std::move(replyBytes_);
            return verdict;
        }
        case PARLEY_DEFER:
            return Verdict::defer();
        case PARLEY_REJECT:
            return rejection();
        default:
            return Verdict::fail(describeStatus(status));
    }
}

}  // namespace parley
