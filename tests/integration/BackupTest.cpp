// Backups under load, as docs/operations.md ("Backups") tells an operator to take them: a real
// parleyd and Mosquitto under a steady load of real clients sending and acknowledging messages;
// the backup runs meanwhile (SQLite: parleyd --backup; MariaDB: mariadb-dump --single-transaction
// with the documented options), is restored into a fresh database, and a new parleyd started on
// it must serve every message acknowledged before the backup began: no other message, none twice,
// seqs gapless. One ctest entry per backend (CMakeLists.txt).

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>

#include "ChatLoad.h"
#include "MariaDbServer.h"
#include "MosquittoServer.h"
#include "MqttTestClient.h"
#include "MysqlConfigFor.h"
#include "ParleydProcess.h"
#include "Paths.h"
#include "Stack.h"
#include "TempDir.h"
#include "store/MysqlConnection.h"
#include "store/SqliteConnection.h"

namespace parley::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr int kLoadUsers = 12;
constexpr auto kCommandTimeout = 120s;
// 4-byte UTF-8 and quoting a dump must carry through unchanged.
const std::string kAwkwardBody = "backup \xF0\x9F\x8E\x89 \xC3\xBC 'quote' \"double\" \\ back";

std::string passwordOf(const std::string& uid) {
    return "pw-" + uid;
}

std::string tail(const std::string& text, size_t bytes = 6000) {
    return text.size() <= bytes ? text : text.substr(text.size() - bytes);
}

std::string readFile(const std::string& path) {
    std::ifstream file(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
}

// Old history, written straight into the database before the load, so the copy takes long enough
// for many messages to be acknowledged while it runs: one group of two users outside the load.
constexpr const char* kFillerConv = "cfillerfillerfillerfil";
constexpr int64_t kFillerMessages = 40000;  // ~40 MB of text

void storeFiller(store::SqlConnection& db) {
    const std::string body(1000, 'f');
    db.beginWrite();
    db.execute(
        "INSERT INTO conversations (id, kind, title, direct_key, ctx_type, ctx_id, ctx_title, "
        "created_by, created_at, last_seq, last_activity) VALUES (?, 'group', 'old', NULL, NULL, "
        "NULL, NULL, ?, 1, ?, 2)",
        {std::string(kFillerConv), "c" + std::to_string(kLoadUsers + 1), kFillerMessages});
    for (int member = kLoadUsers + 1; member <= kLoadUsers + 2; ++member) {
        db.execute("INSERT INTO members (conv, uid, read_seq, joined_at) VALUES (?, ?, ?, 1)",
                   {std::string(kFillerConv), "c" + std::to_string(member), kFillerMessages});
    }
    constexpr int64_t kRows = 500;
    for (int64_t first = 1; first <= kFillerMessages; first += kRows) {
        std::string sql = "INSERT INTO messages (conv, seq, sender, cmid, body, meta, ts) VALUES ";
        store::SqlParams params;
        for (int64_t seq = first; seq < first + kRows && seq <= kFillerMessages; ++seq) {
            sql += seq == first ? "(?, ?, ?, ?, ?, NULL, 2)" : ", (?, ?, ?, ?, ?, NULL, 2)";
            params.insert(params.end(),
                          {std::string(kFillerConv), seq, "c" + std::to_string(kLoadUsers + 1),
                           "filler-" + std::to_string(seq), body});
        }
        db.execute(sql, params);
    }
    db.commit();
}

// Runs a documented shell command line; returns its exit status. Output goes to `log`.
int shell(const std::string& commandLine, const std::string& log) {
    return runToCompletion({"/bin/sh", "-c", commandLine}, log, kCommandTimeout);
}

// What one database holds, read directly.
struct Contents {
    std::map<std::string, ChatLoad::Ack> byCmid;  // (sender/cmid unique, checked below)
    std::vector<std::string> problems;
    size_t messages = 0;
};

Contents readContents(store::SqlConnection& db) {
    Contents contents;
    db.beginRead();
    std::map<std::string, int64_t> lastSeq;
    for (const auto& row : db.query("SELECT id, last_seq FROM conversations", {})) {
        lastSeq[row.text(0)] = row.integer(1);
    }
    std::map<std::string, std::set<int64_t>> seqs;
    for (const auto& row : db.query("SELECT conv, seq, sender, cmid FROM messages", {})) {
        ++contents.messages;
        const std::string conv = row.text(0);
        const int64_t seq = row.integer(1);
        if (!seqs[conv].insert(seq).second) {
            contents.problems.push_back(conv + "#" + std::to_string(seq) + " twice");
        }
        if (!contents.byCmid.emplace(row.text(3), ChatLoad::Ack{conv, seq, row.text(2)}).second) {
            contents.problems.push_back("cmid " + row.text(3) + " stored twice");
        }
    }
    for (const auto& [conv, stored] : seqs) {
        // Gapless: 1..n, and n is the conversation's last_seq.
        if (*stored.begin() != 1 || *stored.rbegin() != static_cast<int64_t>(stored.size()) ||
            lastSeq[conv] != static_cast<int64_t>(stored.size())) {
            contents.problems.push_back(conv + ": seqs " + std::to_string(*stored.begin()) + ".." +
                                        std::to_string(*stored.rbegin()) + " in " +
                                        std::to_string(stored.size()) + " rows, last_seq " +
                                        std::to_string(lastSeq[conv]));
        }
    }
    for (const auto& row : db.query("SELECT m.conv, m.uid, m.read_seq, c.last_seq FROM members m "
                                    "JOIN conversations c ON c.id = m.conv WHERE m.read_seq > "
                                    "c.last_seq",
                                    {})) {
        contents.problems.push_back(row.text(1) + " has read past the end of " + row.text(0));
    }
    db.commit();
    return contents;
}

class Backup : public ::testing::Test {
  protected:
    // The stack: a broker with the load's users, and parleyd on `storeYaml`.
    void startStack(const std::string& storeYaml) {
        std::vector<BrokerUser> users{{"parleyd", "parleyd-secret"}};
        for (int i = 1; i <= kLoadUsers + 2; ++i) {
            users.push_back({"c" + std::to_string(i), passwordOf("c" + std::to_string(i))});
        }
        broker_ = std::make_unique<MosquittoServer>(users);
        parleyd_ = std::make_unique<ParleydProcess>(yamlFor(storeYaml, "parleyd-live"));
    }

    std::string yamlFor(const std::string& storeYaml, const std::string& clientId) const {
        return "broker:\n"
               "  uri: " +
               broker_->uri() + "\n  client_id: " + clientId +
               "\n  username: parleyd\n  password: parleyd-secret\n"
               "store:\n" +
               storeYaml +
               "  retry_for: 20s\n"
               "server: {workers: 4}\n"
               "log: {level: info}\n";
    }

    ChatLoadOptions loadOptions() const {
        ChatLoadOptions options;
        options.uri = broker_->uri();
        for (int i = 1; i <= kLoadUsers; ++i) {
            options.users.push_back({"c" + std::to_string(i), passwordOf("c" + std::to_string(i))});
        }
        options.directConversations = 12;
        options.groups = 3;
        options.groupSize = 5;
        options.messagesPerSecond = 150;
        return options;
    }

    // Runs the whole scenario; `takeBackup` runs the backup (while the load goes on) and
    // `restore` restores it into a fresh database, returning that database's store YAML.
    void run(const std::string& name,
             const std::function<std::unique_ptr<store::SqlConnection>()>& openLive,
             const std::function<void()>& takeBackup, const std::function<std::string()>& restore,
             const std::function<std::unique_ptr<store::SqlConnection>()>& openRestored) {
        // A message with text a dump must carry exactly, outside the load's conversations.
        std::string awkwardConv;
        {
            const std::string sender = "c" + std::to_string(kLoadUsers + 1);
            MqttTestClient client(broker_->uri(), sender, passwordOf(sender));
            auto opened = client.request(
                {{"op", "conv.open"}, {"peer", "c" + std::to_string(kLoadUsers + 2)}}, 30s);
            ASSERT_EQ(codeOf(opened), "ok") << opened;
            awkwardConv = opened["conv"];
            auto sent = client.request({{"op", "msg.send"},
                                        {"conv", awkwardConv},
                                        {"cmid", "awkward-1"},
                                        {"body", kAwkwardBody},
                                        {"meta", {{"emoji", "\xF0\x9F\x8E\x89"}}}},
                                       30s);
            ASSERT_EQ(codeOf(sent), "ok") << sent;
        }

        storeFiller(*openLive());
        ChatLoad load(loadOptions());
        try {
            load.connect();
        } catch (const std::exception& error) {
            FAIL() << error.what() << "\n" << tail(parleyd_->log());
        }
        load.start();
        ASSERT_TRUE(load.waitForAcknowledged(400, 120s)) << load.acknowledged() << " acknowledged\n"
                                                         << tail(parleyd_->log());

        const auto acknowledgedBefore = load.acknowledgedMessages();
        const auto started = std::chrono::steady_clock::now();
        takeBackup();
        const auto took = std::chrono::steady_clock::now() - started;
        ASSERT_FALSE(::testing::Test::HasFatalFailure()) << tail(parleyd_->log());
        const size_t acknowledgedAtEnd = load.acknowledged();
        // The load was live through the backup and after it.
        EXPECT_GT(acknowledgedAtEnd, acknowledgedBefore.size())
            << "nothing was acknowledged while the backup ran: it tested no load";
        ASSERT_TRUE(load.waitForAcknowledged(acknowledgedAtEnd + 100, 120s))
            << "no progress after the backup\n"
            << tail(parleyd_->log());
        const bool drained = load.stop(60s);
        EXPECT_TRUE(drained);
        const auto live = openLive();
        const auto verdict = load.verify(live.get());
        EXPECT_TRUE(verdict.ok()) << verdict.summary();
        const auto acknowledgedAll = load.acknowledgedMessages();

        const std::string restoredStore = restore();
        const auto restored = openRestored();
        const Contents contents = readContents(*restored);
        std::cout << "[" << name << "] " << acknowledgedBefore.size()
                  << " acknowledged before the backup, "
                  << acknowledgedAtEnd - acknowledgedBefore.size() << " while it ran ("
                  << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms), "
                  << acknowledgedAll.size() << " in all; the backup holds " << contents.messages
                  << " messages" << std::endl;
        for (const auto& problem : contents.problems) {
            ADD_FAILURE() << "restored database: " << problem;
        }
        // Every message acknowledged before the backup began, where its reply said.
        size_t missing = 0;
        for (const auto& [cmid, ack] : acknowledgedBefore) {
            const auto found = contents.byCmid.find(cmid);
            if (found == contents.byCmid.end() || found->second.conv != ack.conv ||
                found->second.seq != ack.seq || found->second.sender != ack.sender) {
                if (++missing <= 10) {
                    ADD_FAILURE() << "acknowledged before the backup, not in it as such: " << cmid
                                  << " (" << ack.conv << "#" << ack.seq << ")";
                }
            }
        }
        EXPECT_EQ(missing, 0U);
        // Nothing else: whatever it holds was acknowledged (possibly later) with the same seq.
        size_t filler = 0;
        for (const auto& [cmid, where] : contents.byCmid) {
            if (where.conv == kFillerConv) {
                ++filler;
                continue;
            }
            if (cmid == "awkward-1") {
                continue;
            }
            const auto ack = acknowledgedAll.find(cmid);
            EXPECT_TRUE(ack != acknowledgedAll.end() && ack->second.conv == where.conv &&
                        ack->second.seq == where.seq)
                << cmid << " is in the backup as " << where.conv << "#" << where.seq
                << " but was not acknowledged so";
        }
        EXPECT_EQ(contents.messages, contents.byCmid.size());
        EXPECT_EQ(filler, static_cast<size_t>(kFillerMessages));

        // parleyd on the restored database serves it, and goes on from it.
        parleyd_->stop();
        ParleydProcess restoredParleyd(yamlFor(restoredStore, "parleyd-restored"));
        const std::string reader = loadOptions().users.front().uid;
        MqttTestClient client(broker_->uri(), reader, passwordOf(reader));
        std::set<std::string> readerConvs;
        for (const auto& [cmid, ack] : acknowledgedBefore) {
            if (ack.sender == reader) {
                readerConvs.insert(ack.conv);
            }
        }
        ASSERT_FALSE(readerConvs.empty());
        for (const auto& conv : readerConvs) {
            std::map<int64_t, std::string> history;
            json command = {{"op", "msg.history"}, {"conv", conv}, {"after", 0}, {"limit", 100}};
            for (;;) {
                auto page = client.request(command, 30s);
                ASSERT_EQ(codeOf(page), "ok") << page;
                for (const auto& message : page["msgs"]) {
                    history[message["seq"].get<int64_t>()] = message["cmid"];
                }
                if (!page.value("has_more", false)) {
                    break;
                }
                command["after"] = history.rbegin()->first;
            }
            for (const auto& [cmid, ack] : acknowledgedBefore) {
                if (ack.conv == conv) {
                    EXPECT_EQ(history[ack.seq], cmid) << conv << "#" << ack.seq;
                }
            }
            auto next = client.request({{"op", "msg.send"},
                                        {"conv", conv},
                                        {"cmid", "after-restore-" + conv},
                                        {"body", "after the restore"}},
                                       30s);
            ASSERT_EQ(codeOf(next), "ok") << next << "\n" << tail(restoredParleyd.log());
            EXPECT_EQ(next["seq"].get<int64_t>(), static_cast<int64_t>(history.size()) + 1)
                << "the next seq follows the restored ones";
        }
        const std::string other = "c" + std::to_string(kLoadUsers + 1);
        MqttTestClient otherClient(broker_->uri(), other, passwordOf(other));
        auto awkward = otherClient.request({{"op", "msg.history"}, {"conv", awkwardConv}}, 30s);
        ASSERT_EQ(codeOf(awkward), "ok") << awkward;
        ASSERT_EQ(awkward["msgs"].size(), 1U);
        EXPECT_EQ(awkward["msgs"][0]["body"], kAwkwardBody);
        EXPECT_EQ(awkward["msgs"][0]["meta"]["emoji"], "\xF0\x9F\x8E\x89");
    }

    std::unique_ptr<MosquittoServer> broker_;
    std::unique_ptr<ParleydProcess> parleyd_;
};

TEST_F(Backup, SqliteUnderLoadRestoresEveryAcknowledgedMessage) {
    startStack("  backend: sqlite\n  sqlite: {path: parley.db}\n");
    const std::string livePath = parleyd_->dir().file("parley.db");
    TempDir backups("parley-backups");
    TempDir restoredDir("parley-restored");
    const std::string backupFile = backups.file("parley-backup.db");
    run(
        "sqlite", [&] { return std::make_unique<store::SqliteConnection>(livePath, "normal"); },
        [&] {
            // As docs/operations.md: parleyd --config FILE --backup DEST, while parleyd runs.
            const std::string config = parleyd_->dir().file("parleyd.yaml");
            const int status = shell("cd " + parleyd_->dir().path() + " && " + parleydPath() +
                                         " --config " + config + " --backup " + backupFile,
                                     backups.file("backup.log"));
            ASSERT_EQ(status, 0) << readFile(backups.file("backup.log"));
            EXPECT_NE(readFile(backups.file("backup.log")).find("written to " + backupFile),
                      std::string::npos)
                << readFile(backups.file("backup.log"));
        },
        [&] {
            // Restore: the backup file becomes the database file of a fresh folder.
            const int status = shell("cp " + backupFile + " " + restoredDir.file("parley.db"),
                                     backups.file("restore.log"));
            EXPECT_EQ(status, 0) << readFile(backups.file("restore.log"));
            return "  backend: sqlite\n  sqlite: {path: " + restoredDir.file("parley.db") + "}\n";
        },
        [&] {
            return std::make_unique<store::SqliteConnection>(restoredDir.file("parley.db"),
                                                             "normal");
        });
}

TEST_F(Backup, MariaDbUnderLoadRestoresEveryAcknowledgedMessage) {
    auto& mariadb = sharedMariaDb();
    const std::string liveDatabase = mariadb.createDatabase();
    startStack("  backend: mysql\n  mysql: {host: 127.0.0.1, port: " +
               std::to_string(mariadb.port()) + ", user: " + mariadb.user() + ", password: '" +
               mariadb.password() + "', database: " + liveDatabase + ", pool_size: 4}\n");
    TempDir backups("parley-backups");
    // The documented option file, so the password is on no command line.
    const std::string options = backups.file("backup.cnf");
    {
        std::ofstream file(options);
        file << "[client]\nhost=127.0.0.1\nport=" << mariadb.port() << "\nuser=" << mariadb.user()
             << "\npassword=" << mariadb.password() << "\n";
    }
    const std::string dump = backups.file("parley.sql");
    std::string restoredDatabase;
    run(
        "mariadb",
        [&] {
            return std::make_unique<store::MysqlConnection>(mysqlConfigFor(mariadb, liveDatabase),
                                                            mariadb.password());
        },
        [&] {
            const int status = shell("mariadb-dump --defaults-extra-file=" + options +
                                         " --single-transaction --quick "
                                         "--default-character-set=utf8mb4 " +
                                         liveDatabase + " > " + dump,
                                     backups.file("dump.log"));
            ASSERT_EQ(status, 0) << readFile(backups.file("dump.log"));
            EXPECT_NE(readFile(dump).find("-- Dump completed"), std::string::npos)
                << "a whole dump ends so";
        },
        [&] {
            restoredDatabase = mariadb.createDatabase();
            const int status = shell(
                "mariadb --defaults-extra-file=" + options + " " + restoredDatabase + " < " + dump,
                backups.file("restore.log"));
            EXPECT_EQ(status, 0) << readFile(backups.file("restore.log"));
            return "  backend: mysql\n  mysql: {host: 127.0.0.1, port: " +
                   std::to_string(mariadb.port()) + ", user: " + mariadb.user() + ", password: '" +
                   mariadb.password() + "', database: " + restoredDatabase + ", pool_size: 4}\n";
        },
        [&] {
            return std::make_unique<store::MysqlConnection>(
                mysqlConfigFor(mariadb, restoredDatabase), mariadb.password());
        });
}

// parleyd --backup refuses what it cannot do, clearly, and leaves nothing behind.
TEST(BackupCli, RefusesAMysqlStoreAndAnExistingFile) {
    TempDir dir("parley-backup-cli");
    const std::string mysqlConfig = dir.file("mysql.yaml");
    std::ofstream(mysqlConfig) << "store: {backend: mysql}\n";
    int status =
        runToCompletion({parleydPath(), "--config", mysqlConfig, "--backup", dir.file("out.db")},
                        dir.file("mysql.log"), 20s);
    EXPECT_EQ(status, 1);
    EXPECT_NE(readFile(dir.file("mysql.log")).find("mariadb-dump --single-transaction"),
              std::string::npos)
        << readFile(dir.file("mysql.log"));
    EXPECT_FALSE(std::filesystem::exists(dir.file("out.db")));

    const std::string sqliteConfig = dir.file("sqlite.yaml");
    std::ofstream(sqliteConfig) << "store: {backend: sqlite, sqlite: {path: " << dir.file("none.db")
                                << "}}\n";
    status =
        runToCompletion({parleydPath(), "--config", sqliteConfig, "--backup", dir.file("out.db")},
                        dir.file("missing.log"), 20s);
    EXPECT_EQ(status, 1);
    EXPECT_NE(readFile(dir.file("missing.log")).find("cannot open the database"), std::string::npos)
        << readFile(dir.file("missing.log"));
    EXPECT_FALSE(std::filesystem::exists(dir.file("none.db"))) << "no empty database made";
    EXPECT_FALSE(std::filesystem::exists(dir.file("out.db")));
    EXPECT_FALSE(std::filesystem::exists(dir.file("out.db.partial")));
}

}  // namespace
}  // namespace parley::testing
