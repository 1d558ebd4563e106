// The page's view state, fed by the SDK's events. Protocol work (resends, catch-up, order) is the
// SDK's; this keeps what the screens show: the list, the open conversation's messages, who is
// typing, presence, unread counts, and what went wrong.
import { ConnectionError, ParleyError } from '@parley/sdk';
import type {
  Attachment,
  AttachmentVariant,
  ConnectionState,
  ConversationSummary,
  Listing,
  MemberChange,
  Message,
  MsgSearchReply,
  ParleyClient,
  ParleyEvent,
  PresenceState,
} from '@parley/sdk';

import { describeError } from '../errors';
import { nameOf, titleOf } from '../names';

/** A message of yours not stored yet (or refused). */
export interface PendingMessage {
  cmid: string;
  body: string;
  ts: number;
  /** The seq it answers (`reply_to`). */
  replyTo?: number;
  /** Files already uploaded, sent with it (and again on Retry). */
  attachments?: Attachment[];
  error?: string;
}

/** A file on its way up, shown under the composer of its conversation. */
export interface Upload {
  key: number;
  conv: string;
  name: string;
  sentBytes: number;
  totalBytes: number;
  /** Why it was refused, for a person; the upload is over. */
  error?: string;
}

/** A signed link is asked again after this long, well inside its life (url_ttl_ms, 5 min). */
const LINK_REUSE_MS = 60000;

export interface Thread {
  /** Stored messages loaded so far, ascending seq, no duplicates. */
  messages: Message[];
  pending: PendingMessage[];
  hasOlder: boolean;
  loadingOlder: boolean;
  loaded: boolean;
  /** The first unread seq when the conversation was opened (the "new messages" divider). */
  firstUnread: number | null;
  /**
   * The conversation's rev the messages shown are current to: changes (edits, deletions,
   * reactions) after it are asked with msg.changes when a gap shows or after a reconnect.
   */
  rev: number;
  catchingUp?: boolean;
  /**
   * A group's membership and title changes known (from `member` events and `msg.changes`),
   * ascending `rev`: shown as lines in the thread, after the message `seq` they came after.
   */
  memberChanges: MemberChange[];
  /** The message shown highlighted (a search result opened), until `token` is replaced. */
  focus?: { seq: number; token: number } | undefined;
}

export interface Notice {
  id: number;
  text: string;
  kind: 'error' | 'info';
}

const PAGE = 50;
/** Pages asked at most for a group's past membership changes when its thread opens. */
const MEMBER_CHANGE_PAGES = 10;
/** How long an opened search result stays highlighted. */
const FOCUS_MS = 3000;
const PREVIEW_CHARACTERS = 120;

type Listener = () => void;

export class ChatState {
  /** Bumped on every change: components re-render when it moves. */
  version = 0;
  conversations = new Map<string, ConversationSummary>();
  /** Conversation ids, newest activity first. */
  order: string[] = [];
  threads = new Map<string, Thread>();
  presence = new Map<string, PresenceState>();
  /** conv -> users typing there now. */
  typing = new Map<string, Set<string>>();
  unreadTotal = 0;
  connection: ConnectionState = 'online';
  connectionError: string | null = null;
  /** True once the first conv.list page arrived. */
  listShown = false;
  listComplete = false;
  selected: string | null = null;
  /** conv -> the message the composer's next message answers. */
  replyTo = new Map<string, Message>();
  notices: Notice[] = [];
  uploads: Upload[] = [];
  private nextNotice = 1;
  private nextUpload = 1;
  private readonly links = new Map<string, { url: Promise<string>; at: number }>();
  private readonly listeners = new Set<Listener>();
  private orderDirty = true;
  private scheduled = false;
  private readTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly requestedSummaries = new Set<string>();
  private readonly threadLoads = new Map<string, Promise<void>>();
  private readonly olderLoads = new Map<string, Promise<void>>();
  private nextFocus = 1;
  /** Called when the open conversation is no longer ours (we left it or were removed). */
  onGone: ((conv: string) => void) | undefined;

  constructor(readonly client: ParleyClient) {
    client.onEvent((event) => {
      this.apply(event);
    });
  }

  get me(): string {
    return this.client.user;
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Coalesces a burst of events (a catch-up) into one render. */
  private changed(): void {
    this.version += 1;
    if (this.scheduled) {
      return;
    }
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      for (const listener of this.listeners) {
        listener();
      }
    });
  }

  /**
   * Conversation ids as the list shows them: pinned ones on top, then the others, newest
   * activity first in each; the archived ones (pinned or not) last, in their own section.
   */
  sortedConversations(): string[] {
    if (this.orderDirty) {
      const rank = (summary: ConversationSummary): number =>
        summary.archived ? 2 : summary.pinned_at !== null ? 0 : 1;
      this.order = [...this.conversations.values()]
        .sort((a, b) => rank(a) - rank(b) || b.last_ts - a.last_ts || (a.conv < b.conv ? -1 : 1))
        .map((summary) => summary.conv);
      this.orderDirty = false;
    }
    return this.order;
  }

  notify(text: string, kind: Notice['kind'] = 'error'): void {
    const notice = { id: this.nextNotice++, text, kind };
    this.notices = [...this.notices, notice].slice(-3);
    this.changed();
    setTimeout(() => {
      this.dismiss(notice.id);
    }, 8000);
  }

  dismiss(id: number): void {
    this.notices = this.notices.filter((notice) => notice.id !== id);
    this.changed();
  }

  // ---- Events from the SDK ----

  private apply(event: ParleyEvent): void {
    switch (event.type) {
      case 'sync':
        for (const summary of event.conversations) {
          this.putSummary(summary);
          // Offline, changes to the messages shown may have been missed: their events are gone.
          const thread = this.threads.get(summary.conv);
          if (event.phase === 'reconnect' && thread?.loaded && summary.rev > thread.rev) {
            void this.catchUpChanges(summary.conv);
          }
        }
        this.unreadTotal = event.unreadTotal;
        this.listShown = true;
        this.listComplete = this.listComplete || event.done;
        this.watchPeers(event.conversations);
        if (event.done && this.selected) {
          this.scheduleRead(this.selected);
        }
        break;
      case 'message':
        this.onMessage(event.message, event.unread, event.unreadTotal);
        break;
      case 'read': {
        const summary = this.conversations.get(event.conv);
        if (summary) {
          const members = summary.members.map((member) =>
            member.user === event.user
              ? { ...member, read_seq: Math.max(member.read_seq, event.seq) }
              : member,
          );
          const mine = event.user === this.me;
          const readSeq = mine ? Math.max(summary.read_seq, event.seq) : summary.read_seq;
          this.conversations.set(event.conv, {
            ...summary,
            members,
            read_seq: readSeq,
            unread: Math.max(0, summary.last_seq - readSeq),
          });
        }
        break;
      }
      case 'unread': {
        const summary = this.conversations.get(event.conv);
        if (summary) {
          this.conversations.set(event.conv, { ...summary, unread: event.unread });
        }
        this.unreadTotal = event.unreadTotal;
        break;
      }
      case 'conversation':
        // parleyd publishes a thread's "created" event after the "changed" event of an extension
        // that updated it on creation (a listing's registered title and status): for a thread
        // already known, "created" is the older of the two.
        if (event.reason === 'created' && this.conversations.has(event.conversation.conv)) {
          break;
        }
        this.putSummary(event.conversation);
        this.watchPeers([event.conversation]);
        break;
      case 'typing': {
        const users = new Set(this.typing.get(event.conv) ?? []);
        if (event.state === 'start') {
          users.add(event.user);
        } else {
          users.delete(event.user);
        }
        this.typing.set(event.conv, users);
        break;
      }
      case 'presence':
        this.presence.set(event.presence.user, event.presence.state);
        break;
      case 'erased': {
        const thread = this.threads.get(event.conv);
        if (thread) {
          thread.messages = thread.messages.map((message) =>
            message.sender === event.user
              ? { ...message, body: '', meta: null, erased: true as const }
              : message,
          );
        }
        const summary = this.conversations.get(event.conv);
        if (summary) {
          this.conversations.set(event.conv, {
            ...summary,
            members: summary.members.filter((member) => member.user !== event.user),
          });
        }
        break;
      }
      case 'change':
        this.onChangedMessage(event.message, event.rev, true);
        break;
      case 'settings': {
        const summary = this.conversations.get(event.settings.conv);
        if (summary) {
          this.conversations.set(summary.conv, {
            ...summary,
            muted: event.settings.muted,
            archived: event.settings.archived,
            pinned_at: event.settings.pinned_at,
          });
          this.orderDirty = true;
        }
        this.unreadTotal = event.settings.unread_total;
        break;
      }
      case 'member':
        this.onMemberChange(event.conv, event.change);
        break;
      case 'connection':
        this.connection = event.state;
        this.connectionError = event.error ? describeError(event.error) : null;
        break;
      case 'extension':
        return;
    }
    this.changed();
  }

  private putSummary(summary: ConversationSummary): void {
    const known = this.conversations.get(summary.conv);
    // A summary from a list page can be older than the events already applied.
    if (known && known.last_seq > summary.last_seq) {
      this.conversations.set(summary.conv, { ...summary, ...pickNewer(known, summary) });
    } else {
      this.conversations.set(summary.conv, summary);
    }
    this.orderDirty = true;
  }

  /** A stored message changed (edit, delete, reaction): kept unless ours is newer. */
  private onChangedMessage(message: Message, rev: number, fromEvent = false): void {
    const thread = this.threads.get(message.conv);
    if (thread?.loaded) {
      if (fromEvent && rev > thread.rev + 1) {
        void this.catchUpChanges(message.conv); // a change event was missed
      } else if (fromEvent || rev === thread.rev + 1) {
        thread.rev = Math.max(thread.rev, rev);
      }
      const index = thread.messages.findIndex((m) => m.seq === message.seq);
      const known = index >= 0 ? thread.messages[index] : undefined;
      if (known && (known.rev ?? 0) <= (message.rev ?? 0)) {
        thread.messages = [...thread.messages];
        thread.messages[index] = message;
      }
    }
    const summary = this.conversations.get(message.conv);
    if (summary) {
      const preview =
        summary.preview?.seq === message.seq
          ? {
              ...summary.preview,
              body: message.deleted ? '' : message.body.slice(0, PREVIEW_CHARACTERS),
            }
          : summary.preview;
      this.conversations.set(message.conv, {
        ...summary,
        rev: Math.max(summary.rev, rev),
        preview,
      });
    }
  }

  /** A group's members or title changed; gone from the list when it is us who left or went. */
  private onMemberChange(conv: string, change: MemberChange): void {
    const summary = this.conversations.get(conv);
    if (change.user === this.me && (change.kind === 'removed' || change.kind === 'left')) {
      this.conversations.delete(conv);
      this.threads.delete(conv);
      this.orderDirty = true;
      if (summary && change.kind === 'removed') {
        this.notify(
          `${nameOf(summary, change.by)} removed you from ${titleOf(summary, this.me)}.`,
          'info',
        );
      }
      if (this.selected === conv) {
        this.onGone?.(conv);
      }
      return;
    }
    const thread = this.threads.get(conv);
    if (thread) {
      addMemberChanges(thread, [change]);
    }
    if (thread?.loaded && change.rev === thread.rev + 1) {
      thread.rev = change.rev; // membership takes revs of the same counter as message changes
    }
    if (!summary || summary.rev >= change.rev) {
      return;
    }
    // The summary has every member's name and role as they are now: asked again, once per change.
    this.client
      .getConversation(conv)
      .then((fetched) => {
        this.putSummary(fetched);
        this.watchPeers([fetched]);
        this.changed();
      })
      .catch(() => undefined);
  }

  private onMessage(message: Message, unread?: number, unreadTotal?: number): void {
    const summary = this.conversations.get(message.conv);
    if (summary) {
      const mine = message.sender === this.me;
      const newer = message.seq > summary.last_seq;
      const readSeq = mine ? Math.max(summary.read_seq, message.seq) : summary.read_seq;
      this.conversations.set(message.conv, {
        ...summary,
        last_seq: Math.max(summary.last_seq, message.seq),
        last_ts: newer ? message.ts : summary.last_ts,
        preview: newer
          ? {
              seq: message.seq,
              sender: message.sender,
              body: message.body.slice(0, PREVIEW_CHARACTERS),
              ts: message.ts,
              ...(message.erased ? { erased: true as const } : {}),
            }
          : summary.preview,
        read_seq: readSeq,
        unread: unread ?? Math.max(0, Math.max(summary.last_seq, message.seq) - readSeq),
        members: mine
          ? summary.members.map((member) =>
              member.user === this.me ? { ...member, read_seq: readSeq } : member,
            )
          : summary.members,
      });
      this.orderDirty = true;
    } else if (!this.requestedSummaries.has(message.conv)) {
      this.requestedSummaries.add(message.conv);
      this.client
        .getConversation(message.conv)
        .then((fetched) => {
          this.putSummary(fetched);
          this.watchPeers([fetched]);
          this.changed();
        })
        .catch(() => undefined);
    }
    if (unreadTotal !== undefined) {
      this.unreadTotal = unreadTotal;
    }
    const thread = this.threads.get(message.conv);
    if (thread?.loaded) {
      insertBySeq(thread.messages, message);
      thread.pending = thread.pending.filter((pending) => pending.cmid !== message.cmid);
    }
    if (message.conv === this.selected && message.sender !== this.me) {
      this.scheduleRead(message.conv);
    }
  }

  private watchPeers(summaries: ConversationSummary[]): void {
    const peers: string[] = [];
    for (const summary of summaries) {
      for (const member of summary.members) {
        if (member.user !== this.me) {
          peers.push(member.user);
        }
      }
    }
    this.client.watchPresence(peers);
  }

  // ---- What the user does ----

  select(conv: string | null): void {
    this.selected = conv;
    this.changed();
    if (conv === null) {
      return;
    }
    const thread = this.threads.get(conv);
    if (!thread) {
      void this.openThread(conv);
    } else {
      this.scheduleRead(conv);
    }
    if (!this.conversations.has(conv) && !this.requestedSummaries.has(conv)) {
      this.requestedSummaries.add(conv);
      this.client
        .getConversation(conv)
        .then((summary) => {
          this.putSummary(summary);
          this.watchPeers([summary]);
          this.changed();
        })
        .catch((error: unknown) => {
          this.notify(describeError(error));
        });
    }
  }

  /** Loads a thread once; a second caller waits for the same load. */
  private openThread(conv: string): Promise<void> {
    let load = this.threadLoads.get(conv);
    if (!load) {
      load = this.loadThread(conv).finally(() => this.threadLoads.delete(conv));
      this.threadLoads.set(conv, load);
    }
    return load;
  }

  private async loadThread(conv: string): Promise<void> {
    const summary = this.conversations.get(conv);
    const thread: Thread = {
      messages: [],
      pending: [],
      hasOlder: false,
      loadingOlder: true,
      loaded: false,
      firstUnread: summary && summary.unread > 0 ? summary.read_seq + 1 : null,
      // History is read after this: what it shows is at least this current.
      rev: summary?.rev ?? 0,
      memberChanges: [],
    };
    this.threads.set(conv, thread);
    this.changed();
    try {
      const page = await this.client.history(conv, { limit: PAGE });
      for (const message of page.msgs) {
        insertBySeq(thread.messages, message);
      }
      thread.hasOlder = page.has_more;
      thread.loaded = true;
      this.scheduleRead(conv);
    } catch (error) {
      this.threads.delete(conv);
      this.notify(describeError(error));
    } finally {
      thread.loadingOlder = false;
      this.changed();
    }
    if (thread.loaded && (summary?.kind ?? 'group') === 'group') {
      void this.loadMemberChanges(conv, thread);
    }
  }

  /**
   * A group's past membership changes, for the lines in its thread: msg.changes from the start
   * answers them (with the changed messages, which history already showed as they are now).
   */
  private async loadMemberChanges(conv: string, thread: Thread): Promise<void> {
    try {
      let since = 0;
      for (let pages = 0; pages < MEMBER_CHANGE_PAGES; pages++) {
        const page = await this.client.changes(conv, since, 500);
        addMemberChanges(thread, page.members);
        this.changed();
        if (!page.has_more) {
          break;
        }
        since = page.next_rev;
      }
    } catch {
      // Not a member any more, or offline: the thread shows its messages without these lines.
    }
  }

  /** Loads the page of messages before the oldest one shown (scrolling back). */
  loadOlder(conv: string, limit = PAGE): Promise<void> {
    let load = this.olderLoads.get(conv);
    if (!load) {
      load = this.fetchOlder(conv, limit).finally(() => this.olderLoads.delete(conv));
      this.olderLoads.set(conv, load);
    }
    return load;
  }

  private async fetchOlder(conv: string, limit: number): Promise<void> {
    const thread = this.threads.get(conv);
    const oldest = thread?.messages[0];
    if (!thread || !thread.hasOlder || thread.loadingOlder || !oldest) {
      return;
    }
    thread.loadingOlder = true;
    this.changed();
    try {
      const page = await this.client.history(conv, { before: oldest.seq, limit });
      thread.messages = [...page.msgs.filter((m) => m.seq < oldest.seq), ...thread.messages];
      thread.hasOlder = page.has_more;
    } catch (error) {
      this.notify(describeError(error));
    } finally {
      thread.loadingOlder = false;
      this.changed();
    }
  }

  /**
   * Shows message `seq` of `conv` (a search result opened): loads the thread, and older pages
   * until the message is among them, then highlights it for a moment.
   */
  async showMessage(conv: string, seq: number): Promise<void> {
    if (!this.threads.has(conv) || this.threadLoads.has(conv)) {
      await this.openThread(conv);
    }
    const thread = this.threads.get(conv);
    if (!thread?.loaded) {
      return;
    }
    while (thread.hasOlder && (thread.messages[0]?.seq ?? 0) > seq) {
      const oldest = thread.messages[0]?.seq;
      await this.loadOlder(conv, 100);
      if (thread.messages[0]?.seq === oldest) {
        return; // it failed (the notice says why)
      }
    }
    const token = this.nextFocus++;
    thread.focus = { seq, token };
    this.changed();
    setTimeout(() => {
      if (thread.focus?.token === token) {
        thread.focus = undefined;
        this.changed();
      }
    }, FOCUS_MS);
  }

  async send(
    conv: string,
    body: string,
    cmid = this.client.newCmid(),
    attachments?: Attachment[],
    replyTo?: number,
  ): Promise<void> {
    const thread = this.threads.get(conv);
    const pending: PendingMessage = {
      cmid,
      body,
      ts: Date.now(),
      ...(attachments ? { attachments } : {}),
      ...(replyTo !== undefined ? { replyTo } : {}),
    };
    if (thread) {
      thread.pending = [...thread.pending.filter((p) => p.cmid !== cmid), pending];
    }
    this.changed();
    try {
      const reply = await this.client.sendMessage(conv, body, {
        cmid,
        ...(attachments ? { attachments: attachments.map((a) => a.id) } : {}),
        ...(replyTo !== undefined ? { replyTo } : {}),
      });
      const answered =
        replyTo !== undefined ? thread?.messages.find((m) => m.seq === replyTo) : undefined;
      const stored: Message = {
        conv,
        seq: reply.seq,
        sender: this.me,
        cmid,
        body,
        meta: null,
        ts: reply.ts,
        ...(attachments ? { attachments } : {}),
        ...(replyTo !== undefined ? { reply_to: replyTo } : {}),
        ...(answered
          ? {
              reply_preview: {
                seq: answered.seq,
                sender: answered.sender,
                body: answered.body.slice(0, PREVIEW_CHARACTERS),
                ...(answered.deleted ? { deleted: true as const } : {}),
              },
            }
          : {}),
      };
      if (thread?.loaded) {
        insertBySeq(thread.messages, stored);
        thread.pending = thread.pending.filter((p) => p.cmid !== cmid);
      }
      this.onMessage(stored);
    } catch (error) {
      if (thread) {
        thread.pending = thread.pending.map((p) =>
          p.cmid === cmid ? { ...p, error: describeError(error) } : p,
        );
      }
      this.notify(describeError(error));
    }
    this.changed();
  }

  /**
   * Uploads a file and sends it with `caption` (or its name: a message needs a body). Progress
   * and a refusal show in {@link uploads}.
   */
  async sendFile(conv: string, file: File, caption: string): Promise<void> {
    const upload: Upload = {
      key: this.nextUpload++,
      conv,
      name: file.name,
      sentBytes: 0,
      totalBytes: file.size,
    };
    this.uploads = [...this.uploads, upload];
    this.changed();
    try {
      const attachment = await this.client.uploadAttachment(
        file,
        // A file the browser cannot type is declared as bytes: the server names what it is not.
        { name: file.name, mime: file.type === '' ? 'application/octet-stream' : file.type },
        {
          onProgress: (progress) => {
            this.updateUpload(upload.key, {
              sentBytes: progress.sentBytes,
              totalBytes: progress.totalBytes,
            });
          },
        },
      );
      this.dismissUpload(upload.key);
      await this.send(conv, caption === '' ? file.name : caption, undefined, [attachment]);
    } catch (error) {
      this.updateUpload(upload.key, { error: describeError(error) });
    }
  }

  dismissUpload(key: number): void {
    this.uploads = this.uploads.filter((upload) => upload.key !== key);
    this.changed();
  }

  private updateUpload(key: number, change: Partial<Upload>): void {
    this.uploads = this.uploads.map((upload) =>
      upload.key === key ? { ...upload, ...change } : upload,
    );
    this.changed();
  }

  /**
   * A signed link to an attachment (or its thumbnail) for `<img src>` and `<a href>`: relative
   * to the page unless the server names its public origin. Links live minutes: one is reused for
   * {@link LINK_REUSE_MS}, then asked again.
   */
  linkOf(id: string, variant?: AttachmentVariant): Promise<string> {
    const key = `${id}/${variant ?? ''}`;
    const cached = this.links.get(key);
    if (cached && Date.now() - cached.at < LINK_REUSE_MS) {
      return cached.url;
    }
    const url = this.client.attachmentUrl(id, variant);
    this.links.set(key, { url, at: Date.now() });
    url.catch(() => this.links.delete(key));
    return url;
  }

  /** The message the next one sent to `conv` answers, or none. */
  setReplyTo(conv: string, message: Message | null): void {
    if (message) {
      this.replyTo.set(conv, message);
    } else {
      this.replyTo.delete(conv);
    }
    this.changed();
  }

  discardPending(conv: string, cmid: string): void {
    const thread = this.threads.get(conv);
    if (thread) {
      thread.pending = thread.pending.filter((p) => p.cmid !== cmid);
      this.changed();
    }
  }

  /** Marks the open conversation read, if the page is seen (debounced). */
  scheduleRead(conv: string): void {
    clearTimeout(this.readTimer);
    this.readTimer = setTimeout(() => {
      if (this.selected !== conv || document.visibilityState !== 'visible') {
        return;
      }
      const summary = this.conversations.get(conv);
      if (!summary || summary.last_seq <= summary.read_seq) {
        return;
      }
      this.client.markRead(conv, summary.last_seq).catch((error: unknown) => {
        this.notify(describeError(error));
      });
    }, 150);
  }

  async openDirect(
    peer: string,
    context?: { type: string; id: string; title?: string },
  ): Promise<string> {
    const reply = await this.client.openConversation(peer, context);
    const { created: _created, ...summary } = reply;
    // Events about it may have come first, and be newer (an extension setting the listing's
    // registered title and status right after creation): a reply only fills a gap.
    if (!this.conversations.has(summary.conv)) {
      this.putSummary(summary);
    }
    this.watchPeers([summary]);
    this.changed();
    return summary.conv;
  }

  async createGroup(members: string[], title: string): Promise<string> {
    const reply = await this.client.createGroup(members, title);
    const { created: _created, ...summary } = reply;
    this.putSummary(summary);
    this.watchPeers([summary]);
    this.changed();
    return summary.conv;
  }

  // ---- Changing messages (edit, delete for everyone, reactions) ----

  /** Runs a message change; the reply is the message as it is now, shown at once. */
  private async changeMessage(run: () => Promise<{ msg: Message; rev: number }>): Promise<boolean> {
    try {
      const reply = await run();
      this.onChangedMessage(reply.msg, reply.rev);
      this.changed();
      return true;
    } catch (error) {
      this.notify(describeError(error));
      return false;
    }
  }

  editMessage(conv: string, seq: number, body: string): Promise<boolean> {
    return this.changeMessage(() => this.client.editMessage(conv, seq, body));
  }

  deleteMessage(conv: string, seq: number): Promise<boolean> {
    return this.changeMessage(() => this.client.deleteMessage(conv, seq));
  }

  /** Adds your `emoji` to a message, or takes it back if you had given it. */
  toggleReaction(message: Message, emoji: string): Promise<boolean> {
    const mine = message.reactions?.some((r) => r.emoji === emoji && r.users.includes(this.me));
    return this.changeMessage(() =>
      this.client.react(message.conv, message.seq, emoji, mine === true),
    );
  }

  /** Applies every change since the thread's rev (msg.changes), page by page. */
  private async catchUpChanges(conv: string): Promise<void> {
    const thread = this.threads.get(conv);
    if (!thread || thread.catchingUp) {
      return;
    }
    thread.catchingUp = true;
    try {
      for (;;) {
        const page = await this.client.changes(conv, thread.rev);
        for (const message of page.msgs) {
          this.onChangedMessage(message, message.rev ?? 0);
        }
        addMemberChanges(thread, page.members);
        thread.rev = Math.max(thread.rev, page.next_rev);
        if (!page.has_more) {
          break;
        }
      }
      this.changed();
    } catch {
      // Not a member any more, or offline again: the next sync asks again.
    } finally {
      thread.catchingUp = false;
    }
  }

  // ---- Your settings of a conversation (mute, archive, pin) ----

  async setSettings(
    conv: string,
    settings: { muted?: boolean; archived?: boolean; pinned?: boolean },
  ): Promise<void> {
    try {
      const reply = await this.client.setConversation(conv, settings);
      const summary = this.conversations.get(conv);
      if (summary) {
        this.conversations.set(conv, {
          ...summary,
          muted: reply.muted,
          archived: reply.archived,
          pinned_at: reply.pinned_at,
        });
        this.orderDirty = true;
      }
      this.unreadTotal = reply.unread_total;
      this.changed();
    } catch (error) {
      this.notify(describeError(error));
    }
  }

  // ---- A group's members and title ----

  /**
   * Runs a membership command; its refusal is thrown (for the dialog to show), and the summary is
   * asked again afterwards (names and roles as the server now has them).
   */
  async changeMembers(
    conv: string,
    run: (client: ParleyClient) => Promise<unknown>,
  ): Promise<void> {
    await run(this.client);
    if (!this.conversations.has(conv)) {
      return; // we left: the member event took it from the list
    }
    const fetched = await this.client.getConversation(conv).catch(() => undefined);
    if (fetched) {
      this.putSummary(fetched);
      this.watchPeers([fetched]);
      this.changed();
    }
  }

  async leave(conv: string): Promise<void> {
    await this.client.leaveGroup(conv);
    // The member event says so too; the reply is enough to take it from the list at once.
    this.onMemberChange(conv, {
      rev: Number.MAX_SAFE_INTEGER,
      kind: 'left',
      user: this.me,
      by: this.me,
      seq: 0,
      ts: Date.now(),
    });
    this.changed();
  }

  // ---- Search ----

  search(q: string, before?: number): Promise<MsgSearchReply> {
    return this.client.search(q, before !== undefined ? { before } : {});
  }

  getListing(id: string): Promise<Listing> {
    return this.client.getListing(id);
  }
}

/** Adds membership changes not known yet, keeping ascending `rev`. */
function addMemberChanges(thread: Thread, changes: MemberChange[]): void {
  const fresh = changes.filter(
    (change) =>
      change.rev !== Number.MAX_SAFE_INTEGER &&
      !thread.memberChanges.some((known) => known.rev === change.rev),
  );
  if (fresh.length > 0) {
    thread.memberChanges = [...thread.memberChanges, ...fresh].sort((a, b) => a.rev - b.rev);
  }
}

/** Inserts keeping ascending seq; a seq already there is replaced (a tombstone, a resend). */
export function insertBySeq(messages: Message[], message: Message): void {
  let low = 0;
  let high = messages.length;
  while (low < high) {
    const middle = (low + high) >> 1;
    const seq = messages[middle]?.seq ?? 0;
    if (seq < message.seq) {
      low = middle + 1;
    } else {
      high = middle;
    }
  }
  if (messages[low]?.seq === message.seq) {
    messages[low] = message;
  } else {
    messages.splice(low, 0, message);
  }
}

function pickNewer(
  known: ConversationSummary,
  incoming: ConversationSummary,
): Partial<ConversationSummary> {
  return {
    last_seq: known.last_seq,
    last_ts: Math.max(known.last_ts, incoming.last_ts),
    preview: known.preview,
    unread: Math.max(0, known.last_seq - Math.max(known.read_seq, incoming.read_seq)),
    read_seq: Math.max(known.read_seq, incoming.read_seq),
  };
}

export function isParleyError(error: unknown): error is ParleyError | ConnectionError {
  return error instanceof ParleyError || error instanceof ConnectionError;
}
