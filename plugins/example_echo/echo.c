/* Example Parley plugin in C: every part of the ABI in one file (docs/extending.md). Options:
 * greeting (string), banned (a plain word), tick_ms (how often the timer logs; 0 = never). */
#include <parley/plugin.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct echo_state {
    parley_plugin* self;
    const parley_host* host;
    char greeting[128]; /* JSON string contents, still escaped: copied into replies as they are */
    char banned[64];
    atomic_long echoes; /* commands run on several worker threads at once */
} echo_state;

/* Where the value of "key" starts in compact JSON text (parleyd hands options out compact),
 * or NULL. A real plugin would use a JSON library; this one stays dependency-free. */
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
    for (size_t i = 0; i < count; ++i)
        if (supported[i] == PARLEY_PLUGIN_ABI_VERSION)
            return PARLEY_PLUGIN_ABI_VERSION;
    return -1;
}

PARLEY_PLUGIN_EXPORT parley_status parley_plugin_init(parley_plugin* self, const parley_host* host,
                                                      void** state) {
    echo_state* st = calloc(1, sizeof *st);
    const char* options = host->options_json(self);
    const char* tick = json_value(options, "tick_ms");
    long long tick_ms = tick ? strtoll(tick, NULL, 10) : 60000;
    parley_status status;
    if (!st)
        return PARLEY_ERR_INTERNAL;
    st->self = self;
    st->host = host;
    atomic_init(&st->echoes, 0);
    if (!json_string(options, "greeting", st->greeting, sizeof st->greeting))
        strcpy(st->greeting, "echo");
    json_string(options, "banned", st->banned, sizeof st->banned);
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
