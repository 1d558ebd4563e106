/* Compiled as strict C11 (-pedantic -Werror): proves parley/plugin.h is pure C, and pins the
 * parts of the ABI that must never move. */
#include <parley/plugin.h>

_Static_assert(PARLEY_PLUGIN_ABI_VERSION == 1, "this check describes ABI version 1");
_Static_assert(offsetof(parley_host, abi_version) == 0, "the table starts with its version");
_Static_assert(offsetof(parley_host, struct_size) == sizeof(uint32_t), "then its size");
_Static_assert(offsetof(parley_message_event, struct_size) == 0, "events start with their size");
_Static_assert(offsetof(parley_conversation_event, struct_size) == 0, "");
_Static_assert(offsetof(parley_read_event, struct_size) == 0, "");
_Static_assert(offsetof(parley_presence_event, struct_size) == 0, "");
_Static_assert(offsetof(parley_command_event, struct_size) == 0, "");
/* Members added later in version 1 follow the last earlier one directly, in the order they were
 * added: nothing was inserted before them. */
#define PARLEY_FOLLOWS(type, before, after)                                                      \
    _Static_assert(offsetof(type, after) == offsetof(type, before) + sizeof(((type*)0)->before), \
                   #after " directly follows " #before)
PARLEY_FOLLOWS(parley_host, buffer_free, reject_with);
PARLEY_FOLLOWS(parley_host, reject_with, context_update);
PARLEY_FOLLOWS(parley_host, context_update, context_conversations);
PARLEY_FOLLOWS(parley_host, context_conversations, messages_get);
PARLEY_FOLLOWS(parley_message_event, member_count, conv_kind);
PARLEY_FOLLOWS(parley_message_event, conv_kind, context_type);
PARLEY_FOLLOWS(parley_message_event, context_type, context_id);
PARLEY_FOLLOWS(parley_message_event, context_id, context_title);
PARLEY_FOLLOWS(parley_message_event, context_title, context_status);
_Static_assert(offsetof(parley_message_event, conv_last_seq) >
                   offsetof(parley_message_event, context_status),
               "conv_last_seq follows context_status (after padding on some 32-bit ABIs)");
_Static_assert(PARLEY_OK == 0 && PARLEY_DEFER == 1 && PARLEY_REJECT == 2, "statuses are fixed");
_Static_assert(PARLEY_ERR_INVALID == -1 && PARLEY_ERR_INTERNAL == -8, "statuses are fixed");
_Static_assert(PARLEY_HOOK_MESSAGE_BEFORE_STORE == 1 && PARLEY_HOOK_USER_DISCONNECTED == 8,
               "hook ids are fixed");

/* The entry points' types as a plugin declares them. */
static int version(const int* supported, size_t count) {
    return count > 0 ? supported[0] : -1;
}
static parley_status init(parley_plugin* self, const parley_host* host, void** state) {
    (void)self;
    (void)state;
    /* A member added later in version 1 is checked for like any other. */
    return PARLEY_HOST_HAS(host, buffer_free) && PARLEY_HOST_HAS(host, messages_get)
               ? PARLEY_OK
               : PARLEY_ERR_VERSION;
}
static void cleanup(parley_plugin* self, void* state) {
    (void)self;
    (void)state;
}

int parley_abi_is_c(void);
int parley_abi_is_c(void) {
    parley_plugin_version_fn v = version;
    parley_plugin_init_fn i = init;
    parley_plugin_cleanup_fn c = cleanup;
    return v != 0 && i != 0 && c != 0;
}
