#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "BlobStore.h"
#include "ImageProcessing.h"
#include "PluginHost.h"
#include "parley/plugin.h"

namespace parley::attachments {

// A refusal the client sees: one of the protocol's error codes (docs/attachments.md lists which
// command gives which) and a message a person can act on.
class Refusal : public std::runtime_error {
  public:
    Refusal(std::string code, const std::string& message)
        : std::runtime_error(message), code_(std::move(code)) {}
    const std::string& code() const { return code_; }

  private:
    std::string code_;
};

// The plugin's options (docs/attachments.md, "Configuration").
struct Settings {
    std::string folder;
    int64_t maxBytes = 25 * 1024 * 1024;
    int64_t chunkBytes = 32 * 1024;
    // Chunks of raw bytes (the ".../bin" topics: no base64, no JSON around them): an upload
    // begun with "raw": true, and downloads asked on ".../bin". At most parleyd's
    // limits.max_bytes_per_command.
    int64_t rawChunkBytes = 256 * 1024;
    int64_t dailyQuotaBytes = 200 * 1024 * 1024;  // 0: none
    std::vector<std::string> allowedTypes = {"image/jpeg",      "image/png",  "image/webp",
                                             "application/pdf", "text/plain", "application/zip",
                                             "audio/mpeg",      "audio/ogg",  "video/mp4"};
    int64_t uploadTtlMs = 24 * 60 * 60 * 1000;      // an unfinished upload expires
    int64_t unattachedTtlMs = 24 * 60 * 60 * 1000;  // a committed file no message ever used
    int64_t attachGraceMs = 10 * 60 * 1000;         // a file being attached is never collected
    int64_t gcIntervalMs = 10 * 60 * 1000;
    int64_t urlTtlMs = 5 * 60 * 1000;
    std::string urlSecret;      // url_secret_file's text; empty: one kept in the database
    std::string publicBaseUrl;  // e.g. https://chat.example.com; empty: URLs are paths only
    // Where the file route is served: /ext/{the extension's name in parleyd's config}/file.
    std::string urlPath = "/ext/attachments/file";
    ImageLimits image;

    // Throws std::runtime_error naming the option that is wrong.
    static Settings fromOptions(const nlohmann::json& options);
};

// The host table with `self` bound (plugins/common: every shipped C++ plugin's one wrapper);
// HostUnavailable becomes the client's `unavailable`.
using Host = plugins::PluginHost;

struct GcCounts {
    int64_t uploadsRemoved = 0;
    int64_t attachmentsRemoved = 0;
    int64_t blobsRemoved = 0;
    nlohmann::json toJson() const;
};

// Uploads, attachments and their access rules. Keys in the plugin's key-value store
// (docs/attachments.md, "Storage"):
//   up:{upload}              {"uid","name","mime","size","sha256","chunk_size","chunks","expires"}
//                            (expires with the upload), then {"committed": attachment id}
//   att:{id}                 the attachment: {"id","uploader","name","mime","size","sha256",
//                            "blob","created", and for images "width","height","thumbnail"}
//   ref:{id}:{conv}:{seq}    a stored message that carries it
//   pend:{id}:{conv}         it is being attached to a message of conv (expires)
//   chk:{id}:{conv}          {"after": seq, "at": ms}: a message of conv stored after seq may
//                            carry it, and message.after_store has not recorded that yet (a
//                            parleyd that died in between): the collector looks
//   blob:{sha256}            how many attachments use that blob (the reference count)
//   quota:{uid}:{day}        bytes the user committed that UTC day
//   lock:{upload}            a commit in progress
//   lock:blob:{sha256}       a commit counting the blob up, or the collector counting it down
//                            and deleting it (one at a time: neither deletes what the other uses)
// The bytes of an upload being received are in the store's staging folder: {upload}.part, and
// {upload}.have (one byte per chunk: 1 = received), so no chunk costs a database write.
class Attachments {
  public:
    Attachments(Host host, Settings settings, attachments_blob_store* store);
    ~Attachments();
    Attachments(const Attachments&) = delete;
    Attachments& operator=(const Attachments&) = delete;

    // The custom commands; `uid` from the topic. Throw Refusal.
    nlohmann::json begin(const std::string& uid, const nlohmann::json& args);
    // `raw`: the chunk's bytes as sent on ".../bin" (then "data" is not read).
    nlohmann::json chunk(const std::string& uid, const nlohmann::json& args,
                         std::optional<std::string_view> raw = std::nullopt);
    nlohmann::json status(const std::string& uid, const nlohmann::json& args);
    nlohmann::json commit(const std::string& uid, const nlohmann::json& args);
    nlohmann::json abort(const std::string& uid, const nlohmann::json& args);
    nlohmann::json info(const std::string& uid, const nlohmann::json& args);
    // A chunk of a stored file: in the reply as base64 ("data"), or, `raw` (asked on
    // ".../bin"), in `bytes` for reply_bytes, in chunks of raw_chunk_bytes.
    struct DownloadedChunk {
        nlohmann::json reply;
        std::string bytes;
    };
    DownloadedChunk download(const std::string& uid, const nlohmann::json& args, bool raw = false);
    nlohmann::json url(const std::string& uid, const nlohmann::json& args);

    // message.before_store: the descriptions of the attachments `sender` named (Refusal if one
    // is not theirs or not committed). message.after_store: remembers the references.
    // `lastSeq`: the conversation's last seq before this message (the event's conv_last_seq).
    nlohmann::json resolve(const std::string& sender, const std::string& conv, int64_t lastSeq,
                           const nlohmann::json& ids);
    void recordReferences(const std::string& conv, int64_t seq, const nlohmann::json& attached);

    // GET /ext/{name}/file: {status, content type, file path or body, headers}.
    struct HttpAnswer {
        int status = 404;
        std::string body;
        std::string path;  // a file to stream instead of body
        std::string contentType = "text/plain; charset=utf-8";
        nlohmann::json headers = nlohmann::json::object();
    };
    HttpAnswer serveFile(const std::string& query);

    // One step of the garbage collector (a timer): at most `budget` attachments looked at,
    // continuing where the last step stopped. collectAll walks everything once (attach.gc).
    GcCounts collectStep(size_t budget);
    GcCounts collectAll();

    const Settings& settings() const { return settings_; }

  private:
    nlohmann::json loadUpload(const std::string& uid, const nlohmann::json& args,
                              std::string& uploadId);
    std::optional<nlohmann::json> loadAttachment(const std::string& id);
    nlohmann::json requireReadable(const std::string& uid, const nlohmann::json& args,
                                   std::string& id);
    bool mayRead(const std::string& uid, const nlohmann::json& attachment);
    bool messageCarries(const std::string& conv, int64_t seq, const std::string& id);
    bool isMember(const std::string& conv, const std::string& uid);
    std::string stagingPath(const std::string& name) const;
    void chargeQuota(const std::string& uid, int64_t bytes);
    int64_t quotaUsed(const std::string& uid);
    std::string dayKey(const std::string& uid) const;
    // The blob keys a committed file takes (its own and its thumbnail's), stored and counted.
    std::string storeBlob(const std::string& localPath, const std::string& key);
    void releaseBlob(const std::string& key, GcCounts& counts);
    bool collectAttachment(const nlohmann::json& attachment, GcCounts& counts);
    // Settles the chk: marks of attachment `id` past attach_grace_ms: a stored message that
    // carries it gets its reference. False while one is still within the grace (or unfinished).
    bool settleChecks(const std::string& id);
    void collectUploads(GcCounts& counts);
    std::string signature(const std::string& id, const std::string& uid, const std::string& variant,
                          int64_t expires) const;
    nlohmann::json describe(const nlohmann::json& attachment) const;

    Host host_;
    Settings settings_;
    attachments_blob_store* store_;
    std::string secret_;

    std::mutex gcMutex_;
    std::string gcCursor_;  // the last att: key the collector looked at

    // Who may read what, for a few seconds: a download of 800 chunks checks membership once.
    std::mutex grantsMutex_;
    std::map<std::string, int64_t> grants_;  // uid '\n' id -> until (wall ms)
};

}  // namespace parley::attachments
