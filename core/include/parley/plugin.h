/*
 * Parley plugin ABI, version 1.
 *
 * A Parley plugin is a shared object that parleyd loads with dlopen(RTLD_NOW | RTLD_LOCAL). It
 * exports three functions (declared at the end of this file):
 *
 *   parley_plugin_version  negotiate the ABI version
 *   parley_plugin_init     register hooks, commands and timers through the host table
 *   parley_plugin_cleanup  release what init allocated
 *
 * Everything a plugin can do goes through the parley_host table handed to init. This header uses
 * only <stdint.h>, <stddef.h> and <stdbool.h>; no C++ type crosses it. Build plugins with
 * -fvisibility=hidden and PARLEY_PLUGIN_EXPORT on the three entry points; never link against
 * parleyd. docs/extending.md has a complete example.
 *
 * Stability rules (this header is a contract for years):
 *  - parley_host only grows at its end; check host->struct_size before using a member added
 *    after version 1 (PARLEY_HOST_HAS).
 *  - Event structs start with their struct_size and only grow at their end (PARLEY_EVENT_HAS). A
 *    changed meaning gets a new hook id, never a changed struct.
 *  - What version 1 grew is counted in levels (PARLEY_PLUGIN_ABI_LEVEL): each level added host
 *    members, hooks, event fields or codes together, tagged "level N" where they are declared.
 *    Level 0 is version 1 as first released. A plugin tests for what it uses beyond level 0:
 *    PARLEY_HOST_HAS for a host member; for a hook, hook_register answers PARLEY_ERR_INVALID on a
 *    parleyd older than it. Lua scripts read the same number as parley.api_level.
 *  - Strings are NUL-terminated UTF-8 unless a length is given; pointers in events are valid only
 *    during the callback.
 *
 * Threads: callbacks run on parleyd's worker threads, several at once, timers on a timer
 * thread, and HTTP route handlers on the HTTP listener's threads. Functions that take `self`
 * may also be called from threads the plugin starts itself. A plugin must be thread-safe. Callbacks
 * must not block for long: each call has a time budget (config "hooks"); an overrun is logged,
 * counted and treated as a failure.
 */
#ifndef PARLEY_PLUGIN_H
#define PARLEY_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PARLEY_PLUGIN_ABI_VERSION 1

/* The level of version 1 this header describes (see "Stability rules" above). */
#define PARLEY_PLUGIN_ABI_LEVEL 7

/* "No bound" for the seq arguments of messages_get. */
#define PARLEY_NO_SEQ (-1)

#if defined(__GNUC__)
#define PARLEY_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define PARLEY_PLUGIN_EXPORT
#endif

/* One status for every function of the ABI. */
typedef enum parley_status {
    PARLEY_OK = 0,
    PARLEY_DEFER = 1,          /* not mine: ask the next handler (commands); no opinion (hooks) */
    PARLEY_REJECT = 2,         /* refuse: the event or command, with host->reject's code/message */
    PARLEY_ERR_INVALID = -1,   /* a bad argument (NULL, not JSON, not UTF-8, out of range) */
    PARLEY_ERR_NOT_FOUND = -2, /* no such conversation, user, key, timer */
    PARLEY_ERR_EXISTS = -3,    /* already registered (e.g. a command op) */
    PARLEY_ERR_UNAVAILABLE = -4, /* storage unreachable; try later */
    PARLEY_ERR_TOO_LARGE = -5,   /* over a limit */
    PARLEY_ERR_FORBIDDEN = -6,   /* not allowed here (e.g. rewriting in an "after" hook) */
    PARLEY_ERR_VERSION = -7,     /* ABI version not supported */
    PARLEY_ERR_INTERNAL = -8     /* anything else; the reason is in parleyd's log */
} parley_status;

typedef enum parley_log_level {
    PARLEY_LOG_DEBUG = 0,
    PARLEY_LOG_INFO = 1,
    PARLEY_LOG_WARNING = 2,
    PARLEY_LOG_ERROR = 3
} parley_log_level;

/* The hooks. The event struct each one receives is named next to it. */
typedef enum parley_hook {
    PARLEY_HOOK_MESSAGE_BEFORE_STORE = 1,       /* parley_message_event; may reject or rewrite */
    PARLEY_HOOK_MESSAGE_AFTER_STORE = 2,        /* parley_message_event */
    PARLEY_HOOK_CONVERSATION_BEFORE_CREATE = 3, /* parley_conversation_event; may reject */
    PARLEY_HOOK_CONVERSATION_AFTER_CREATE = 4,  /* parley_conversation_event */
    PARLEY_HOOK_READ_AFTER = 5,                 /* parley_read_event */
    PARLEY_HOOK_PRESENCE_CHANGED = 6,           /* parley_presence_event */
    PARLEY_HOOK_USER_CONNECTED = 7,             /* parley_presence_event: offline -> online */
    PARLEY_HOOK_USER_DISCONNECTED = 8,          /* parley_presence_event: -> offline */
    /* Level 2: parleyd versions before them refuse to register them (PARLEY_ERR_INVALID). */
    PARLEY_HOOK_CONVERSATION_BEFORE_OPEN = 9, /* parley_conversation_event; may reject */
    PARLEY_HOOK_EVENT_BEFORE_DELIVER = 10,    /* parley_delivery_event; may drop recipients */
    /* Level 5 (a parleyd that predates them refuses to register them). */
    PARLEY_HOOK_MESSAGE_BEFORE_EDIT = 11, /* parley_message_event: the new body and meta, seq the
                                           * message edited; may reject or rewrite */
    PARLEY_HOOK_MESSAGE_AFTER_DELETE = 12 /* parley_message_event: the message as it was before
                                           * it was deleted for everyone (msg.delete) */
} parley_hook;

/* Opaque handles. */
typedef struct parley_plugin parley_plugin; /* this plugin, as parleyd knows it */
typedef struct parley_call parley_call;     /* the hook or command call in progress */

/* A message: before it is stored (seq 0, members NULL) or after. */
typedef struct parley_message_event {
    uint32_t struct_size;
    const char* conv;
    const char* sender; /* a uid, or "system" for messages posted by extensions */
    const char* cmid;
    const char* body; /* UTF-8, body_len bytes, NUL-terminated too */
    size_t body_len;
    const char* meta_json;      /* a JSON object, or NULL */
    int64_t seq;                /* 0 before store */
    int64_t ts;                 /* ms since the epoch; 0 before store */
    const char* const* members; /* every member's uid */
    size_t member_count;
    /* The conversation the message goes to, set for message.before_store; NULL and 0 in
     * message.after_store. Level 1: read them only if PARLEY_EVENT_HAS(parley_message_event, ev,
     * conv_last_seq); an older parleyd's event ends before conv_kind. */
    const char* conv_kind;      /* "direct" or "group" */
    const char* context_type;   /* what the conversation is about, or NULL */
    const char* context_id;     /* or NULL */
    const char* context_title;  /* or NULL */
    const char* context_status; /* set by extensions (host->context_update), or NULL */
    int64_t conv_last_seq;      /* the conversation's last seq: 0 = this is its first message */
    /* Level 4, with set_attachments (PARLEY_EVENT_HAS(parley_message_event, ev, attachments_json)):
     * NULL if the message has no attachments. In message.before_store, a JSON array of the
     * attachment ids (strings) the sender named, which a handler resolves with
     * host->set_attachments or the message is refused; in message.after_store, the array of
     * objects as stored. docs/attachments.md. */
    const char* attachments_json;
} parley_message_event;

/* A conversation: before it is created (id NULL) or after. In conversation.before_open (every
 * conv.open of a 1:1, before anything else decides), `creator` is who opens it and `conv` the
 * existing conversation, or NULL if it would be created (conversation.before_create then runs
 * too). */
typedef struct parley_conversation_event {
    uint32_t struct_size;
    const char* conv; /* NULL before create */
    const char* kind; /* "direct" or "group" */
    const char* creator;
    const char* title;         /* or NULL */
    const char* context_type;  /* or NULL */
    const char* context_id;    /* or NULL */
    const char* context_title; /* or NULL */
    const char* const* members;
    size_t member_count;
} parley_conversation_event;

typedef struct parley_read_event {
    uint32_t struct_size;
    const char* conv;
    const char* uid;
    int64_t read_seq;
} parley_read_event;

typedef struct parley_presence_event {
    uint32_t struct_size;
    const char* uid;
    const char* state; /* "online", "away" or "offline" */
    int64_t last_seen; /* ms since the epoch, 0 if never */
} parley_presence_event;

/* An event that is not stored (typing, a moved read watermark) about to be published to
 * members of a conversation: event.before_deliver, one call per event with every recipient.
 * host->drop_recipient hides it from one of them (a block). Level 2. */
typedef struct parley_delivery_event {
    uint32_t struct_size;
    const char* kind; /* "typing" or "read"; ignore kinds you do not know */
    const char* conv;
    const char* uid;               /* whose typing or read watermark it is */
    const char* event_json;        /* the event as each recipient gets it */
    const char* const* recipients; /* for "read", the reader's own uid too (their devices) */
    size_t recipient_count;
} parley_delivery_event;

/* A custom command routed to the plugin: the client's whole JSON object. */
typedef struct parley_command_event {
    uint32_t struct_size;
    const char* uid; /* who sent it (from the topic, never the payload) */
    const char* op;
    const char* args_json; /* the command object, "op" and "id" included */
    bool is_admin;         /* uid is listed in parleyd's "admins" */
    /* Level 7: the raw bytes sent after the command on "{prefix}/c2s/{uid}/bin" (only to an op
     * registered with command_register_bytes), bytes_len of them; NULL for a command sent on
     * "{prefix}/c2s/{uid}". Not NUL-terminated. */
    const char* bytes;
    size_t bytes_len;
} parley_command_event;

/* Text the host hands out (JSON, KV values). Release it with host->buffer_free. A function that
 * fails leaves it {NULL, 0}; freeing that (or NULL) is harmless. */
typedef struct parley_buffer {
    char* data; /* NUL-terminated */
    size_t len;
} parley_buffer;

/*
 * A hook handler. `event` points to the struct of the hook (see parley_hook). Return PARLEY_OK
 * or PARLEY_DEFER to let the event go on, PARLEY_REJECT (after host->reject or reject_with) to
 * refuse it in a "before" hook. Any negative status is a failure: logged, counted, and the hook's
 * failure policy applies. So is any value that is no parley_status, and a C++ exception escaping a
 * C++ plugin's callback (parleyd catches it). PARLEY_REJECT without host->reject refuses with
 * "forbidden".
 */
typedef parley_status (*parley_hook_fn)(parley_call* call, const void* event, void* userdata);

/*
 * A command handler (event: parley_command_event). Answer with host->reply (fields of the reply
 * object) and PARLEY_OK, or host->reject and PARLEY_REJECT, or return PARLEY_DEFER to let the next
 * handler of the same op answer. Returning PARLEY_OK without a reply answers {"ok": true}.
 */
typedef parley_hook_fn parley_command_fn;

typedef void (*parley_timer_fn)(void* userdata);

/* A request to one of the plugin's HTTP routes (host->http_route_register). Level 3. */
typedef struct parley_http_request {
    uint32_t struct_size;
    const char* method; /* "GET" or "POST" */
    const char* path;   /* the route, e.g. "/unsubscribe" */
    const char* query;  /* the raw query string without '?', "" if none */
    const char* body;   /* body_len bytes, NUL-terminated too */
    size_t body_len;
} parley_http_request;

/* The answer being built, only valid during the handler (host->http_respond). */
typedef struct parley_http_response parley_http_response;

/* An HTTP route handler. Answer with host->http_respond and PARLEY_OK; anything else (or no
 * http_respond) answers 500. Runs on parleyd's HTTP threads (two), so keep it short. */
typedef parley_status (*parley_http_fn)(const parley_http_request* request,
                                        parley_http_response* response, void* userdata);

/* The host table. Starts with its version and size; only ever grows at its end. */
typedef struct parley_host {
    uint32_t abi_version; /* PARLEY_PLUGIN_ABI_VERSION of parleyd */
    uint32_t struct_size; /* sizeof(parley_host) of parleyd */

    /* Registration. Handlers of one hook run in the extension order of parleyd's config, then
     * in registration order. Everything registered is removed when the plugin is unloaded, or
     * when its init fails. Nothing registered is called before init has returned PARLEY_OK:
     * events during init pass the plugin by, timers due during init run once it succeeded.
     * After hook_unregister (or timer_cancel) returns, a call that had already started may
     * still be running on another thread: keep its userdata alive until cleanup. */
    parley_status (*hook_register)(parley_plugin* self, parley_hook hook, parley_hook_fn fn,
                                   void* userdata);
    parley_status (*hook_unregister)(parley_plugin* self, parley_hook hook, parley_hook_fn fn,
                                     void* userdata);
    /* op: 1-64 characters from a-z 0-9 . _ -, must contain a '.', must not be one of parleyd's
     * own ops (PARLEY_ERR_INVALID). Several plugins may register one op (PARLEY_DEFER passes to
     * the next); the same plugin twice is PARLEY_ERR_EXISTS. */
    parley_status (*command_register)(parley_plugin* self, const char* op, parley_command_fn fn,
                                      void* userdata);

    /* Acting on the call in progress: only during the callback that received `call` and on its
     * thread; otherwise PARLEY_ERR_INVALID. What they record takes effect when the callback
     * returns: a rewrite if it returns PARLEY_OK or PARLEY_DEFER, a rejection if it returns
     * PARLEY_REJECT, a reply if a command returns PARLEY_OK. */
    /* code: bad_request, forbidden, not_found, too_large, rate_limited, unavailable, internal,
     * and (level 4, for files) unsupported_type, type_mismatch,
     * checksum_mismatch, size_mismatch, quota_exceeded, upload_incomplete, image_too_large; an
     * older parleyd sends those as "internal" (check PARLEY_HOST_HAS(host, set_attachments)).
     * Another code (or NULL) is sent as "internal" and returns PARLEY_ERR_INVALID. message:
     * UTF-8 for the client, or NULL for a generic one. PARLEY_ERR_FORBIDDEN in a hook that
     * cannot reject ("after" hooks). */
    parley_status (*reject)(parley_call* call, const char* code, const char* message);
    /* Before-store only (else PARLEY_ERR_FORBIDDEN): replace the body (UTF-8) or the meta (a
     * JSON object, or NULL), within parleyd's limits.max_body_bytes / max_meta_bytes
     * (PARLEY_ERR_TOO_LARGE). A message keeps a non-empty body or a meta. */
    parley_status (*set_body)(parley_call* call, const char* body, size_t body_len);
    parley_status (*set_meta)(parley_call* call, const char* meta_json);
    /* Commands only (else PARLEY_ERR_FORBIDDEN): the fields of the reply, a JSON object; "id"
     * and "ok" are parleyd's (the plugin's are dropped). At most limits.max_payload_bytes. */
    parley_status (*reply)(parley_call* call, const char* reply_json);

    /* Sending. event_json: a JSON object with a string "ev". */
    parley_status (*publish_to_user)(parley_plugin* self, const char* uid, const char* event_json);
    parley_status (*publish_to_conversation)(parley_plugin* self, const char* conv,
                                             const char* event_json);
    /* A message from "system", stored and delivered like any message; cmid makes it idempotent
     * (NULL: a fresh one). seq_out may be NULL. */
    parley_status (*post_message)(parley_plugin* self, const char* conv, const char* cmid,
                                  const char* body, const char* meta_json, int64_t* seq_out);

    /* Reading. JSON as in docs/protocol.md (a conversation summary without the reader fields; a
     * user as profile.get answers, plus "email": the address admins set, or null). */
    parley_status (*conversation_get)(parley_plugin* self, const char* conv, parley_buffer* out);
    parley_status (*user_get)(parley_plugin* self, const char* uid, parley_buffer* out);

    /* A key-value store of this plugin, in parleyd's database. Keys: 1-190 bytes. ttl_ms 0 =
     * never expires. kv_list returns a JSON object {key: value} of up to `limit` keys starting
     * with `prefix`, in key order. */
    parley_status (*kv_get)(parley_plugin* self, const char* key, parley_buffer* out);
    parley_status (*kv_set)(parley_plugin* self, const char* key, const char* value,
                            size_t value_len, int64_t ttl_ms);
    parley_status (*kv_delete)(parley_plugin* self, const char* key);
    parley_status (*kv_incr)(parley_plugin* self, const char* key, int64_t delta, int64_t ttl_ms,
                             int64_t* value_out);
    parley_status (*kv_list)(parley_plugin* self, const char* prefix, size_t limit,
                             parley_buffer* out);

    /* This plugin's "options" from parleyd's config, as a JSON object (valid until unload);
     * NULL if `self` is not a loaded plugin. */
    const char* (*options_json)(parley_plugin* self);
    void (*log)(parley_plugin* self, parley_log_level level, const char* message);

    /* Timers run on parleyd's timer thread, one at a time. period_ms 0 = once, else at least
     * 10. timer_id_out may be NULL. */
    parley_status (*timer_add)(parley_plugin* self, int64_t delay_ms, int64_t period_ms,
                               parley_timer_fn fn, void* userdata, uint64_t* timer_id_out);
    parley_status (*timer_cancel)(parley_plugin* self, uint64_t timer_id);

    /* No `self`: these read the system's clocks, the ones parleyd itself uses. */
    int64_t (*monotonic_ms)(void);
    int64_t (*wall_ms)(void);
    void (*buffer_free)(parley_buffer* buffer);

    /* Added later in version 1: check PARLEY_HOST_HAS(host, member) before using these. */

    /* Level 1. */

    /* reject, with extra fields for the client's error object: details_json is a JSON object
     * (e.g. {"retry_after_ms":1200}) of at most 4 KiB encoded, or NULL for none. Its "code" and
     * "message" are dropped (parleyd's). The rules of reject apply; details that are no JSON
     * object give PARLEY_ERR_INVALID, more than 4 KiB PARLEY_ERR_TOO_LARGE, and the rejection
     * is still recorded, without the details. */
    parley_status (*reject_with)(parley_call* call, const char* code, const char* message,
                                 const char* details_json);
    /* Sets the context title and/or status of every conversation about (type, id), e.g. a
     * listing that was renamed or sold; NULL keeps it. Title: at most 128 characters; status:
     * 1-32 characters from a-z 0-9 _ - (else PARLEY_ERR_INVALID). Every member of those
     * conversations gets a "conv" event with reason "changed". conversation_ids_out (may be
     * NULL) receives their ids, a JSON array (empty if none). */
    parley_status (*context_update)(parley_plugin* self, const char* type, const char* id,
                                    const char* title, const char* status,
                                    parley_buffer* conversation_ids_out);
    /* Ids of the conversations about (type, id), most recently active first, as a JSON array
     * of at most `limit` (1-1000, else PARLEY_ERR_INVALID). */
    parley_status (*context_conversations)(parley_plugin* self, const char* type, const char* id,
                                           size_t limit, parley_buffer* out);
    /* A page of a conversation's messages as msg.history answers it: {"msgs": [...],
     * "has_more": bool}, msgs in ascending seq. before / after: only seq < before / seq > after,
     * PARLEY_NO_SEQ (any negative) = no bound, so after 0 pages from the first message; with
     * `after` the page walks forward from it, otherwise back from the newest
     * (has_more: more in that direction). limit: 1-100. PARLEY_ERR_NOT_FOUND for an unknown
     * conversation. */
    parley_status (*messages_get)(parley_plugin* self, const char* conv, int64_t before,
                                  int64_t after, size_t limit, parley_buffer* out);

    /* Level 2, with the hooks conversation.before_open and event.before_deliver. */

    /* event.before_deliver only (else PARLEY_ERR_FORBIDDEN): the event is not published to
     * `uid`. PARLEY_ERR_NOT_FOUND if uid is no recipient (left). Takes effect when the callback
     * returns PARLEY_OK or PARLEY_DEFER. Recipients can be dropped, never added. */
    parley_status (*drop_recipient)(parley_call* call, const char* uid);
    /* Folds UTF-8 text for comparing, so that a word filter is not walked around by capitals,
     * full-width forms, invisible characters or look-alike letters. Form
     * PARLEY_TEXT_NORMALIZED: NFKC, full Unicode case folding, default-ignorable code points
     * (zero-width space and joiners, soft hyphen, ...) removed (ICU's NFKC_Casefold).
     * PARLEY_TEXT_SKELETON: the Unicode TR39 confusables skeleton of the normalized text, which
     * look-alikes share ("scam" written with Cyrillic letters and "scam" both give "scarn"):
     * for comparing only, never for showing. Anything else: PARLEY_ERR_INVALID.
     * len: at most 1 MiB (PARLEY_ERR_TOO_LARGE); text must be UTF-8 (PARLEY_ERR_INVALID).
     * spans_out (may be NULL) receives where each byte of the folded text came from, a JSON
     * array with one [first, last] per byte: the byte range first..last-1 of `text` (0-based),
     * so a match in the folded text can be replaced in the original. */
    parley_status (*text_fold)(parley_plugin* self, int form, const char* text, size_t len,
                               parley_buffer* out, parley_buffer* spans_out);

    /* Level 3, for plugins that notify users who are away (plugins/notify). */

    /* Members with unread messages (read_seq < the conversation's last_seq) in conversations
     * whose last activity is at or after since_ms, oldest activity first, as a JSON array of
     * at most `limit` (1-1000, else PARLEY_ERR_INVALID) objects {"user", "conv", "read_seq",
     * "last_seq", "last_activity", "presence"}; only the user `uid`'s when it is not NULL.
     * Reads the database only: call it from a thread of your own or a timer, not from a hook
     * on the message path. */
    parley_status (*unread_scan)(parley_plugin* self, int64_t since_ms, const char* uid,
                                 size_t limit, parley_buffer* out);
    /* Serves GET and POST of /ext/{plugin's name}{path} on parleyd's HTTP listener (config
     * "http"; nothing is served while it is off). path: 2-128 of a-z 0-9 / . _ -, starting with
     * '/' (else PARLEY_ERR_INVALID); the same path twice is PARLEY_ERR_EXISTS. During init
     * only (else PARLEY_ERR_FORBIDDEN). The listener has no authentication: a route checks
     * what it is given itself (a signed token, say). */
    parley_status (*http_route_register)(parley_plugin* self, const char* path, parley_http_fn fn,
                                         void* userdata);
    /* The answer of the http handler in progress: status 100-599, content_type NULL for
     * "text/plain; charset=utf-8". Only during that handler (else PARLEY_ERR_INVALID). */
    parley_status (*http_respond)(parley_http_response* response, int status,
                                  const char* content_type, const char* body, size_t body_len);

    /* Level 4, for plugins that keep files (plugins/attachments), with the event field
     * attachments_json and the rejection codes of attachments (docs/extending.md). Level 5 added
     * the hooks message.before_edit and message.after_delete and no host member. */

    /* kv_list of the keys after `after` (NULL or "": from the first), so that a plugin walks
     * more keys than one call returns: pass the last key of a page to get the next. */
    parley_status (*kv_list_after)(parley_plugin* self, const char* prefix, const char* after,
                                   size_t limit, parley_buffer* out);
    /* message.before_store only (else PARLEY_ERR_FORBIDDEN): what the message's attachments are
     * stored and delivered as, a JSON array with one object per id of the event's
     * attachments_json, in its order, each with that "id" (else PARLEY_ERR_INVALID); at most
     * 16 KiB encoded (PARLEY_ERR_TOO_LARGE). A message whose ids no handler resolved is refused
     * (bad_request): a server without an attachments plugin takes none. */
    parley_status (*set_attachments)(parley_call* call, const char* attachments_json);
    /* Like http_respond, with the bytes of the file at `path` (an absolute path), which parleyd
     * streams from disk instead of holding them: PARLEY_ERR_NOT_FOUND if it cannot open it.
     * headers_json: NULL, or a JSON object of extra response headers {name: value} (names of
     * A-Z a-z 0-9 -, not Content-Length, Content-Type or Transfer-Encoding; else
     * PARLEY_ERR_INVALID). */
    parley_status (*http_respond_file)(parley_http_response* response, int status,
                                       const char* content_type, const char* path,
                                       const char* headers_json);

    /* Level 6: the plugin's options (its "options" mapping in parleyd's config) as typed values,
     * so that a C plugin needs no JSON parser. `name`: a key of the mapping, or a dotted path
     * into nested mappings ("smtp.port"). PARLEY_ERR_NOT_FOUND: absent or null;
     * PARLEY_ERR_INVALID: there with another type (option_int: an integer within int64_t;
     * option_bool: true or false; option_string: a string, copied NUL-terminated into `out`,
     * PARLEY_ERR_TOO_LARGE if it needs more than `size` bytes). Nothing is written unless the
     * status is PARLEY_OK, so a default set before the call stays. */
    parley_status (*option_int)(parley_plugin* self, const char* name, int64_t* out);
    parley_status (*option_bool)(parley_plugin* self, const char* name, bool* out);
    parley_status (*option_string)(parley_plugin* self, const char* name, char* out, size_t size);

    /* Level 7: commands with raw bytes (docs/protocol.md, "Commands with bytes"), for files
     * without base64 in JSON. command_register_bytes: like command_register, and the handler is
     * also given the op sent with bytes on "{prefix}/c2s/{uid}/bin" (event->bytes); a handler
     * registered with command_register alone never sees bytes. Such commands are charged to
     * the user's byte budget (limits.user_transfer_bytes_per_second), not the command rate, and
     * run in any order, several at once. reply_bytes: like reply, followed by `len` raw bytes,
     * published on "{prefix}/u/{uid}/bin" instead of ".../resp" (at most
     * limits.max_bytes_per_command: else PARLEY_ERR_TOO_LARGE); the bytes count against the
     * user's byte budget too. */
    parley_status (*command_register_bytes)(parley_plugin* self, const char* op,
                                            parley_command_fn fn, void* userdata);
    parley_status (*reply_bytes)(parley_call* call, const char* reply_json, const char* bytes,
                                 size_t len);
} parley_host;

/* Forms of host->text_fold. */
#define PARLEY_TEXT_NORMALIZED 1
#define PARLEY_TEXT_SKELETON 2

/* True if the host table has `member` (added in a later version than the plugin knows). */
#define PARLEY_HOST_HAS(host, member) \
    ((host)->struct_size >= offsetof(parley_host, member) + sizeof((host)->member))

/* True if `event`, a pointer to an event struct of type `type`, has `member` (a field added at
 * the struct's end after it was first released). Level 6 (a macro: it works on any parleyd). */
#define PARLEY_EVENT_HAS(type, event, member) \
    ((event)->struct_size >= offsetof(type, member) + sizeof(((const type*)0)->member))

/* What parley_plugin_version answers for a plugin written against this header: this header's
 * version if parleyd speaks it, else -1. Level 6 (inline: it works on any parleyd). */
static inline int parley_plugin_pick_version(const int* supported, size_t count) {
    size_t i;
    for (i = 0; i < count; ++i) {
        if (supported[i] == PARLEY_PLUGIN_ABI_VERSION) {
            return PARLEY_PLUGIN_ABI_VERSION;
        }
    }
    return -1;
}

/*
 * Entry points a plugin exports.
 *
 * parley_plugin_version: `supported` lists the ABI versions parleyd speaks; return the one the
 * plugin uses (normally PARLEY_PLUGIN_ABI_VERSION), or -1 if none suits it.
 *
 * parley_plugin_init: register what the plugin does; *state may point to the plugin's own data,
 * given back to cleanup. Return PARLEY_OK, or a failure: everything registered is then removed
 * and the plugin unloaded without calling cleanup (a failing init frees what it allocated; none
 * of its handlers has run, so that is safe).
 *
 * parley_plugin_cleanup: release what init allocated. Hooks, commands and timers are already
 * removed, and no callback is running.
 */
typedef int (*parley_plugin_version_fn)(const int* supported, size_t count);
typedef parley_status (*parley_plugin_init_fn)(parley_plugin* self, const parley_host* host,
                                               void** state);
typedef void (*parley_plugin_cleanup_fn)(parley_plugin* self, void* state);

#define PARLEY_PLUGIN_VERSION_SYMBOL "parley_plugin_version"
#define PARLEY_PLUGIN_INIT_SYMBOL "parley_plugin_init"
#define PARLEY_PLUGIN_CLEANUP_SYMBOL "parley_plugin_cleanup"

#ifdef __cplusplus
}
#endif

#endif /* PARLEY_PLUGIN_H */
