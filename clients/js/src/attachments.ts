// Attachments (docs/attachments.md): upload in chunks over the client's MQTT connection, as raw
// bytes on the `.../bin` topics (or base64 in JSON for a server without them), download the same
// way, or ask for a signed HTTP URL for a browser. The server side is the shipped plugin
// `plugins/attachments`; these are its commands, sent through the client's usual delivery
// (resent with the same id until answered, across reconnects).
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';

import type { ParleyClient } from './client.js';
import { ParleyError } from './errors.js';
import type { Attachment, JsonObject, JsonValue } from './protocol.js';

/**
 * What {@link ParleyClient.uploadAttachment} reads, a piece at a time: a `Blob` or `File`
 * (browsers, Node 18+), or anything else with a size and `slice(start, end).arrayBuffer()`.
 */
export interface BlobLike {
  readonly size: number;
  slice(start?: number, end?: number): { arrayBuffer(): Promise<ArrayBuffer> };
}

/** An `AbortSignal` (browsers, Node), as far as the SDK uses it. */
export interface AbortSignalLike {
  readonly aborted: boolean;
  readonly reason?: unknown;
  addEventListener(type: 'abort', listener: () => void): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

/** How far an upload is, for a progress bar; `upload` is what to keep to resume it later. */
export interface UploadProgress {
  /** The server's upload id: pass it as `resume` to continue this upload after a restart. */
  upload: string;
  /** Bytes the server has acknowledged. */
  sentBytes: number;
  totalBytes: number;
  /** Chunks the server has acknowledged, of `chunks`. */
  chunksDone: number;
  chunks: number;
}

export interface UploadOptions {
  /**
   * Called after `attach.begin` (or `attach.status` when resuming) and after every chunk. Not
   * during the first pass over the file, which computes its SHA-256 before `attach.begin`.
   */
  onProgress?: (progress: UploadProgress) => void;
  /** Stops the upload: the promise rejects with the signal's reason, the upload is aborted. */
  signal?: AbortSignalLike;
  /**
   * An upload id from an earlier attempt of the same bytes (a page reloaded, an app restarted):
   * only the chunks the server lacks (`attach.status`) are sent. An upload that expired or is
   * unknown is begun again. The chunks go the way the upload was begun (`attach.status` says
   * which), whatever `raw` is now.
   */
  resume?: string;
  /** Chunks in flight at once. Default 16 (docs/attachments.md: 8-16). */
  window?: number;
  /**
   * Ask for raw bytes on `.../c2s/{uid}/bin` (`true`) or base64 in JSON commands (`false`).
   * Default: the client's {@link ParleyClientOptions.rawBytes} (`true`). The server's `raw` in
   * its `attach.begin` reply decides: a server that does not take raw chunks gets base64.
   */
  raw?: boolean;
}

export interface DownloadOptions {
  /** The thumbnail of an image instead of the file. */
  variant?: AttachmentVariant;
  /** Chunks in flight at once. Default 16. */
  window?: number;
  /** Stops the download: no chunk is asked for after it, the promise rejects. */
  signal?: AbortSignalLike;
  /**
   * Chunks as raw bytes on `.../u/{uid}/bin` (`true`) or base64 in JSON replies (`false`).
   * Default: the client's {@link ParleyClientOptions.rawBytes} (`true`).
   */
  raw?: boolean;
}

/** A variant of a stored file: the file itself (`undefined`) or its thumbnail (images). */
export type AttachmentVariant = 'thumbnail';

/** The answer of `attach.url`. */
export interface AttachmentUrl {
  attachment: string;
  /** `/ext/attachments/file?...`: relative to parleyd's HTTP listener (or a proxy in front). */
  path: string;
  /** `public_base_url` + `path`, when the operator set `public_base_url`. */
  url?: string;
  /** Until when the link works (ms since the epoch); ask again rather than keep it. */
  expires: number;
}

/** Default chunks in flight: enough to hide round trips, under the broker's burst of 300. */
const DEFAULT_WINDOW = 16;
/** Rounds of "commit, told chunks are missing, send them" before giving up. */
const COMMIT_ROUNDS = 3;
/** When a `rate_limited` reply says nothing of when to retry. */
const RATE_LIMIT_PAUSE_MS = 1000;

/** The first pass reads the file in pieces of this size to hash it. */
const HASH_PIECE_BYTES = 1024 * 1024;

interface GlobalsWithBase64 {
  btoa(data: string): string;
  atob(data: string): string;
}
const globals = globalThis as unknown as GlobalsWithBase64;

function sizeOf(data: BlobLike | Uint8Array): number {
  return data instanceof Uint8Array ? data.length : data.size;
}

/** Bytes `[start, end)` of the file: a view of a `Uint8Array`, a read of a `Blob`'s slice. */
async function readRange(
  data: BlobLike | Uint8Array,
  start: number,
  end: number,
): Promise<Uint8Array> {
  if (data instanceof Uint8Array) {
    return data.subarray(start, end);
  }
  return new Uint8Array(await data.slice(start, end).arrayBuffer());
}

/**
 * SHA-256 of the whole file, as 64 lower-case hex digits (what `attach.begin` wants), read a
 * piece at a time so a `Blob` is never held whole. `@noble/hashes` rather than Web Crypto:
 * `crypto.subtle.digest` takes one buffer, no stream; and rather than a WebAssembly hash: the
 * web client's Content-Security-Policy runs no WebAssembly.
 */
export async function sha256Hex(
  data: BlobLike | Uint8Array,
  signal?: AbortSignalLike,
): Promise<string> {
  const hash = sha256.create();
  const size = sizeOf(data);
  for (let at = 0; at < size; at += HASH_PIECE_BYTES) {
    throwIfAborted(signal);
    hash.update(await readRange(data, at, Math.min(size, at + HASH_PIECE_BYTES)));
  }
  return bytesToHex(hash.digest());
}

/** Standard base64 with padding (RFC 4648), as `attach.chunk` wants. */
export function toBase64(bytes: Uint8Array): string {
  let binary = '';
  // String.fromCharCode takes its bytes as arguments: a few thousand at a time stays far below
  // any engine's argument limit.
  for (let at = 0; at < bytes.length; at += 8192) {
    binary += String.fromCharCode(...bytes.subarray(at, at + 8192));
  }
  return globals.btoa(binary);
}

export function fromBase64(data: string): Uint8Array {
  const binary = globals.atob(data);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) {
    bytes[i] = binary.charCodeAt(i);
  }
  return bytes;
}

function abortError(signal: AbortSignalLike): Error {
  // AbortController.abort() gives a DOMException named AbortError, an Error in browsers and Node.
  if (signal.reason instanceof Error) {
    return signal.reason;
  }
  const error = new Error('the upload was aborted');
  error.name = 'AbortError';
  return error;
}

function throwIfAborted(signal: AbortSignalLike | undefined): void {
  if (signal?.aborted) {
    throw abortError(signal);
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function stringField(op: string, reply: JsonObject, field: string): string {
  const value = reply[field];
  if (typeof value !== 'string') {
    throw new ParleyError(op, 'internal', `the reply to ${op} has no string ${field}`);
  }
  return value;
}

function numberField(op: string, reply: JsonObject, field: string): number {
  const value = reply[field];
  if (typeof value !== 'number') {
    throw new ParleyError(op, 'internal', `the reply to ${op} has no number ${field}`);
  }
  return value;
}

/**
 * Sends one command; a `rate_limited` refusal longer than the client retries by itself is waited
 * out here: a base64 file is hundreds of commands, past the per-user burst (docs/attachments.md,
 * "Chunks and the rate limits").
 */
async function patient(
  client: ParleyClient,
  op: string,
  fields: JsonObject,
  signal: AbortSignalLike | undefined,
): Promise<JsonObject> {
  for (;;) {
    throwIfAborted(signal);
    try {
      return await client.extension(op, fields);
    } catch (error) {
      if (!(error instanceof ParleyError) || error.code !== 'rate_limited') {
        throw error;
      }
      await delay(error.retryAfterMs ?? RATE_LIMIT_PAUSE_MS);
    }
  }
}

/** Runs `task` on every item, at most `window` at once; the first failure stops new starts. */
async function inWindow<T>(
  items: readonly T[],
  window: number,
  task: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failed = false;
  const lane = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const item = items[next++] as T;
      try {
        await task(item);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  const lanes = Array.from({ length: Math.max(1, Math.min(window, items.length)) }, lane);
  // Every lane is awaited (none left running behind the caller's back); the first error wins.
  const results = await Promise.allSettled(lanes);
  const rejected = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (rejected) {
    throw rejected.reason;
  }
}

/** See {@link ParleyClient.uploadAttachment}. */
export async function uploadAttachment(
  client: ParleyClient,
  data: BlobLike | Uint8Array,
  file: { name: string; mime: string },
  options: UploadOptions = {},
): Promise<Attachment> {
  const { signal, onProgress } = options;
  const wantRaw = options.raw ?? client.rawBytes;
  throwIfAborted(signal);
  const size = sizeOf(data);
  // Two passes over the file: attach.begin wants the SHA-256 before the first chunk. Each reads
  // it a piece at a time: a Blob is never in memory whole, let alone twice.
  const sha256 = await sha256Hex(data, signal);
  throwIfAborted(signal);

  let upload: string | undefined;
  let chunkSize = 0;
  let chunks = 0;
  let missing: number[] = [];
  // Which chunks the upload takes is the server's answer (its "raw"), not the wish; a server
  // that does not say (one from before 2026-12-07) gets what was asked for, as before.
  let raw = wantRaw;
  const takesRaw = (reply: JsonObject): boolean =>
    typeof reply['raw'] === 'boolean' ? reply['raw'] : wantRaw;
  if (options.resume !== undefined) {
    try {
      const status = await patient(client, 'attach.status', { upload: options.resume }, signal);
      upload = options.resume;
      chunkSize = numberField('attach.status', status, 'chunk_size');
      chunks = numberField('attach.status', status, 'chunks');
      raw = takesRaw(status);
      missing = missingOf(status);
    } catch (error) {
      if (!(error instanceof ParleyError && error.code === 'not_found')) {
        throw error;
      }
      // Expired, committed or aborted meanwhile: begin again.
    }
  }
  if (upload === undefined) {
    const begun = await patient(
      client,
      'attach.begin',
      { name: file.name, mime: file.mime, size, sha256, ...(wantRaw ? { raw: true } : {}) },
      signal,
    );
    upload = stringField('attach.begin', begun, 'upload');
    chunkSize = numberField('attach.begin', begun, 'chunk_size');
    chunks = numberField('attach.begin', begun, 'chunks');
    raw = takesRaw(begun);
    missing = Array.from({ length: chunks }, (_, index) => index);
  }
  const uploadId = upload;
  const lengthOf = (index: number): number => Math.min(chunkSize, size - index * chunkSize);
  let chunksDone = 0;
  let sentBytes = 0;
  const recount = (): void => {
    chunksDone = chunks - missing.length;
    sentBytes = size - missing.reduce((sum, index) => sum + lengthOf(index), 0);
  };
  recount();
  const report = (): void => {
    onProgress?.({ upload: uploadId, sentBytes, totalBytes: size, chunksDone, chunks });
  };
  report();

  const sendChunk = async (index: number): Promise<void> => {
    const at = index * chunkSize;
    const piece = await readRange(data, at, at + lengthOf(index));
    throwIfAborted(signal);
    if (raw) {
      // transfer_limited (past the byte budget) is resent by the client after retry_after_ms.
      await client.sendWithBytes('attach.chunk', { upload: uploadId, index }, piece);
    } else {
      await patient(
        client,
        'attach.chunk',
        { upload: uploadId, index, data: toBase64(piece) },
        signal,
      );
    }
  };

  // Aborting stops new chunks at once; those in flight are answered (or refused) by themselves.
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = (): void => reject(abortError(signal as AbortSignalLike));
    signal?.addEventListener('abort', onAbort);
  });
  aborted.catch(() => undefined);
  try {
    for (let round = 1; ; round++) {
      const sending = inWindow(missing, options.window ?? DEFAULT_WINDOW, async (index) => {
        await sendChunk(index);
        chunksDone += 1;
        sentBytes += lengthOf(index);
        report();
      });
      sending.catch(() => undefined); // after an abort nobody awaits it any more
      await Promise.race([sending, aborted]);
      throwIfAborted(signal);
      try {
        const committed = await patient(client, 'attach.commit', { upload: uploadId }, signal);
        return committed['attachment'] as unknown as Attachment;
      } catch (error) {
        // A chunk the server lost (a parleyd that died mid-write): ask what is missing, send it.
        if (
          !(error instanceof ParleyError && error.code === 'upload_incomplete') ||
          round >= COMMIT_ROUNDS
        ) {
          throw error;
        }
        const status = await patient(client, 'attach.status', { upload: uploadId }, signal);
        missing = missingOf(status);
        recount();
      }
    }
  } catch (error) {
    if (signal?.aborted) {
      // Best effort: an upload left behind expires by itself (upload_ttl_ms).
      client.extension('attach.abort', { upload: uploadId }).catch(() => undefined);
    }
    throw error;
  } finally {
    if (onAbort) {
      signal?.removeEventListener('abort', onAbort);
    }
  }
}

function missingOf(status: JsonObject): number[] {
  const missing = status['missing'];
  return Array.isArray(missing)
    ? missing.filter((index: JsonValue): index is number => typeof index === 'number')
    : [];
}

/** See {@link ParleyClient.downloadAttachment}. */
export async function downloadAttachment(
  client: ParleyClient,
  id: string,
  options: DownloadOptions = {},
): Promise<Uint8Array> {
  const { variant, signal } = options;
  const raw = options.raw ?? client.rawBytes;
  // The chunk size differs by path (raw_chunk_bytes or chunk_bytes): attach.info says which.
  const info = await patient(
    client,
    'attach.info',
    { attachment: id, ...(raw ? { raw: true } : {}) },
    signal,
  );
  const described = info['attachment'] as JsonObject | undefined;
  const target = (variant === 'thumbnail' ? described?.['thumbnail'] : described) as
    JsonObject | undefined;
  if (!target) {
    throw new ParleyError('attach.download', 'not_found', `attachment ${id} has no ${variant}`);
  }
  const size = numberField('attach.info', target, 'size');
  const chunks = numberField('attach.info', target, 'chunks');
  const chunkSize = numberField('attach.info', described as JsonObject, 'chunk_size');
  const bytes = new Uint8Array(size);
  const indexes = Array.from({ length: chunks }, (_, index) => index);
  const fields = (index: number): JsonObject => ({
    attachment: id,
    index,
    ...(variant !== undefined ? { variant } : {}),
  });
  await inWindow(indexes, options.window ?? DEFAULT_WINDOW, async (index) => {
    throwIfAborted(signal);
    let piece: Uint8Array | undefined;
    if (raw) {
      // Asked on .../c2s/{uid}/bin with nothing after the newline, answered on .../u/{uid}/bin.
      piece = (await client.sendWithBytes('attach.download', fields(index))).bytes;
    } else {
      const reply = await patient(client, 'attach.download', fields(index), signal);
      piece = fromBase64(stringField('attach.download', reply, 'data'));
    }
    const at = index * chunkSize;
    if (piece === undefined || piece.length !== Math.min(chunkSize, size - at)) {
      throw new ParleyError('attach.download', 'internal', `chunk ${index} has the wrong length`);
    }
    bytes.set(piece, at);
  });
  return bytes;
}

/** See {@link ParleyClient.attachmentUrl}. */
export async function requestAttachmentUrl(
  client: ParleyClient,
  id: string,
  variant?: AttachmentVariant,
): Promise<AttachmentUrl> {
  const reply = await client.extension('attach.url', {
    attachment: id,
    ...(variant !== undefined ? { variant } : {}),
  });
  return reply as unknown as AttachmentUrl;
}
