/*
 * Where attachments keep their bytes: a small C interface, so that another store (an
 * S3-compatible bucket, say) can replace the local folder without touching the rest of the plugin.
 * docs/attachments.md, "Storage", says how to add one.
 *
 * A blob is named by a key: the SHA-256 of its bytes in lower-case hex (64 characters), so
 * identical bytes are one blob. The plugin counts references itself (in parleyd's key-value
 * store); a store only keeps, reads and deletes blobs. Every function is called from several
 * threads at once. Return values: 0 = done, -1 = failed (the plugin logs it and answers
 * "unavailable"), and for `exists` 1 = present.
 */
#ifndef PARLEY_ATTACHMENTS_BLOB_STORE_H
#define PARLEY_ATTACHMENTS_BLOB_STORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct attachments_blob_store {
    uint32_t struct_size; /* sizeof(attachments_blob_store) of its maker */
    void* ctx;
    /* Takes the finished local file at `local_path` (on the store's staging folder, see
     * staging_dir) as blob `key`. The file is consumed either way. A key already stored is kept:
     * its bytes are the same. */
    int (*put)(void* ctx, const char* key, const char* local_path);
    int (*exists)(void* ctx, const char* key);
    /* The blob's size in bytes, or -1. */
    int64_t (*size)(void* ctx, const char* key);
    /* Up to `len` bytes at `offset` into `buffer`: the number read (0 past the end), or -1. */
    int64_t (*read)(void* ctx, const char* key, uint64_t offset, void* buffer, size_t len);
    int (*remove)(void* ctx, const char* key);
    /* Calls `visit` with every key stored (for the garbage collector); stops early if it
     * returns non-zero. */
    int (*list)(void* ctx, int (*visit)(const char* key, void* arg), void* arg);
    /* The blob as a file parleyd can stream over HTTP (host->http_respond_file), written to
     * `out` (NUL-terminated), or -1 if this store has no local files: the HTTP route then
     * answers 501 (a remote store would add a redirect to a presigned URL of its own;
     * docs/attachments.md). MQTT downloads only use `read`. */
    int (*local_path)(void* ctx, const char* key, char* out, size_t out_len);
    /* A local folder for files being assembled (uploads, cleaned images) before `put`. */
    const char* (*staging_dir)(void* ctx);
    void (*destroy)(void* ctx);
} attachments_blob_store;

/* The store on a local (or shared network) folder: blobs/ab/cdef..., staging in tmp/. Creates
 * the folders. NULL on failure, with the reason in error (error_len bytes). */
attachments_blob_store* attachments_local_store_open(const char* root, char* error,
                                                     size_t error_len);

#ifdef __cplusplus
}
#endif

#endif /* PARLEY_ATTACHMENTS_BLOB_STORE_H */
