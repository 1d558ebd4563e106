import mqtt from 'mqtt';
import type { IClientOptions, MqttClient } from 'mqtt';

import { downloadAttachment, requestAttachmentUrl, uploadAttachment } from './attachments.js';
import type { AttachmentVariant, BlobLike, DownloadOptions, UploadOptions } from './attachments.js';
import { ConnectionError, ParleyError } from './errors.js';
import { Emitter } from './events.js';
import type {
  ConnectionState,
  ConversationEvent,
  MessageEvent,
  ParleyEvent,
  ParleyEventMap,
} from './events.js';
import type {
  Attachment,
  CommandOf,
  ConversationSummary,
  ConvListReply,
  ConvSetReply,
  JsonObject,
  JsonValue,
  Listing,
  MemberChange,
  MembershipReply,
  Message,
  MessageChangeReply,
  MsgChangesReply,
  MsgHistoryReply,
  MsgReadReply,
  MsgSearchReply,
  MsgSendReply,
  Op,
  Presence,
  PresenceState,
  ProfileGetReply,
  ReplyOf,
  WireChangeEvent,
  WireConvEvent,
  WireConvSettingsEvent,
  WireError,
  WireMsgEvent,
} from './protocol.js';
import { isValidUid, Topics } from './protocol.js';
import { randomTag } from './random.js';

/** Why the SDK asks for a token: the first connect, a reconnect, or the broker refused the last one. */
export type TokenReason = 'connect' | 'reconnect' | 'refused';

/**
 * Returns a token (JWT) for the user, called before every connection attempt: return a cached one
 * while it is valid, a fresh one when it is about to expire or when `reason` is `"refused"`.
 */
export type TokenProvider = (reason: TokenReason) => string | Promise<string>;

/** How to reach the broker and who you are. Either `password` or `token`. */
export interface ParleyClientOptions {
  /** `wss://HOST:9443` (browsers) or `mqtts://HOST:8883` / `wss://...` (Node). */
  url: string;
  /** Your uid (the broker username). */
  user: string;
  /** A password. */
  password?: string;
  /** A token provider, for token (JWT) login; see {@link TokenProvider}. */
  token?: TokenProvider;
  /** This device's name: the client id is `{user}-{device}`. Default: random per client. */
  device?: string;
  /** Node only: the CA certificate(s) (PEM) that signed the broker's, e.g. a development CA. */
  ca?: string | string[] | Uint8Array | Uint8Array[];
  /** Topic prefix, as the operator set it. Default `parley/v1`. */
  prefix?: string;
  /** How long the broker keeps your events while you are offline. Default 86400 (one day). */
  sessionExpirySeconds?: number;
  /** A command without reply after this long is sent again (same id and cmid). Default 10000. */
  resendAfterMs?: number;
  /** `rate_limited` replies that ask to wait at most this long are retried by the SDK. Default 1000. */
  retryRateLimitedUpToMs?: number;
  /** With no {@link ParleyClient.activity} for this long, you are set `away`. Default 300000. */
  idleAfterMs?: number;
  /** While active, the SDK sends a `ping` when nothing was sent for this long. Default 60000. */
  keepAliveMs?: number;
  /** While typing goes on, `start` is sent again after this long. Default 3000. */
  typingIntervalMs?: number;
  /** A `stop` is sent when no keystroke came for this long. Default 4000. */
  typingStopAfterMs?: number;
  /** A received `start` not renewed for this long becomes a `stop`. Default 6000. */
  typingExpiryMs?: number;
  /** Reconnect backoff: first delay and cap. Default 500 and 15000 ms. */
  reconnectMinDelayMs?: number;
  reconnectMaxDelayMs?: number;
  /** Gives up a connection attempt after this long. Default 10000. */
  connectTimeoutMs?: number;
  /**
   * Attachments travel as raw bytes on the `.../bin` topics (docs/protocol.md, "Commands with
   * bytes"). Default `true`. Set `false` for a server without that path (before it existed, or a
   * broker ACL without `c2s/{uid}/bin`): chunks then go as base64 in JSON, several times slower.
   * The server has no way to say which it takes; {@link UploadOptions.raw} overrides it per call.
   */
  rawBytes?: boolean;
}

/** The answer to a command sent with {@link ParleyClient.sendWithBytes}. */
export interface BytesReply {
  /** The reply's fields (without `id` and `ok`). */
  reply: JsonObject;
  /** The bytes after the reply's newline, when it came on `.../u/{uid}/bin` (a downloaded chunk). */
  bytes: Uint8Array | undefined;
}

interface PendingCommand {
  readonly id: string;
  readonly op: string;
  /** `.../c2s/{uid}`, or `.../c2s/{uid}/bin` for a command with bytes. */
  readonly topic: string;
  /** Kept until the reply, to be resent: for a command with bytes, its line, `\n` and bytes. */
  readonly payload: string | Uint8Array;
  /** `bytes`: what followed the newline of a reply on `.../u/{uid}/bin`. */
  readonly resolve: (reply: JsonObject, bytes: Uint8Array | undefined) => void;
  readonly reject: (error: Error) => void;
  /** Typing is sent once: a late `start` is worse than none. */
  readonly once: boolean;
  timer: ReturnType<typeof setTimeout> | undefined;
  attempts: number;
}

/** What the SDK knows of one conversation, to deliver its messages once and in order. */
interface ConversationCursor {
  /** Every message up to this seq was delivered (or was there before the SDK first saw it). */
  delivered: number;
  /** Messages past a gap, waiting for the gap to be filled. */
  readonly waiting: Map<number, { event: WireMsgEvent | Message; live: boolean }>;
  /** Read watermark of each member, as last told. */
  readonly reads: Map<string, number>;
  /** Set while the SDK fetches missing messages. */
  filling: Promise<void> | undefined;
  /** The last seq the server said the conversation has (fill at least up to it). */
  target: number;
}

const HISTORY_PAGE = 100;
const LIST_PAGE = 100;
/** After the broker refused a publish (its rate limit), wait this long before sending it again. */
const BROKER_REFUSAL_RETRY_MS = 1000;
/** MQTT 5's reason code "not authorized", which Parley's broker plugin answers an excess publish. */
const NOT_AUTHORIZED = 0x87;

function refusedByBroker(error: Error | null | undefined): boolean {
  return error instanceof Error && (error as Error & { code?: unknown }).code === NOT_AUTHORIZED;
}
/** At most this many resent commands in flight after a reconnect (docs/protocol.md, "Limits"). */
const RESEND_WINDOW = 20;
const MEMBER_KINDS: readonly MemberChange['kind'][] = [
  'joined',
  'removed',
  'left',
  'admin',
  'renamed',
];

/**
 * A connection to Parley as one user. Create it with {@link ParleyClient.connect}.
 *
 * Done for you: the last will and `online` presence; every command resent with the same id (and
 * cmid) until its reply arrives; messages delivered once each, in `seq` order, with gaps filled
 * from history; after a reconnect, every conversation caught up from the last seq you had;
 * reconnecting with backoff (asking your {@link TokenProvider} again); typing throttled; `away`
 * after idleness and `online` again on activity.
 */
export class ParleyClient {
  readonly user: string;
  /** The MQTT client id: `{user}-{device}`. */
  readonly clientId: string;

  /** Whether attachments use the `.../bin` topics by default ({@link ParleyClientOptions.rawBytes}). */
  readonly rawBytes: boolean;

  private readonly options: Required<
    Omit<ParleyClientOptions, 'password' | 'token' | 'ca' | 'device' | 'rawBytes'>
  > &
    Pick<ParleyClientOptions, 'password' | 'token' | 'ca'>;
  private readonly topics: Topics;
  private readonly emitter = new Emitter();
  private readonly requestTag = randomTag(8);
  private nextRequest = 1;
  private mqttClient: MqttClient | undefined;
  private state: ConnectionState = 'connecting';
  private connectedOnce = false;
  private closed = false;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private reconnectAttempt = 0;
  private lastRefused = false;
  private readonly pending = new Map<string, PendingCommand>();
  private readonly cursors = new Map<string, ConversationCursor>();
  private syncing = false;
  private readonly heldDuringSync: { event: WireMsgEvent; live: boolean }[] = [];
  private readonly watchedPresence = new Set<string>();
  private readonly typingSent = new Map<
    string,
    { sentAt: number; stopTimer: ReturnType<typeof setTimeout> }
  >();
  private readonly typingSeen = new Map<string, ReturnType<typeof setTimeout>>();
  private ownPresence: PresenceState | undefined;
  private chosenPresence: PresenceState = 'online';
  private awayBecauseIdle = false;
  private lastActivity = Date.now();
  private lastCommandAt = 0;
  private idleTimer: ReturnType<typeof setInterval> | undefined;

  private constructor(options: ParleyClientOptions) {
    if (!isValidUid(options.user)) {
      throw new TypeError(`not a valid uid: ${options.user}`);
    }
    if ((options.password === undefined) === (options.token === undefined)) {
      throw new TypeError('give exactly one of password and token');
    }
    const device = options.device ?? `sdk-${randomTag(6)}`;
    this.user = options.user;
    this.clientId = `${options.user}-${device}`;
    this.rawBytes = options.rawBytes ?? true;
    this.options = {
      url: options.url,
      user: options.user,
      prefix: options.prefix ?? 'parley/v1',
      sessionExpirySeconds: options.sessionExpirySeconds ?? 86400,
      resendAfterMs: options.resendAfterMs ?? 10000,
      retryRateLimitedUpToMs: options.retryRateLimitedUpToMs ?? 1000,
      idleAfterMs: options.idleAfterMs ?? 300000,
      keepAliveMs: options.keepAliveMs ?? 60000,
      typingIntervalMs: options.typingIntervalMs ?? 3000,
      typingStopAfterMs: options.typingStopAfterMs ?? 4000,
      typingExpiryMs: options.typingExpiryMs ?? 6000,
      reconnectMinDelayMs: options.reconnectMinDelayMs ?? 500,
      reconnectMaxDelayMs: options.reconnectMaxDelayMs ?? 15000,
      connectTimeoutMs: options.connectTimeoutMs ?? 10000,
      ...(options.password !== undefined ? { password: options.password } : {}),
      ...(options.token !== undefined ? { token: options.token } : {}),
      ...(options.ca !== undefined ? { ca: options.ca } : {}),
    };
    this.topics = new Topics(this.options.prefix, this.user);
  }

  /**
   * Connects, subscribes, announces `online`, and starts the first sync of your conversations
   * (`sync` events). Rejects with a {@link ConnectionError} if the first attempt fails; after a
   * first success the client reconnects by itself until {@link close}.
   */
  static async connect(options: ParleyClientOptions): Promise<ParleyClient> {
    const client = new ParleyClient(options);
    await client.firstConnect();
    return client;
  }

  /** The connection's state now. */
  get connectionState(): ConnectionState {
    return this.state;
  }

  /** Listens to one kind of event; returns a function that stops listening. */
  on<K extends keyof ParleyEventMap>(
    type: K,
    listener: (event: ParleyEventMap[K]) => void,
  ): () => void {
    return this.emitter.on(type, listener);
  }

  /** Listens to every event (a union discriminated by `type`). */
  onEvent(listener: (event: ParleyEvent) => void): () => void {
    return this.emitter.onAny(listener);
  }

  // ---- Commands ----

  /**
   * Sends a command and resolves with its reply once the server answered; rejects with a
   * {@link ParleyError} (the protocol's code and details) if it was refused. Unanswered commands
   * are sent again, with the same id, after `resendAfterMs` and after every reconnect.
   */
  request<O extends Op>(command: CommandOf<O>): Promise<ReplyOf<O>> {
    return this.send(command as unknown as JsonObject, false) as Promise<ReplyOf<O>>;
  }

  /**
   * Sends a command of a server extension (an op the SDK has no type for, e.g. `mod.report`).
   * Same delivery as {@link request}; the reply is the raw JSON object.
   */
  extension(op: string, fields: JsonObject = {}): Promise<JsonObject> {
    return this.send({ ...fields, op }, false);
  }

  /**
   * Sends a command with bytes on `{prefix}/c2s/{uid}/bin`: its JSON on one line, a newline, then
   * `bytes` (none for a command that only asks for bytes, as `attach.download`), as
   * docs/protocol.md, "Commands with bytes" says. Only ops made for it take bytes
   * (`attach.chunk`, `attach.download`, or an extension's); see {@link uploadAttachment} and
   * {@link downloadAttachment} for the attachments, which use it.
   *
   * Same delivery as {@link request} (resent with the same id until answered, across reconnects),
   * and a `transfer_limited` refusal (past the user's budget of bytes) is resent, the same
   * command, after its `retry_after_ms`, as the protocol asks. Resolves with the reply and, if
   * the reply came on `.../u/{uid}/bin`, the bytes after its newline.
   */
  sendWithBytes(
    op: string,
    fields: JsonObject,
    bytes: Uint8Array = new Uint8Array(0),
  ): Promise<BytesReply> {
    return this.dispatch({ ...fields, op }, false, bytes);
  }

  ping(): Promise<ReplyOf<'ping'>> {
    return this.request({ op: 'ping' });
  }

  /** The 1:1 conversation with `peer` (about `context`, e.g. a listing), created if new. */
  openConversation(
    peer: string,
    context?: { type: string; id: string; title?: string },
  ): Promise<ReplyOf<'conv.open'>> {
    return this.request({ op: 'conv.open', peer, ...(context ? { context } : {}) });
  }

  /** A new group with `members` (you are added). */
  createGroup(members: string[], title?: string): Promise<ReplyOf<'conv.create'>> {
    return this.request({
      op: 'conv.create',
      members,
      ...(title !== undefined && title !== '' ? { title } : {}),
    });
  }

  /** One page of your conversations, newest activity first. */
  listConversations(
    page: { limit?: number; before?: string; context?: { type: string; id: string } } = {},
  ): Promise<ConvListReply> {
    return this.request({ op: 'conv.list', ...page });
  }

  getConversation(conv: string): Promise<ConversationSummary> {
    return this.request({ op: 'conv.get', conv });
  }

  /** Adds users to a group (admins only; `already_member`, `group_full`, `not_admin`). */
  addMembers(conv: string, members: string[]): Promise<MembershipReply> {
    return this.request({ op: 'conv.add', conv, members });
  }

  /** Removes members from a group (admins only; `not_member`, `not_admin`). */
  removeMembers(conv: string, members: string[]): Promise<MembershipReply> {
    return this.request({ op: 'conv.remove', conv, members });
  }

  /** Leaves a group; you keep reading what was stored before you left. */
  leaveGroup(conv: string): Promise<MembershipReply> {
    return this.request({ op: 'conv.leave', conv });
  }

  /** Sets a group's title (admins only); `null` or `""` clears it. */
  renameGroup(conv: string, title: string | null): Promise<MembershipReply> {
    return this.request({ op: 'conv.rename', conv, title });
  }

  /** Makes a member of a group admin (admins only). */
  makeAdmin(conv: string, user: string): Promise<MembershipReply> {
    return this.request({ op: 'conv.admin', conv, user });
  }

  /**
   * Sends a message. Resolves once it is stored (its `seq`); resent with the same `cmid` until
   * then, and never stored twice. Pass your own `cmid` to show the message as pending first.
   */
  async sendMessage(
    conv: string,
    body: string,
    options: { cmid?: string; meta?: JsonObject; replyTo?: number; attachments?: string[] } = {},
  ): Promise<MsgSendReply & { cmid: string }> {
    const cmid = options.cmid ?? this.newCmid();
    this.stopTyping(conv);
    const reply = await this.request({
      op: 'msg.send',
      conv,
      cmid,
      body,
      ...(options.meta ? { meta: options.meta } : {}),
      ...(options.replyTo !== undefined ? { reply_to: options.replyTo } : {}),
      ...(options.attachments ? { attachments: options.attachments } : {}),
    });
    return { ...reply, cmid };
  }

  /** Sends a reply to message `seq` of `conv`: {@link sendMessage} with `reply_to`. */
  reply(
    conv: string,
    seq: number,
    body: string,
    options: { cmid?: string; meta?: JsonObject } = {},
  ): Promise<MsgSendReply & { cmid: string }> {
    return this.sendMessage(conv, body, { ...options, replyTo: seq });
  }

  /**
   * Changes the text (and, when given, the meta: null clears it) of a message you sent, within
   * the server's edit window. Safe to resend: the same edit again answers `changed: false`.
   */
  editMessage(
    conv: string,
    seq: number,
    body: string,
    meta?: JsonObject | null,
  ): Promise<MessageChangeReply> {
    return this.request({
      op: 'msg.edit',
      conv,
      seq,
      body,
      ...(meta !== undefined ? { meta } : {}),
    });
  }

  /** Deletes a message for everyone: its text is erased on the server, a tombstone stays. */
  deleteMessage(conv: string, seq: number): Promise<MessageChangeReply> {
    return this.request({ op: 'msg.delete', conv, seq });
  }

  /** Adds your `emoji` reaction to a message, or takes it back with `remove`. */
  react(conv: string, seq: number, emoji: string, remove = false): Promise<MessageChangeReply> {
    return this.request({ op: 'msg.react', conv, seq, emoji, ...(remove ? { remove } : {}) });
  }

  /**
   * The messages of `conv` changed since `sinceRev` (edits, deletions, reactions, erasures), each
   * once and as it is now, ascending `rev`. Page with `next_rev` while `has_more`.
   */
  changes(conv: string, sinceRev: number, limit?: number): Promise<MsgChangesReply> {
    return this.request({
      op: 'msg.changes',
      conv,
      since_rev: sinceRev,
      ...(limit !== undefined ? { limit } : {}),
    });
  }

  /**
   * Messages holding every word of `q` in the conversations you may read (or only `conv`),
   * newest first. Punctuation and operators in `q` are never query syntax. Page with
   * `next_before` while `has_more`.
   */
  search(
    q: string,
    options: { conv?: string; before?: number; limit?: number } = {},
  ): Promise<MsgSearchReply> {
    return this.request({ op: 'msg.search', q, ...options });
  }

  /**
   * Your own settings of a conversation, kept on the server for all your devices: `muted` (no
   * part of your unread total, no notifications), `archived`, `pinned`. What you leave out stays.
   */
  setConversation(
    conv: string,
    settings: { muted?: boolean; archived?: boolean; pinned?: boolean },
  ): Promise<ConvSetReply> {
    return this.request({ op: 'conv.set', conv, ...settings });
  }

  // ---- Attachments (docs/attachments.md; the code is in attachments.ts) ----

  /**
   * Uploads a file and resolves with its attachment, to send with {@link sendMessage}'s
   * `attachments`. Two passes over `data`, each a piece at a time (a `Blob` is never held whole):
   * the first computes its SHA-256 (`attach.begin` wants it before any chunk), the second sends
   * the chunks, as raw bytes on `.../bin` ({@link ParleyClientOptions.rawBytes}), `window` in
   * flight; then `attach.commit`. A dropped connection only delays it (chunks are resent after
   * the reconnect); `resume` continues an upload of an earlier session from `attach.status`.
   * Rejects with a {@link ParleyError} whose `code` says why the server refused it
   * (`too_large`, `unsupported_type`, `type_mismatch`, `checksum_mismatch`: the file changed
   * between the passes, ...).
   */
  uploadAttachment(
    data: BlobLike | Uint8Array,
    file: { name: string; mime: string },
    options: UploadOptions = {},
  ): Promise<Attachment> {
    return uploadAttachment(this, data, file, options);
  }

  /**
   * The bytes of an attachment (or of its thumbnail), downloaded in chunks over MQTT: raw bytes
   * on `.../u/{uid}/bin` ({@link ParleyClientOptions.rawBytes}), several in flight.
   */
  downloadAttachment(id: string, options: DownloadOptions = {}): Promise<Uint8Array> {
    return downloadAttachment(this, id, options);
  }

  /**
   * A signed, short-lived link to an attachment for `<img src>` or a download link: absolute
   * when the server has a `public_base_url`, otherwise a path on parleyd's HTTP listener (or the
   * page's own origin, behind a proxy that forwards it).
   */
  async attachmentUrl(id: string, variant?: AttachmentVariant): Promise<string> {
    const link = await requestAttachmentUrl(this, id, variant);
    return link.url ?? link.path;
  }

  /** A fresh client message id, unique among all your messages. */
  newCmid(): string {
    return `${this.clientId}-${Date.now().toString(36)}-${randomTag(8)}`;
  }

  /** Stored messages, ascending `seq`: the newest, `before` a seq (scrolling back), or `after` one. */
  history(
    conv: string,
    page: { before?: number; after?: number; limit?: number } = {},
  ): Promise<MsgHistoryReply> {
    return this.request({ op: 'msg.history', conv, ...page });
  }

  /** You have read `conv` up to `seq`. */
  markRead(conv: string, seq: number): Promise<MsgReadReply> {
    return this.request({ op: 'msg.read', conv, seq });
  }

  setProfileName(name: string): Promise<ReplyOf<'profile.set'>> {
    return this.request({ op: 'profile.set', name });
  }

  getProfile(user?: string): Promise<ProfileGetReply> {
    return this.request({ op: 'profile.get', ...(user !== undefined ? { user } : {}) });
  }

  /** A marketplace listing (the listings extension, docs/listings-and-moderation.md). */
  async getListing(listing: string): Promise<Listing> {
    return (await this.request({ op: 'listing.get', listing })).listing;
  }

  /**
   * Sets your presence. `away` chosen here stays until you set another state; idleness and
   * activity move you between `online` and `away` only while you chose `online`.
   */
  async setPresence(state: PresenceState): Promise<Presence> {
    this.chosenPresence = state;
    this.awayBecauseIdle = false;
    const reply = await this.request({ op: 'presence', state });
    this.ownPresence = reply.state;
    return reply;
  }

  // ---- Typing, activity, presence of others ----

  /**
   * Call on every keystroke in `conv`'s composer. Sends `start` at most every
   * `typingIntervalMs`, and `stop` once keystrokes pause for `typingStopAfterMs`.
   */
  typing(conv: string): void {
    this.activity();
    const now = Date.now();
    const sent = this.typingSent.get(conv);
    if (sent) {
      clearTimeout(sent.stopTimer);
    }
    const stopTimer = setTimeout(() => {
      this.stopTyping(conv);
    }, this.options.typingStopAfterMs);
    if (!sent || now - sent.sentAt >= this.options.typingIntervalMs) {
      this.sendTyping(conv, 'start');
      this.typingSent.set(conv, { sentAt: now, stopTimer });
    } else {
      sent.stopTimer = stopTimer;
    }
  }

  /** Typing in `conv` ended (sent, cleared): sends `stop` if a `start` was sent. */
  stopTyping(conv: string): void {
    const sent = this.typingSent.get(conv);
    if (!sent) {
      return;
    }
    clearTimeout(sent.stopTimer);
    this.typingSent.delete(conv);
    this.sendTyping(conv, 'stop');
  }

  /**
   * Call on user activity (a key, a click, the page shown). Keeps you `online` (a `ping` when
   * nothing was sent for `keepAliveMs`) and brings you back from idle `away`.
   */
  activity(): void {
    this.lastActivity = Date.now();
    if (this.state !== 'online' || this.chosenPresence !== 'online') {
      return;
    }
    if (this.awayBecauseIdle || this.ownPresence === 'away') {
      this.awayBecauseIdle = false;
      this.ownPresence = 'online';
      this.send({ op: 'presence', state: 'online' }, false).catch(() => undefined);
    } else if (this.lastActivity - this.lastCommandAt >= this.options.keepAliveMs) {
      this.send({ op: 'ping' }, false).catch(() => undefined);
    }
  }

  /** Delivers `presence` events for these users (their retained presence comes at once). */
  watchPresence(users: Iterable<string>): void {
    const added: string[] = [];
    for (const user of users) {
      if (isValidUid(user) && !this.watchedPresence.has(user)) {
        this.watchedPresence.add(user);
        added.push(user);
      }
    }
    if (added.length > 0 && this.mqttClient && this.state === 'online') {
      this.mqttClient.subscribe(
        added.map((user) => this.topics.presenceOf(user)),
        { qos: 1 },
      );
    }
  }

  unwatchPresence(users: Iterable<string>): void {
    const removed: string[] = [];
    for (const user of users) {
      if (this.watchedPresence.delete(user) && user !== this.user) {
        removed.push(user);
      }
    }
    if (removed.length > 0 && this.mqttClient && this.state === 'online') {
      this.mqttClient.unsubscribe(removed.map((user) => this.topics.presenceOf(user)));
    }
  }

  /**
   * Says `offline`, disconnects cleanly and stops reconnecting. Commands still unanswered reject
   * with a {@link ConnectionError} (`closed`).
   */
  async close(): Promise<void> {
    if (this.closed) {
      return;
    }
    if (this.state === 'online') {
      const offline = this.send({ op: 'presence', state: 'offline' }, true).catch(() => undefined);
      await Promise.race([offline, delay(1000)]);
    }
    this.closed = true;
    this.stopTimers();
    const closedError = new ConnectionError('closed', 'the client was closed');
    for (const command of this.pending.values()) {
      clearTimeout(command.timer);
      command.reject(closedError);
    }
    this.pending.clear();
    const mqttClient = this.mqttClient;
    this.mqttClient = undefined;
    if (mqttClient) {
      await new Promise<void>((resolve) => {
        mqttClient.end(false, {}, () => {
          resolve();
        });
      });
    }
    this.setState('closed');
  }

  // ---- Connection ----

  private async firstConnect(): Promise<void> {
    this.idleTimer = setInterval(
      () => {
        this.checkIdle();
      },
      Math.max(250, Math.min(15000, this.options.idleAfterMs / 4)),
    );
    try {
      await this.attempt('connect');
    } catch (error) {
      this.closed = true;
      this.stopTimers();
      throw error;
    }
  }

  private async credentials(reason: TokenReason): Promise<string> {
    if (this.options.token) {
      return this.options.token(reason);
    }
    return this.options.password ?? '';
  }

  /** One connection attempt; resolves once subscribed, rejects if the broker cannot be used. */
  private async attempt(reason: TokenReason): Promise<void> {
    const password = await this.credentials(this.lastRefused ? 'refused' : reason);
    if (this.closed) {
      throw new ConnectionError('closed', 'the client was closed');
    }
    const options: IClientOptions = {
      clientId: this.clientId,
      username: this.user,
      password,
      protocolVersion: 5,
      clean: false,
      properties: { sessionExpiryInterval: this.options.sessionExpirySeconds },
      will: {
        topic: this.topics.commands,
        payload: JSON.stringify({ op: 'presence', state: 'offline' }),
        qos: 1,
        retain: false,
      },
      // The SDK reconnects itself, to ask for a fresh token before each attempt.
      reconnectPeriod: 0,
      connectTimeout: this.options.connectTimeoutMs,
      keepalive: 30,
      resubscribe: false,
      ...(this.options.ca !== undefined
        ? { ca: this.options.ca as NonNullable<IClientOptions['ca']> }
        : {}),
    };
    const mqttClient = mqtt.connect(this.options.url, options);
    this.mqttClient = mqttClient;
    await new Promise<void>((resolve, reject) => {
      let settled = false;
      let lastError: Error | undefined;
      mqttClient.on('error', (error: Error & { code?: number | string }) => {
        lastError = error;
        this.lastRefused = error.code === 134 || error.code === 135 || error.code === 5;
      });
      mqttClient.on('connect', () => {
        this.lastRefused = false;
        this.subscribeAll(mqttClient)
          .then(() => {
            settled = true;
            resolve();
            this.onOnline();
          })
          .catch((error: unknown) => {
            mqttClient.end(true);
            if (!settled) {
              settled = true;
              reject(new ConnectionError('unreachable', `subscribe failed: ${String(error)}`));
            }
          });
      });
      mqttClient.on('message', (topic: string, payload: Uint8Array) => {
        this.onMessage(topic, payload);
      });
      mqttClient.on('close', () => {
        if (!settled) {
          settled = true;
          mqttClient.end(true);
          reject(
            this.lastRefused
              ? new ConnectionError(
                  'not_authorized',
                  `the broker refused the login of ${this.user}${lastError ? `: ${lastError.message}` : ''}`,
                )
              : new ConnectionError(
                  'unreachable',
                  `cannot reach ${this.options.url}${lastError ? `: ${lastError.message}` : ''}`,
                ),
          );
          return;
        }
        if (this.mqttClient === mqttClient) {
          this.onConnectionLost(lastError);
        }
      });
    });
  }

  private async subscribeAll(mqttClient: MqttClient): Promise<void> {
    const topics = [
      this.topics.inbox,
      this.topics.presenceOf(this.user),
      ...[...this.watchedPresence].map((user) => this.topics.presenceOf(user)),
    ];
    await new Promise<void>((resolve, reject) => {
      mqttClient.subscribe(topics, { qos: 1 }, (error, granted) => {
        const refused = granted?.find((grant) => grant.qos > 2);
        if (error) {
          reject(error);
        } else if (refused) {
          reject(new Error(`subscription to ${refused.topic} refused`));
        } else {
          resolve();
        }
      });
    });
  }

  private onOnline(): void {
    const phase = this.connectedOnce ? 'reconnect' : 'initial';
    this.connectedOnce = true;
    this.reconnectAttempt = 0;
    this.setState('online');
    if (this.chosenPresence === 'online' && !this.awayBecauseIdle) {
      this.send({ op: 'presence', state: 'online' }, false).catch(() => undefined);
    } else {
      this.send(
        { op: 'presence', state: this.awayBecauseIdle ? 'away' : this.chosenPresence },
        false,
      ).catch(() => undefined);
    }
    this.resendPending();
    this.sync(phase).catch(() => undefined);
  }

  private onConnectionLost(error: Error | undefined): void {
    if (this.closed) {
      return;
    }
    this.mqttClient = undefined;
    for (const command of this.pending.values()) {
      clearTimeout(command.timer);
      command.timer = undefined;
    }
    this.setState(
      'reconnecting',
      new ConnectionError(
        'unreachable',
        `connection lost${error ? `: ${error.message}` : ''}; reconnecting`,
      ),
    );
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closed) {
      return;
    }
    const base = Math.min(
      this.options.reconnectMaxDelayMs,
      this.options.reconnectMinDelayMs * 2 ** Math.min(this.reconnectAttempt, 10),
    );
    this.reconnectAttempt += 1;
    // Jitter, so that a broker restart is not met by every client in the same millisecond.
    const wait = base / 2 + Math.random() * (base / 2);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.attempt('reconnect').catch((error: unknown) => {
        if (this.closed) {
          return;
        }
        this.setState(
          'reconnecting',
          error instanceof ConnectionError
            ? error
            : new ConnectionError('unreachable', String(error)),
        );
        this.scheduleReconnect();
      });
    }, wait);
  }

  private setState(state: ConnectionState, error?: ConnectionError): void {
    this.state = state;
    this.emitter.emit({ type: 'connection', state, ...(error ? { error } : {}) });
  }

  private stopTimers(): void {
    clearTimeout(this.reconnectTimer);
    clearInterval(this.idleTimer);
    for (const sent of this.typingSent.values()) {
      clearTimeout(sent.stopTimer);
    }
    this.typingSent.clear();
    for (const timer of this.typingSeen.values()) {
      clearTimeout(timer);
    }
    this.typingSeen.clear();
  }

  // ---- Sending and resending ----

  private send(fields: JsonObject, once: boolean): Promise<JsonObject> {
    return this.dispatch(fields, once, undefined).then(({ reply }) => reply);
  }

  /** Sends a command; with `bytes` (even empty) on `.../bin`, the line, a newline and the bytes. */
  private dispatch(
    fields: JsonObject,
    once: boolean,
    bytes: Uint8Array | undefined,
  ): Promise<BytesReply> {
    if (this.closed) {
      return Promise.reject(new ConnectionError('closed', 'the client was closed'));
    }
    const id = `${this.requestTag}-${(this.nextRequest++).toString(36)}`;
    const op = typeof fields['op'] === 'string' ? fields['op'] : '';
    const line = JSON.stringify({ ...fields, id });
    let payload: string | Uint8Array = line;
    if (bytes !== undefined) {
      // One buffer for MQTT.js: the line in UTF-8, the newline, the bytes.
      const head = new TextEncoder().encode(line);
      const joined = new Uint8Array(head.length + 1 + bytes.length);
      joined.set(head, 0);
      joined[head.length] = 0x0a;
      joined.set(bytes, head.length + 1);
      payload = joined;
    }
    return new Promise<BytesReply>((resolve, reject) => {
      const command: PendingCommand = {
        id,
        op,
        topic: bytes !== undefined ? this.topics.commandsWithBytes : this.topics.commands,
        payload,
        resolve: (reply, replyBytes) => resolve({ reply, bytes: replyBytes }),
        reject,
        once,
        timer: undefined,
        attempts: 0,
      };
      this.pending.set(id, command);
      this.publish(command);
    });
  }

  private sendTyping(conv: string, state: 'start' | 'stop'): void {
    if (this.state !== 'online') {
      return;
    }
    // Typing is never resent and its refusals (rate_limited) change nothing worth telling.
    this.send({ op: 'typing', conv, state }, true).catch(() => undefined);
  }

  private publish(command: PendingCommand): void {
    const mqttClient = this.mqttClient;
    if (!mqttClient || this.state !== 'online') {
      if (command.once) {
        this.pending.delete(command.id);
        command.reject(new ConnectionError('unreachable', 'not connected'));
      }
      return; // resent by resendPending() once online again
    }
    command.attempts += 1;
    const attempt = command.attempts;
    this.lastCommandAt = Date.now();
    // MQTT.js takes a Uint8Array as it takes a Buffer (mqtt-packet writes any byte view); its
    // types only name Buffer, which browsers do not have.
    const payload = command.payload as Parameters<MqttClient['publish']>[1];
    mqttClient.publish(command.topic, payload, { qos: 1 }, (error) => {
      // PUBACK "not authorized" (0x87): the broker dropped it, over its per-connection publish
      // rate (docs/operations.md, "Parley's broker plugin"), so parleyd never saw it and no reply
      // will come. Sent again after a second, when the rate allows, not after resendAfterMs.
      if (
        refusedByBroker(error) &&
        !command.once &&
        command.attempts === attempt &&
        this.pending.has(command.id)
      ) {
        clearTimeout(command.timer);
        command.timer = setTimeout(() => {
          command.timer = undefined;
          if (this.pending.has(command.id)) {
            this.publish(command);
          }
        }, BROKER_REFUSAL_RETRY_MS);
      }
    });
    clearTimeout(command.timer);
    command.timer = setTimeout(() => {
      command.timer = undefined;
      if (!this.pending.has(command.id)) {
        return;
      }
      if (command.once) {
        this.pending.delete(command.id);
        command.reject(new ConnectionError('unreachable', `no reply to ${command.op}`));
        return;
      }
      this.publish(command);
    }, this.options.resendAfterMs);
  }

  /** After a reconnect: everything unanswered again, a window at a time (protocol, "Limits"). */
  private resendPending(): void {
    const queue = [...this.pending.values()].filter((command) => {
      if (command.once) {
        this.pending.delete(command.id);
        command.reject(new ConnectionError('unreachable', 'connection lost'));
        return false;
      }
      return command.timer === undefined;
    });
    const next = (): void => {
      const command = queue.shift();
      if (!command || this.state !== 'online') {
        return;
      }
      if (!this.pending.has(command.id)) {
        next();
        return;
      }
      this.publish(command);
      void this.settled(command.id).then(next);
    };
    for (let i = 0; i < RESEND_WINDOW; i++) {
      next();
    }
  }

  private readonly settledWaiters = new Map<string, (() => void)[]>();

  private settled(id: string): Promise<void> {
    if (!this.pending.has(id)) {
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const waiters = this.settledWaiters.get(id) ?? [];
      waiters.push(resolve);
      this.settledWaiters.set(id, waiters);
    });
  }

  private onReply(reply: JsonObject, bytes?: Uint8Array): void {
    const id = reply['id'];
    if (typeof id !== 'string') {
      return;
    }
    const command = this.pending.get(id);
    if (!command) {
      return; // a late duplicate, or a reply to a previous page of this device
    }
    const { id: _id, ok, error, ...fields } = reply;
    if (ok !== true) {
      const wireError = isObject(error)
        ? (error as unknown as WireError)
        : { code: 'internal', message: 'malformed reply' };
      const retryAfter =
        typeof wireError.retry_after_ms === 'number' ? wireError.retry_after_ms : undefined;
      // transfer_limited: a command with bytes past the user's budget of bytes, to be resent as
      // it is once the budget has refilled (docs/protocol.md, "Commands with bytes").
      const retry =
        !command.once &&
        (wireError.code === 'unavailable' ||
          wireError.code === 'transfer_limited' ||
          (wireError.code === 'rate_limited' &&
            retryAfter !== undefined &&
            retryAfter <= this.options.retryRateLimitedUpToMs));
      if (retry) {
        // The protocol's rule: resend the same command (same id and cmid) after the hint.
        clearTimeout(command.timer);
        command.timer = setTimeout(
          () => {
            command.timer = undefined;
            if (this.pending.has(command.id)) {
              this.publish(command);
            }
          },
          Math.max(50, retryAfter ?? 1000),
        );
        return;
      }
      this.finish(command);
      command.reject(ParleyError.fromWire(command.op, wireError));
      return;
    }
    this.finish(command);
    command.resolve(fields, bytes);
  }

  private finish(command: PendingCommand): void {
    clearTimeout(command.timer);
    this.pending.delete(command.id);
    const waiters = this.settledWaiters.get(command.id);
    this.settledWaiters.delete(command.id);
    for (const waiter of waiters ?? []) {
      waiter();
    }
  }

  // ---- Receiving ----

  private onMessage(topic: string, payload: Uint8Array): void {
    if (topic.startsWith(this.topics.presencePrefix())) {
      this.onPresence(topic.slice(this.topics.presencePrefix().length), payload);
      return;
    }
    if (topic === this.topics.repliesWithBytes) {
      this.onReplyWithBytes(payload);
      return;
    }
    let value: unknown;
    try {
      value = JSON.parse(new TextDecoder().decode(payload));
    } catch {
      return; // not ours to understand; the protocol says to ignore what we do not know
    }
    if (!isObject(value)) {
      return;
    }
    if (topic === this.topics.replies) {
      this.onReply(value);
      return;
    }
    const ev = value['ev'];
    switch (ev) {
      case 'msg':
        if (isMessage(value)) {
          this.onMessageEvent(value as unknown as WireMsgEvent, true);
        }
        return;
      case 'read':
        if (
          typeof value['conv'] === 'string' &&
          typeof value['user'] === 'string' &&
          typeof value['seq'] === 'number'
        ) {
          this.onRead(value['conv'], value['user'], value['seq']);
        }
        return;
      case 'typing':
        if (
          typeof value['conv'] === 'string' &&
          typeof value['user'] === 'string' &&
          (value['state'] === 'start' || value['state'] === 'stop')
        ) {
          this.onTyping(value['conv'], value['user'], value['state']);
        }
        return;
      case 'conv':
        if (typeof value['conv'] === 'string') {
          this.onConversation(value as unknown as WireConvEvent);
        }
        return;
      case 'unread':
        if (
          typeof value['conv'] === 'string' &&
          typeof value['unread'] === 'number' &&
          typeof value['unread_total'] === 'number'
        ) {
          this.emitter.emit({
            type: 'unread',
            conv: value['conv'],
            unread: value['unread'],
            unreadTotal: value['unread_total'],
          });
        }
        return;
      case 'change':
        if (
          (value['kind'] === 'edit' || value['kind'] === 'delete' || value['kind'] === 'react') &&
          typeof value['conv'] === 'string' &&
          typeof value['seq'] === 'number' &&
          typeof value['rev'] === 'number' &&
          typeof value['by'] === 'string' &&
          isObject(value['msg']) &&
          isMessage(value['msg'])
        ) {
          const change = value as unknown as WireChangeEvent;
          this.emitter.emit({
            type: 'change',
            kind: change.kind,
            conv: change.conv,
            seq: change.seq,
            rev: change.rev,
            by: change.by,
            message: change.msg,
          });
        }
        return;
      case 'member':
        if (
          typeof value['conv'] === 'string' &&
          typeof value['kind'] === 'string' &&
          MEMBER_KINDS.includes(value['kind'] as MemberChange['kind']) &&
          typeof value['rev'] === 'number' &&
          typeof value['by'] === 'string' &&
          typeof value['seq'] === 'number' &&
          typeof value['ts'] === 'number'
        ) {
          const {
            ev: _ev,
            conv,
            ...change
          } = value as unknown as MemberChange & {
            ev: string;
            conv: string;
          };
          this.emitter.emit({ type: 'member', conv, change });
        }
        return;
      case 'conv_settings':
        if (
          typeof value['conv'] === 'string' &&
          typeof value['muted'] === 'boolean' &&
          typeof value['archived'] === 'boolean' &&
          typeof value['unread_total'] === 'number'
        ) {
          const wire = value as unknown as WireConvSettingsEvent;
          this.emitter.emit({
            type: 'settings',
            settings: {
              conv: wire.conv,
              muted: wire.muted,
              archived: wire.archived,
              pinned_at: wire.pinned_at,
              unread_total: wire.unread_total,
            },
          });
        }
        return;
      case 'erased':
        if (typeof value['conv'] === 'string' && typeof value['user'] === 'string') {
          this.cursors.get(value['conv'])?.reads.delete(value['user']);
          this.emitter.emit({ type: 'erased', conv: value['conv'], user: value['user'] });
        }
        return;
      default:
        this.emitter.emit({ type: 'extension', topic, payload: value });
    }
  }

  /** A reply on `.../u/{uid}/bin`: its JSON on one line, a newline, then the bytes. */
  private onReplyWithBytes(payload: Uint8Array): void {
    const newline = payload.indexOf(0x0a);
    if (newline < 0) {
      return;
    }
    let value: unknown;
    try {
      value = JSON.parse(new TextDecoder().decode(payload.subarray(0, newline)));
    } catch {
      return;
    }
    if (isObject(value)) {
      // A view, not a copy: MQTT.js hands each message its own buffer.
      this.onReply(value, payload.subarray(newline + 1));
    }
  }

  private onPresence(user: string, payload: Uint8Array): void {
    if (payload.length === 0) {
      this.emitter.emit({
        type: 'presence',
        presence: { user, state: 'offline', last_seen: null },
        removed: true,
      });
      return;
    }
    let value: unknown;
    try {
      value = JSON.parse(new TextDecoder().decode(payload));
    } catch {
      return;
    }
    if (!isObject(value)) {
      return;
    }
    const state = value['state'];
    if (state !== 'online' && state !== 'away' && state !== 'offline') {
      return;
    }
    const lastSeen = value['last_seen'];
    const presence: Presence = {
      user,
      state,
      last_seen: typeof lastSeen === 'number' ? lastSeen : null,
    };
    if (user === this.user) {
      this.ownPresence = state;
    }
    this.emitter.emit({ type: 'presence', presence, removed: false });
  }

  private onRead(conv: string, user: string, seq: number): void {
    const cursor = this.cursors.get(conv);
    if (cursor) {
      if ((cursor.reads.get(user) ?? 0) >= seq) {
        return; // already told (a duplicate, or caught up before it arrived)
      }
      cursor.reads.set(user, seq);
    }
    this.emitter.emit({ type: 'read', conv, user, seq });
  }

  private onTyping(conv: string, user: string, state: 'start' | 'stop'): void {
    if (user === this.user) {
      return;
    }
    const key = `${conv}\u0000${user}`;
    clearTimeout(this.typingSeen.get(key));
    this.typingSeen.delete(key);
    if (state === 'start') {
      this.typingSeen.set(
        key,
        setTimeout(() => {
          this.typingSeen.delete(key);
          this.emitter.emit({ type: 'typing', conv, user, state: 'stop' });
        }, this.options.typingExpiryMs),
      );
    }
    this.emitter.emit({ type: 'typing', conv, user, state });
  }

  private onConversation(event: WireConvEvent): void {
    const { ev: _ev, reason, ...conversation } = event;
    this.learn(
      conversation,
      !this.cursors.has(conversation.conv) && reason === 'created' ? 0 : undefined,
    );
    const out: ConversationEvent = { type: 'conversation', reason, conversation };
    this.emitter.emit(out);
  }

  /** Starts tracking a conversation (or updates what the server said it has). */
  private learn(summary: ConversationSummary, deliveredFrom?: number): ConversationCursor {
    let cursor = this.cursors.get(summary.conv);
    if (!cursor) {
      cursor = {
        delivered: deliveredFrom ?? summary.last_seq,
        waiting: new Map(),
        reads: new Map(),
        filling: undefined,
        target: summary.last_seq,
      };
      this.cursors.set(summary.conv, cursor);
    }
    cursor.target = Math.max(cursor.target, summary.last_seq);
    for (const member of summary.members) {
      if (!cursor.reads.has(member.user)) {
        cursor.reads.set(member.user, member.read_seq);
      }
    }
    return cursor;
  }

  private onMessageEvent(event: WireMsgEvent | Message, live: boolean): void {
    if (this.syncing && !this.cursors.has(event.conv)) {
      // The first sync has not said where this conversation stands yet.
      this.heldDuringSync.push({ event: event as WireMsgEvent, live });
      return;
    }
    let cursor = this.cursors.get(event.conv);
    if (!cursor) {
      // A conversation the SDK never saw: its history before this message is not "missed".
      cursor = {
        delivered: event.seq - 1,
        waiting: new Map(),
        reads: new Map(),
        filling: undefined,
        target: event.seq,
      };
      this.cursors.set(event.conv, cursor);
    }
    if (event.seq <= cursor.delivered || cursor.waiting.has(event.seq)) {
      return; // a duplicate (QoS 1, a resend's republication, or already caught up)
    }
    cursor.waiting.set(event.seq, { event, live });
    cursor.target = Math.max(cursor.target, event.seq);
    this.drain(event.conv, cursor);
    if (cursor.waiting.size > 0) {
      void this.fill(event.conv, cursor);
    }
  }

  private drain(conv: string, cursor: ConversationCursor): void {
    for (;;) {
      const next = cursor.waiting.get(cursor.delivered + 1);
      if (!next) {
        return;
      }
      cursor.waiting.delete(cursor.delivered + 1);
      cursor.delivered += 1;
      const { event, live } = next;
      // Every field of the message as the server sent it (reply_to and its preview, reactions,
      // edited_at, a deletion's tombstone, attachments), without the event's own.
      const {
        ev: _ev,
        unread: _unread,
        unread_total: _unreadTotal,
        ...fields
      } = event as Partial<WireMsgEvent> & Message;
      const message: Message = { ...fields, conv };
      // Sending a message moves the sender's read watermark to it (protocol, msg.read).
      if ((cursor.reads.get(event.sender) ?? 0) < event.seq) {
        cursor.reads.set(event.sender, event.seq);
      }
      if (event.sender !== this.user) {
        const key = `${conv}\u0000${event.sender}`;
        const typingTimer = this.typingSeen.get(key);
        if (typingTimer !== undefined) {
          clearTimeout(typingTimer);
          this.typingSeen.delete(key);
          this.emitter.emit({ type: 'typing', conv, user: event.sender, state: 'stop' });
        }
      }
      const out: MessageEvent = { type: 'message', message, live };
      if ('unread' in event && typeof event.unread === 'number') {
        out.unread = event.unread;
      }
      if ('unread_total' in event && typeof event.unread_total === 'number') {
        out.unreadTotal = event.unread_total;
      }
      this.emitter.emit(out);
    }
  }

  /** Fetches what is missing between the last delivered seq and the target, in order. */
  private fill(conv: string, cursor: ConversationCursor): Promise<void> {
    if (cursor.filling) {
      return cursor.filling;
    }
    const run = async (): Promise<void> => {
      for (;;) {
        const target = Math.max(cursor.target, ...cursor.waiting.keys());
        if (cursor.delivered >= target) {
          return;
        }
        const reply = await this.history(conv, { after: cursor.delivered, limit: HISTORY_PAGE });
        for (const message of reply.msgs) {
          if (message.seq > cursor.delivered && !cursor.waiting.has(message.seq)) {
            cursor.waiting.set(message.seq, { event: message, live: false });
          }
        }
        this.drain(conv, cursor);
        if (reply.msgs.length === 0) {
          // Nothing stored past what was delivered, so seqs cannot be missing (they are gapless):
          // deliver what waits in order rather than hold it forever.
          if (cursor.waiting.size > 0) {
            cursor.delivered = Math.min(...cursor.waiting.keys()) - 1;
            this.drain(conv, cursor);
          }
          cursor.target = cursor.delivered;
          return;
        }
      }
    };
    cursor.filling = run()
      .catch(() => undefined) // not a member any more, or closed: nothing left to deliver
      .finally(() => {
        cursor.filling = undefined;
      });
    return cursor.filling;
  }

  // ---- Sync and catch-up ----

  private async sync(phase: 'initial' | 'reconnect'): Promise<void> {
    if (phase === 'initial') {
      this.syncing = true;
    }
    try {
      let before: string | undefined;
      const fills: Promise<void>[] = [];
      for (;;) {
        const page = await this.listConversations({
          limit: LIST_PAGE,
          ...(before !== undefined ? { before } : {}),
        });
        for (const summary of page.convs) {
          const known = this.cursors.get(summary.conv);
          if (phase === 'initial' || known) {
            const cursor = this.learn(summary);
            if (phase === 'reconnect') {
              this.catchUpReads(summary, cursor);
              if (summary.last_seq > cursor.delivered) {
                fills.push(this.fill(summary.conv, cursor));
              }
            }
          } else {
            // Created while this client was offline: all of it was missed.
            const cursor = this.learn(summary, 0);
            this.emitter.emit({ type: 'conversation', reason: 'created', conversation: summary });
            if (summary.last_seq > 0) {
              fills.push(this.fill(summary.conv, cursor));
            }
          }
        }
        const done = !page.has_more || page.next_before === null;
        if (done) {
          await Promise.all(fills);
        }
        this.emitter.emit({
          type: 'sync',
          phase,
          conversations: page.convs,
          unreadTotal: page.unread_total,
          done,
        });
        if (done) {
          return;
        }
        before = page.next_before ?? undefined;
      }
    } finally {
      if (phase === 'initial') {
        this.syncing = false;
        const held = this.heldDuringSync.splice(0);
        for (const { event, live } of held) {
          this.onMessageEvent(event, live);
        }
      }
    }
  }

  private catchUpReads(summary: ConversationSummary, cursor: ConversationCursor): void {
    for (const member of summary.members) {
      if (member.read_seq > (cursor.reads.get(member.user) ?? 0)) {
        this.onRead(summary.conv, member.user, member.read_seq);
      }
    }
  }

  // ---- Idleness ----

  private checkIdle(): void {
    if (this.state !== 'online' || this.chosenPresence !== 'online' || this.awayBecauseIdle) {
      return;
    }
    if (Date.now() - this.lastActivity >= this.options.idleAfterMs) {
      this.awayBecauseIdle = true;
      this.ownPresence = 'away';
      this.send({ op: 'presence', state: 'away' }, false).catch(() => undefined);
    }
  }
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isMessage(value: JsonObject): boolean {
  return (
    typeof value['conv'] === 'string' &&
    typeof value['seq'] === 'number' &&
    typeof value['sender'] === 'string' &&
    typeof value['body'] === 'string'
  );
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export type { JsonValue };
