/**
 * Parley's TypeScript SDK: a typed client for the Parley chat protocol (docs/protocol.md) over
 * MQTT, for browsers and Node.
 *
 * @packageDocumentation
 */
export { ParleyClient } from './client.js';
export type { BytesReply, ParleyClientOptions, TokenProvider, TokenReason } from './client.js';
export { ConnectionError, ParleyError } from './errors.js';
export type {
  AbortSignalLike,
  AttachmentUrl,
  AttachmentVariant,
  BlobLike,
  DownloadOptions,
  UploadOptions,
  UploadProgress,
} from './attachments.js';
export type { ConnectionErrorReason, ErrorDetails } from './errors.js';
export type {
  ChangeEvent,
  ConnectionState,
  ConnectionStateEvent,
  ConversationEvent,
  ConversationSettingsEvent,
  ErasedEvent,
  ExtensionEvent,
  MemberEvent,
  MessageEvent,
  ParleyEvent,
  ParleyEventMap,
  PresenceEvent,
  ReadEvent,
  SyncEvent,
  TypingEvent,
  UnreadEvent,
} from './events.js';
export { ERROR_CODES, isValidUid } from './protocol.js';
export type * from './protocol.js';
