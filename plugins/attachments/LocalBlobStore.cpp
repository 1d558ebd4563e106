// The blob store on a folder (BlobStore.h): blobs/{key[0..2]}/{key}, staging in tmp/. put is a
// rename into place, atomic on one filesystem, so a reader never sees half a blob.

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>

#include "BlobStore.h"

namespace {

namespace fs = std::filesystem;

// The table lives inside the store it describes: destroy frees both.
struct LocalStore {
    attachments_blob_store table{};
    fs::path root;
    fs::path blobs;
    std::string staging;
};

bool validKey(const char* key) {
    if (key == nullptr || std::strlen(key) != 64) {
        return false;
    }
    for (const char* c = key; *c != '\0'; ++c) {
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f'))) {
            return false;
        }
    }
    return true;
}

fs::path pathOf(const LocalStore& store, const char* key) {
    return store.blobs / std::string(key, 2) / key;
}

int put(void* ctx, const char* key, const char* localPath) {
    auto& store = *static_cast<LocalStore*>(ctx);
    std::error_code error;
    if (!validKey(key) || localPath == nullptr) {
        return -1;
    }
    const fs::path target = pathOf(store, key);
    if (fs::exists(target, error)) {
        fs::remove(localPath, error);
        return 0;
    }
    fs::create_directories(target.parent_path(), error);
    fs::rename(localPath, target, error);
    if (error) {
        fs::remove(localPath, error);
        return -1;
    }
    return 0;
}

int exists(void* ctx, const char* key) {
    std::error_code error;
    if (!validKey(key)) {
        return -1;
    }
    return fs::exists(pathOf(*static_cast<LocalStore*>(ctx), key), error) ? 1 : 0;
}

int64_t size(void* ctx, const char* key) {
    std::error_code error;
    if (!validKey(key)) {
        return -1;
    }
    const auto bytes = fs::file_size(pathOf(*static_cast<LocalStore*>(ctx), key), error);
    return error ? -1 : static_cast<int64_t>(bytes);
}

int64_t read(void* ctx, const char* key, uint64_t offset, void* buffer, size_t len) {
    if (!validKey(key)) {
        return -1;
    }
    const int fd =
        ::open(pathOf(*static_cast<LocalStore*>(ctx), key).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -1;
    }
    size_t done = 0;
    while (done < len) {
        const ssize_t got = ::pread(fd, static_cast<char*>(buffer) + done, len - done,
                                    static_cast<off_t>(offset + done));
        if (got < 0) {
            ::close(fd);
            return -1;
        }
        if (got == 0) {
            break;
        }
        done += static_cast<size_t>(got);
    }
    ::close(fd);
    return static_cast<int64_t>(done);
}

int remove(void* ctx, const char* key) {
    std::error_code error;
    if (!validKey(key)) {
        return -1;
    }
    fs::remove(pathOf(*static_cast<LocalStore*>(ctx), key), error);
    return error ? -1 : 0;
}

int list(void* ctx, int (*visit)(const char* key, void* arg), void* arg) {
    auto& store = *static_cast<LocalStore*>(ctx);
    std::error_code error;
    for (fs::recursive_directory_iterator it(store.blobs, error), end; !error && it != end;
         it.increment(error)) {
        const std::string name = it->path().filename().string();
        if (it->is_regular_file(error) && validKey(name.c_str()) && visit(name.c_str(), arg) != 0) {
            return 0;
        }
    }
    return error ? -1 : 0;
}

int localPath(void* ctx, const char* key, char* out, size_t outLen) {
    if (!validKey(key) || out == nullptr) {
        return -1;
    }
    const std::string path = pathOf(*static_cast<LocalStore*>(ctx), key).string();
    if (path.size() + 1 > outLen) {
        return -1;
    }
    std::memcpy(out, path.c_str(), path.size() + 1);
    return 0;
}

const char* stagingDir(void* ctx) {
    return static_cast<LocalStore*>(ctx)->staging.c_str();
}

void destroy(void* ctx) {
    // Made by attachments_local_store_open, which handed its ownership to the table.
    std::unique_ptr<LocalStore> owned(static_cast<LocalStore*>(ctx));
}

}  // namespace

extern "C" attachments_blob_store* attachments_local_store_open(const char* root, char* error,
                                                                size_t errorLen) {
    const auto fail = [&](const std::string& reason) -> attachments_blob_store* {
        if (error != nullptr && errorLen > 0) {
            std::snprintf(error, errorLen, "%s", reason.c_str());
        }
        return nullptr;
    };
    if (root == nullptr || root[0] != '/') {
        return fail("\"folder\" must be an absolute path");
    }
    auto store = std::make_unique<LocalStore>();
    store->root = root;
    store->blobs = store->root / "blobs";
    const fs::path staging = store->root / "tmp";
    std::error_code failed;
    fs::create_directories(store->blobs, failed);
    if (!failed) {
        fs::create_directories(staging, failed);
    }
    if (failed) {
        return fail("cannot create " + store->root.string() + ": " + failed.message());
    }
    store->staging = staging.string();
    store->table = attachments_blob_store{sizeof(attachments_blob_store),
                                          store.get(),
                                          &put,
                                          &exists,
                                          &size,
                                          &read,
                                          &remove,
                                          &list,
                                          &localPath,
                                          &stagingDir,
                                          &destroy};
    // Ownership goes to the table's destroy: the C interface has no destructor of its own.
    return &store.release()->table;
}
