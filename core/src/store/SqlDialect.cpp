#include "store/SqlDialect.h"

namespace parley::store {

// The schema, per backend. Both describe the same tables; docs/operations.md explains them.

const SqlDialect& sqliteDialect() {
    static const SqlDialect dialect{
        "sqlite",
        "INSERT OR IGNORE INTO",
        "",
        "",
        {
            R"sql(
CREATE TABLE users (
    uid TEXT NOT NULL PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL DEFAULT 'offline',
    state_manual INTEGER NOT NULL DEFAULT 0,
    last_active INTEGER NOT NULL DEFAULT 0,
    last_seen INTEGER,
    created_at INTEGER NOT NULL
);
CREATE INDEX users_idle ON users (state, last_active);
CREATE TABLE conversations (
    id TEXT NOT NULL PRIMARY KEY,
    kind TEXT NOT NULL,
    title TEXT,
    direct_key TEXT UNIQUE,
    ctx_type TEXT,
    ctx_id TEXT,
    ctx_title TEXT,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_seq INTEGER NOT NULL DEFAULT 0,
    last_activity INTEGER NOT NULL
);
CREATE TABLE members (
    conv TEXT NOT NULL REFERENCES conversations (id),
    uid TEXT NOT NULL,
    read_seq INTEGER NOT NULL DEFAULT 0,
    joined_at INTEGER NOT NULL,
    PRIMARY KEY (conv, uid)
) WITHOUT ROWID;
CREATE INDEX members_by_uid ON members (uid, conv);
CREATE TABLE messages (
    conv TEXT NOT NULL,
    seq INTEGER NOT NULL,
    sender TEXT NOT NULL,
    cmid TEXT NOT NULL,
    body TEXT NOT NULL,
    meta TEXT,
    ts INTEGER NOT NULL,
    PRIMARY KEY (conv, seq)
) WITHOUT ROWID;
CREATE UNIQUE INDEX messages_by_cmid ON messages (sender, cmid);
)sql",
            R"sql(
CREATE TABLE extension_kv (
    extension TEXT NOT NULL,
    k TEXT NOT NULL,
    v TEXT NOT NULL,
    expires_at INTEGER,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (extension, k)
) WITHOUT ROWID;
CREATE INDEX extension_kv_expiry ON extension_kv (expires_at);
)sql",
            R"sql(
ALTER TABLE conversations ADD COLUMN ctx_status TEXT;
CREATE INDEX conversations_by_context ON conversations (ctx_type, ctx_id);
)sql",
            // An address admins set for extensions (e.g. an email digest); NULL = none.
            R"sql(
ALTER TABLE users ADD COLUMN email TEXT;
)sql",
            // When a message became a tombstone (its sender erased); NULL = a live message.
            R"sql(
ALTER TABLE messages ADD COLUMN erased_at INTEGER;
)sql",
            // Extensions scan recently active conversations (Store::unreadMembers).
            R"sql(
CREATE INDEX conversations_by_activity ON conversations (last_activity);
)sql",
            // 7: edits, deletions for everyone, reactions and replies (issue 21). rev: the
            // change counter next to seq (docs/design.md, "Changes to stored messages").
            // message_revs indexes the changed messages by rev, apart from messages, so that
            // storing a new message writes no index entry for it.
            R"sql(
ALTER TABLE conversations ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN edited_at INTEGER;
ALTER TABLE messages ADD COLUMN deleted_by TEXT;
ALTER TABLE messages ADD COLUMN reply_to INTEGER;
CREATE TABLE message_revs (
    conv TEXT NOT NULL,
    seq INTEGER NOT NULL,
    rev INTEGER NOT NULL,
    PRIMARY KEY (conv, seq)
) WITHOUT ROWID;
CREATE UNIQUE INDEX message_revs_by_rev ON message_revs (conv, rev);
CREATE TABLE message_reactions (
    conv TEXT NOT NULL,
    seq INTEGER NOT NULL,
    emoji TEXT NOT NULL,
    uid TEXT NOT NULL,
    ts INTEGER NOT NULL,
    PRIMARY KEY (conv, seq, emoji, uid)
) WITHOUT ROWID;
CREATE INDEX message_reactions_by_uid ON message_reactions (uid);
)sql",
            // 8: attachments (docs/attachments.md): the JSON array an
            // extension resolved for the message; NULL = none, and erasing the message clears it.
            R"sql(
ALTER TABLE messages ADD COLUMN attachments TEXT;
)sql",
            // 9: msg.search and conv.set (issue 21). search_docs numbers the messages that
            // are searchable (not tombstones) in the order they were stored; search_index is
            // contentless (no second copy of the text): the body's words, by docid. Words leave
            // the index segments only when they merge: search_purge records that a purge is
            // due (docs/design.md, "Search"). The members' own settings of a conversation.
            R"sql(
CREATE TABLE search_docs (
    docid INTEGER PRIMARY KEY,
    conv TEXT NOT NULL,
    seq INTEGER NOT NULL
);
CREATE UNIQUE INDEX search_docs_by_message ON search_docs (conv, seq);
CREATE VIRTUAL TABLE search_index USING fts5 (
    body, content = '', tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO search_docs (conv, seq)
    SELECT conv, seq FROM messages WHERE erased_at IS NULL ORDER BY ts, conv, seq;
INSERT INTO search_index (rowid, body)
    SELECT d.docid, m.body FROM search_docs d JOIN messages m ON m.conv = d.conv AND m.seq = d.seq;
CREATE TABLE search_purge (
    id INTEGER NOT NULL PRIMARY KEY,
    pending_since INTEGER
);
INSERT INTO search_purge (id, pending_since) VALUES (1, NULL);
ALTER TABLE members ADD COLUMN muted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE members ADD COLUMN archived INTEGER NOT NULL DEFAULT 0;
ALTER TABLE members ADD COLUMN pinned_at INTEGER;
)sql",
            // 10 (groups, issue 21): a member's role and
            // what they may read (docs/design.md, "Groups: who sees what"), former members
            // with what they could read when they went, and membership changes on the rev.
            // Existing groups: their creator is admin, or the lowest uid if the creator left.
            R"sql(
ALTER TABLE members ADD COLUMN role TEXT NOT NULL DEFAULT 'member';
ALTER TABLE members ADD COLUMN visible_from INTEGER NOT NULL DEFAULT 1;
ALTER TABLE members ADD COLUMN joined_rev INTEGER NOT NULL DEFAULT 0;
CREATE TABLE former_members (
    conv TEXT NOT NULL,
    uid TEXT NOT NULL,
    visible_from INTEGER NOT NULL,
    visible_to INTEGER NOT NULL,
    joined_rev INTEGER NOT NULL,
    left_rev INTEGER NOT NULL,
    left_at INTEGER NOT NULL,
    PRIMARY KEY (conv, uid)
) WITHOUT ROWID;
CREATE INDEX former_members_by_uid ON former_members (uid);
CREATE TABLE member_changes (
    conv TEXT NOT NULL,
    rev INTEGER NOT NULL,
    kind TEXT NOT NULL,
    uid TEXT NOT NULL,
    actor TEXT NOT NULL,
    seq INTEGER NOT NULL,
    ts INTEGER NOT NULL,
    title TEXT,
    PRIMARY KEY (conv, rev)
) WITHOUT ROWID;
UPDATE members SET role = 'admin' WHERE EXISTS (SELECT 1 FROM conversations c
    WHERE c.id = members.conv AND c.kind = 'group' AND c.created_by = members.uid);
UPDATE members SET role = 'admin'
    WHERE conv IN (SELECT id FROM conversations WHERE kind = 'group')
    AND uid = (SELECT MIN(x.uid) FROM members x WHERE x.conv = members.conv)
    AND NOT EXISTS (SELECT 1 FROM members a WHERE a.conv = members.conv AND a.role = 'admin');
)sql",
        },
        "",
        // Erased text must not linger in the write-ahead log: checkpoint it into the database
        // file (where secure_delete has zeroed it) and empty the log.
        "PRAGMA wal_checkpoint(TRUNCATE)",
        FullText::Fts5,
    };
    return dialect;
}

const SqlDialect& mysqlDialect() {
    static const SqlDialect dialect{
        "mysql",
        "INSERT IGNORE INTO",
        "SELECT GET_LOCK('parley.migrate', 120)",
        "SELECT RELEASE_LOCK('parley.migrate')",
        {
            R"sql(
CREATE TABLE users (
    uid VARCHAR(64) NOT NULL PRIMARY KEY,
    name VARCHAR(64) NOT NULL DEFAULT '',
    state VARCHAR(8) NOT NULL DEFAULT 'offline',
    state_manual TINYINT NOT NULL DEFAULT 0,
    last_active BIGINT NOT NULL DEFAULT 0,
    last_seen BIGINT NULL,
    created_at BIGINT NOT NULL,
    KEY users_idle (state, last_active)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE conversations (
    id VARCHAR(40) NOT NULL PRIMARY KEY,
    kind VARCHAR(8) NOT NULL,
    title VARCHAR(128) NULL,
    direct_key VARCHAR(300) NULL,
    ctx_type VARCHAR(32) NULL,
    ctx_id VARCHAR(128) NULL,
    ctx_title VARCHAR(128) NULL,
    created_by VARCHAR(64) NOT NULL,
    created_at BIGINT NOT NULL,
    last_seq BIGINT NOT NULL DEFAULT 0,
    last_activity BIGINT NOT NULL,
    UNIQUE KEY conversations_direct (direct_key)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE members (
    conv VARCHAR(40) NOT NULL,
    uid VARCHAR(64) NOT NULL,
    read_seq BIGINT NOT NULL DEFAULT 0,
    joined_at BIGINT NOT NULL,
    PRIMARY KEY (conv, uid),
    KEY members_by_uid (uid, conv),
    CONSTRAINT members_conv FOREIGN KEY (conv) REFERENCES conversations (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE messages (
    conv VARCHAR(40) NOT NULL,
    seq BIGINT NOT NULL,
    sender VARCHAR(64) NOT NULL,
    cmid VARCHAR(64) NOT NULL,
    body MEDIUMTEXT NOT NULL,
    meta MEDIUMTEXT NULL,
    ts BIGINT NOT NULL,
    PRIMARY KEY (conv, seq),
    UNIQUE KEY messages_by_cmid (sender, cmid)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
)sql",
            R"sql(
CREATE TABLE extension_kv (
    extension VARCHAR(64) NOT NULL,
    k VARCHAR(190) NOT NULL,
    v MEDIUMTEXT NOT NULL,
    expires_at BIGINT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (extension, k),
    KEY extension_kv_expiry (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
)sql",
            R"sql(
ALTER TABLE conversations ADD COLUMN ctx_status VARCHAR(32) NULL,
    ADD KEY conversations_by_context (ctx_type, ctx_id);
)sql",
            R"sql(
ALTER TABLE users ADD COLUMN email VARCHAR(254) NULL;
)sql",
            R"sql(
ALTER TABLE messages ADD COLUMN erased_at BIGINT NULL;
)sql",
            R"sql(
CREATE INDEX conversations_by_activity ON conversations (last_activity);
)sql",
            // 7: as SQLite's.
            R"sql(
ALTER TABLE conversations ADD COLUMN rev BIGINT NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN rev BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN edited_at BIGINT NULL,
    ADD COLUMN deleted_by VARCHAR(64) NULL,
    ADD COLUMN reply_to BIGINT NULL;
CREATE TABLE message_revs (
    conv VARCHAR(40) NOT NULL,
    seq BIGINT NOT NULL,
    rev BIGINT NOT NULL,
    PRIMARY KEY (conv, seq),
    UNIQUE KEY message_revs_by_rev (conv, rev)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE message_reactions (
    conv VARCHAR(40) NOT NULL,
    seq BIGINT NOT NULL,
    emoji VARCHAR(64) NOT NULL,
    uid VARCHAR(64) NOT NULL,
    ts BIGINT NOT NULL,
    PRIMARY KEY (conv, seq, emoji, uid),
    KEY message_reactions_by_uid (uid)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
)sql",
            // 8: attachments, as SQLite's.
            R"sql(
ALTER TABLE messages ADD COLUMN attachments MEDIUMTEXT NULL;
)sql",
            // 9: as SQLite's, the index a FULLTEXT key on a copy of the body. The copy's
            // collation folds case and accents as SQLite's tokenizer does; no stopwords (a
            // session setting read when the index is made), so "the who" is searchable.
            R"sql(
SET SESSION innodb_ft_enable_stopword = OFF;
CREATE TABLE search_docs (
    docid BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    conv VARCHAR(40) NOT NULL,
    seq BIGINT NOT NULL,
    body MEDIUMTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NOT NULL,
    UNIQUE KEY search_docs_by_message (conv, seq),
    FULLTEXT KEY search_docs_body (body)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
INSERT INTO search_docs (conv, seq, body)
    SELECT conv, seq, body FROM messages WHERE erased_at IS NULL ORDER BY ts, conv, seq;
CREATE TABLE search_purge (
    id INT NOT NULL PRIMARY KEY,
    pending_since BIGINT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
INSERT INTO search_purge (id, pending_since) VALUES (1, NULL);
ALTER TABLE members ADD COLUMN muted TINYINT NOT NULL DEFAULT 0,
    ADD COLUMN archived TINYINT NOT NULL DEFAULT 0,
    ADD COLUMN pinned_at BIGINT NULL;
)sql",
            // 10 (groups): as SQLite's.
            R"sql(
ALTER TABLE members ADD COLUMN role VARCHAR(8) NOT NULL DEFAULT 'member',
    ADD COLUMN visible_from BIGINT NOT NULL DEFAULT 1,
    ADD COLUMN joined_rev BIGINT NOT NULL DEFAULT 0;
CREATE TABLE former_members (
    conv VARCHAR(40) NOT NULL,
    uid VARCHAR(64) NOT NULL,
    visible_from BIGINT NOT NULL,
    visible_to BIGINT NOT NULL,
    joined_rev BIGINT NOT NULL,
    left_rev BIGINT NOT NULL,
    left_at BIGINT NOT NULL,
    PRIMARY KEY (conv, uid),
    KEY former_members_by_uid (uid)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE member_changes (
    conv VARCHAR(40) NOT NULL,
    rev BIGINT NOT NULL,
    kind VARCHAR(8) NOT NULL,
    uid VARCHAR(64) NOT NULL,
    actor VARCHAR(64) NOT NULL,
    seq BIGINT NOT NULL,
    ts BIGINT NOT NULL,
    title VARCHAR(128) NULL,
    PRIMARY KEY (conv, rev)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
UPDATE members m JOIN conversations c ON c.id = m.conv SET m.role = 'admin'
    WHERE c.kind = 'group' AND c.created_by = m.uid;
UPDATE members m JOIN (SELECT x.conv, MIN(x.uid) AS uid FROM members x
        JOIN conversations c ON c.id = x.conv WHERE c.kind = 'group'
        GROUP BY x.conv HAVING SUM(x.role = 'admin') = 0) p
    ON p.conv = m.conv AND p.uid = m.uid SET m.role = 'admin';
)sql",
        },
        " FOR UPDATE",
        "",
        FullText::InnoDb,
    };
    return dialect;
}

}  // namespace parley::store
