// parley-bench-search: prints the figures of docs/performance.md, "Search". For each backend
// (SQLite in a temporary folder; MariaDB on a private server, as the integration tests start it)
// it stores --messages messages through the Store (as parleyd does: appendMessage, group commit,
// from --writers threads),
// then times msg.search's store query for one reader who is a member of one conversation in ten:
//   rare      one word found in about 60 messages of the whole history
//   two       two rare words together
//   common    a word in one message in ten (the walk goes through many others' matches)
// (p50 and p99 over --queries queries each, a page of 20), and the purge that pushes a deleted
// message's words out of the full-text index (docs/design.md, "Search"). Not a test: it asserts
// nothing about speed. Everything stops by itself.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "MariaDbServer.h"
#include "MysqlConfigFor.h"
#include "TempDir.h"
#include "store/MysqlStore.h"
#include "store/SqliteStore.h"

using namespace parley;
using namespace parley::testing;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kConversations = 200;
constexpr int kVocabulary = 20000;
constexpr int kWordsPerMessage = 12;

double msSince(Clock::time_point start) {
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

std::string wordOf(int index) {
    // Distinct, pronounceable enough, at least 3 letters (InnoDB's smallest token).
    static const char* syllables[] = {"ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "xe", "zu"};
    std::string word = "w";
    for (int n = index + 100; n > 0; n /= 10) {
        word += syllables[n % 10];
    }
    return word;
}

struct Figures {
    double fillSeconds = 0;
    std::vector<double> rare, two, common, purge;
    std::string purgeError;  // why a purge failed (the rest of the figures stand)
};

double percentile(std::vector<double> values, double p) {
    if (values.empty()) {
        return 0;
    }
    std::sort(values.begin(), values.end());
    return values[std::min(values.size() - 1, static_cast<size_t>(p * values.size()))];
}

void printSearches(const std::string& backend, int messages, const Figures& f);

Figures run(const std::string& backend, store::Store& store, int messages, int queries,
            int writerCount, int purges) {
    Figures figures;
    store.migrate();
    // Conversation i is between u(i) and u(i+1) (u0 is in c0 and c199... and more): the reader
    // "reader" joins one in ten.
    for (int i = 0; i < kConversations; ++i) {
        const std::string conv = "c" + std::to_string(i);
        std::vector<std::string> members{"u" + std::to_string(i), "u" + std::to_string(i + 1)};
        if (i % 10 == 0) {
            members.push_back("reader");
        }
        store.createGroup(members[0], members, std::nullopt, conv, 1);
    }
    const auto started = Clock::now();
    std::atomic<int> next{0};
    std::vector<std::thread> writers;
    for (int t = 0; t < writerCount; ++t) {
        writers.emplace_back([&, t] {
            std::mt19937 random(static_cast<unsigned>(t));
            std::uniform_int_distribution<int> anyWord(0, kVocabulary - 1);
            std::uniform_int_distribution<int> anyConv(0, kConversations - 1);
            for (int n = next++; n < messages; n = next++) {
                std::string body;
                for (int w = 0; w < kWordsPerMessage; ++w) {
                    body += (w == 0 ? "" : " ") + wordOf(anyWord(random));
                }
                if (n % 10 == 0) {
                    body += " commonword";
                }
                const int conv = anyConv(random);
                store.appendMessage({"c" + std::to_string(conv), "u" + std::to_string(conv),
                                     "m" + std::to_string(n), body, std::nullopt, 1000 + n});
            }
        });
    }
    for (auto& writer : writers) {
        writer.join();
    }
    figures.fillSeconds = msSince(started) / 1000;
    std::mt19937 random(99);
    std::uniform_int_distribution<int> anyWord(0, kVocabulary - 1);
    auto timed = [&](std::vector<std::string> terms, std::vector<double>& into) {
        store::SearchQuery query;
        query.reader = "reader";
        query.terms = std::move(terms);
        query.limit = 20;
        const auto start = Clock::now();
        const auto page = store.searchMessages(query);
        into.push_back(msSince(start));
        return page.messages.size();
    };
    size_t found = 0;
    for (int q = 0; q < queries; ++q) {
        found += timed({wordOf(anyWord(random))}, figures.rare);
        found += timed({wordOf(anyWord(random)), wordOf(anyWord(random))}, figures.two);
        found += timed({"commonword"}, figures.common);
    }
    std::cout << "  (" << found << " results in all)\n";
    // Printed before the purges: a purge that fails (an I/O timeout) must not lose them.
    printSearches(backend, messages, figures);
    for (int i = 0; i < purges; ++i) {
        const int64_t seq = 1 + i;
        store.deleteMessage("c0", seq, "u0", false, 5000 + i);
        const auto start = Clock::now();
        try {
            store.purgeSearchIndex(5000 + i);
        } catch (const std::exception& error) {
            figures.purgeError = std::to_string(msSince(start) / 1000) + " s, then " + error.what();
            break;
        }
        figures.purge.push_back(msSince(start));
    }
    return figures;
}

void line(const char* what, const std::vector<double>& values) {
    std::printf("  %-28s p50 %8.2f ms   p99 %8.2f ms\n", what, percentile(values, 0.5),
                percentile(values, 0.99));
}

void printSearches(const std::string& backend, int messages, const Figures& f) {
    std::printf("%-8s %9d msgs, stored in %.1f s (%.0f msg/s)\n", backend.c_str(), messages,
                f.fillSeconds, messages / f.fillSeconds);
    line("search, one rare word", f.rare);
    line("search, two rare words", f.two);
    line("search, word in 1 msg of 10", f.common);
    std::fflush(stdout);
}

void printPurges(const Figures& f) {
    if (!f.purge.empty()) {
        line("purge after a delete", f.purge);
    }
    if (!f.purgeError.empty()) {
        std::printf("  purge failed after %s\n", f.purgeError.c_str());
    }
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"msg.search latency and the search index purge, on SQLite and MariaDB"};
    int messages = 100000;
    int queries = 200;
    int writerCount = 8;
    int purges = 3;
    int mysqlIoTimeout = 30;
    std::string only;
    app.add_option("--messages", messages, "messages stored first")
        ->check(CLI::Range(1000, 2000000));
    app.add_option("--queries", queries, "queries of each kind")->check(CLI::Range(1, 100000));
    // More writers than the store's batch (32 messages) times its batches in flight fill every
    // transaction: how 1 million messages are stored in minutes rather than half an hour.
    app.add_option("--writers", writerCount, "threads calling appendMessage while filling")
        ->check(CLI::Range(1, 1024))
        ->capture_default_str();
    app.add_option("--purges", purges, "purges timed after the searches")
        ->check(CLI::Range(0, 100))
        ->capture_default_str();
    // parleyd's store.mysql.io_timeout; the purge (OPTIMIZE TABLE) of a large index takes longer.
    app.add_option("--mysql-io-timeout", mysqlIoTimeout, "seconds, as store.mysql.io_timeout")
        ->check(CLI::Range(1, 3600))
        ->capture_default_str();
    app.add_option("--only", only, "sqlite or mariadb")
        ->check(CLI::IsMember({"sqlite", "mariadb"}));
    CLI11_PARSE(app, argc, argv);

    if (only.empty() || only == "sqlite") {
        TempDir dir("parley-bench-search");
        SqliteConfig config;
        config.path = dir.file("parley.db");
        config.synchronous = "normal";
        store::SqliteStore store(config, 30000);
        printPurges(run("sqlite", store, messages, queries, writerCount, purges));
    }
    if (only.empty() || only == "mariadb") {
        MariaDbServer server;
        MysqlConfig config = mysqlConfigFor(server, server.createDatabase());
        config.poolSize = 8;
        config.ioTimeoutSeconds = mysqlIoTimeout;
        store::MysqlStore store(config, server.password(), 30000);
        printPurges(run("mariadb", store, messages, queries, writerCount, purges));
    }
    return 0;
}
