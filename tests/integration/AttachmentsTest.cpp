// plugins/attachments in a real deployment: parleyd with the shipped plugin behind a real
// Mosquitto, on SQLite and on MariaDB, driven by real MQTT clients; downloads also over parleyd's
// HTTP listener. Test images are made here with vips and exiftool (Debian libvips-tools,
// libimage-exiftool-perl), never committed.

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <thread>

#include "Content.h"
#include "HttpProbe.h"
#include "MariaDbServer.h"
#include "MosquittoServer.h"
#include "MqttTestClient.h"
#include "ParleydProcess.h"
#include "Paths.h"
#include "Ports.h"
#include "Stack.h"
#include "TempDir.h"

namespace parley::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
using attachments::base64Decode;
using attachments::base64Encode;
using attachments::sha256Hex;

constexpr int64_t kMiB = 1024 * 1024;
constexpr int64_t kChunk = 32 * 1024;
constexpr int64_t kRawChunk = 256 * 1024;  // raw_chunk_bytes by default
constexpr int64_t kMaxBytes = 25 * kMiB;
constexpr int64_t kQuota = 26 * kMiB;
constexpr int kUsers = 60;

std::string passwordOf(const std::string& uid) {
    return "pw-" + uid;
}

// Bytes that libmagic calls application/pdf: a PDF header, then `size` bytes in all from a
// seeded generator (incompressible, and different for each seed).
std::string pdfBytes(int64_t size, uint32_t seed) {
    std::string bytes = "%PDF-1.4\n%\xE2\xE3\xCF\xD3\n";
    std::mt19937 generator(seed);
    bytes.reserve(static_cast<size_t>(size));
    while (static_cast<int64_t>(bytes.size()) < size) {
        const uint32_t word = generator();
        bytes.append(reinterpret_cast<const char*>(&word), sizeof word);
    }
    bytes.resize(static_cast<size_t>(size));
    return bytes;
}

std::string readFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void writeFile(const std::string& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary);
    out << bytes;
}

// Runs a command line (the test's own, fixed arguments) and returns its output; throws if it
// fails.
std::string run(const std::string& command) {
    std::array<char, 4096> buffer{};
    std::string output;
    FILE* pipe = popen((command + " 2>&1").c_str(), "r");
    if (pipe == nullptr) {
        throw std::runtime_error("cannot run " + command);
    }
    while (fgets(buffer.data(), buffer.size(), pipe) != nullptr) {
        output += buffer.data();
    }
    const int status = pclose(pipe);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        throw std::runtime_error(command + " failed: " + output);
    }
    return output;
}

// A PNG that claims `width` x `height` RGB pixels and holds a few bytes of them: a decompression
// bomb's header (decoding it would need width * height * 3 bytes).
std::string pngBomb(uint32_t width, uint32_t height) {
    const auto crc32 = [](const std::string& data) {
        uint32_t crc = 0xFFFFFFFFu;
        for (unsigned char byte : data) {
            crc ^= byte;
            for (int k = 0; k < 8; ++k) {
                crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
            }
        }
        return ~crc;
    };
    const auto be32 = [](uint32_t value) {
        return std::string{static_cast<char>(value >> 24), static_cast<char>(value >> 16),
                           static_cast<char>(value >> 8), static_cast<char>(value)};
    };
    const auto chunk = [&](const std::string& type, const std::string& data) {
        return be32(static_cast<uint32_t>(data.size())) + type + data + be32(crc32(type + data));
    };
    const std::string header = be32(width) + be32(height) + std::string("\x08\x02\x00\x00\x00", 5);
    // zlib stream of one stored empty block: valid, nearly no pixels.
    const std::string idat("\x78\x01\x01\x00\x00\xFF\xFF\x00\x00\x00\x01", 11);
    return std::string("\x89PNG\r\n\x1A\n", 8) + chunk("IHDR", header) + chunk("IDAT", idat) +
           chunk("IEND", "");
}

// One deployment per backend for the whole binary: broker, parleyd with the plugin, users u1..
class Deployment {
  public:
    explicit Deployment(const std::string& backend) {
        std::vector<BrokerUser> users{{"parleyd", "pd-secret"}, {"ops", passwordOf("ops")}};
        for (int i = 1; i <= kUsers; ++i) {
            users.push_back({"u" + std::to_string(i), passwordOf("u" + std::to_string(i))});
        }
        // A 25 MiB file is 800 chunk commands: past the broker's default publish rate per
        // connection (100/s, burst 300), which drops the excess (docs/attachments.md).
        broker_ = std::make_unique<MosquittoServer>(
            users, BrokerOptions{.pluginOptions = "plugin_opt_publish_rate 100000\n"
                                                  "plugin_opt_publish_burst 100000\n"});
        std::string store;
        if (backend == "sqlite") {
            store = "{backend: sqlite, sqlite: {path: parley.db, synchronous: normal}}";
        } else {
            auto& mariadb = sharedMariaDb();
            store = "{backend: mysql, mysql: {host: 127.0.0.1, port: " +
                    std::to_string(mariadb.port()) + ", user: " + mariadb.user() + ", password: '" +
                    mariadb.password() + "', database: " + mariadb.createDatabase() +
                    ", pool_size: 5}}";
        }
        fs::create_directories(files_.path());
        writeFile(secretFile_.file("url.secret"), "a-secret-for-signed-urls-in-tests\n");
        parleyd_ = std::make_unique<ParleydProcess>(
            "broker: {uri: " + broker_->uri() + ", client_id: parleyd-attach-" + backend +
            ", username: parleyd, password: pd-secret}\n"
            "store: " +
            store +
            "\n"
            "http: {listen: 127.0.0.1, port: 0}\n"
            "admins: [ops]\n"
            // 25 MiB is 800 chunk commands: the default 100 commands/s per user would refuse
            // most of them (docs/attachments.md, "Limits and configuration").
            "limits: {user_command_burst: 100000, user_commands_per_second: 100000}\n"
            // A loaded test machine must not turn a commit of 25 MiB into a timeout.
            "hooks:\n"
            "  message.before_store: {budget: 5s}\n"
            "  message.after_store: {budget: 5s}\n"
            "  command: {budget: 20s}\n"
            "  timer: {budget: 20s}\n"
            "extensions:\n"
            "  - name: attachments\n"
            "    plugin: " PARLEY_ATTACHMENTS_PLUGIN
            "\n"
            "    options:\n"
            "      folder: " +
            files_.path() +
            "\n"
            "      max_bytes: " +
            std::to_string(kMaxBytes) +
            "\n"
            "      daily_quota_bytes: " +
            std::to_string(kQuota) +
            "\n"
            "      upload_ttl_ms: 3000\n"
            "      unattached_ttl_ms: 600000\n"
            "      attach_grace_ms: 1000\n"
            "      url_ttl_ms: 3000\n"
            "      max_image_pixels: 1000000\n"
            "      url_secret_file: " +
            secretFile_.file("url.secret") + "\n");
        ops_ = std::make_unique<MqttTestClient>(broker_->uri(), "ops", passwordOf("ops"));
    }

    std::string newUser() {
        if (nextUser_ > kUsers) {
            throw std::runtime_error("out of test users: raise kUsers");
        }
        return "u" + std::to_string(nextUser_++);
    }
    std::unique_ptr<MqttTestClient> connect(const std::string& uid) {
        return std::make_unique<MqttTestClient>(broker_->uri(), uid, passwordOf(uid));
    }
    MqttTestClient& ops() { return *ops_; }
    ParleydProcess& parleyd() { return *parleyd_; }
    const std::string& folder() const { return files_.path(); }

  private:
    TempDir files_{"parley-attachments"};
    TempDir secretFile_{"parley-attachments-secret"};
    std::unique_ptr<MosquittoServer> broker_;
    std::unique_ptr<ParleydProcess> parleyd_;
    std::unique_ptr<MqttTestClient> ops_;
    int nextUser_ = 1;
};

class Attachments : public ::testing::TestWithParam<std::string> {
  protected:
    Deployment& deployment() {
        auto& slot = deployments_[GetParam()];
        if (!slot) {
            slot = std::make_unique<Deployment>(GetParam());
        }
        return *slot;
    }

    // Before the shared MariaDB stops (a global environment's teardown, after every suite).
    static void TearDownTestSuite() { deployments_.clear(); }

    static inline std::map<std::string, std::unique_ptr<Deployment>> deployments_;

    void TearDown() override {
        if (HasFailure()) {
            const std::string log = deployment().parleyd().log();
            std::cerr << "parleyd's log (end):\n"
                      << log.substr(log.size() > 6000 ? log.size() - 6000 : 0) << "\n";
        }
    }

    static json begin(MqttTestClient& client, const std::string& name, const std::string& mime,
                      const std::string& bytes, const std::string& sha = "") {
        return client.request({{"op", "attach.begin"},
                               {"name", name},
                               {"mime", mime},
                               {"size", bytes.size()},
                               {"sha256", sha.empty() ? sha256Hex(bytes) : sha}});
    }

    // Sends chunks [from, to) of `bytes` for `upload`.
    static void sendChunks(MqttTestClient& client, const std::string& upload,
                           const std::string& bytes, int64_t from, int64_t to) {
        for (int64_t index = from; index < to; ++index) {
            const auto piece = bytes.substr(static_cast<size_t>(index * kChunk), kChunk);
            auto reply = client.request({{"op", "attach.chunk"},
                                         {"upload", upload},
                                         {"index", index},
                                         {"data", base64Encode(piece)}},
                                        20s);
            ASSERT_EQ(codeOf(reply), "ok") << "chunk " << index << ": " << reply;
        }
        client.clearReceived();
    }

    static int64_t chunksOf(const std::string& bytes) {
        return (static_cast<int64_t>(bytes.size()) + kChunk - 1) / kChunk;
    }

    // begin, every chunk, commit: the reply of attach.commit.
    static json upload(MqttTestClient& client, const std::string& name, const std::string& mime,
                       const std::string& bytes, const std::string& sha = "") {
        auto begun = begin(client, name, mime, bytes, sha);
        if (codeOf(begun) != "ok") {
            return begun;
        }
        EXPECT_EQ(begun["chunk_size"], kChunk);
        sendChunks(client, begun["upload"], bytes, 0, chunksOf(bytes));
        return client.request({{"op", "attach.commit"}, {"upload", begun["upload"]}}, 60s);
    }

    static std::string committedId(MqttTestClient& client, const std::string& name,
                                   const std::string& mime, const std::string& bytes) {
        auto committed = upload(client, name, mime, bytes);
        EXPECT_EQ(codeOf(committed), "ok") << committed;
        return committed.value("attachment", json::object()).value("id", "");
    }

    // Every chunk of attachment `id` over MQTT, as `client` may read it.
    static std::string downloadOverMqtt(MqttTestClient& client, const std::string& id,
                                        const std::string& variant = "") {
        json info = client.request({{"op", "attach.info"}, {"attachment", id}});
        if (codeOf(info) != "ok") {
            throw std::runtime_error("attach.info: " + info.dump());
        }
        const json& file = variant.empty() ? info["attachment"] : info["attachment"]["thumbnail"];
        std::string bytes;
        for (int64_t index = 0; index < file["chunks"].get<int64_t>(); ++index) {
            json command = {{"op", "attach.download"}, {"attachment", id}, {"index", index}};
            if (!variant.empty()) {
                command["variant"] = variant;
            }
            auto chunk = client.request(command, 20s);
            if (codeOf(chunk) != "ok") {
                throw std::runtime_error("attach.download: " + chunk.dump());
            }
            bytes += *base64Decode(chunk["data"].get<std::string>());
            if (index % 64 == 63) {
                client.clearReceived();
            }
        }
        client.clearReceived();
        return bytes;
    }

    // Commands with bytes (docs/protocol.md, "Commands with bytes"): the command's JSON on one
    // line, a newline, the bytes, on parley/v1/c2s/{uid}/bin.
    static std::string bytesTopic(const MqttTestClient& client) {
        return "parley/v1/c2s/" + client.uid() + "/bin";
    }
    static std::string withBytes(const json& command, const std::string& bytes) {
        return command.dump() + "\n" + bytes;
    }
    // The reply with this id on .../resp.
    static json replyTo(MqttTestClient& client, const std::string& id) {
        const std::string topic = "parley/v1/u/" + client.uid() + "/resp";
        return client
            .waitFor(
                [&](const Received& message) {
                    return message.topic == topic && message.payload.is_object() &&
                           message.payload.contains("id") && message.payload["id"] == id;
                },
                20s)
            .payload;
    }

    // Every chunk of a raw upload (begun with "raw": true) on .../bin, at most `window`
    // unanswered: the server takes them several at once.
    static void sendRawChunks(MqttTestClient& client, const std::string& upload,
                              const std::string& bytes, int64_t chunkSize, int64_t window) {
        const int64_t chunks = (static_cast<int64_t>(bytes.size()) + chunkSize - 1) / chunkSize;
        const std::string prefix = "raw-" + upload + "-";
        for (int64_t index = 0; index < chunks; ++index) {
            if (index >= window) {
                auto reply = replyTo(client, prefix + std::to_string(index - window));
                ASSERT_EQ(codeOf(reply), "ok") << "chunk " << index - window << ": " << reply;
            }
            const json command = {{"op", "attach.chunk"},
                                  {"id", prefix + std::to_string(index)},
                                  {"upload", upload},
                                  {"index", index}};
            ASSERT_EQ(client.publishRaw(
                          bytesTopic(client),
                          withBytes(command, bytes.substr(static_cast<size_t>(index * chunkSize),
                                                          chunkSize))),
                      0);
        }
        for (int64_t index = std::max<int64_t>(0, chunks - window); index < chunks; ++index) {
            auto reply = replyTo(client, prefix + std::to_string(index));
            ASSERT_EQ(codeOf(reply), "ok") << "chunk " << index << ": " << reply;
        }
        client.clearReceived();
    }

    // Every chunk of attachment `id` asked on .../bin (`window` in flight), each answered on
    // parley/v1/u/{uid}/bin with its reply's JSON, a newline and the raw bytes.
    static std::string downloadRaw(MqttTestClient& client, const std::string& id, int64_t window) {
        json info = client.request({{"op", "attach.info"}, {"attachment", id}, {"raw", true}});
        if (codeOf(info) != "ok") {
            throw std::runtime_error("attach.info: " + info.dump());
        }
        const int64_t chunks = info["attachment"]["chunks"];
        const int64_t chunkSize = info["attachment"]["chunk_size"];
        std::string bytes(info["attachment"]["size"].get<size_t>(), '\0');
        const std::string prefix = "rawdl-" + id + "-";
        const std::string binTopic = "parley/v1/u/" + client.uid() + "/bin";
        const auto take = [&](int64_t index) {
            const std::string wanted = prefix + std::to_string(index);
            const Received arrived = client.waitFor(
                [&](const Received& message) {
                    if (message.topic != binTopic || !message.payload.is_string()) {
                        return message.payload.is_object() && message.payload.contains("id") &&
                               message.payload["id"] == wanted;  // refused
                    }
                    const auto& text = message.payload.get_ref<const std::string&>();
                    const json header =
                        json::parse(text.substr(0, text.find('\n')), nullptr, false);
                    return header.is_object() && header.contains("id") && header["id"] == wanted;
                },
                20s);
            if (!arrived.payload.is_string()) {
                throw std::runtime_error("attach.download: " + arrived.payload.dump());
            }
            const auto& text = arrived.payload.get_ref<const std::string&>();
            const auto newline = text.find('\n');
            const json header = json::parse(text.substr(0, newline));
            EXPECT_EQ(header["ok"], true) << header;
            EXPECT_EQ(header["index"], index) << header;
            EXPECT_EQ(header["chunks"], chunks) << header;
            const std::string piece = text.substr(newline + 1);
            EXPECT_EQ(static_cast<int64_t>(piece.size()),
                      std::min<int64_t>(chunkSize,
                                        static_cast<int64_t>(bytes.size()) - index * chunkSize));
            bytes.replace(static_cast<size_t>(index * chunkSize), piece.size(), piece);
        };
        for (int64_t index = 0; index < chunks; ++index) {
            if (index >= window) {
                take(index - window);
            }
            const json command = {{"op", "attach.download"},
                                  {"id", prefix + std::to_string(index)},
                                  {"attachment", id},
                                  {"index", index}};
            if (client.publishRaw(bytesTopic(client), withBytes(command, "")) != 0) {
                throw std::runtime_error("the broker refused a publish on " + bytesTopic(client));
            }
        }
        for (int64_t index = std::max<int64_t>(0, chunks - window); index < chunks; ++index) {
            take(index);
        }
        client.clearReceived();
        return bytes;
    }

    static std::string openWith(MqttTestClient& from, const std::string& peer) {
        auto opened = from.request({{"op", "conv.open"}, {"peer", peer}});
        EXPECT_EQ(codeOf(opened), "ok") << opened;
        return opened.value("conv", "");
    }

    static json sendWith(MqttTestClient& from, const std::string& conv, const json& ids) {
        static std::atomic<int> counter{0};
        return from.request({{"op", "msg.send"},
                             {"conv", conv},
                             {"cmid", "att-" + std::to_string(++counter)},
                             {"body", "see attached"},
                             {"attachments", ids}});
    }

    HttpAnswer getUrl(const json& reply) {
        return httpGet(deployment().parleyd().httpPort(), reply["path"].get<std::string>());
    }

    // Blob files under the folder with this name (a SHA-256).
    int blobFilesNamed(const std::string& sha) {
        int count = 0;
        for (const auto& entry : fs::recursive_directory_iterator(deployment().folder())) {
            count += entry.path().filename() == sha ? 1 : 0;
        }
        return count;
    }
};

TEST_P(Attachments, A25MiBFileRoundTripsByteIdenticalOverMqttAndHttp) {
    auto& env = deployment();
    const std::string alice = env.newUser();
    const std::string bob = env.newUser();
    auto aliceClient = env.connect(alice);
    auto bobClient = env.connect(bob);
    const std::string bytes = pdfBytes(kMaxBytes, 25);
    const auto committed = upload(*aliceClient, "catalogue.pdf", "application/pdf", bytes);
    ASSERT_EQ(codeOf(committed), "ok") << committed;
    const json attachment = committed["attachment"];
    EXPECT_EQ(attachment["name"], "catalogue.pdf");
    EXPECT_EQ(attachment["mime"], "application/pdf");
    EXPECT_EQ(attachment["size"], kMaxBytes);
    const std::string id = attachment["id"];

    const std::string conv = openWith(*aliceClient, bob);
    auto sent = sendWith(*aliceClient, conv, json::array({id}));
    ASSERT_EQ(codeOf(sent), "ok") << sent;
    // The msg event and the history carry the attachment's description.
    auto event = bobClient->waitFor([&](const Received& received) {
        return received.payload.value("ev", "") == "msg" &&
               received.payload.value("seq", int64_t{0}) == sent["seq"].get<int64_t>();
    });
    ASSERT_TRUE(event.payload.contains("attachments")) << event.payload;
    EXPECT_EQ(event.payload["attachments"], json::array({attachment})) << event.payload;
    auto history = bobClient->request({{"op", "msg.history"}, {"conv", conv}});
    ASSERT_EQ(codeOf(history), "ok") << history;
    EXPECT_EQ(history["msgs"].back()["attachments"], json::array({attachment})) << history;
    bobClient->clearReceived();

    const std::string overMqtt = downloadOverMqtt(*bobClient, id);
    EXPECT_EQ(overMqtt.size(), bytes.size());
    EXPECT_TRUE(overMqtt == bytes) << "the bytes downloaded over MQTT differ";

    auto url = bobClient->request({{"op", "attach.url"}, {"attachment", id}});
    ASSERT_EQ(codeOf(url), "ok") << url;
    const auto overHttp = getUrl(url);
    ASSERT_EQ(overHttp.status, 200) << overHttp.body.substr(0, 200);
    EXPECT_EQ(overHttp.body.size(), bytes.size());
    EXPECT_TRUE(overHttp.body == bytes) << "the bytes downloaded over HTTP differ";
}

TEST_P(Attachments, A25MiBFileRoundTripsAsRawBytesWithAWindowInFlight) {
    auto& env = deployment();
    const std::string alice = env.newUser();
    const std::string bob = env.newUser();
    auto aliceClient = env.connect(alice);
    auto bobClient = env.connect(bob);
    const std::string bytes = pdfBytes(kMaxBytes, 26);
    auto begun = aliceClient->request({{"op", "attach.begin"},
                                       {"name", "raw.pdf"},
                                       {"mime", "application/pdf"},
                                       {"size", bytes.size()},
                                       {"sha256", sha256Hex(bytes)},
                                       {"raw", true}});
    ASSERT_EQ(codeOf(begun), "ok") << begun;
    EXPECT_EQ(begun["chunk_size"], kRawChunk);
    EXPECT_EQ(begun["chunks"], kMaxBytes / kRawChunk);
    EXPECT_EQ(begun["raw"], true) << "the client learns that raw chunks are taken";
    const std::string uploadId = begun["upload"];
    sendRawChunks(*aliceClient, uploadId, bytes, kRawChunk, 8);
    auto status = aliceClient->request({{"op", "attach.status"}, {"upload", uploadId}});
    ASSERT_EQ(codeOf(status), "ok") << status;
    EXPECT_EQ(status["received"], kMaxBytes / kRawChunk);
    EXPECT_EQ(status["raw"], true) << "a resuming client learns how the upload was begun";
    auto committed = aliceClient->request({{"op", "attach.commit"}, {"upload", uploadId}}, 60s);
    ASSERT_EQ(codeOf(committed), "ok") << committed;
    EXPECT_EQ(committed["attachment"]["size"], kMaxBytes);
    const std::string id = committed["attachment"]["id"];

    const std::string conv = openWith(*aliceClient, bob);
    auto sent = sendWith(*aliceClient, conv, json::array({id}));
    ASSERT_EQ(codeOf(sent), "ok") << sent;
    const std::string overBytes = downloadRaw(*bobClient, id, 8);
    EXPECT_EQ(overBytes.size(), bytes.size());
    EXPECT_TRUE(overBytes == bytes) << "the raw bytes downloaded differ";
    // The base64 path still reads the same file.
    EXPECT_TRUE(downloadOverMqtt(*bobClient, id) == bytes);
}

TEST_P(Attachments, RawChunksKeepEveryCheck) {
    auto& env = deployment();
    const std::string uid = env.newUser();
    auto client = env.connect(uid);
    const std::string bytes = pdfBytes(3 * kRawChunk + 77, 27);
    const json beginRaw = {{"op", "attach.begin"},       {"name", "r.pdf"},
                           {"mime", "application/pdf"},  {"size", bytes.size()},
                           {"sha256", sha256Hex(bytes)}, {"raw", true}};
    auto begun = client->request(beginRaw);
    ASSERT_EQ(codeOf(begun), "ok") << begun;
    const std::string uploadId = begun["upload"];
    const auto sendRaw = [&](const std::string& id, const json& command, const std::string& data) {
        json withId = command;
        withId["id"] = id;
        EXPECT_EQ(client->publishRaw(bytesTopic(*client), withBytes(withId, data)), 0);
        return replyTo(*client, id);
    };
    const json chunk0 = {{"op", "attach.chunk"}, {"upload", uploadId}, {"index", 0}};
    // A chunk of the wrong length, an index out of range: refused, nothing written.
    EXPECT_EQ(codeOf(sendRaw("short", chunk0, bytes.substr(0, 100))), "bad_request");
    auto outOfRange = sendRaw("range", {{"op", "attach.chunk"}, {"upload", uploadId}, {"index", 4}},
                              bytes.substr(0, 77));
    EXPECT_EQ(codeOf(outOfRange), "bad_request") << outOfRange;
    // An op that takes no bytes, and a payload with no newline, are refused on .../bin.
    auto ping = sendRaw("ping-bin", {{"op", "ping"}}, "x");
    EXPECT_EQ(codeOf(ping), "bad_request") << ping;
    auto status = sendRaw("status-bin", {{"op", "attach.status"}, {"upload", uploadId}}, "");
    EXPECT_EQ(codeOf(status), "bad_request") << status;
    EXPECT_EQ(client->publishRaw(bytesTopic(*client), "no newline at all"), 0);
    auto noNewline = client->waitFor([](const Received& message) {
        return message.payload.is_object() && message.payload["id"].is_null() &&
               message.payload.value("ok", true) == false;
    });
    EXPECT_EQ(codeOf(noNewline.payload), "bad_request") << noNewline.payload;
    // Someone else's upload is none of yours, with bytes too.
    auto other = env.connect(env.newUser());
    json foreign = chunk0;
    foreign["id"] = "foreign";
    EXPECT_EQ(other->publishRaw(bytesTopic(*other), withBytes(foreign, bytes.substr(0, kRawChunk))),
              0);
    EXPECT_EQ(codeOf(replyTo(*other, "foreign")), "not_found");
    // Only what was refused is missing; a corrupted chunk fails the checksum at commit.
    auto held = client->request({{"op", "attach.status"}, {"upload", uploadId}});
    EXPECT_EQ(held["received"], 0) << held;
    std::string corrupted = bytes;
    corrupted[kRawChunk + 5] ^= 0x40;
    sendRawChunks(*client, uploadId, corrupted, kRawChunk, 4);
    auto commit = client->request({{"op", "attach.commit"}, {"upload", uploadId}}, 30s);
    EXPECT_EQ(codeOf(commit), "checksum_mismatch") << commit;
    // Resending the one chunk right mends it: resume from what the server holds.
    EXPECT_EQ(codeOf(sendRaw("mend", {{"op", "attach.chunk"}, {"upload", uploadId}, {"index", 1}},
                             bytes.substr(kRawChunk, kRawChunk))),
              "ok");
    commit = client->request({{"op", "attach.commit"}, {"upload", uploadId}}, 30s);
    ASSERT_EQ(codeOf(commit), "ok") << commit;
    EXPECT_TRUE(downloadRaw(*client, commit["attachment"]["id"], 2) == bytes);
}

TEST_P(Attachments, AnInterruptedUploadResumesFromWhatTheServerHolds) {
    auto& env = deployment();
    const std::string uid = env.newUser();
    const std::string bytes = pdfBytes(40 * kChunk + 123, 7);
    std::string uploadId;
    {
        auto first = env.connect(uid);
        auto begun = begin(*first, "notes.pdf", "application/pdf", bytes);
        ASSERT_EQ(codeOf(begun), "ok") << begun;
        uploadId = begun["upload"];
        EXPECT_EQ(begun["chunks"], 41);
        EXPECT_EQ(begun["raw"], false) << "base64 chunks: no raw asked for";
        // Every other chunk of the first 20, then the connection drops.
        for (int64_t index = 0; index < 20; index += 2) {
            sendChunks(*first, uploadId, bytes, index, index + 1);
        }
        first->disconnect();
    }
    auto second = env.connect(uid);
    auto status = second->request({{"op", "attach.status"}, {"upload", uploadId}});
    ASSERT_EQ(codeOf(status), "ok") << status;
    EXPECT_EQ(status["received"], 10);
    EXPECT_EQ(status["raw"], false);
    std::vector<int64_t> missing = status["missing"];
    ASSERT_EQ(missing.size(), 31u);
    EXPECT_EQ(missing.front(), 1);
    auto early = second->request({{"op", "attach.commit"}, {"upload", uploadId}});
    EXPECT_EQ(codeOf(early), "upload_incomplete") << early;
    for (int64_t index : missing) {
        sendChunks(*second, uploadId, bytes, index, index + 1);
    }
    auto committed = second->request({{"op", "attach.commit"}, {"upload", uploadId}}, 30s);
    ASSERT_EQ(codeOf(committed), "ok") << committed;
    // A commit repeated after a lost reply gets the same attachment.
    auto again = second->request({{"op", "attach.commit"}, {"upload", uploadId}});
    ASSERT_EQ(codeOf(again), "ok") << again;
    EXPECT_EQ(again["attachment"]["id"], committed["attachment"]["id"]);
    EXPECT_EQ(downloadOverMqtt(*second, committed["attachment"]["id"]), bytes);
}

TEST_P(Attachments, EachRefusalHasItsOwnCodeAndChangesNothing) {
    auto& env = deployment();
    const std::string uid = env.newUser();
    auto client = env.connect(uid);

    auto tooBig = begin(*client, "big.pdf", "application/pdf", pdfBytes(1024, 1));
    ASSERT_EQ(codeOf(tooBig), "ok");
    tooBig = client->request({{"op", "attach.begin"},
                              {"name", "big.pdf"},
                              {"mime", "application/pdf"},
                              {"size", kMaxBytes + 1},
                              {"sha256", sha256Hex("x")}});
    EXPECT_EQ(codeOf(tooBig), "too_large") << tooBig;

    // An executable declared as a PDF: its magic bytes decide.
    const std::string elf = readFile("/bin/true");
    auto executable = upload(*client, "invoice.pdf", "application/pdf", elf);
    EXPECT_EQ(codeOf(executable), "unsupported_type") << executable;
    const std::string html = "<!DOCTYPE html><html><body><script>alert(1)</script></body></html>\n";
    auto page = upload(*client, "notes.txt", "text/plain", html);
    EXPECT_EQ(codeOf(page), "unsupported_type") << page;
    const std::string svg =
        "<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" "
        "height=\"10\"><script>alert(1)</script></svg>\n";
    auto vector = upload(*client, "logo.txt", "text/plain", svg);
    EXPECT_EQ(codeOf(vector), "unsupported_type") << vector;
    auto declaredSvg = begin(*client, "logo.svg", "image/svg+xml", svg);
    EXPECT_EQ(codeOf(declaredSvg), "unsupported_type") << declaredSvg;

    // A PDF that says it is a JPEG.
    auto lying = upload(*client, "photo.jpg", "image/jpeg", pdfBytes(3000, 2));
    EXPECT_EQ(codeOf(lying), "type_mismatch") << lying;

    const std::string bytes = pdfBytes(5000, 3);
    auto corrupted = upload(*client, "a.pdf", "application/pdf", bytes, sha256Hex("other"));
    EXPECT_EQ(codeOf(corrupted), "checksum_mismatch") << corrupted;

    auto badChunk = begin(*client, "b.pdf", "application/pdf", bytes);
    ASSERT_EQ(codeOf(badChunk), "ok");
    auto shortChunk = client->request({{"op", "attach.chunk"},
                                       {"upload", badChunk["upload"]},
                                       {"index", 0},
                                       {"data", base64Encode("abc")}});
    EXPECT_EQ(codeOf(shortChunk), "bad_request") << shortChunk;
    auto notBase64 = client->request(
        {{"op", "attach.chunk"}, {"upload", badChunk["upload"]}, {"index", 0}, {"data", "***"}});
    EXPECT_EQ(codeOf(notBase64), "bad_request") << notBase64;
    auto aborted = client->request({{"op", "attach.abort"}, {"upload", badChunk["upload"]}});
    EXPECT_EQ(codeOf(aborted), "ok") << aborted;
    auto afterAbort = client->request({{"op", "attach.status"}, {"upload", badChunk["upload"]}});
    EXPECT_EQ(codeOf(afterAbort), "not_found") << afterAbort;

    // Someone else's upload is no upload of yours.
    auto other = env.connect(env.newUser());
    auto theirs = begin(*other, "c.pdf", "application/pdf", bytes);
    ASSERT_EQ(codeOf(theirs), "ok");
    auto foreign = client->request({{"op", "attach.status"}, {"upload", theirs["upload"]}});
    EXPECT_EQ(codeOf(foreign), "not_found") << foreign;
}

TEST_P(Attachments, TheDailyQuotaRefusesWhatWouldPassIt) {
    auto& env = deployment();
    auto client = env.connect(env.newUser());
    const std::string first = pdfBytes(2 * kMiB, 11);
    ASSERT_NE(committedId(*client, "one.pdf", "application/pdf", first), "");
    // 2 MiB used of 26: a 25 MiB file would pass the quota, at begin already.
    auto refused = client->request({{"op", "attach.begin"},
                                    {"name", "two.pdf"},
                                    {"mime", "application/pdf"},
                                    {"size", kMaxBytes},
                                    {"sha256", sha256Hex("y")}});
    EXPECT_EQ(codeOf(refused), "quota_exceeded") << refused;
    EXPECT_NE(refused["error"]["message"].get<std::string>().find("quota"), std::string::npos);
}

TEST_P(Attachments, OnlyTheUploaderAttachesAndOnlyMembersRead) {
    auto& env = deployment();
    const std::string alice = env.newUser();
    const std::string bob = env.newUser();
    const std::string carol = env.newUser();
    auto aliceClient = env.connect(alice);
    auto bobClient = env.connect(bob);
    auto carolClient = env.connect(carol);
    const std::string id =
        committedId(*aliceClient, "plan.pdf", "application/pdf", pdfBytes(70000, 21));
    ASSERT_FALSE(id.empty());
    const std::string conv = openWith(*aliceClient, bob);

    // Bob may not attach Alice's file, even to a conversation with her; nor an unknown id.
    auto stolen = sendWith(*bobClient, conv, json::array({id}));
    EXPECT_EQ(codeOf(stolen), "forbidden") << stolen;
    auto unknown = sendWith(*aliceClient, conv, json::array({"NoSuchAttachment"}));
    EXPECT_EQ(codeOf(unknown), "not_found") << unknown;
    auto history = bobClient->request({{"op", "msg.history"}, {"conv", conv}});
    EXPECT_TRUE(history["msgs"].empty()) << "a refused message was stored: " << history;
    // Before it is sent, only Alice reads it.
    auto early = bobClient->request({{"op", "attach.info"}, {"attachment", id}});
    EXPECT_EQ(codeOf(early), "forbidden") << early;

    ASSERT_EQ(codeOf(sendWith(*aliceClient, conv, json::array({id}))), "ok");
    auto bobReads =
        bobClient->request({{"op", "attach.download"}, {"attachment", id}, {"index", 0}});
    EXPECT_EQ(codeOf(bobReads), "ok") << bobReads;
    // Carol is no member: refused over MQTT, and she gets no URL.
    auto carolDownload =
        carolClient->request({{"op", "attach.download"}, {"attachment", id}, {"index", 0}});
    EXPECT_EQ(codeOf(carolDownload), "forbidden") << carolDownload;
    auto carolUrl = carolClient->request({{"op", "attach.url"}, {"attachment", id}});
    EXPECT_EQ(codeOf(carolUrl), "forbidden") << carolUrl;

    // Bob's URL works for him only: changed to name Carol, or its signature altered, it is
    // refused; once expired too.
    auto url = bobClient->request({{"op", "attach.url"}, {"attachment", id}});
    ASSERT_EQ(codeOf(url), "ok") << url;
    std::string path = url["path"];
    EXPECT_EQ(getUrl(url).status, 200);
    json asCarol = url;
    const auto userAt = path.find("&u=") + 3;
    asCarol["path"] = path.substr(0, userAt) + carol + path.substr(path.find('&', userAt));
    EXPECT_EQ(getUrl(asCarol).status, 403);
    json tampered = url;
    std::string signature = path;
    signature.back() = signature.back() == '0' ? '1' : '0';
    tampered["path"] = signature;
    EXPECT_EQ(getUrl(tampered).status, 403);
    json later = url;
    const auto expiresAt = path.find("&e=") + 3;
    later["path"] = path.substr(0, expiresAt) + "99999999999999" + path.substr(path.find("&s="));
    EXPECT_EQ(getUrl(later).status, 403) << "a changed expiry must break the signature";
    std::this_thread::sleep_for(3500ms);  // url_ttl_ms: 3000
    const auto expired = getUrl(url);
    EXPECT_EQ(expired.status, 403);
    EXPECT_NE(expired.body.find("expired"), std::string::npos) << expired.body;
}

TEST_P(Attachments, IdenticalBytesAreStoredOnce) {
    auto& env = deployment();
    auto first = env.connect(env.newUser());
    auto second = env.connect(env.newUser());
    const std::string bytes = pdfBytes(100000, 31);
    const std::string one = committedId(*first, "a.pdf", "application/pdf", bytes);
    const std::string two = committedId(*second, "b.pdf", "application/pdf", bytes);
    ASSERT_FALSE(one.empty());
    ASSERT_FALSE(two.empty());
    EXPECT_NE(one, two) << "each upload is an attachment of its own";
    EXPECT_EQ(blobFilesNamed(sha256Hex(bytes)), 1);
}

TEST_P(Attachments, GarbageCollectionRemovesExpiredUploadsAndFilesOfErasedMessages) {
    auto& env = deployment();
    const std::string alice = env.newUser();
    const std::string bob = env.newUser();
    auto aliceClient = env.connect(alice);
    auto bobClient = env.connect(bob);

    // An upload left unfinished expires (upload_ttl_ms: 3000) and its bytes go.
    const std::string partial = pdfBytes(4 * kChunk, 41);
    auto begun = begin(*aliceClient, "half.pdf", "application/pdf", partial);
    ASSERT_EQ(codeOf(begun), "ok");
    sendChunks(*aliceClient, begun["upload"], partial, 0, 2);
    const std::string part = env.folder() + "/tmp/" + begun["upload"].get<std::string>() + ".part";
    ASSERT_TRUE(fs::exists(part));
    std::this_thread::sleep_for(3500ms);
    auto gc = env.ops().request({{"op", "attach.gc"}}, 30s);
    ASSERT_EQ(codeOf(gc), "ok") << gc;
    EXPECT_GE(gc["uploads_removed"].get<int64_t>(), 1) << gc;
    EXPECT_FALSE(fs::exists(part));
    auto gone = aliceClient->request({{"op", "attach.status"}, {"upload", begun["upload"]}});
    EXPECT_EQ(codeOf(gone), "not_found") << gone;

    // A file a stored message carries stays; once its sender is erased (the message becomes a
    // tombstone without attachments), it goes.
    const std::string bytes = pdfBytes(50000, 42);
    const std::string id = committedId(*aliceClient, "kept.pdf", "application/pdf", bytes);
    const std::string conv = openWith(*aliceClient, bob);
    ASSERT_EQ(codeOf(sendWith(*aliceClient, conv, json::array({id}))), "ok");
    std::this_thread::sleep_for(1500ms);  // past attach_grace_ms
    ASSERT_EQ(codeOf(env.ops().request({{"op", "attach.gc"}}, 30s)), "ok");
    EXPECT_EQ(blobFilesNamed(sha256Hex(bytes)), 1) << "collected while a message carries it";
    EXPECT_EQ(codeOf(bobClient->request({{"op", "attach.info"}, {"attachment", id}})), "ok");

    auto erased = env.ops().request({{"op", "admin.user.erase"}, {"user", alice}}, 30s);
    ASSERT_EQ(codeOf(erased), "ok") << erased;
    auto history = bobClient->request({{"op", "msg.history"}, {"conv", conv}});
    ASSERT_EQ(codeOf(history), "ok") << history;
    EXPECT_FALSE(history["msgs"].back().contains("attachments")) << history;
    gc = env.ops().request({{"op", "attach.gc"}}, 30s);
    ASSERT_EQ(codeOf(gc), "ok") << gc;
    EXPECT_GE(gc["attachments_removed"].get<int64_t>(), 1) << gc;
    EXPECT_EQ(blobFilesNamed(sha256Hex(bytes)), 0) << "the file outlived its last message";
    EXPECT_EQ(codeOf(bobClient->request({{"op", "attach.info"}, {"attachment", id}})), "forbidden");
}

TEST_P(Attachments, ImagesLoseTheirMetadataAfterTurningUpright) {
    auto& env = deployment();
    const std::string alice = env.newUser();
    auto client = env.connect(alice);
    const TempDir work("parley-attach-img");
    const std::string photo = work.file("photo.jpg");
    // 64 x 48, tagged: taken at a home (GPS), camera held sideways (orientation 6 = rotate 90).
    run("vips black " + work.file("plain.v") + " 64 48 --bands 3");
    run("vips linear " + work.file("plain.v") + " " + photo + "[Q=90] 1 120");
    run("exiftool -q -overwrite_original -GPSLatitude=48.8566 -GPSLatitudeRef=N "
        "-GPSLongitude=2.3522 -GPSLongitudeRef=E -Artist='Seller at home' -Orientation#=6 " +
        photo);
    ASSERT_NE(run("exiftool -n -GPSLatitude -Orientation " + photo).find("48.8566"),
              std::string::npos);

    auto committed = upload(*client, "bike.jpg", "image/jpeg", readFile(photo));
    ASSERT_EQ(codeOf(committed), "ok") << committed;
    const json& attachment = committed["attachment"];
    EXPECT_EQ(attachment["width"], 48) << "turned upright";
    EXPECT_EQ(attachment["height"], 64);
    ASSERT_TRUE(attachment.contains("thumbnail")) << attachment;
    EXPECT_EQ(attachment["thumbnail"]["mime"], "image/webp");

    const std::string stored = work.file("stored.jpg");
    writeFile(stored, downloadOverMqtt(*client, attachment["id"]));
    const json tags = json::parse(run("exiftool -j -n -a -G1 " + stored))[0];
    for (const auto& [key, value] : tags.items()) {
        EXPECT_EQ(key.find("GPS"), std::string::npos) << key << " = " << value;
        EXPECT_EQ(key.find("Artist"), std::string::npos) << key << " = " << value;
        EXPECT_EQ(key.find("Orientation"), std::string::npos) << key << " = " << value;
    }
    EXPECT_EQ(tags.value("File:ImageWidth", 0), 48) << tags;
    const std::string thumbnail = work.file("thumb.webp");
    writeFile(thumbnail, downloadOverMqtt(*client, attachment["id"], "thumbnail"));
    EXPECT_NE(run("vipsheader " + thumbnail).find("48x64"), std::string::npos);
}

TEST_P(Attachments, ADecompressionBombIsRefusedFromItsHeader) {
    auto& env = deployment();
    auto client = env.connect(env.newUser());
    // 50,000 x 50,000 RGB: 7.5 GB decoded, a few dozen bytes on the wire.
    const std::string bomb = pngBomb(50000, 50000);
    auto refused = upload(*client, "bomb.png", "image/png", bomb);
    EXPECT_EQ(codeOf(refused), "image_too_large") << refused;
    // A modest image over the test's bound (1,000,000 pixels) is refused the same way.
    const TempDir work("parley-attach-bomb");
    run("vips black " + work.file("big.png") + " 1200 1000");
    auto big = upload(*client, "big.png", "image/png", readFile(work.file("big.png")));
    EXPECT_EQ(codeOf(big), "image_too_large") << big;
    // parleyd is still there.
    EXPECT_EQ(codeOf(client->request({{"op", "attach.status"}, {"upload", "nothing"}})),
              "not_found");
}

TEST_P(Attachments, MalformedAttachmentIdsAreRefused) {
    auto& env = deployment();
    auto client = env.connect(env.newUser());
    const std::string conv = openWith(*client, env.newUser());
    auto malformed = client->request({{"op", "msg.send"},
                                      {"conv", conv},
                                      {"cmid", "bad-ids"},
                                      {"body", "x"},
                                      {"attachments", json::array({1, 2})}});
    EXPECT_EQ(codeOf(malformed), "bad_request") << malformed;
}

// Raw chunks are charged to the byte budget (limits.user_transfer_*), not the command rate: with
// a command burst of 6 and a budget of 7.5 chunks of 256 KiB (then 32 KiB/s: the half chunk
// missing takes 4 s to come), a user sends 7 raw chunks and still chats; the 8th chunk is
// refused transfer_limited with retry_after_ms, changes nothing, and goes through once that time
// has passed.
TEST(AttachmentsByteBudget, RawChunksUseTheByteBudgetAndLeaveTheCommandRateToChat) {
    MosquittoServer broker({{"parleyd", "pd-secret"}, {"carol", passwordOf("carol")}},
                           BrokerOptions{.pluginOptions = "plugin_opt_publish_rate 100000\n"
                                                          "plugin_opt_publish_burst 100000\n"});
    TempDir files("parley-attachments-budget");
    ParleydProcess parleyd(
        "broker: {uri: " + broker.uri() +
        ", client_id: parleyd-attach-budget, username: parleyd, password: pd-secret}\n"
        "store: {backend: sqlite, sqlite: {path: parley.db, synchronous: normal}}\n"
        "limits: {user_command_burst: 6, user_commands_per_second: 0.01, "
        "max_bytes_per_command: 1048576, user_transfer_burst_bytes: 1966080, "
        "user_transfer_bytes_per_second: 32768}\n"
        "hooks: {command: {budget: 20s}}\n"
        "extensions:\n"
        "  - name: attachments\n"
        "    plugin: " PARLEY_ATTACHMENTS_PLUGIN
        "\n"
        "    options: {folder: " +
        files.path() + "}\n");
    MqttTestClient carol(broker.uri(), "carol", passwordOf("carol"));
    const std::string bytes = pdfBytes(12 * kRawChunk, 31);
    auto begun = carol.request({{"op", "attach.begin"},  // command 1 of the burst of 6
                                {"name", "big.pdf"},
                                {"mime", "application/pdf"},
                                {"size", bytes.size()},
                                {"sha256", sha256Hex(bytes)},
                                {"raw", true}});
    ASSERT_EQ(codeOf(begun), "ok") << begun;
    const std::string uploadId = begun["upload"];
    const std::string topic = "parley/v1/c2s/carol/bin";
    const auto publishChunk = [&](int64_t index, const std::string& id) {
        const json command = {
            {"op", "attach.chunk"}, {"id", id}, {"upload", uploadId}, {"index", index}};
        EXPECT_EQ(carol.publishRaw(
                      topic, command.dump() + "\n" +
                                 bytes.substr(static_cast<size_t>(index * kRawChunk), kRawChunk)),
                  0);
    };
    const auto replyTo = [&](const std::string& id) {
        return carol
            .waitFor(
                [&](const Received& message) {
                    return message.payload.is_object() && message.payload.contains("id") &&
                           message.payload["id"] == id;
                },
                20s)
            .payload;
    };
    // 8 chunks back to back (they reach parleyd within milliseconds: the budget barely refills
    // meanwhile). The first 7 go through, more than the command burst of 6 would allow.
    for (int64_t index = 0; index < 8; ++index) {
        publishChunk(index, "budget-" + std::to_string(index));
    }
    for (int64_t index = 0; index < 7; ++index) {
        auto reply = replyTo("budget-" + std::to_string(index));
        ASSERT_EQ(codeOf(reply), "ok") << "chunk " << index << ": " << reply;
    }
    // The 8th passes the budget: its own code, a wait, and nothing written.
    auto refused = replyTo("budget-7");
    ASSERT_EQ(codeOf(refused), "transfer_limited") << refused;
    EXPECT_GT(refused["error"]["retry_after_ms"].get<int64_t>(), 0) << refused;
    // Chat is untouched by the chunks: 5 commands are left of the burst of 6.
    for (int i = 0; i < 4; ++i) {
        auto ping = carol.request({{"op", "ping"}});
        EXPECT_EQ(codeOf(ping), "ok") << ping;
    }
    auto status = carol.request({{"op", "attach.status"}, {"upload", uploadId}});
    ASSERT_EQ(codeOf(status), "ok") << status;
    EXPECT_EQ(status["received"], 7) << status;
    // The command rate is spent now (0.01 per second): a base64 chunk is a command and is refused
    // rate_limited, while the byte budget, once refilled, takes the refused chunk.
    auto base64Chunk = carol.request(
        {{"op", "attach.chunk"}, {"upload", uploadId}, {"index", 7}, {"data", base64Encode("x")}});
    EXPECT_EQ(codeOf(base64Chunk), "rate_limited") << base64Chunk;
    std::this_thread::sleep_for(
        std::chrono::milliseconds(refused["error"]["retry_after_ms"].get<int64_t>() + 50));
    publishChunk(7, "budget-7-again");
    auto resent = replyTo("budget-7-again");
    EXPECT_EQ(codeOf(resent), "ok") << resent;
}

INSTANTIATE_TEST_SUITE_P(Backends, Attachments, ::testing::Values("sqlite", "mariadb"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                             return info.param;
                         });

}  // namespace
}  // namespace parley::testing
