// plugins/attachments' parts that need no parleyd: base64, hashes, the signed URLs' pieces, MIME
// sniffing and normalizing, the options, the local blob store, images through libvips, and the
// reference counts of blobs against a key-value store that interleaves a collector and a commit
// exactly where they race.

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "Attachments.h"
#include "BlobStore.h"
#include "Content.h"
#include "ImageProcessing.h"

namespace parley::attachments {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct Folder {
    fs::path path;
    Folder() {
        std::string pattern = fs::temp_directory_path() / "parley-attach-unit-XXXXXX";
        path = mkdtemp(pattern.data());
    }
    ~Folder() { fs::remove_all(path); }
    std::string file(const std::string& name, const std::string& bytes) const {
        std::ofstream(path / name, std::ios::binary) << bytes;
        return path / name;
    }
};

TEST(AttachmentsContent, Base64RoundTripsAndRefusesWhatIsNotBase64) {
    for (const std::string bytes : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
        EXPECT_EQ(base64Decode(base64Encode(bytes)), bytes) << bytes;
    }
    EXPECT_EQ(base64Encode("foobar"), "Zm9vYmFy");
    EXPECT_EQ(base64Encode(std::string("\xFF\x00\x10", 3)), "/wAQ");
    for (const char* bad : {"Zm9", "Zm9v!", "Z===", "Zm=v", "Zm9vYmFy=", "Zg=a"}) {
        EXPECT_FALSE(base64Decode(bad).has_value()) << bad;
    }
}

TEST(AttachmentsContent, HashesAndIds) {
    EXPECT_EQ(sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    // RFC 4231, test case 2.
    EXPECT_EQ(hmacSha256Hex("Jefe", "what do ya want for nothing?"),
              "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    EXPECT_TRUE(constantTimeEquals("abc", "abc"));
    EXPECT_FALSE(constantTimeEquals("abc", "abd"));
    EXPECT_FALSE(constantTimeEquals("abc", "ab"));
    const std::string id = randomId(24);
    EXPECT_EQ(id.size(), 24u);
    EXPECT_NE(id, randomId(24));
    EXPECT_EQ(
        id.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"),
        std::string::npos);
}

TEST(AttachmentsContent, TheTypeComesFromTheBytes) {
    const Folder folder;
    EXPECT_EQ(sniffMimeType(folder.file("a.txt", "%PDF-1.4\nrest")), "application/pdf");
    EXPECT_EQ(sniffMimeType(folder.file("b.pdf", "<!DOCTYPE html><html><body>x</body></html>")),
              "text/html");
    // The signature and an IHDR chunk: what libmagic looks at.
    const std::string png("\x89PNG\r\n\x1A\n\0\0\0\x0DIHDR\0\0\0\x10\0\0\0\x10\x08\x02\0\0\0", 29);
    EXPECT_EQ(sniffMimeType(folder.file("c", png + std::string(40, '\0'))), "image/png");
    EXPECT_EQ(sniffMimeType(folder.file("d", "")), "application/x-empty");
    EXPECT_EQ(normalizedMimeType("Image/JPG; q=1"), "image/jpeg");
    EXPECT_EQ(normalizedMimeType("text/plain;charset=utf-8"), "text/plain");
}

TEST(AttachmentsSettings, OptionsAreCheckedAndNamed) {
    EXPECT_THROW(Settings::fromOptions(json::object()), std::runtime_error) << "folder is required";
    EXPECT_THROW(Settings::fromOptions({{"folder", "relative"}}), std::runtime_error);
    const auto settings =
        Settings::fromOptions({{"folder", "/tmp/x"}, {"allowed_types", {"IMAGE/PNG"}}});
    EXPECT_EQ(settings.maxBytes, 25 * 1024 * 1024);
    EXPECT_EQ(settings.allowedTypes, std::vector<std::string>{"image/png"});
    try {
        Settings::fromOptions({{"folder", "/tmp/x"}, {"max_bytes", -1}});
        FAIL() << "a negative max_bytes was taken";
    } catch (const std::runtime_error& error) {
        EXPECT_NE(std::string(error.what()).find("max_bytes"), std::string::npos);
    }
}

TEST(AttachmentsBlobStore, IdenticalKeysAreOneFileAndReadsAreRanges) {
    const Folder folder;
    std::array<char, 256> error{};
    attachments_blob_store* store =
        attachments_local_store_open(folder.path.c_str(), error.data(), error.size());
    ASSERT_NE(store, nullptr) << error.data();
    const std::string key = sha256Hex("hello world");
    const std::string staged = std::string(store->staging_dir(store->ctx)) + "/one";
    std::ofstream(staged) << "hello world";
    ASSERT_EQ(store->put(store->ctx, key.c_str(), staged.c_str()), 0);
    EXPECT_FALSE(fs::exists(staged)) << "consumed";
    std::ofstream(staged) << "hello world";
    ASSERT_EQ(store->put(store->ctx, key.c_str(), staged.c_str()), 0);
    EXPECT_EQ(store->exists(store->ctx, key.c_str()), 1);
    EXPECT_EQ(store->size(store->ctx, key.c_str()), 11);
    std::array<char, 16> piece{};
    EXPECT_EQ(store->read(store->ctx, key.c_str(), 6, piece.data(), piece.size()), 5);
    EXPECT_EQ(std::string(piece.data(), 5), "world");
    int count = 0;
    store->list(
        store->ctx, [](const char*, void* arg) { return ++*static_cast<int*>(arg), 0; }, &count);
    EXPECT_EQ(count, 1);
    EXPECT_EQ(store->exists(store->ctx, "../../etc/passwd"), -1) << "keys are hashes only";
    EXPECT_EQ(store->remove(store->ctx, key.c_str()), 0);
    EXPECT_EQ(store->exists(store->ctx, key.c_str()), 0);
    store->destroy(store->ctx);
}

TEST(AttachmentsImages, PixelsAreBoundedFromTheHeader) {
    startImageLibrary();
    const Folder folder;
    const std::string path = (folder.path / "small.png").string();
    ASSERT_EQ(std::system(("vips black " + path + " 40 30").c_str()), 0);
    ImageLimits limits;
    limits.maxPixels = 1000;
    try {
        processImage(path, "image/png", (folder.path / "out").string(), limits);
        FAIL() << "1200 pixels passed a bound of 1000";
    } catch (const ImageRefused& refused) {
        EXPECT_EQ(refused.code(), "image_too_large");
    }
    limits.maxPixels = 1200;
    limits.thumbnailSize = 16;
    const auto image = processImage(path, "image/png", (folder.path / "out").string(), limits);
    EXPECT_EQ(image.width, 40);
    EXPECT_EQ(image.height, 30);
    EXPECT_EQ(image.thumbnailWidth, 16);
    EXPECT_TRUE(fs::exists(image.cleanedPath));
    EXPECT_THROW(processImage(path, "image/jpeg", (folder.path / "x").string(), limits),
                 ImageRefused)
        << "a PNG is not decoded as the JPEG it was said to be";
}

// The plugin's key-value store and clock, in memory, for Attachments without parleyd. `onIncr`
// runs inside kv_incr after the new value is written: a test steps in there to interleave.
struct FakeHost {
    static inline std::map<std::string, std::string> kv;
    static inline std::map<std::string, int64_t> expires;  // keys set with a ttl: when
    static inline int64_t now = 1'000'000'000'000;
    static inline std::function<void(const std::string& key, int64_t delta, int64_t value)> onIncr;
    // Each conversation's stored messages, ascending seq, as messages_get answers them.
    static inline std::map<std::string, std::vector<nlohmann::json>> messages;

    static parley_status give(const std::string& text, parley_buffer* out) {
        out->data = static_cast<char*>(std::malloc(text.size() + 1));
        std::memcpy(out->data, text.c_str(), text.size() + 1);
        out->len = text.size();
        return PARLEY_OK;
    }
    // Drops the keys whose ttl has passed, as the host does.
    static void expire() {
        for (auto it = expires.begin(); it != expires.end();) {
            if (it->second <= now) {
                kv.erase(it->first);
                it = expires.erase(it);
            } else {
                ++it;
            }
        }
    }
    static void setExpiry(const std::string& key, int64_t ttlMs) {
        if (ttlMs > 0) {
            expires[key] = now + ttlMs;
        } else {
            expires.erase(key);
        }
    }
    static parley_status listAfter(parley_plugin*, const char* prefix, const char* after,
                                   size_t limit, parley_buffer* out) {
        expire();
        nlohmann::json page = nlohmann::json::object();
        const std::string from = after != nullptr ? after : "";
        for (auto it = kv.lower_bound(prefix); it != kv.end() && page.size() < limit; ++it) {
            if (it->first.rfind(prefix, 0) != 0) {
                break;
            }
            if (it->first > from) {
                page[it->first] = it->second;
            }
        }
        return give(page.dump(), out);
    }
    static parley_host table() {
        parley_host host{};
        host.abi_version = PARLEY_PLUGIN_ABI_VERSION;
        host.struct_size = sizeof(parley_host);
        host.kv_get = [](parley_plugin*, const char* key, parley_buffer* out) {
            expire();
            const auto found = kv.find(key);
            return found == kv.end() ? PARLEY_ERR_NOT_FOUND : give(found->second, out);
        };
        host.kv_set = [](parley_plugin*, const char* key, const char* value, size_t length,
                         int64_t ttlMs) {
            kv[key] = std::string(value, length);
            setExpiry(key, ttlMs);
            return PARLEY_OK;
        };
        host.kv_delete = [](parley_plugin*, const char* key) {
            kv.erase(key);
            expires.erase(key);
            return PARLEY_OK;
        };
        host.kv_incr = [](parley_plugin*, const char* key, int64_t delta, int64_t ttlMs,
                          int64_t* value) {
            expire();
            const auto found = kv.find(key);
            if (found == kv.end()) {
                setExpiry(key, ttlMs);  // the ttl counts from the key's first increment
            }
            *value = (found == kv.end() ? 0 : std::stoll(found->second)) + delta;
            kv[key] = std::to_string(*value);
            if (onIncr) {
                onIncr(key, delta, *value);
            }
            return PARLEY_OK;
        };
        host.kv_list = [](parley_plugin* self, const char* prefix, size_t limit,
                          parley_buffer* out) {
            return listAfter(self, prefix, nullptr, limit, out);
        };
        host.kv_list_after = &listAfter;
        host.messages_get = [](parley_plugin*, const char* conv, int64_t before, int64_t after,
                               size_t limit, parley_buffer* out) {
            const auto found = messages.find(conv);
            if (found == messages.end()) {
                return PARLEY_ERR_NOT_FOUND;
            }
            std::vector<nlohmann::json> within;
            for (const auto& message : found->second) {
                const int64_t seq = message["seq"];
                if ((before < 0 || seq < before) && (after < 0 || seq > after)) {
                    within.push_back(message);
                }
            }
            const bool more = within.size() > limit;
            if (more && after >= 0) {
                within.resize(limit);  // forward from `after`
            } else if (more) {
                within.erase(within.begin(), within.end() - static_cast<std::ptrdiff_t>(limit));
            }
            return give(nlohmann::json{{"msgs", within}, {"has_more", more}}.dump(), out);
        };
        host.conversation_get = [](parley_plugin*, const char*, parley_buffer*) {
            return PARLEY_ERR_NOT_FOUND;
        };
        host.log = [](parley_plugin*, parley_log_level, const char*) {};
        host.wall_ms = [] { return now; };
        host.buffer_free = [](parley_buffer* buffer) {
            std::free(buffer->data);
            buffer->data = nullptr;
        };
        return host;
    }
};

// Uploads `bytes` as one chunk and commits it; the attachment's id.
std::string uploadAndCommit(Attachments& attachments, const std::string& uid,
                            const std::string& bytes) {
    const json begun = attachments.begin(uid, {{"name", "notes.txt"},
                                               {"mime", "text/plain"},
                                               {"size", bytes.size()},
                                               {"sha256", sha256Hex(bytes)}});
    attachments.chunk(uid,
                      {{"upload", begun["upload"]}, {"index", 0}, {"data", base64Encode(bytes)}});
    return attachments.commit(uid, {{"upload", begun["upload"]}})["attachment"]["id"];
}

// Attachments on the in-memory host, with a local blob store in a temporary folder.
class AttachmentsCollector : public ::testing::Test {
  protected:
    AttachmentsCollector() {
        FakeHost::kv.clear();
        FakeHost::expires.clear();
        FakeHost::messages.clear();
        FakeHost::onIncr = nullptr;
        settings_.folder = folder_.path;
        settings_.unattachedTtlMs = 1000;
        std::array<char, 256> error{};
        store = attachments_local_store_open(folder_.path.c_str(), error.data(), error.size());
        if (store == nullptr) {
            throw std::runtime_error(error.data());
        }
        attachments_ = std::make_unique<Attachments>(Host(nullptr, &table_), settings_, store);
    }
    ~AttachmentsCollector() override { FakeHost::onIncr = nullptr; }

    const Folder folder_;
    const parley_host table_ = FakeHost::table();
    Settings settings_;
    attachments_blob_store* store = nullptr;  // the Attachments own it
    std::unique_ptr<Attachments> attachments_;
};

// The collector drops the last attachment of a blob at the moment another upload of the same
// bytes commits: the new attachment must keep its file (it lost it: the collector counted the
// blob down to 0, the commit counted it up and stored it, the collector then deleted it).
TEST_F(AttachmentsCollector, ABlobCommittedAgainWhileCollectedKeepsItsFile) {
    Attachments& attachments = *attachments_;
    const std::string bytes = "the same bytes, uploaded twice";
    const std::string blob = sha256Hex(bytes);
    const std::string first = uploadAndCommit(attachments, "ann", bytes);
    FakeHost::now += 2000;  // never sent: the collector takes it

    std::string second;
    std::string refusedWith;
    FakeHost::onIncr = [&](const std::string& key, int64_t delta, int64_t value) {
        if (key == "blob:" + blob && delta < 0 && value == 0 && second.empty() &&
            refusedWith.empty()) {
            try {
                second = uploadAndCommit(attachments, "bob", bytes);
            } catch (const Refusal& refusal) {
                refusedWith = refusal.code();  // the blob is busy: bob's client commits again
            }
        }
    };
    const GcCounts counts = attachments.collectAll();
    FakeHost::onIncr = nullptr;
    EXPECT_EQ(counts.attachmentsRemoved, 1);
    EXPECT_FALSE(FakeHost::kv.contains("att:" + first));
    if (second.empty()) {
        EXPECT_EQ(refusedWith, "unavailable");
        second = uploadAndCommit(attachments, "bob", bytes);
    }
    EXPECT_EQ(store->exists(store->ctx, blob.c_str()), 1) << "bob's attachment lost its file";
    EXPECT_EQ(FakeHost::kv["blob:" + blob], "1") << "one attachment uses the blob";
    try {
        const json download =
            attachments.download("bob", {{"attachment", second}, {"index", 0}}).reply;
        EXPECT_EQ(download["data"], base64Encode(bytes));
    } catch (const Refusal& refusal) {
        ADD_FAILURE() << "bob cannot download his attachment: " << refusal.code() << ": "
                      << refusal.what();
    }
}

// parleyd died between storing a message that carries an attachment and message.after_store,
// so no reference was recorded. Once the attachment looked unsent for unattached_ttl_ms, the
// collector deleted its file under the stored message; it must find the message instead.
TEST_F(AttachmentsCollector, AMessageStoredWithoutItsReferenceKeepsItsFile) {
    Attachments& attachments = *attachments_;
    const std::string photo = "a photo of the bike";
    const std::string sent = uploadAndCommit(attachments, "ann", photo);
    const std::string refused = uploadAndCommit(attachments, "ann", "never sent after all");
    FakeHost::messages["c1"] = {{{"seq", 1}, {"ts", FakeHost::now}, {"body", "hi"}}};
    attachments.resolve("ann", "c1", 1, json::array({sent}));  // message.before_store
    FakeHost::messages["c1"].push_back(
        {{"seq", 2}, {"ts", FakeHost::now}, {"attachments", json::array({{{"id", sent}}})}});
    // ... stored, and parleyd died before message.after_store (recordReferences) ran. Another
    // message named the second attachment, and a later hook refused it: it was never stored.
    attachments.resolve("ann", "c1", 2, json::array({refused}));
    FakeHost::now += settings_.unattachedTtlMs + settings_.attachGraceMs + 1;

    const GcCounts counts = attachments.collectAll();
    EXPECT_EQ(counts.attachmentsRemoved, 1) << "only the attachment no message carries";
    EXPECT_TRUE(FakeHost::kv.contains("att:" + sent));
    EXPECT_TRUE(FakeHost::kv.contains("ref:" + sent + ":c1:2")) << "the reference, found";
    EXPECT_FALSE(FakeHost::kv.contains("att:" + refused));
    EXPECT_EQ(store->exists(store->ctx, sha256Hex(photo).c_str()), 1);
    EXPECT_EQ(attachments.collectAll().attachmentsRemoved, 0) << "and it stays";
}

}  // namespace
}  // namespace parley::attachments
