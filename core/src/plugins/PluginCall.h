#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hooks/Hook.h"
#include "parley/plugin.h"

namespace parley {

class PluginInstance;

// One hook or command call into a plugin: what the opaque parley_call* stands for. Lives on the
// adapter's stack for the duration of the callback and records what the plugin asks for through
// the host table (a rejection, a rewrite of the draft, a command's reply); the adapter turns it
// into the Verdict once the callback returns.
//
// Calls in progress are chained per thread, so a handle is honoured only by the thread running
// that callback and only while it runs: a handle kept past its callback, used from another
// thread, or made up is not found and gets PARLEY_ERR_INVALID, never a dereference.
class PluginCall {
  public:
    // hook: the hook being run, or nothing for a command. draft: message.before_store's;
    // delivery: event.before_deliver's.
    PluginCall(const PluginInstance& plugin, std::optional<Hook> hook, MessageDraft* draft,
               DeliveryDraft* delivery = nullptr);
    ~PluginCall();
    PluginCall(const PluginCall&) = delete;
    PluginCall& operator=(const PluginCall&) = delete;

    parley_call* handle() { return reinterpret_cast<parley_call*>(this); }
    // The call in progress on this thread with this handle, or nullptr.
    static PluginCall* active(const parley_call* handle);

    const std::string& pluginName() const;

    parley_status reject(const char* code, const char* message);
    // reject with extra fields for the client's error object (a JSON object, or NULL).
    parley_status rejectWith(const char* code, const char* message, const char* detailsJson);
    parley_status setBody(const char* body, size_t bodyLen);
    parley_status setMeta(const char* metaJson);
    parley_status setAttachments(const char* attachmentsJson);
    parley_status reply(const char* replyJson);
    parley_status replyWithBytes(const char* replyJson, const char* bytes, size_t len);
    parley_status dropRecipient(const char* uid);

    // What the callback's status means for a hook; OK and DEFER apply the recorded rewrite.
    Verdict hookVerdict(int status);
    Verdict commandVerdict(int status);

  private:
    Verdict rejection() const;
    // The body and meta the message would have if the call ended now.
    const std::string& bodyNow() const { return body_ ? *body_ : draft_->body; }
    const nlohmann::json& metaNow() const { return meta_ ? *meta_ : draft_->meta; }
    // OK if (body, meta) is a message parleyd stores; else TOO_LARGE or INVALID.
    parley_status rewriteStatus(std::string_view body, const nlohmann::json& meta) const;
    // message.before_store and message.before_edit may rewrite their draft.
    bool rewritable() const {
        return draft_ != nullptr &&
               (hook_ == Hook::MessageBeforeStore || hook_ == Hook::MessageBeforeEdit);
    }

    const PluginInstance& plugin_;
    const std::optional<Hook> hook_;
    MessageDraft* const draft_;
    DeliveryDraft* const delivery_;
    PluginCall* const outer_;  // the call this one runs inside of on this thread (post_message)

    std::optional<ErrorCode> rejectCode_;
    std::string rejectMessage_;
    nlohmann::json rejectDetails_ = nlohmann::json::object();
    std::optional<std::string> body_;
    std::optional<nlohmann::json> meta_;
    std::optional<nlohmann::json> attachments_;
    std::optional<nlohmann::json> reply_;
    std::optional<std::string> replyBytes_;
    std::vector<std::string> dropped_;
};

}  // namespace parley
