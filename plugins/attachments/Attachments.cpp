#include "Attachments.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <utility>

#include "Content.h"

namespace parley::attachments {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

constexpr size_t kIdCharacters = 24;
constexpr int64_t kGrantMs = 10 * 1000;
constexpr int64_t kLockMs = 60 * 1000;
// How long a commit waits for the collector to finish with a blob of the same bytes (and the
// collector for a commit): each holds the blob's lock for a few key-value writes and a file
// removal.
constexpr std::chrono::milliseconds kBlobLockPatience{2000};
constexpr size_t kRefsChecked = 1000;
// A chk: mark lives this long: the collector runs every gc_interval_ms (10 min by default).
constexpr int64_t kCheckMs = 7LL * 24 * 60 * 60 * 1000;
// Pages of 100 messages one collector step reads for one chk: mark before going on next step.
constexpr int kCheckPages = 20;
const std::string kThumbnail = "thumbnail";

// A lock every parleyd of the database shares: a counter in the plugin's key-value store, held
// by whoever counted it from 0 to 1 and released by deleting it; one whose holder died expires
// after kLockMs. A taker that finds it held does not count back down: a decrement landing after
// the holder's delete would leave -1, and the next two takers would both hold it.
class KvLock {
  public:
    // Tries until `patience` has passed; nullopt if it stayed held.
    static std::optional<KvLock> take(const Host& host, std::string key,
                                      std::chrono::milliseconds patience) {
        const auto until = std::chrono::steady_clock::now() + patience;
        while (host.kvIncr(key, 1, kLockMs) != 1) {
            if (std::chrono::steady_clock::now() >= until) {
                return std::nullopt;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        return KvLock(host, std::move(key));
    }
    KvLock(KvLock&& other) noexcept : host_(other.host_), key_(std::exchange(other.key_, {})) {}
    KvLock& operator=(KvLock&&) = delete;
    KvLock(const KvLock&) = delete;
    KvLock& operator=(const KvLock&) = delete;
    ~KvLock() {
        if (key_.empty()) {
            return;
        }
        try {
            host_->kvDelete(key_);
        } catch (...) {
            // expires after kLockMs
        }
    }

  private:
    KvLock(const Host& host, std::string key) : host_(&host), key_(std::move(key)) {}
    const Host* host_;
    std::string key_;
};

std::string blobLockKey(const std::string& blob) {
    return "lock:blob:" + blob;
}

struct Fd {
    int fd = -1;
    explicit Fd(int opened) : fd(opened) {}
    ~Fd() {
        if (fd >= 0) {
            ::close(fd);
        }
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
};

Refusal badRequest(const std::string& message) {
    return Refusal("bad_request", message);
}

const json& field(const json& args, const char* name) {
    static const json missing;
    const auto found = args.find(name);
    return found == args.end() ? missing : *found;
}

std::string requireId(const json& args, const char* name) {
    const json& value = field(args, name);
    if (!value.is_string() || value.get_ref<const std::string&>().empty() ||
        value.get_ref<const std::string&>().size() > 64 ||
        value.get_ref<const std::string&>().find_first_not_of(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") !=
            std::string::npos) {
        throw badRequest(std::string("\"") + name + "\" must be an id as the server gave it");
    }
    return value.get<std::string>();
}

int64_t requireInt(const json& args, const char* name, int64_t min, int64_t max) {
    const json& value = field(args, name);
    if (!value.is_number_integer() || value.get<int64_t>() < min || value.get<int64_t>() > max) {
        throw badRequest(std::string("\"") + name + "\" must be an integer from " +
                         std::to_string(min) + " to " + std::to_string(max));
    }
    return value.get<int64_t>();
}

bool validName(const std::string& name) {
    if (name.empty() || name.size() > 255) {
        return false;
    }
    // Control characters and path separators would end up in a Content-Disposition header or a
    // user's file system.
    return std::none_of(name.begin(), name.end(), [](char c) {
        const auto byte = static_cast<unsigned char>(c);
        return byte < 0x20 || byte == 0x7F || c == '/' || c == '\\' || c == '"';
    });
}

bool validMimeType(const std::string& type) {
    const auto slash = type.find('/');
    return !type.empty() && type.size() <= 127 && slash != std::string::npos && slash > 0 &&
           slash + 1 < type.size() &&
           type.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789/+.-_") == std::string::npos;
}

bool isHex64(const std::string& text) {
    return text.size() == 64 && text.find_first_not_of("0123456789abcdef") == std::string::npos;
}

std::string percentEncode(const std::string& text) {
    static constexpr char kDigits[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : text) {
        if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += kDigits[c >> 4];
            out += kDigits[c & 0xF];
        }
    }
    return out;
}

std::optional<std::string> percentDecode(const std::string& text) {
    std::string out;
    for (size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '%') {
            if (i + 2 >= text.size() ||
                std::isxdigit(static_cast<unsigned char>(text[i + 1])) == 0 ||
                std::isxdigit(static_cast<unsigned char>(text[i + 2])) == 0) {
                return std::nullopt;
            }
            out += static_cast<char>(std::stoi(text.substr(i + 1, 2), nullptr, 16));
            i += 2;
        } else {
            out += text[i] == '+' ? ' ' : text[i];
        }
    }
    return out;
}

std::map<std::string, std::string> parseQuery(const std::string& query) {
    std::map<std::string, std::string> fields;
    std::istringstream in(query);
    std::string pair;
    while (std::getline(in, pair, '&')) {
        const auto equals = pair.find('=');
        if (equals == std::string::npos) {
            continue;
        }
        auto value = percentDecode(pair.substr(equals + 1));
        if (value) {
            fields[pair.substr(0, equals)] = std::move(*value);
        }
    }
    return fields;
}

std::string readSecretFile(const std::string& path) {
    std::ifstream in(path);
    if (!in) {
        throw std::runtime_error("url_secret_file: cannot read " + path);
    }
    std::string secret((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) {
        secret.pop_back();
    }
    if (secret.size() < 16) {
        throw std::runtime_error("url_secret_file: the secret must be at least 16 bytes");
    }
    return secret;
}

int64_t chunkCount(int64_t size, int64_t chunkBytes) {
    return size == 0 ? 0 : (size + chunkBytes - 1) / chunkBytes;
}

// A file removed, whatever is left of it.
void removeQuietly(const std::string& path) {
    std::error_code ignored;
    fs::remove(path, ignored);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Settings

Settings Settings::fromOptions(const json& options) {
    Settings settings;
    if (!options.is_object()) {
        throw std::runtime_error("options must be an object");
    }
    const auto integer = [&](const char* name, int64_t& target, int64_t min, int64_t max) {
        if (!options.contains(name)) {
            return;
        }
        const json& value = options[name];
        if (!value.is_number_integer() || value.get<int64_t>() < min ||
            value.get<int64_t>() > max) {
            throw std::runtime_error(std::string("option \"") + name + "\" must be an integer " +
                                     std::to_string(min) + ".." + std::to_string(max));
        }
        target = value.get<int64_t>();
    };
    if (!options.contains("folder") || !options["folder"].is_string() ||
        options["folder"].get<std::string>().empty() ||
        options["folder"].get<std::string>()[0] != '/') {
        throw std::runtime_error("option \"folder\" is required: an absolute path");
    }
    settings.folder = options["folder"];
    constexpr int64_t kDay = 24 * 60 * 60 * 1000;
    integer("max_bytes", settings.maxBytes, 1, int64_t{1} << 40);
    integer("chunk_bytes", settings.chunkBytes, 1024, 12 * 1024 * 1024);
    integer("raw_chunk_bytes", settings.rawChunkBytes, 1024, 64 * 1024 * 1024);
    integer("daily_quota_bytes", settings.dailyQuotaBytes, 0, int64_t{1} << 50);
    integer("upload_ttl_ms", settings.uploadTtlMs, 1000, 30 * kDay);
    integer("unattached_ttl_ms", settings.unattachedTtlMs, 1000, 365 * kDay);
    integer("attach_grace_ms", settings.attachGraceMs, 1000, kDay);
    integer("gc_interval_ms", settings.gcIntervalMs, 100, kDay);
    integer("url_ttl_ms", settings.urlTtlMs, 1000, kDay);
    integer("max_image_pixels", settings.image.maxPixels, 1, int64_t{1} << 34);
    int64_t thumbnail = settings.image.thumbnailSize;
    integer("thumbnail_size", thumbnail, 16, 1024);
    settings.image.thumbnailSize = static_cast<int>(thumbnail);
    if (options.contains("allowed_types")) {
        const json& types = options["allowed_types"];
        if (!types.is_array()) {
            throw std::runtime_error("option \"allowed_types\" must be a list of MIME types");
        }
        settings.allowedTypes.clear();
        for (const auto& type : types) {
            if (!type.is_string() || !validMimeType(normalizedMimeType(type.get<std::string>()))) {
                throw std::runtime_error("option \"allowed_types\": " + type.dump() +
                                         " is no MIME type");
            }
            settings.allowedTypes.push_back(normalizedMimeType(type.get<std::string>()));
        }
    }
    if (options.contains("url_secret_file")) {
        if (!options["url_secret_file"].is_string()) {
            throw std::runtime_error("option \"url_secret_file\" must be a path");
        }
        settings.urlSecret = readSecretFile(options["url_secret_file"]);
    }
    if (options.contains("url_path")) {
        if (!options["url_path"].is_string() ||
            options["url_path"].get<std::string>().rfind("/ext/", 0) != 0) {
            throw std::runtime_error("option \"url_path\" must be /ext/{extension name}/file");
        }
        settings.urlPath = options["url_path"];
    }
    if (options.contains("public_base_url")) {
        if (!options["public_base_url"].is_string()) {
            throw std::runtime_error("option \"public_base_url\" must be a URL");
        }
        settings.publicBaseUrl = options["public_base_url"];
        while (!settings.publicBaseUrl.empty() && settings.publicBaseUrl.back() == '/') {
            settings.publicBaseUrl.pop_back();
        }
    }
    return settings;
}

json GcCounts::toJson() const {
    return {{"uploads_removed", uploadsRemoved},
            {"attachments_removed", attachmentsRemoved},
            {"blobs_removed", blobsRemoved}};
}

// ---------------------------------------------------------------------------------------------
// Attachments

Attachments::Attachments(Host host, Settings settings, attachments_blob_store* store)
    : host_(host), settings_(std::move(settings)), store_(store) {
    secret_ = settings_.urlSecret;
    if (secret_.empty()) {
        // Shared by every parleyd of the database: a URL one signs, another serves. Two
        // starting at once may each write one; the last stays, and URLs the other signed in
        // that moment are refused (the client asks again).
        auto kept = host_.kvGet("secret:url");
        if (!kept) {
            host_.kvSet("secret:url", randomId(48));
            kept = host_.kvGet("secret:url");
        }
        secret_ = kept.value_or("");
    }
}

Attachments::~Attachments() {
    store_->destroy(store_->ctx);
}

std::string Attachments::stagingPath(const std::string& name) const {
    return std::string(store_->staging_dir(store_->ctx)) + "/" + name;
}

std::string Attachments::dayKey(const std::string& uid) const {
    const std::time_t seconds = host_.now() / 1000;
    std::tm day{};
    gmtime_r(&seconds, &day);
    std::array<char, 16> text{};
    std::strftime(text.data(), text.size(), "%Y%m%d", &day);
    return "quota:" + uid + ":" + text.data();
}

int64_t Attachments::quotaUsed(const std::string& uid) {
    const auto used = host_.kvGet(dayKey(uid));
    return used ? std::stoll(*used) : 0;
}

void Attachments::chargeQuota(const std::string& uid, int64_t bytes) {
    if (settings_.dailyQuotaBytes == 0) {
        return;
    }
    const std::string key = dayKey(uid);
    const int64_t used = host_.kvIncr(key, bytes, 2 * 24 * 60 * 60 * 1000);
    if (used > settings_.dailyQuotaBytes) {
        host_.kvIncr(key, -bytes, 2 * 24 * 60 * 60 * 1000);
        throw Refusal("quota_exceeded", "this file would pass your daily upload quota (" +
                                            std::to_string(settings_.dailyQuotaBytes) + " bytes, " +
                                            std::to_string(used - bytes) +
                                            " used today, UTC); try again tomorrow");
    }
}

json Attachments::begin(const std::string& uid, const json& args) {
    const json& name = field(args, "name");
    if (!name.is_string() || !validName(name.get<std::string>())) {
        throw badRequest(
            "\"name\" must be the file's name: 1-255 bytes, no control characters, / \\ or \"");
    }
    const json& declared = field(args, "mime");
    const std::string mime =
        declared.is_string() ? normalizedMimeType(declared.get<std::string>()) : "";
    if (!validMimeType(mime)) {
        throw badRequest("\"mime\" must be the file's MIME type, e.g. \"image/jpeg\"");
    }
    const json& size = field(args, "size");
    if (!size.is_number_integer() || size.get<int64_t>() < 1) {
        throw badRequest("\"size\" must be the file's size in bytes (at least 1)");
    }
    if (size.get<int64_t>() > settings_.maxBytes) {
        throw Refusal("too_large", "the file is " + std::to_string(size.get<int64_t>()) +
                                       " bytes; the server takes files of at most " +
                                       std::to_string(settings_.maxBytes) + " bytes");
    }
    const json& sha = field(args, "sha256");
    if (!sha.is_string() || !isHex64(sha.get<std::string>())) {
        throw badRequest("\"sha256\" must be the file's SHA-256, 64 lower-case hex digits");
    }
    if (std::find(settings_.allowedTypes.begin(), settings_.allowedTypes.end(), mime) ==
        settings_.allowedTypes.end()) {
        json allowed = settings_.allowedTypes;
        throw Refusal("unsupported_type", "the server does not take files of type " + mime +
                                              "; it takes " + allowed.dump());
    }
    if (settings_.dailyQuotaBytes > 0 &&
        quotaUsed(uid) + size.get<int64_t>() > settings_.dailyQuotaBytes) {
        throw Refusal("quota_exceeded", "this file would pass your daily upload quota (" +
                                            std::to_string(settings_.dailyQuotaBytes) + " bytes, " +
                                            std::to_string(quotaUsed(uid)) +
                                            " used today, UTC); try again tomorrow");
    }
    const json& raw = field(args, "raw");
    if (!raw.is_null() && !raw.is_boolean()) {
        throw badRequest("\"raw\" must be true (chunks of raw bytes on .../bin) or false");
    }
    const int64_t chunkBytes = raw == true ? settings_.rawChunkBytes : settings_.chunkBytes;
    const std::string upload = randomId(kIdCharacters);
    const int64_t chunks = chunkCount(size.get<int64_t>(), chunkBytes);
    const int64_t expires = host_.now() + settings_.uploadTtlMs;
    // The record first: the collector removes staging files whose record is gone.
    host_.kvSet("up:" + upload,
                json{{"uid", uid},
                     {"name", name},
                     {"mime", mime},
                     {"size", size},
                     {"sha256", sha},
                     {"chunk_size", chunkBytes},
                     {"chunks", chunks},
                     {"raw", raw == true},
                     {"expires", expires}}
                    .dump(),
                settings_.uploadTtlMs);
    const Fd part(::open(stagingPath(upload + ".part").c_str(),
                         O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    const Fd have(::open(stagingPath(upload + ".have").c_str(),
                         O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (part.fd < 0 || have.fd < 0 || ::ftruncate(have.fd, chunks) != 0) {
        host_.log(PARLEY_LOG_ERROR, "cannot create the staging files of upload " + upload + ": " +
                                        std::strerror(errno));
        throw Refusal("unavailable", "the server cannot store files right now; try again later");
    }
    // "raw" says which chunks this upload takes: a client that asked for raw chunks and finds no
    // "raw": true (a server from before raw chunks) sends base64.
    return {{"upload", upload},
            {"chunk_size", chunkBytes},
            {"chunks", chunks},
            {"raw", raw == true},
            {"expires", expires}};
}

json Attachments::loadUpload(const std::string& uid, const json& args, std::string& uploadId) {
    uploadId = requireId(args, "upload");
    const auto text = host_.kvGet("up:" + uploadId);
    json upload = text ? json::parse(*text, nullptr, false) : json();
    // Someone else's upload is answered like one that does not exist.
    if (!upload.is_object() || upload.contains("committed") || upload.value("uid", "") != uid) {
        throw Refusal("not_found", "no upload " + uploadId +
                                       " in progress (it expired, was committed or aborted): "
                                       "begin again with attach.begin");
    }
    return upload;
}

json Attachments::chunk(const std::string& uid, const json& args,
                        std::optional<std::string_view> raw) {
    std::string uploadId;
    json upload = loadUpload(uid, args, uploadId);
    // An upload that is moving does not expire: past half its life, a chunk gives it a whole
    // life again (a database write every upload_ttl_ms / 2 at most, not one per chunk).
    const int64_t now = host_.now();
    if (upload.value("expires", int64_t{0}) - now < settings_.uploadTtlMs / 2) {
        upload["expires"] = now + settings_.uploadTtlMs;
        host_.kvSet("up:" + uploadId, upload.dump(), settings_.uploadTtlMs);
    }
    const int64_t chunks = upload["chunks"];
    const int64_t size = upload["size"];
    const int64_t chunkBytes = upload["chunk_size"];
    const int64_t index = requireInt(args, "index", 0, std::max<int64_t>(chunks - 1, 0));
    std::optional<std::string> decoded;
    if (!raw) {
        const json& data = field(args, "data");
        if (!data.is_string()) {
            throw badRequest("\"data\" must be the chunk's bytes in base64");
        }
        decoded = base64Decode(data.get_ref<const std::string&>());
        if (!decoded) {
            throw badRequest("\"data\" is not base64 (RFC 4648, with padding)");
        }
    }
    const std::string_view bytes = raw ? *raw : std::string_view(*decoded);
    const int64_t expected = std::min(chunkBytes, size - index * chunkBytes);
    if (static_cast<int64_t>(bytes.size()) != expected) {
        throw badRequest("chunk " + std::to_string(index) + " must hold " +
                         std::to_string(expected) + " bytes, not " + std::to_string(bytes.size()));
    }
    const Fd part(::open(stagingPath(uploadId + ".part").c_str(), O_WRONLY | O_CLOEXEC));
    const Fd have(::open(stagingPath(uploadId + ".have").c_str(), O_WRONLY | O_CLOEXEC));
    const char received = 1;
    if (part.fd < 0 || have.fd < 0 ||
        ::pwrite(part.fd, bytes.data(), bytes.size(), index * chunkBytes) != expected ||
        ::pwrite(have.fd, &received, 1, index) != 1) {
        host_.log(PARLEY_LOG_ERROR,
                  "cannot write chunk of upload " + uploadId + ": " + std::strerror(errno));
        throw Refusal("unavailable", "the server cannot store files right now; try again later");
    }
    return {{"upload", uploadId}, {"index", index}};
}

json Attachments::status(const std::string& uid, const json& args) {
    std::string uploadId;
    const json upload = loadUpload(uid, args, uploadId);
    const int64_t chunks = upload["chunks"];
    std::string have(static_cast<size_t>(chunks), '\0');
    const Fd file(::open(stagingPath(uploadId + ".have").c_str(), O_RDONLY | O_CLOEXEC));
    if (file.fd < 0 || ::pread(file.fd, have.data(), have.size(), 0) < 0) {
        throw Refusal("unavailable", "the server cannot read the upload right now; try again");
    }
    json missing = json::array();
    int64_t received = 0;
    for (int64_t i = 0; i < chunks; ++i) {
        if (have[static_cast<size_t>(i)] == 1) {
            ++received;
        } else {
            missing.push_back(i);
        }
    }
    // Uploads begun before "raw" was recorded: their chunk size tells.
    const bool raw = upload.contains("raw") ? upload["raw"] == true
                                            : upload["chunk_size"] == settings_.rawChunkBytes &&
                                                  settings_.rawChunkBytes != settings_.chunkBytes;
    return {{"upload", uploadId},
            {"chunk_size", upload["chunk_size"]},
            {"chunks", chunks},
            {"received", received},
            {"missing", missing},
            {"raw", raw},
            {"expires", upload["expires"]}};
}

json Attachments::abort(const std::string& uid, const json& args) {
    std::string uploadId;
    loadUpload(uid, args, uploadId);
    host_.kvDelete("up:" + uploadId);
    removeQuietly(stagingPath(uploadId + ".part"));
    removeQuietly(stagingPath(uploadId + ".have"));
    return {{"upload", uploadId}};
}

std::string Attachments::storeBlob(const std::string& localPath, const std::string& key) {
    // Under the blob's lock, which the collector holds while it counts a blob down and deletes
    // it: a blob counted up here is never deleted after.
    const auto lock = KvLock::take(host_, blobLockKey(key), kBlobLockPatience);
    if (!lock) {
        throw Refusal("unavailable", "the server is busy with this file; commit again shortly");
    }
    // Counted before it is stored: a count without its blob is harmless, a blob the collector
    // sees uncounted is not.
    host_.kvIncr("blob:" + key, 1, 0);
    if (store_->put(store_->ctx, key.c_str(), localPath.c_str()) != 0) {
        host_.kvIncr("blob:" + key, -1, 0);
        throw Refusal("unavailable", "the server cannot store files right now; try again later");
    }
    return key;
}

json Attachments::commit(const std::string& uid, const json& args) {
    const std::string uploadId = requireId(args, "upload");
    {
        // A commit whose reply was lost is answered again with the same attachment.
        const auto text = host_.kvGet("up:" + uploadId);
        const json earlier = text ? json::parse(*text, nullptr, false) : json();
        if (earlier.is_object() && earlier.contains("committed") &&
            earlier.value("uid", "") == uid) {
            if (auto attachment = loadAttachment(earlier["committed"])) {
                return {{"attachment", describe(*attachment)}};
            }
        }
    }
    std::string ignored;
    const json upload = loadUpload(uid, args, ignored);
    const auto lock = KvLock::take(host_, "lock:" + uploadId, std::chrono::milliseconds(0));
    if (!lock) {
        throw Refusal("unavailable", "this upload is being committed already; ask again shortly");
    }

    const std::string part = stagingPath(uploadId + ".part");
    const auto missing = status(uid, args)["missing"];
    if (!missing.empty()) {
        json first = json::array();
        for (size_t i = 0; i < missing.size() && i < 20; ++i) {
            first.push_back(missing[i]);
        }
        throw Refusal("upload_incomplete", std::to_string(missing.size()) +
                                               " chunks have not arrived (first: " + first.dump() +
                                               "); send them, attach.status lists them all");
    }
    std::error_code error;
    const auto bytes = static_cast<int64_t>(fs::file_size(part, error));
    if (error || bytes != upload["size"].get<int64_t>()) {
        throw Refusal("size_mismatch", "the server received " + std::to_string(bytes) +
                                           " bytes, not the " + upload["size"].dump() +
                                           " declared; abort and upload the file again");
    }
    const auto sha = sha256OfFile(part);
    if (!sha) {
        throw Refusal("unavailable", "the server cannot read the upload right now; try again");
    }
    if (*sha != upload["sha256"].get<std::string>()) {
        throw Refusal("checksum_mismatch",
                      "the bytes received have SHA-256 " + *sha + ", not the " +
                          upload["sha256"].get<std::string>() +
                          " declared; the file changed or a chunk was corrupted: abort and "
                          "upload it again");
    }
    const std::string mime = sniffMimeType(part);
    if (std::find(settings_.allowedTypes.begin(), settings_.allowedTypes.end(), mime) ==
        settings_.allowedTypes.end()) {
        json allowed = settings_.allowedTypes;
        throw Refusal("unsupported_type", "the file's content is " + mime +
                                              ", which the server does not take; it takes " +
                                              allowed.dump());
    }
    if (mime != upload["mime"].get<std::string>()) {
        throw Refusal("type_mismatch",
                      "the file was declared " + upload["mime"].get<std::string>() +
                          " but its content is " + mime + "; declare the type the file really has");
    }
    chargeQuota(uid, upload["size"]);
    const std::string id = randomId(kIdCharacters);
    json attachment = {{"id", id},
                       {"uploader", uid},
                       {"name", upload["name"]},
                       {"mime", mime},
                       {"created", host_.now()}};
    try {
        if (isProcessedImage(mime)) {
            const auto image = processImage(part, mime, stagingPath(uploadId), settings_.image);
            const auto cleanSha = sha256OfFile(image.cleanedPath);
            const auto thumbSha = sha256OfFile(image.thumbnailPath);
            const auto cleanBytes = fs::file_size(image.cleanedPath, error);
            const auto thumbBytes = fs::file_size(image.thumbnailPath, error);
            if (!cleanSha || !thumbSha || error) {
                throw Refusal("unavailable", "the server cannot store files right now");
            }
            attachment["sha256"] = *cleanSha;
            attachment["size"] = cleanBytes;
            attachment["width"] = image.width;
            attachment["height"] = image.height;
            attachment["blob"] = storeBlob(image.cleanedPath, *cleanSha);
            attachment["thumbnail"] = {{"blob", storeBlob(image.thumbnailPath, *thumbSha)},
                                       {"mime", "image/webp"},
                                       {"width", image.thumbnailWidth},
                                       {"height", image.thumbnailHeight},
                                       {"size", thumbBytes}};
            removeQuietly(part);
        } else {
            attachment["sha256"] = *sha;
            attachment["size"] = upload["size"];
            attachment["blob"] = storeBlob(part, *sha);
        }
    } catch (const ImageRefused& refused) {
        if (settings_.dailyQuotaBytes > 0) {
            host_.kvIncr(dayKey(uid), -upload["size"].get<int64_t>(), 2 * 24 * 60 * 60 * 1000);
        }
        removeQuietly(stagingPath(uploadId + ".clean"));
        removeQuietly(stagingPath(uploadId + ".thumb"));
        throw Refusal(refused.code(), refused.what());
    }
    host_.kvSet("att:" + id, attachment.dump());
    // Kept as long as an upload would have lived: a repeated commit finds the attachment.
    host_.kvSet("up:" + uploadId, json{{"uid", uid}, {"committed", id}}.dump(),
                settings_.uploadTtlMs);
    removeQuietly(stagingPath(uploadId + ".have"));
    return {{"attachment", describe(attachment)}};
}

json Attachments::describe(const json& attachment) const {
    json described = {{"id", attachment["id"]},
                      {"name", attachment["name"]},
                      {"mime", attachment["mime"]},
                      {"size", attachment["size"]}};
    if (attachment.contains("width")) {
        described["width"] = attachment["width"];
        described["height"] = attachment["height"];
    }
    if (attachment.contains("thumbnail")) {
        const json& thumbnail = attachment["thumbnail"];
        described["thumbnail"] = {{"variant", kThumbnail},
                                  {"mime", thumbnail["mime"]},
                                  {"width", thumbnail["width"]},
                                  {"height", thumbnail["height"]},
                                  {"size", thumbnail["size"]}};
    }
    return described;
}

std::optional<json> Attachments::loadAttachment(const std::string& id) {
    const auto text = host_.kvGet("att:" + id);
    if (!text) {
        return std::nullopt;
    }
    json attachment = json::parse(*text, nullptr, false);
    return attachment.is_object() ? std::optional<json>(std::move(attachment)) : std::nullopt;
}

bool Attachments::messageCarries(const std::string& conv, int64_t seq, const std::string& id) {
    const auto message = host_.message(conv, seq);
    if (!message || !message->contains("attachments")) {
        return false;  // erased, deleted, or never stored
    }
    for (const auto& attached : (*message)["attachments"]) {
        if (attached.is_object() && attached.value("id", "") == id) {
            return true;
        }
    }
    return false;
}

bool Attachments::isMember(const std::string& conv, const std::string& uid) {
    const auto conversation = host_.conversation(conv);
    if (!conversation) {
        return false;
    }
    for (const auto& member : conversation->value("members", json::array())) {
        if (member.value("user", "") == uid) {
            return true;
        }
    }
    return false;
}

bool Attachments::mayRead(const std::string& uid, const json& attachment) {
    if (attachment.value("uploader", "") == uid) {
        return true;
    }
    const std::string id = attachment["id"];
    const std::string grant = uid + "\n" + id;
    const int64_t now = host_.now();
    {
        const std::lock_guard lock(grantsMutex_);
        const auto found = grants_.find(grant);
        if (found != grants_.end() && found->second > now) {
            return true;
        }
    }
    bool allowed = false;
    // ref:{id}:{conv}:{seq}: members of a conversation where a stored message still carries it.
    const json refs = host_.kvList("ref:" + id + ":", kRefsChecked);
    for (const auto& [key, ignored] : refs.items()) {
        const auto lastColon = key.rfind(':');
        const size_t convStart = 4 + id.size() + 1;
        if (lastColon == std::string::npos || lastColon <= convStart) {
            continue;
        }
        const std::string conv = key.substr(convStart, lastColon - convStart);
        const int64_t seq = std::stoll(key.substr(lastColon + 1));
        if (isMember(conv, uid) && messageCarries(conv, seq, id)) {
            allowed = true;
            break;
        }
    }
    if (!allowed) {
        // Sent a moment ago: members get the message before message.after_store recorded the
        // reference, so a conversation it is being sent to is looked at directly.
        const json pending = host_.kvList("pend:" + id + ":", 100);
        for (const auto& [key, ignored] : pending.items()) {
            const std::string conv = key.substr(5 + id.size() + 1);
            if (!isMember(conv, uid)) {
                continue;
            }
            for (const auto& message : host_.latestMessages(conv, 20)) {
                for (const auto& attached : message.value("attachments", json::array())) {
                    if (attached.is_object() && attached.value("id", "") == id) {
                        allowed = true;
                    }
                }
            }
        }
    }
    if (allowed) {
        const std::lock_guard lock(grantsMutex_);
        if (grants_.size() > 10000) {
            std::erase_if(grants_, [&](const auto& entry) { return entry.second <= now; });
        }
        grants_[grant] = now + kGrantMs;
    }
    return allowed;
}

json Attachments::requireReadable(const std::string& uid, const json& args, std::string& id) {
    id = requireId(args, "attachment");
    auto attachment = loadAttachment(id);
    // One answer for "no such attachment" and "not yours to see": ids are not probed.
    if (!attachment || !mayRead(uid, *attachment)) {
        throw Refusal("forbidden", "attachment " + id +
                                       " is not one you may read: only its uploader and members "
                                       "of a conversation where it was sent may");
    }
    const json& variant = field(args, "variant");
    if (!variant.is_null() && variant != kThumbnail) {
        throw badRequest("\"variant\" is absent (the file) or \"thumbnail\"");
    }
    if (variant == kThumbnail && !attachment->contains("thumbnail")) {
        throw Refusal("not_found", "attachment " + id + " has no thumbnail (it is no image)");
    }
    return *attachment;
}

json Attachments::info(const std::string& uid, const json& args) {
    std::string id;
    const json attachment = requireReadable(uid, args, id);
    // "raw": true: the chunks attach.download sends on .../bin (raw_chunk_bytes each).
    const int64_t chunkBytes =
        field(args, "raw") == true ? settings_.rawChunkBytes : settings_.chunkBytes;
    json described = describe(attachment);
    described["chunk_size"] = chunkBytes;
    described["chunks"] = chunkCount(attachment["size"], chunkBytes);
    if (described.contains("thumbnail")) {
        described["thumbnail"]["chunks"] = chunkCount(attachment["thumbnail"]["size"], chunkBytes);
    }
    return {{"attachment", described}};
}

Attachments::DownloadedChunk Attachments::download(const std::string& uid, const json& args,
                                                   bool raw) {
    std::string id;
    const json attachment = requireReadable(uid, args, id);
    const bool thumbnail = field(args, "variant") == kThumbnail;
    const json& file = thumbnail ? attachment["thumbnail"] : attachment;
    const int64_t chunkBytes = raw ? settings_.rawChunkBytes : settings_.chunkBytes;
    const int64_t size = file["size"];
    const int64_t chunks = chunkCount(size, chunkBytes);
    const int64_t index = requireInt(args, "index", 0, std::max<int64_t>(chunks - 1, 0));
    const int64_t length = std::min(chunkBytes, size - index * chunkBytes);
    std::string bytes(static_cast<size_t>(std::max<int64_t>(length, 0)), '\0');
    const std::string blob = file["blob"];
    const int64_t got =
        store_->read(store_->ctx, blob.c_str(), static_cast<uint64_t>(index * chunkBytes),
                     bytes.data(), bytes.size());
    if (got != length) {
        host_.log(PARLEY_LOG_ERROR, "blob " + blob + " of attachment " + id + " cannot be read");
        throw Refusal("unavailable", "the file cannot be read right now; try again later");
    }
    DownloadedChunk chunk{{{"attachment", id}, {"index", index}, {"chunks", chunks}}, {}};
    if (thumbnail) {
        chunk.reply["variant"] = kThumbnail;
    }
    if (raw) {
        chunk.bytes = std::move(bytes);
    } else {
        chunk.reply["data"] = base64Encode(bytes);
    }
    return chunk;
}

std::string Attachments::signature(const std::string& id, const std::string& uid,
                                   const std::string& variant, int64_t expires) const {
    return hmacSha256Hex(
        secret_, "a=" + id + "&u=" + uid + "&v=" + variant + "&e=" + std::to_string(expires));
}

json Attachments::url(const std::string& uid, const json& args) {
    std::string id;
    requireReadable(uid, args, id);
    const std::string variant = field(args, "variant") == kThumbnail ? kThumbnail : "";
    const int64_t expires = host_.now() + settings_.urlTtlMs;
    std::string path = settings_.urlPath + "?a=" + id + "&u=" + percentEncode(uid) +
                       "&v=" + variant + "&e=" + std::to_string(expires) +
                       "&s=" + signature(id, uid, variant, expires);
    json reply = {{"attachment", id}, {"path", path}, {"expires", expires}};
    if (!settings_.publicBaseUrl.empty()) {
        reply["url"] = settings_.publicBaseUrl + path;
    }
    return reply;
}

Attachments::HttpAnswer Attachments::serveFile(const std::string& query) {
    auto fields = parseQuery(query);
    HttpAnswer answer;
    const auto refuse = [&](int status, const std::string& message) {
        answer.status = status;
        answer.body = message + "\n";
        return answer;
    };
    const std::string id = fields["a"];
    const std::string uid = fields["u"];
    const std::string variant = fields["v"];
    const std::string given = fields["s"];
    int64_t expires = 0;
    try {
        expires = std::stoll(fields["e"]);
    } catch (const std::exception&) {
        return refuse(403, "forbidden: this link is not one the server made");
    }
    if (id.empty() || uid.empty() || (variant != "" && variant != kThumbnail) ||
        !constantTimeEquals(given, signature(id, uid, variant, expires))) {
        return refuse(403, "forbidden: this link is not one the server made");
    }
    if (expires <= host_.now()) {
        return refuse(403, "forbidden: this link has expired; ask for a new one (attach.url)");
    }
    auto attachment = loadAttachment(id);
    if (!attachment || !mayRead(uid, *attachment) ||
        (variant == kThumbnail && !attachment->contains("thumbnail"))) {
        return refuse(403, "forbidden: you may not read this attachment");
    }
    const json& file = variant == kThumbnail ? (*attachment)["thumbnail"] : *attachment;
    std::array<char, 4096> path{};
    const std::string blob = file["blob"];
    if (store_->local_path(store_->ctx, blob.c_str(), path.data(), path.size()) != 0) {
        return refuse(501, "this server's store serves files over MQTT only");
    }
    answer.status = 200;
    answer.path = path.data();
    answer.contentType = file["mime"];
    const std::string name = (*attachment)["name"];
    // Images show inline; everything else downloads, so a browser never renders a file as a
    // page of this origin.
    const bool inlineImage = answer.contentType.rfind("image/", 0) == 0;
    answer.headers = {
        {"Content-Disposition", std::string(inlineImage ? "inline" : "attachment") +
                                    "; filename*=UTF-8''" + percentEncode(name)},
        {"X-Content-Type-Options", "nosniff"},
        {"Content-Security-Policy", "default-src 'none'; sandbox"},
        {"Cache-Control", "private, max-age=" + std::to_string(settings_.urlTtlMs / 1000)},
        {"Referrer-Policy", "no-referrer"}};
    return answer;
}

json Attachments::resolve(const std::string& sender, const std::string& conv, int64_t lastSeq,
                          const json& ids) {
    json resolved = json::array();
    for (const auto& entry : ids) {
        const std::string id = entry.is_object() ? entry.value("id", "") : entry.get<std::string>();
        const auto attachment = loadAttachment(id);
        if (!attachment) {
            throw Refusal("not_found", "there is no attachment " + id +
                                           ": commit its upload first (attach.commit gives the "
                                           "id), and send it before it expires");
        }
        if ((*attachment)["uploader"] != sender) {
            throw Refusal("forbidden", "attachment " + id +
                                           " was uploaded by someone else; only its uploader "
                                           "can attach it (upload the file yourself)");
        }
        resolved.push_back(describe(*attachment));
    }
    // Only once every id is good: marks that keep the collector away while the message is
    // stored, and let members read it before message.after_store recorded the reference.
    // The chk: mark outlives the pend: one: if this parleyd dies between storing the message
    // and message.after_store, the collector finds the message from it (settleChecks).
    for (const auto& attached : resolved) {
        const std::string key = attached["id"].get<std::string>() + ":" + conv;
        host_.kvSet("chk:" + key, json{{"after", lastSeq}, {"at", host_.now()}}.dump(), kCheckMs);
        host_.kvSet("pend:" + key, "1", settings_.attachGraceMs);
    }
    return resolved;
}

void Attachments::recordReferences(const std::string& conv, int64_t seq, const json& attached) {
    for (const auto& attachment : attached) {
        if (attachment.is_object() && attachment.contains("id")) {
            const std::string id = attachment["id"].get<std::string>();
            host_.kvSet("ref:" + id + ":" + conv + ":" + std::to_string(seq), "1");
            host_.kvDelete("chk:" + id + ":" + conv);
        }
    }
}

bool Attachments::settleChecks(const std::string& id) {
    const json checks = host_.kvList("chk:" + id + ":", 100);
    bool settled = true;
    for (const auto& [key, text] : checks.items()) {
        const std::string conv = key.substr(4 + id.size() + 1);
        const json check = json::parse(text.get<std::string>(), nullptr, false);
        const int64_t at = check.is_object() ? check.value("at", int64_t{0}) : 0;
        int64_t after = check.is_object() ? check.value("after", int64_t{0}) : 0;
        if (at + settings_.attachGraceMs > host_.now()) {
            settled = false;  // the message may still be on its way
            continue;
        }
        // Its message was stored within the grace after `at`, with a seq after `after`, if at
        // all: the pages up to the first message stored later are all there is to read.
        bool done = false;
        for (int page = 0; page < kCheckPages && !done; ++page) {
            const json found = host_.messagesAfter(conv, after, 100);
            const json& messages = found.value("msgs", json::array());
            for (const auto& message : messages) {
                after = std::max(after, message.value("seq", after));
                for (const auto& attached : message.value("attachments", json::array())) {
                    if (attached.is_object() && attached.value("id", "") == id) {
                        host_.kvSet("ref:" + id + ":" + conv + ":" +
                                        std::to_string(message.value("seq", int64_t{0})),
                                    "1");
                    }
                }
                done = done || message.value("ts", int64_t{0}) > at + settings_.attachGraceMs;
            }
            done = done || messages.empty() || !found.value("has_more", false);
        }
        if (done) {
            host_.kvDelete(key);
        } else {
            // A busy conversation: the next step goes on from here.
            host_.kvSet(key, json{{"after", after}, {"at", at}}.dump(), kCheckMs);
            settled = false;
        }
    }
    return settled;
}

// ---------------------------------------------------------------------------------------------
// Garbage collection

void Attachments::releaseBlob(const std::string& key, GcCounts& counts) {
    if (host_.kvIncr("blob:" + key, -1, 0) <= 0) {
        host_.kvDelete("blob:" + key);
        if (store_->remove(store_->ctx, key.c_str()) == 0) {
            ++counts.blobsRemoved;
        }
    }
}

bool Attachments::collectAttachment(const json& attachment, GcCounts& counts) {
    const std::string id = attachment.value("id", "");
    if (id.empty()) {
        return false;
    }
    // A message that is erased (admin.user.erase) or deleted no longer carries the attachment
    // (the core clears its attachments with its body), so its reference is dropped here.
    if (!settleChecks(id)) {
        return false;
    }
    bool live = false;
    bool hadReferences = false;
    const json refs = host_.kvList("ref:" + id + ":", kRefsChecked);
    for (const auto& [key, ignored] : refs.items()) {
        hadReferences = true;
        const auto lastColon = key.rfind(':');
        const size_t convStart = 4 + id.size() + 1;
        if (lastColon == std::string::npos || lastColon <= convStart) {
            host_.kvDelete(key);
            continue;
        }
        const std::string conv = key.substr(convStart, lastColon - convStart);
        if (messageCarries(conv, std::stoll(key.substr(lastColon + 1)), id)) {
            live = true;
        } else {
            host_.kvDelete(key);
        }
    }
    if (live || !host_.kvList("pend:" + id + ":", 1).empty()) {
        return false;
    }
    const int64_t created = attachment.value("created", int64_t{0});
    if (!hadReferences && created + settings_.unattachedTtlMs > host_.now()) {
        return false;  // committed, not sent yet
    }
    // Under the locks of its blobs: a commit of the same bytes counts them up under the same
    // locks (storeBlob), so it comes wholly before this or wholly after.
    std::vector<std::string> blobs{attachment["blob"].get<std::string>()};
    if (attachment.contains("thumbnail")) {
        blobs.push_back(attachment["thumbnail"]["blob"].get<std::string>());
    }
    std::sort(blobs.begin(), blobs.end());
    blobs.erase(std::unique(blobs.begin(), blobs.end()), blobs.end());
    std::vector<KvLock> locks;
    for (const auto& blob : blobs) {
        auto lock = KvLock::take(host_, blobLockKey(blob), kBlobLockPatience);
        if (!lock) {
            return false;  // looked at again by a later step
        }
        locks.push_back(std::move(*lock));
    }
    host_.kvDelete("att:" + id);
    ++counts.attachmentsRemoved;
    releaseBlob(attachment["blob"], counts);
    if (attachment.contains("thumbnail")) {
        releaseBlob(attachment["thumbnail"]["blob"], counts);
    }
    const std::lock_guard lock(grantsMutex_);
    std::erase_if(grants_, [&](const auto& entry) {
        return entry.first.size() > id.size() &&
               entry.first.compare(entry.first.size() - id.size(), id.size(), id) == 0;
    });
    return true;
}

void Attachments::collectUploads(GcCounts& counts) {
    std::error_code error;
    const int64_t now = host_.now();
    for (fs::directory_iterator it(store_->staging_dir(store_->ctx), error), end;
         !error && it != end; it.increment(error)) {
        const fs::path path = it->path();
        const std::string upload = path.stem().string();
        const std::string extension = path.extension().string();
        if (extension == ".part") {
            const auto record = host_.kvGet("up:" + upload);
            const json parsed = record ? json::parse(*record, nullptr, false) : json();
            if (!parsed.is_object() || parsed.contains("committed")) {
                removeQuietly(path.string());
                removeQuietly(stagingPath(upload + ".have"));
                ++counts.uploadsRemoved;
            }
        } else if (extension == ".clean" || extension == ".thumb") {
            // Left by a commit that died half-way; a live one is done within a minute.
            struct stat info {};
            if (::stat(path.c_str(), &info) == 0 && int64_t{info.st_mtime} * 1000 + kLockMs < now) {
                removeQuietly(path.string());
            }
        }
    }
}

GcCounts Attachments::collectStep(size_t budget) {
    const std::lock_guard lock(gcMutex_);
    GcCounts counts;
    if (gcCursor_.empty()) {
        collectUploads(counts);
    }
    const json page = host_.kvList("att:", budget, gcCursor_);
    for (const auto& [key, value] : page.items()) {
        gcCursor_ = key;
        const json attachment = json::parse(value.get<std::string>(), nullptr, false);
        if (attachment.is_object()) {
            collectAttachment(attachment, counts);
        }
    }
    if (page.size() < budget) {
        gcCursor_.clear();  // walked to the end: the next step starts over
    }
    return counts;
}

GcCounts Attachments::collectAll() {
    GcCounts total;
    {
        const std::lock_guard lock(gcMutex_);
        gcCursor_.clear();
    }
    for (;;) {
        const GcCounts step = collectStep(200);
        total.uploadsRemoved += step.uploadsRemoved;
        total.attachmentsRemoved += step.attachmentsRemoved;
        total.blobsRemoved += step.blobsRemoved;
        const std::lock_guard lock(gcMutex_);
        if (gcCursor_.empty()) {
            return total;
        }
    }
}

}  // namespace parley::attachments
