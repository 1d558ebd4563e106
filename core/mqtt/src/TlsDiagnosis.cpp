#include "parley/mqtt/TlsDiagnosis.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <memory>
#include <stdexcept>

#include "parley/mqtt/SocketTuning.h"

namespace parley {

namespace {

struct ContextDeleter {
    void operator()(SSL_CTX* context) const { SSL_CTX_free(context); }
};
struct SslDeleter {
    void operator()(SSL* ssl) const { SSL_free(ssl); }
};

class Socket {
  public:
    explicit Socket(int fd = -1) : fd_(fd) {}
    ~Socket() {
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }
    Socket(const Socket&) = delete;
    Socket& operator=(const Socket&) = delete;
    Socket(Socket&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
    Socket& operator=(Socket&& other) noexcept {
        std::swap(fd_, other.fd_);
        return *this;
    }
    int fd() const { return fd_; }

  private:
    int fd_;
};

// The first certificate the verification refused, as the verify callback saw it.
struct Refusal {
    int error = X509_V_OK;
    int depth = 0;
    std::string subject;
    std::string issuer;
    std::string notBefore;
    std::string notAfter;
    std::string names;  // subjectAltName entries (or the CN) of the certificate
};

std::string nameText(const X509_NAME* name) {
    std::unique_ptr<BIO, decltype(&BIO_free)> out(BIO_new(BIO_s_mem()), BIO_free);
    if (!out || X509_NAME_print_ex(out.get(), name, 0, XN_FLAG_RFC2253) < 0) {
        return "?";
    }
    char* data = nullptr;
    const long length = BIO_get_mem_data(out.get(), &data);
    return std::string(data, static_cast<size_t>(length));
}

std::string timeText(const ASN1_TIME* time) {
    std::tm utc{};
    if (time == nullptr || ASN1_TIME_to_tm(time, &utc) != 1) {
        return "?";
    }
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S UTC", &utc);
    return text;
}

std::string namesOf(X509* certificate) {
    std::string names;
    const auto add = [&names](const std::string& name) {
        names += (names.empty() ? "" : ", ") + name;
    };
    auto* alternatives = static_cast<GENERAL_NAMES*>(
        X509_get_ext_d2i(certificate, NID_subject_alt_name, nullptr, nullptr));
    if (alternatives != nullptr) {
        for (int i = 0; i < sk_GENERAL_NAME_num(alternatives); ++i) {
            const GENERAL_NAME* name = sk_GENERAL_NAME_value(alternatives, i);
            if (name->type == GEN_DNS) {
                const auto* text = name->d.dNSName;
                add("DNS:" + std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(text)),
                                         static_cast<size_t>(ASN1_STRING_length(text))));
            } else if (name->type == GEN_IPADD) {
                const auto* bytes = name->d.iPAddress;
                char text[INET6_ADDRSTRLEN] = "?";
                const int length = ASN1_STRING_length(bytes);
                if (length == 4 || length == 16) {
                    inet_ntop(length == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(bytes), text,
                              sizeof text);
                }
                add(std::string("IP:") + text);
            }
        }
        GENERAL_NAMES_free(alternatives);
    }
    if (names.empty()) {
        char commonName[256] = "";
        if (X509_NAME_get_text_by_NID(X509_get_subject_name(certificate), NID_commonName,
                                      commonName, sizeof commonName) > 0) {
            add(std::string("CN:") + commonName);
        }
    }
    return names.empty() ? "no name at all" : names;
}

int recordRefusal(int ok, X509_STORE_CTX* store) {
    if (ok == 1) {
        return 1;
    }
    auto* ssl =
        static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
    auto* refusal = static_cast<Refusal*>(SSL_get_app_data(ssl));
    if (refusal != nullptr && refusal->error == X509_V_OK) {
        refusal->error = X509_STORE_CTX_get_error(store);
        refusal->depth = X509_STORE_CTX_get_error_depth(store);
        if (X509* certificate = X509_STORE_CTX_get_current_cert(store)) {
            refusal->subject = nameText(X509_get_subject_name(certificate));
            refusal->issuer = nameText(X509_get_issuer_name(certificate));
            refusal->notBefore = timeText(X509_get0_notBefore(certificate));
            refusal->notAfter = timeText(X509_get0_notAfter(certificate));
            refusal->names = namesOf(certificate);
        }
    }
    return 0;
}

bool isIpAddress(const std::string& host) {
    unsigned char address[16];
    return inet_pton(AF_INET, host.c_str(), address) == 1 ||
           inet_pton(AF_INET6, host.c_str(), address) == 1;
}

// A blocking TCP connection whose connect, reads and writes give up after `timeout`; throws
// std::runtime_error with the reason.
Socket connectWithin(const std::string& host, int port, std::chrono::milliseconds timeout) {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    const int resolved = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found);
    if (resolved != 0) {
        throw std::runtime_error("cannot resolve " + host + ": " + gai_strerror(resolved));
    }
    std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> addresses(found, freeaddrinfo);
    std::string error = "no address";
    for (const addrinfo* entry = found; entry != nullptr; entry = entry->ai_next) {
        Socket socket(::socket(entry->ai_family, entry->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                               entry->ai_protocol));
        if (socket.fd() < 0) {
            error = std::strerror(errno);
            continue;
        }
        int status = ::connect(socket.fd(), entry->ai_addr, entry->ai_addrlen);
        if (status != 0 && errno == EINPROGRESS) {
            pollfd waiting{socket.fd(), POLLOUT, 0};
            status = ::poll(&waiting, 1, static_cast<int>(timeout.count()));
            if (status == 0) {
                error = "no answer within " + std::to_string(timeout.count()) + " ms";
                continue;
            }
            int socketError = 0;
            socklen_t length = sizeof socketError;
            getsockopt(socket.fd(), SOL_SOCKET, SO_ERROR, &socketError, &length);
            errno = socketError;
            status = socketError == 0 ? 0 : -1;
        }
        if (status != 0) {
            error = std::strerror(errno);
            continue;
        }
        fcntl(socket.fd(), F_SETFL, fcntl(socket.fd(), F_GETFL) & ~O_NONBLOCK);
        timeval limit{static_cast<time_t>(timeout.count() / 1000),
                      static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
        setsockopt(socket.fd(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
        setsockopt(socket.fd(), SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
        return socket;
    }
    throw std::runtime_error("cannot reach " + host + ":" + std::to_string(port) + ": " + error);
}

// OpenSSL's reason for the last error in this thread's queue ("wrong version number", "tlsv13
// alert certificate required"), and clears the queue.
std::string lastSslReason() {
    unsigned long last = 0;
    while (const unsigned long code = ERR_get_error()) {
        last = code;
    }
    if (last == 0) {
        return "";
    }
    const char* reason = ERR_reason_error_string(last);
    if (reason != nullptr) {
        return reason;
    }
    char text[256];
    ERR_error_string_n(last, text, sizeof text);
    return text;
}

std::string describeRefusal(const Refusal& refusal, const std::string& host,
                            const TlsSettings& tls) {
    const std::string certificate =
        refusal.depth == 0 ? "the broker's certificate"
                           : "a CA certificate in the broker's chain (" + refusal.subject + ")";
    const std::string openssl =
        " (" + std::string(X509_verify_cert_error_string(refusal.error)) + ")";
    switch (refusal.error) {
        case X509_V_ERR_CERT_HAS_EXPIRED:
            return certificate + " expired on " + refusal.notAfter + openssl;
        case X509_V_ERR_CERT_NOT_YET_VALID:
            return certificate + " is not valid before " + refusal.notBefore +
                   " (is this machine's clock right?)" + openssl;
        case X509_V_ERR_HOSTNAME_MISMATCH:
        case X509_V_ERR_IP_ADDRESS_MISMATCH:
            return "the broker's certificate is not for " + host + ": it names " + refusal.names +
                   "; connect to one of those names, or give the broker a certificate for " + host +
                   openssl;
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
        case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
        case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
        case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
        case X509_V_ERR_CERT_UNTRUSTED: {
            const std::string trusted =
                tls.caFile.empty() ? std::string("the system's trusted CAs (no CA file given)")
                                   : "the CA file " + tls.caFile;
            if (refusal.depth == 0) {
                return "the broker's certificate (" + refusal.subject + ", issued by " +
                       refusal.issuer + ") is not signed by a CA in " + trusted + openssl;
            }
            // The broker sent its chain up to a CA that is not among the trusted ones.
            return "the broker's certificate is signed by " + refusal.subject +
                   ", which is not a CA in " + trusted + openssl;
        }
        default:
            return certificate + " (" + refusal.subject + ") is refused" + openssl;
    }
}

std::string describeHandshakeError(const std::string& reason, const std::string& endpoint,
                                   const TlsSettings& tls) {
    if (reason.empty()) {
        return "the broker closed the connection during the TLS handshake: is " + endpoint +
               " a plain MQTT (tcp://) listener?";
    }
    if (reason == "wrong version number" || reason == "packet length too long" ||
        reason == "record layer failure") {
        return endpoint + " does not answer in TLS: a plain MQTT (tcp://) listener? (" + reason +
               ")";
    }
    if (reason.find("certificate required") != std::string::npos) {
        return "the broker requires a client certificate and none was given (" + reason + ")";
    }
    if (!tls.certFile.empty() && reason.find("alert") != std::string::npos) {
        return "the broker refused the TLS connection; does it trust the CA of the client "
               "certificate " +
               tls.certFile + "? (" + reason + ")";
    }
    return "the TLS handshake failed (" + reason + ")";
}

// What diagnose() found: a TLS problem, or something before TLS (files, the TCP connection).
struct Finding {
    std::string text;
    bool aboutTls = true;
};

Finding diagnose(const std::string& host, int port, const TlsSettings& tls,
                 std::chrono::milliseconds timeout) {
    try {
        checkTlsFiles(tls);
    } catch (const std::invalid_argument& error) {
        return {error.what(), false};
    }
    const std::string endpoint = host + ":" + std::to_string(port);
    std::unique_ptr<SSL_CTX, ContextDeleter> context(SSL_CTX_new(TLS_client_method()));
    if (!context) {
        return {};
    }
    const int loaded = tls.caFile.empty() ? SSL_CTX_set_default_verify_paths(context.get())
                                          : SSL_CTX_load_verify_locations(
                                                context.get(), tls.caFile.c_str(), nullptr);
    if (loaded != 1) {
        return {"cannot load the CA file " + tls.caFile + " (" + lastSslReason() + ")", false};
    }
    if (!tls.certFile.empty() &&
        (SSL_CTX_use_certificate_chain_file(context.get(), tls.certFile.c_str()) != 1 ||
         SSL_CTX_use_PrivateKey_file(context.get(), tls.keyFile.c_str(), SSL_FILETYPE_PEM) != 1)) {
        return {"cannot load the client certificate " + tls.certFile + " (" + lastSslReason() + ")",
                false};
    }
    SSL_CTX_set_verify(context.get(), SSL_VERIFY_PEER, recordRefusal);

    Socket socket;
    try {
        socket = connectWithin(host, port, timeout);
    } catch (const std::runtime_error& error) {
        return {error.what(), false};
    }
    std::unique_ptr<SSL, SslDeleter> ssl(SSL_new(context.get()));
    Refusal refusal;
    SSL_set_app_data(ssl.get(), &refusal);
    SSL_set_fd(ssl.get(), socket.fd());
    // As Paho checks it: the host of the URI, as an IP address or a DNS name.
    X509_VERIFY_PARAM* checks = SSL_get0_param(ssl.get());
    if (isIpAddress(host)) {
        X509_VERIFY_PARAM_set1_ip_asc(checks, host.c_str());
    } else {
        X509_VERIFY_PARAM_set1_host(checks, host.c_str(), 0);
        SSL_set_tlsext_host_name(ssl.get(), host.c_str());
    }
    ERR_clear_error();
    if (SSL_connect(ssl.get()) != 1) {
        if (refusal.error != X509_V_OK) {
            ERR_clear_error();
            return {describeRefusal(refusal, host, tls)};
        }
        return {describeHandshakeError(lastSslReason(), endpoint, tls)};
    }
    // With TLS 1.3 the client's side of the handshake ends before the broker has looked at the
    // client's certificate: a refusal ("certificate required") comes as an alert on the first
    // read. The broker sends nothing else before an MQTT CONNECT, so a timeout means all is well.
    timeval shortWait{1, 0};
    setsockopt(socket.fd(), SOL_SOCKET, SO_RCVTIMEO, &shortWait, sizeof shortWait);
    char byte = 0;
    const int read = SSL_read(ssl.get(), &byte, 1);
    if (read <= 0 && SSL_get_error(ssl.get(), read) == SSL_ERROR_SSL) {
        return {describeHandshakeError(lastSslReason(), endpoint, tls)};
    }
    ERR_clear_error();
    return {};
}

}  // namespace

std::string explainTlsFailure(const std::string& uri, const TlsSettings& tls,
                              std::chrono::milliseconds timeout) {
    std::string host;
    int port = 0;
    if (!isTlsUri(uri) || !parseBrokerUri(uri, host, port)) {
        return "";
    }
    const Finding finding = diagnose(host, port, tls, timeout);
    if (finding.text.empty() || !finding.aboutTls) {
        return finding.text;
    }
    return "TLS with " + host + ":" + std::to_string(port) + ": " + finding.text;
}

}  // namespace parley
