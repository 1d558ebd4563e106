#include "TestJws.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>

namespace parley::testing {

namespace {

struct PkeyDeleter {
    void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

struct FileCloser {
    void operator()(FILE* file) const { std::fclose(file); }
};

void writeKeyPair(EVP_PKEY* key, const std::string& privatePath, const std::string& publicPath) {
    if (key == nullptr) {
        throw std::runtime_error("OpenSSL: key generation failed");
    }
    std::unique_ptr<FILE, FileCloser> privateFile(std::fopen(privatePath.c_str(), "w"));
    std::unique_ptr<FILE, FileCloser> publicFile(std::fopen(publicPath.c_str(), "w"));
    if (!privateFile || !publicFile ||
        PEM_write_PrivateKey(privateFile.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1 ||
        PEM_write_PUBKEY(publicFile.get(), key) != 1) {
        throw std::runtime_error("cannot write key pair " + privatePath);
    }
}

Pkey readPrivateKey(const std::string& path) {
    std::unique_ptr<FILE, FileCloser> file(std::fopen(path.c_str(), "r"));
    if (!file) {
        throw std::runtime_error("cannot open " + path);
    }
    Pkey key(PEM_read_PrivateKey(file.get(), nullptr, nullptr, nullptr));
    if (!key) {
        throw std::runtime_error("not a private key: " + path);
    }
    return key;
}

std::string digestSign(const std::string& input, const std::string& privateKeyPath) {
    Pkey key = readPrivateKey(privateKeyPath);
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context(EVP_MD_CTX_new(),
                                                                    EVP_MD_CTX_free);
    size_t length = 0;
    if (!context ||
        EVP_DigestSignInit(context.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1 ||
        EVP_DigestSign(context.get(), nullptr, &length,
                       reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1) {
        throw std::runtime_error("OpenSSL: cannot sign");
    }
    std::string signature(length, '\0');
    if (EVP_DigestSign(context.get(), reinterpret_cast<unsigned char*>(signature.data()), &length,
                       reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1) {
        throw std::runtime_error("OpenSSL: cannot sign");
    }
    signature.resize(length);
    return signature;
}

}  // namespace

void writeRsaKeyPair(const std::string& privatePath, const std::string& publicPath, int bits) {
    Pkey key(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(bits)));
    writeKeyPair(key.get(), privatePath, publicPath);
}

void writeEcKeyPair(const std::string& privatePath, const std::string& publicPath,
                    const std::string& curve) {
    Pkey key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve.c_str()));
    writeKeyPair(key.get(), privatePath, publicPath);
}

std::string base64Url(const std::string& bytes) {
    std::string text(4 * ((bytes.size() + 2) / 3) + 1, '\0');
    const int length = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(text.data()),
                                       reinterpret_cast<const unsigned char*>(bytes.data()),
                                       static_cast<int>(bytes.size()));
    text.resize(static_cast<size_t>(length));
    while (!text.empty() && text.back() == '=') {
        text.pop_back();
    }
    for (char& c : text) {
        c = c == '+' ? '-' : c == '/' ? '_' : c;
    }
    return text;
}

std::string hmacSha256(const std::string& signingInput, const std::string& secret) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
             reinterpret_cast<const unsigned char*>(signingInput.data()), signingInput.size(), mac,
             &length) == nullptr) {
        throw std::runtime_error("OpenSSL: HMAC failed");
    }
    return std::string(reinterpret_cast<char*>(mac), length);
}

std::string rsaSha256(const std::string& signingInput, const std::string& privateKeyPath) {
    return digestSign(signingInput, privateKeyPath);
}

std::string ecdsaP256Sha256(const std::string& signingInput, const std::string& privateKeyPath) {
    const std::string der = digestSign(signingInput, privateKeyPath);
    const auto* cursor = reinterpret_cast<const unsigned char*>(der.data());
    std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> signature(
        d2i_ECDSA_SIG(nullptr, &cursor, static_cast<long>(der.size())), ECDSA_SIG_free);
    if (!signature) {
        throw std::runtime_error("OpenSSL: bad ECDSA signature");
    }
    std::string raw(64, '\0');
    auto* out = reinterpret_cast<unsigned char*>(raw.data());
    if (BN_bn2binpad(ECDSA_SIG_get0_r(signature.get()), out, 32) != 32 ||
        BN_bn2binpad(ECDSA_SIG_get0_s(signature.get()), out + 32, 32) != 32) {
        throw std::runtime_error("OpenSSL: ECDSA signature does not fit P-256");
    }
    return raw;
}

std::string makeJws(const nlohmann::json& header, const nlohmann::json& claims, Signer signer,
                    const std::string& key) {
    const std::string input = base64Url(header.dump()) + "." + base64Url(claims.dump());
    switch (signer) {
        case Signer::None:
            return input + ".";
        case Signer::HS256:
            return input + "." + base64Url(hmacSha256(input, key));
        case Signer::RS256:
            return input + "." + base64Url(rsaSha256(input, key));
        case Signer::ES256:
            return input + "." + base64Url(ecdsaP256Sha256(input, key));
    }
    throw std::logic_error("makeJws: unknown signer");
}

void writeTextFile(const std::string& path, const std::string& content) {
    std::ofstream file(path, std::ios::binary | std::ios::trunc);
    file << content;
    file.close();
    if (!file) {
        throw std::runtime_error("cannot write " + path);
    }
}

std::string readTextFile(const std::string& path) {
    std::ifstream file(path, std::ios::binary);
    std::ostringstream text;
    text << file.rdbuf();
    return text.str();
}

}  // namespace parley::testing
