// The wire format of Parley protocol v1 (docs/protocol.md), as TypeScript types. Field names are
// the protocol's own (snake_case), so what a developer reads in the protocol is what they get.

/** A JSON value, as the server sends it. */
export type JsonValue = string | number | boolean | null | JsonValue[] | JsonObject;
/** A JSON object. */
export interface JsonObject {
  [key: string]: JsonValue;
}

/** The error codes of docs/protocol.md, "Error codes". */
export type ErrorCode =
  | 'bad_request'
  | 'unknown_op'
  | 'forbidden'
  | 'not_found'
  | 'too_large'
  | 'rate_limited'
  | 'unavailable'
  | 'internal'
  | 'unsupported_type'
  | 'type_mismatch'
  | 'checksum_mismatch'
  | 'size_mismatch'
  | 'quota_exceeded'
  | 'upload_incomplete'
  | 'image_too_large'
  | 'not_sender'
  | 'edit_window_passed'
  | 'message_deleted'
  | 'too_many_reactions'
  | 'not_group'
  | 'not_admin'
  | 'already_member'
  | 'not_member'
  | 'group_full'
  | 'transfer_limited';

/** Every error code of the protocol, for exhaustive handling (e.g. a message per code). */
export const ERROR_CODES: readonly ErrorCode[] = [
  'bad_request',
  'unknown_op',
  'forbidden',
  'not_found',
  'too_large',
  'rate_limited',
  'unavailable',
  'internal',
  'unsupported_type',
  'type_mismatch',
  'checksum_mismatch',
  'size_mismatch',
  'quota_exceeded',
  'upload_incomplete',
  'image_too_large',
  'not_sender',
  'edit_window_passed',
  'message_deleted',
  'too_many_reactions',
  'not_group',
  'not_admin',
  'already_member',
  'not_member',
  'group_full',
  'transfer_limited',
];

/** What a conversation is about, e.g. a marketplace listing. */
export interface Context {
  type: string;
  id: string;
  title?: string | null;
  /** Set by a server extension, e.g. `"open"`, `"sold"`, `"closed"`; null until then. */
  status?: string | null;
}

/** A stored message (docs/protocol.md, "Message"). */
export interface Message {
  conv: string;
  seq: number;
  /** uid of the author, or `"system"` for a message posted by a server extension. */
  sender: string;
  cmid: string;
  body: string;
  meta: JsonObject | null;
  ts: number;
  /** Present (true) only on a tombstone: its sender was erased by an admin. */
  erased?: true;
  /** The conversation's `rev` at this message's latest change; absent (0) if never changed. */
  rev?: number;
  /** When it was last edited (`msg.edit`). */
  edited_at?: number;
  /** Present only on a message deleted for everyone (`msg.delete`): body and meta are gone. */
  deleted?: true;
  deleted_by?: string;
  deleted_at?: number;
  /** The `seq` this message answers, and a short preview of it. */
  reply_to?: number;
  reply_preview?: ReplyPreview;
  /** Each emoji given, with who gave it, in the order they were first given. */
  reactions?: Reaction[];
  /** Files sent with the message (docs/attachments.md); absent when there are none. */
  attachments?: Attachment[];
}

/** What a reply shows of the message it answers; `body` cut to 120 characters. */
export interface ReplyPreview {
  seq: number;
  sender: string;
  body: string;
  deleted?: true;
  erased?: true;
}

export interface Reaction {
  emoji: string;
  count: number;
  users: string[];
}

/** A file sent with a message (docs/attachments.md, "The attachment object"). */
export interface Attachment {
  id: string;
  /** As the uploader named it. */
  name: string;
  /** The type the server found in the bytes. */
  mime: string;
  /** Bytes you download (for an image: after its metadata was stripped). */
  size: number;
  /** Images only: pixels, upright. */
  width?: number;
  height?: number;
  /** Images only: a small WebP; download it with the variant `thumbnail`. */
  thumbnail?: AttachmentThumbnail;
}

export interface AttachmentThumbnail {
  variant: 'thumbnail';
  mime: string;
  width: number;
  height: number;
  size: number;
}

export interface Member {
  user: string;
  name: string;
  read_seq: number;
  /** An admin of the group (always false in a 1:1). */
  admin: boolean;
}

/** One change of a group's members or title (docs/protocol.md, "member"). */
export interface MemberChange {
  rev: number;
  kind: 'joined' | 'removed' | 'left' | 'admin' | 'renamed';
  /** Who joined, was removed, left or was made admin; absent for `renamed`. */
  user?: string;
  /** `renamed` only: the new title, or null. */
  title?: string | null;
  by: string;
  /** The conversation's last `seq` at the change: a removed member reads up to it. */
  seq: number;
  ts: number;
}

export interface Preview {
  seq: number;
  sender: string;
  body: string;
  ts: number;
  erased?: true;
}

/** A conversation as one member sees it (docs/protocol.md, "Conversation summary"). */
export interface ConversationSummary {
  conv: string;
  kind: 'direct' | 'group';
  title: string | null;
  context: Context | null;
  members: Member[];
  created_by: string;
  created_at: number;
  last_seq: number;
  last_ts: number;
  preview: Preview | null;
  /**
   * Changes to its stored messages and (groups) to its members and title so far: your
   * `msg.changes` cursor is current when equal.
   */
  rev: number;
  read_seq: number;
  /** Counted even when muted; a muted conversation is no part of `unread_total`. */
  unread: number;
  /** Your own settings ({@link ParleyClient.setConversation}); never shown to the others. */
  muted: boolean;
  archived: boolean;
  /** When you pinned it, or null. */
  pinned_at: number | null;
}

export type PresenceState = 'online' | 'away' | 'offline';

/** A user's presence (docs/protocol.md, "Presence object"). */
export interface Presence {
  user: string;
  state: PresenceState;
  last_seen: number | null;
}

/** A marketplace listing (docs/listings-and-moderation.md), from the listings extension. */
export interface Listing {
  id: string;
  owner: string;
  title: string | null;
  /** `open`, `sold` or `closed`. */
  status: string;
  url: string | null;
  price: string | number | null;
  updated_at: number | null;
}

// ---- Commands: one interface per op, discriminated by `op`. ----

export interface PingCommand {
  op: 'ping';
}
export interface ConvOpenCommand {
  op: 'conv.open';
  peer: string;
  context?: { type: string; id: string; title?: string };
}
export interface ConvCreateCommand {
  op: 'conv.create';
  members: string[];
  title?: string;
}
export interface ConvListCommand {
  op: 'conv.list';
  limit?: number;
  before?: string;
  context?: { type: string; id: string };
}
export interface ConvGetCommand {
  op: 'conv.get';
  conv: string;
}
export interface ConvAddCommand {
  op: 'conv.add';
  conv: string;
  members: string[];
}
export interface ConvRemoveCommand {
  op: 'conv.remove';
  conv: string;
  members: string[];
}
export interface ConvLeaveCommand {
  op: 'conv.leave';
  conv: string;
}
export interface ConvRenameCommand {
  op: 'conv.rename';
  conv: string;
  title: string | null;
}
export interface ConvAdminCommand {
  op: 'conv.admin';
  conv: string;
  user: string;
}
export interface MsgSendCommand {
  op: 'msg.send';
  conv: string;
  cmid: string;
  body: string;
  meta?: JsonObject;
  /** The `seq` of the message this one answers, in the same conversation. */
  reply_to?: number;
  /** Ids of attachments you uploaded (1-10). */
  attachments?: string[];
}
export interface MsgEditCommand {
  op: 'msg.edit';
  conv: string;
  seq: number;
  body: string;
  /** The new meta, or null to clear it; absent keeps it. */
  meta?: JsonObject | null;
}
export interface MsgDeleteCommand {
  op: 'msg.delete';
  conv: string;
  seq: number;
}
export interface MsgReactCommand {
  op: 'msg.react';
  conv: string;
  seq: number;
  emoji: string;
  remove?: boolean;
}
export interface MsgChangesCommand {
  op: 'msg.changes';
  conv: string;
  since_rev: number;
  limit?: number;
}
export interface MsgSearchCommand {
  op: 'msg.search';
  q: string;
  conv?: string;
  before?: number;
  limit?: number;
}
export interface ConvSetCommand {
  op: 'conv.set';
  conv: string;
  muted?: boolean;
  archived?: boolean;
  pinned?: boolean;
}
export interface MsgHistoryCommand {
  op: 'msg.history';
  conv: string;
  before?: number;
  after?: number;
  limit?: number;
}
export interface MsgReadCommand {
  op: 'msg.read';
  conv: string;
  seq: number;
}
export interface TypingCommand {
  op: 'typing';
  conv: string;
  state: 'start' | 'stop';
}
export interface PresenceCommand {
  op: 'presence';
  state: PresenceState;
}
export interface ProfileSetCommand {
  op: 'profile.set';
  name: string;
}
export interface ProfileGetCommand {
  op: 'profile.get';
  user?: string;
}
export interface ListingGetCommand {
  op: 'listing.get';
  listing: string;
}

/** Every command the SDK knows the reply of. */
export type Command =
  | PingCommand
  | ConvOpenCommand
  | ConvCreateCommand
  | ConvListCommand
  | ConvGetCommand
  | ConvAddCommand
  | ConvRemoveCommand
  | ConvLeaveCommand
  | ConvRenameCommand
  | ConvAdminCommand
  | MsgSendCommand
  | MsgEditCommand
  | MsgDeleteCommand
  | MsgReactCommand
  | MsgChangesCommand
  | MsgSearchCommand
  | ConvSetCommand
  | MsgHistoryCommand
  | MsgReadCommand
  | TypingCommand
  | PresenceCommand
  | ProfileSetCommand
  | ProfileGetCommand
  | ListingGetCommand;

export type Op = Command['op'];

// ---- Replies (without `id` and `ok`, which the SDK consumes). ----

export interface PingReply {
  ts: number;
}
export type ConvOpenReply = ConversationSummary & { created: boolean };
export type ConvCreateReply = ConversationSummary & { created: boolean };
export interface ConvListReply {
  convs: ConversationSummary[];
  has_more: boolean;
  next_before: string | null;
  unread_total: number;
}
export type ConvGetReply = ConversationSummary;
/** The reply of conv.add, conv.remove, conv.leave, conv.rename and conv.admin. */
export interface MembershipReply {
  conv: string;
  /** False when there was nothing to do (a resend). */
  changed: boolean;
  /** The conversation's rev after it. */
  rev: number;
  changes: MemberChange[];
}
export interface MsgSendReply {
  conv: string;
  seq: number;
  ts: number;
  /** True when this was a resend of a message already stored (nothing new was stored). */
  dup?: boolean;
}
/** The reply of msg.edit, msg.delete and msg.react: the message as it is now. */
export interface MessageChangeReply {
  conv: string;
  seq: number;
  rev: number;
  /** False when it was so already (a resend): nothing was written. */
  changed: boolean;
  msg: Message;
}
export interface MsgChangesReply {
  conv: string;
  /** The conversation's `rev` when read. */
  rev: number;
  msgs: Message[];
  /** A group's membership and title changes in the same range, ascending `rev`. */
  members: MemberChange[];
  has_more: boolean;
  /** The `since_rev` of the next page, or, on the last, the cursor to keep. */
  next_rev: number;
}
export interface MsgSearchReply {
  /** Newest first. */
  msgs: Message[];
  /** The summary of each conversation of `msgs`, once. */
  convs: ConversationSummary[];
  has_more: boolean;
  /** With `has_more`: the `before` of the next page. */
  next_before?: number;
}
/** Your settings of a conversation, as conv.set left them. */
export interface ConversationSettings {
  conv: string;
  muted: boolean;
  archived: boolean;
  pinned_at: number | null;
  /** Your badge now: unread messages of the conversations you did not mute. */
  unread_total: number;
}
export type ConvSetReply = ConversationSettings & { changed: boolean };
export interface MsgHistoryReply {
  conv: string;
  msgs: Message[];
  has_more: boolean;
}
export interface MsgReadReply {
  conv: string;
  read_seq: number;
  unread: number;
  unread_total: number;
}
export type TypingReply = Record<string, never>;
export type PresenceReply = Presence;
export interface ProfileSetReply {
  user: string;
  name: string;
}
export interface ProfileGetReply {
  user: string;
  name: string;
  presence: Presence;
}
export interface ListingGetReply {
  listing: Listing;
}

/** The reply type of each op. */
export interface ReplyMap {
  ping: PingReply;
  'conv.open': ConvOpenReply;
  'conv.create': ConvCreateReply;
  'conv.list': ConvListReply;
  'conv.get': ConvGetReply;
  'conv.add': MembershipReply;
  'conv.remove': MembershipReply;
  'conv.leave': MembershipReply;
  'conv.rename': MembershipReply;
  'conv.admin': MembershipReply;
  'msg.send': MsgSendReply;
  'msg.edit': MessageChangeReply;
  'msg.delete': MessageChangeReply;
  'msg.react': MessageChangeReply;
  'msg.changes': MsgChangesReply;
  'msg.search': MsgSearchReply;
  'conv.set': ConvSetReply;
  'msg.history': MsgHistoryReply;
  'msg.read': MsgReadReply;
  typing: TypingReply;
  presence: PresenceReply;
  'profile.set': ProfileSetReply;
  'profile.get': ProfileGetReply;
  'listing.get': ListingGetReply;
}

/** The command of one op. */
export type CommandOf<O extends Op> = Extract<Command, { op: O }>;
/** The reply of one op. */
export type ReplyOf<O extends Op> = ReplyMap[O];

// ---- Events as they come from the server (docs/protocol.md, "Events"). ----

export interface WireMsgEvent extends Message {
  ev: 'msg';
  unread?: number;
  unread_total?: number;
}
export interface WireReadEvent {
  ev: 'read';
  conv: string;
  user: string;
  seq: number;
}
export interface WireTypingEvent {
  ev: 'typing';
  conv: string;
  user: string;
  state: 'start' | 'stop';
}
export interface WireChangeEvent {
  ev: 'change';
  kind: 'edit' | 'delete' | 'react';
  conv: string;
  seq: number;
  rev: number;
  by: string;
  msg: Message;
}
export type WireConvSettingsEvent = ConversationSettings & { ev: 'conv_settings' };
export interface WireErasedEvent {
  ev: 'erased';
  conv: string;
  user: string;
}
export type WireConvEvent = ConversationSummary & { ev: 'conv'; reason: string };
export interface WireUnreadEvent {
  ev: 'unread';
  conv: string;
  unread: number;
  unread_total: number;
}

/** The server's error object in a refused command's reply. */
export interface WireError {
  code: string;
  message: string;
  retry_after_ms?: number;
  [detail: string]: JsonValue | undefined;
}

/** Topic names of protocol v1 under a prefix (default `parley/v1`). */
export class Topics {
  constructor(
    readonly prefix: string,
    readonly uid: string,
  ) {}
  get commands(): string {
    return `${this.prefix}/c2s/${this.uid}`;
  }
  /** Commands followed by raw bytes (docs/protocol.md, "Commands with bytes"). */
  get commandsWithBytes(): string {
    return `${this.prefix}/c2s/${this.uid}/bin`;
  }
  /** Replies followed by raw bytes (a downloaded chunk). */
  get repliesWithBytes(): string {
    return `${this.prefix}/u/${this.uid}/bin`;
  }
  get inbox(): string {
    return `${this.prefix}/u/${this.uid}/#`;
  }
  get replies(): string {
    return `${this.prefix}/u/${this.uid}/resp`;
  }
  get notifications(): string {
    return `${this.prefix}/u/${this.uid}/n`;
  }
  conversationPrefix(): string {
    return `${this.prefix}/u/${this.uid}/c/`;
  }
  presenceOf(user: string): string {
    return `${this.prefix}/presence/${user}`;
  }
  presencePrefix(): string {
    return `${this.prefix}/presence/`;
  }
}

/** A uid: 1 to 64 characters from `A-Z a-z 0-9 . _ @ -`. */
export function isValidUid(uid: string): boolean {
  return /^[A-Za-z0-9._@-]{1,64}$/.test(uid);
}
