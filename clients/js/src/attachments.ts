// Attachments (docs/attachments.md): upload in base64 chunks over the client's MQTT connection,
// download the same way, or ask for a signed HTTP URL for a browser. The server side is the
// shipped plugin `plugins/attachments`; these are its commands, sent through the client's usual
// delivery (resent with the same id until answered, across reconnects).
import type { ParleyClient } from './client.js';
import { ParleyError } from './errors.js';
import type { Attachment, JsonObject, JsonValue } from './protocol.js';

/**
 * What {@link ParleyClient.uploadAttachment} reads: a `Blob` or `File` (browsers, Node 18+), or
 * anything else with a size and an `arrayBuffer()`.
 */
export interface BlobLike {
  readonly size: number;
  arrayBuffer(): Promise<ArrayBuffer>;
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
  /** Called after `attach.begin` (or `attach.status` when resuming) and after every chunk. */
  onProgress?: (progress: UploadProgress) => void;
  /** Stops the upload: the promise rejects with the signal's reason, the upload is aborted. */
  signal?: AbortSignalLike;
  /**
   * An upload id from an earlier attempt of the same bytes (a page reloaded, an app restarted):
   * only the chunks the server lacks (`attach.status`) are sent. An upload that expired or is
   * unknown is begun again.
   */
  resume?: string;
  /** Chunks in flight at once. Default 16 (docs/attachments.md: 10-20). */
  window?: number;
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

interface GlobalsWithCrypto {
  btoa(data: string): string;
  atob(data: string): string;
  crypto?: { subtle?: { digest(algorithm: string, data: Uint8Array): Promise<ArrayBuffer> } };
}
const globals = globalThis as unknown as GlobalsWithCrypto;

/** SHA-256 of the whole file, as 64 lower-case hex digits (what `attach.begin` wants). */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const subtle = globals.crypto?.subtle;
  if (!subtle) {
    throw new TypeError(
      'Web Crypto (crypto.subtle) is not available: browsers offer it on https pages and localhost, Node from version 19 (Node 18: --experimental-global-webcrypto)',
    );
  }
  const digest = new Uint8Array(await subtle.digest('SHA-256', bytes));
  let hex = '';
  for (const byte of digest) {
    hex += byte.toString(16).padStart(2, '0');
  }
  return hex;
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
 * out here: a file is hundreds of commands, past the per-user burst (docs/attachments.md, "Chunks
 * count as commands").
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
  throwIfAborted(signal);
  // Whole in memory: files are at most 25 MiB by default (the server's max_bytes), and Web
  // Crypto hashes one buffer, not a stream.
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(await data.arrayBuffer());
  const sha256 = await sha256Hex(bytes);
  throwIfAborted(signal);

  let upload: string | undefined;
  let chunkSize = 0;
  let chunks = 0;
  let missing: number[] = [];
  if (options.resume !== undefined) {
    try {
      const status = await patient(client, 'attach.status', { upload: options.resume }, signal);
      upload = options.resume;
      chunkSize = numberField('attach.status', status, 'chunk_size');
      chunks = numberField('attach.status', status, 'chunks');
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
      { name: file.name, mime: file.mime, size: bytes.length, sha256 },
      signal,
    );
    upload = stringField('attach.begin', begun, 'upload');
    chunkSize = numberField('attach.begin', begun, 'chunk_size');
    chunks = numberField('attach.begin', begun, 'chunks');
    missing = Array.from({ length: chunks }, (_, index) => index);
  }
  const uploadId = upload;
  const lengthOf = (index: number): number => Math.min(chunkSize, bytes.length - index * chunkSize);
  let chunksDone = chunks - missing.length;
  let sentBytes = bytes.length - missing.reduce((sum, index) => sum + lengthOf(index), 0);
  const report = (): void => {
    onProgress?.({ upload: uploadId, sentBytes, totalBytes: bytes.length, chunksDone, chunks });
  };
  report();

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
        const at = index * chunkSize;
        const data = toBase64(bytes.subarray(at, at + chunkSize));
        await patient(client, 'attach.chunk', { upload: uploadId, index, data }, signal);
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
        chunksDone = chunks - missing.length;
        sentBytes = bytes.length - missing.reduce((sum, index) => sum + lengthOf(index), 0);
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
  options: { variant?: AttachmentVariant; window?: number; signal?: AbortSignalLike } = {},
): Promise<Uint8Array> {
  const { variant, signal } = options;
  const info = await patient(client, 'attach.info', { attachment: id }, signal);
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
  await inWindow(indexes, options.window ?? DEFAULT_WINDOW, async (index) => {
    const reply = await patient(
      client,
      'attach.download',
      { attachment: id, index, ...(variant !== undefined ? { variant } : {}) },
      signal,
    );
    const piece = fromBase64(stringField('attach.download', reply, 'data'));
    const at = index * chunkSize;
    if (at + piece.length > size || (index < chunks - 1 && piece.length !== chunkSize)) {
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
