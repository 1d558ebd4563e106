#include "KeyFiles.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace parley::jwtauth {

namespace {

constexpr size_t kMaxKeyFileBytes = 64 * 1024;
constexpr size_t kMinHmacSecretBytes = 32;
constexpr int kMinRsaBits = 2048;

std::string readKeyFile(const std::string& path) {
    std::ifstream file(path, std::ios::binary);
    if (!file) {
        throw std::runtime_error("cannot read key file " + path);
    }
    std::string content;
    content.resize(kMaxKeyFileBytes + 1);
    file.read(content.data(), static_cast<std::streamsize>(content.size()));
    content.resize(static_cast<size_t>(file.gcount()));
    if (file.bad()) {
        throw std::runtime_error("cannot read key file " + path);
    }
    if (content.size() > kMaxKeyFileBytes) {
        throw std::runtime_error("key file " + path + " is larger than 64 KiB");
    }
    return content;
}

std::string checkedHmacSecret(std::string content, const std::string& path) {
    while (!content.empty() && (content.back() == '\n' || content.back() == '\r' ||
                                content.back() == ' ' || content.back() == '\t')) {
        content.pop_back();
    }
    if (content.find("-----BEGIN") != std::string::npos) {
        throw std::runtime_error("key file " + path +
                                 " holds a PEM block, not an HS256 secret (configure a public "
                                 "key as rs256_public_key_file or es256_public_key_file)");
    }
    if (content.size() < kMinHmacSecretBytes) {
        throw std::runtime_error("HS256 secret in " + path + " has " +
                                 std::to_string(content.size()) + " bytes; at least 32 are needed");
    }
    return content;
}

struct PkeyDeleter {
    void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct BioDeleter {
    void operator()(BIO* bio) const { BIO_free(bio); }
};

std::string checkedPublicKey(JwtAlgorithm algorithm, std::string content, const std::string& path) {
    if (content.find("PRIVATE KEY-----") != std::string::npos) {
        throw std::runtime_error("key file " + path +
                                 " holds a private key; the broker needs only the public key "
                                 "(openssl pkey -in KEY -pubout)");
    }
    std::unique_ptr<BIO, BioDeleter> bio(
        BIO_new_mem_buf(content.data(), static_cast<int>(content.size())));
    if (!bio) {
        throw std::runtime_error("out of memory reading " + path);
    }
    std::unique_ptr<EVP_PKEY, PkeyDeleter> key(
        PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
    if (!key) {
        throw std::runtime_error("key file " + path +
                                 " is not a PEM public key (-----BEGIN PUBLIC KEY-----)");
    }
    const int type = EVP_PKEY_get_base_id(key.get());
    if (algorithm == JwtAlgorithm::RS256) {
        if (type != EVP_PKEY_RSA) {
            throw std::runtime_error("key file " + path + " is not an RSA public key (RS256)");
        }
        if (EVP_PKEY_get_bits(key.get()) < kMinRsaBits) {
            throw std::runtime_error("RSA key in " + path + " has " +
                                     std::to_string(EVP_PKEY_get_bits(key.get())) +
                                     " bits; at least 2048 are needed");
        }
    } else {
        char group[64] = {};
        size_t groupLength = 0;
        if (type != EVP_PKEY_EC ||
            EVP_PKEY_get_group_name(key.get(), group, sizeof(group), &groupLength) != 1 ||
            (std::string(group) != "prime256v1" && std::string(group) != "P-256")) {
            throw std::runtime_error("key file " + path +
                                     " is not an EC public key on P-256 (ES256)");
        }
    }
    return content;
}

bool endsWith(const std::string& text, const std::string& suffix) {
    return text.size() > suffix.size() &&
           text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

bool isValidKid(const std::string& kid) {
    return !kid.empty() && kid.size() <= 64 && std::all_of(kid.begin(), kid.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '_' || c == '-';
    });
}

VerificationKey loadKeyFile(JwtAlgorithm algorithm, const std::string& kid,
                            const std::string& path) {
    VerificationKey key;
    key.kid = kid;
    key.algorithm = algorithm;
    key.source = path;
    std::string content = readKeyFile(path);
    if (algorithm == JwtAlgorithm::HS256) {
        key.material = checkedHmacSecret(std::move(content), path);
    } else {
        key.material = checkedPublicKey(algorithm, std::move(content), path);
    }
    return key;
}

void loadKeyDirectory(const std::string& directory, KeyRing& keys, std::string& skipped) {
    static const std::vector<std::pair<std::string, JwtAlgorithm>> kSuffixes = {
        {".hs256", JwtAlgorithm::HS256},
        {".rs256.pem", JwtAlgorithm::RS256},
        {".es256.pem", JwtAlgorithm::ES256},
    };
    std::error_code error;
    std::vector<std::filesystem::path> files;
    for (std::filesystem::directory_iterator it(directory, error), end; !error && it != end;
         it.increment(error)) {
        files.push_back(it->path());
    }
    if (error) {
        throw std::runtime_error("cannot list key_dir " + directory + ": " + error.message());
    }
    std::sort(files.begin(), files.end());  // the same log lines on every start
    for (const auto& file : files) {
        const std::string name = file.filename().string();
        bool used = false;
        for (const auto& [suffix, algorithm] : kSuffixes) {
            if (endsWith(name, suffix)) {
                const std::string kid = name.substr(0, name.size() - suffix.size());
                if (!isValidKid(kid)) {
                    throw std::runtime_error("key file " + file.string() + ": the kid before " +
                                             suffix +
                                             " must be 1-64 characters from A-Z a-z 0-9 . _ -");
                }
                keys.add(loadKeyFile(algorithm, kid, file.string()));
                used = true;
                break;
            }
        }
        if (!used) {
            skipped += (skipped.empty() ? "" : ", ") + name;
        }
    }
}

}  // namespace parley::jwtauth
