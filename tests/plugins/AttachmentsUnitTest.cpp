// plugins/attachments' parts that need no parleyd: base64, hashes, the signed URLs' pieces, MIME
// sniffing and normalizing, the options, the local blob store, and images through libvips.

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

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

}  // namespace
}  // namespace parley::attachments
