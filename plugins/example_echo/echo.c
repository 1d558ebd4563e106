/* Example Parley plugin in C: every part of the ABI in one file (docs/extending.md). Options:
 * greeting (string), banned (a plain word), tick_ms (how often the timer logs; 0 = never), read
 * with the host's typed option getters (level 6). */
#include <parley/plugin.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct echo_state {
    parley_plugin* self;
    const parley_host* host;
    char greeting[384]; /* escaped for JSON (at most 6 bytes per byte of the option), as pasted */
    char banned[64];
    atomic_long echoes; /* commands run on several worker threads at once */
} echo_state;

/* Where the value of "key" starts in a command's compact JSON args, or NULL. A real plugin would
 * use a JSON library for its commands' args; this one stays dependency-free. (Options need no
 * parsing: host->option_string and friends.) */
static const char* json_value(const char* json, const char* key) {
    char pattern[80];
    snprintf(pattern, sizeof pattern, "\"%s\":", key);
    const char* found = strstr(json, pattern);
    return found ? found + strlen(pattern) : NULL;
}

/* Copies a JSON string value without unescaping it (so it can be pasted into JSON again). */
static int json_string(const char* json, const char* key, char* out, size_t cap) {
    const char* p = json_value(json, key);
    size_t n = 0;
    if (!p || *p++ != '"')
        return 0;
    for (; *p && *p != '"' && n + 3 < cap; ++p) {
        if (*p == '\\' && p[1])
            out[n++] = *p++; /* keep the escape and what it escapes */
        out[n++] = *p;
    }
    out[n] = '\0';
    return *p == '"';
}

/* Escapes `text` for a JSON string; 0 if it does not fit in `cap` bytes. */
static int json_escape(const char* text, char* out, size_t cap) {
    size_t n = 0;
    for (; *text; ++text) {
        const unsigned char c = (unsigned char)*text;
        char piece[8];
        if (c == '"' || c == '\\')
            snprintf(piece, sizeof piece, "\\%c", c);
        else if (c < 0x20)
            snprintf(piece, sizeof piece, "\\u%04x", c);
        else
            snprintf(piece, sizeof piece, "%c", c);
        if (n + strlen(piece) + 1 > cap)
            return 0;
        memcpy(out + n, piece, strlen(piece));
        n += strlen(piece);
    }
    out[n] = '\0';
    return 1;
}

static parley_status on_echo_say(parley_call* call, const void* event, void* userdata) {
    const parley_command_event* ev = event;
    echo_state* st = userdata;
    char text[1024], key[160], *reply;
    int64_t count = 0;
    if (!json_string(ev->args_json, "text", text, sizeof text)) {
        st->host->reject(call, "bad_request", "echo.say needs a short \"text\" string");
        return PARLEY_REJECT;
    }
    snprintf(key, sizeof key, "count:%s", ev->uid);
    parley_status status = st->host->kv_incr(st->self, key, 1, 0, &count);
    if (status != PARLEY_OK)
        return status; /* e.g. PARLEY_ERR_UNAVAILABLE: the client sees it */
    size_t cap = strlen(st->greeting) + strlen(text) + 64;
    if (!(reply = malloc(cap)))
        return PARLEY_ERR_INTERNAL;
    snprintf(reply, cap, "{\"text\":\"%s, %s\",\"count\":%lld}", st->greeting, text,
             (long long)count);
    status = st->host->reply(call, reply);
    free(reply);
    if (status == PARLEY_OK)
        atomic_fetch_add(&st->echoes, 1);
    return status;
}

static parley_status before_store(parley_call* call, const void* event, void* userdata) {
    const parley_message_event* ev = event;
    echo_state* st = userdata;
    if (st->banned[0] && strstr(ev->body, st->banned)) {
        st->host->reject(call, "forbidden", "that word is not welcome here");
        return PARLEY_REJECT;
    }
    return PARLEY_OK;
}

static parley_status after_store(parley_call* call, const void* event, void* userdata) {
    const parley_message_event* ev = event;
    echo_state* st = userdata;
    char line[256];
    (void)call;
    snprintf(line, sizeof line, "echo: message %lld in %s from %s, %zu members", (long long)ev->seq,
             ev->conv, ev->sender, ev->member_count);
    st->host->log(st->self, PARLEY_LOG_INFO, line);
    return PARLEY_OK;
}

static void on_tick(void* userdata) {
    echo_state* st = userdata;
    char line[96];
    snprintf(line, sizeof line, "echo: %ld echoes so far", atomic_load(&st->echoes));
    st->host->log(st->self, PARLEY_LOG_INFO, line);
}

PARLEY_PLUGIN_EXPORT int parley_plugin_version(const int* supported, size_t count) {
    return parley_plugin_pick_version(supported, count);
}

PARLEY_PLUGIN_EXPORT parley_status parley_plugin_init(parley_plugin* self, const parley_host* host,
                                                      void** state) {
    echo_state* st;
    char greeting[64] = "echo";
    int64_t tick_ms = 60000;
    parley_status status;
    if (!PARLEY_HOST_HAS(host, option_string)) {
        host->log(self, PARLEY_LOG_ERROR, "echo: needs a parleyd of plugin ABI level 6 or later");
        return PARLEY_ERR_VERSION;
    }
    /* PARLEY_ERR_NOT_FOUND keeps the default; anything else is a wrong option. */
    if (((status = host->option_string(self, "greeting", greeting, sizeof greeting)) != PARLEY_OK &&
         status != PARLEY_ERR_NOT_FOUND) ||
        ((status = host->option_int(self, "tick_ms", &tick_ms)) != PARLEY_OK &&
         status != PARLEY_ERR_NOT_FOUND) ||
        tick_ms < 0) {
        host->log(self, PARLEY_LOG_ERROR,
                  "echo: option greeting must be a string of at most 63 bytes and tick_ms an "
                  "integer of at least 0");
        return PARLEY_ERR_INVALID;
    }
    if (!(st = calloc(1, sizeof *st)))
        return PARLEY_ERR_INTERNAL;
    st->self = self;
    st->host = host;
    atomic_init(&st->echoes, 0);
    json_escape(greeting, st->greeting, sizeof st->greeting);
    status = host->option_string(self, "banned", st->banned, sizeof st->banned);
    if (status != PARLEY_OK && status != PARLEY_ERR_NOT_FOUND) {
        host->log(self, PARLEY_LOG_ERROR,
                  "echo: option banned must be a string of at most 63 bytes");
        free(st);
        return PARLEY_ERR_INVALID;
    }
    if ((status = host->command_register(self, "echo.say", on_echo_say, st)) != PARLEY_OK ||
        (status = host->hook_register(self, PARLEY_HOOK_MESSAGE_BEFORE_STORE, before_store, st)) ||
        (status = host->hook_register(self, PARLEY_HOOK_MESSAGE_AFTER_STORE, after_store, st)) ||
        (tick_ms > 0 && (status = host->timer_add(self, tick_ms, tick_ms, on_tick, st, NULL)))) {
        free(st); /* nothing registered ran yet; parleyd removes it, cleanup is not called */
        return status;
    }
    *state = st;
    host->log(self, PARLEY_LOG_INFO, "echo: ready");
    return PARLEY_OK;
}

PARLEY_PLUGIN_EXPORT void parley_plugin_cleanup(parley_plugin* self, void* state) {
    echo_state* st = state;
    char line[96];
    snprintf(line, sizeof line, "echo: stopped after %ld echoes", atomic_load(&st->echoes));
    st->host->log(self, PARLEY_LOG_INFO, line);
    free(st);
}
