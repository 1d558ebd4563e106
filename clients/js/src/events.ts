import type { ConnectionError } from './errors.js';
import type {
  ConversationSettings,
  ConversationSummary,
  JsonObject,
  MemberChange,
  Message,
  Presence,
} from './protocol.js';

/**
 * A stored message, delivered once per conversation and in `seq` order: after a reconnect the
 * messages missed while offline come first, in order, before any newer one.
 */
export interface MessageEvent {
  type: 'message';
  message: Message;
  /** Your unread count of this conversation right after it was stored (not on your own messages). */
  unread?: number;
  /** Your unread total right after it was stored (not on your own messages). */
  unreadTotal?: number;
  /** False when it was fetched by the SDK to fill a gap or to catch up after a reconnect. */
  live: boolean;
}

/** `user` has read the conversation up to `seq` (read receipts; you on another device clears badges). */
export interface ReadEvent {
  type: 'read';
  conv: string;
  user: string;
  seq: number;
}

/**
 * `user` is typing (`start`) or stopped. A `start` not renewed within the expiry (6 s by default)
 * is followed by a `stop` from the SDK itself, as is a message from that user.
 */
export interface TypingEvent {
  type: 'typing';
  conv: string;
  user: string;
  state: 'start' | 'stop';
}

/** A conversation you are in was created (`reason: "created"`) or changed (e.g. a listing's status). */
export interface ConversationEvent {
  type: 'conversation';
  reason: string;
  conversation: ConversationSummary;
}

/** Your unread count changed because you read (on any device). */
export interface UnreadEvent {
  type: 'unread';
  conv: string;
  unread: number;
  unreadTotal: number;
}

/**
 * A stored message changed (edited, deleted for everyone, reacted to): `message` is it as it is
 * now, with the conversation's new `rev`. If `rev` is more than the last one you saw + 1, you
 * missed a change: ask {@link ParleyClient.changes} from your last `rev`.
 */
export interface ChangeEvent {
  type: 'change';
  kind: 'edit' | 'delete' | 'react';
  conv: string;
  seq: number;
  rev: number;
  by: string;
  message: Message;
}

/**
 * A group's members or title changed (`conv.add`, `conv.remove`, `conv.leave`, `conv.rename`,
 * `conv.admin`). Sent to every member, and to whoever was removed or left: when `change.user` is
 * you and `change.kind` is `removed` or `left`, the group is no longer yours to read or send to.
 */
export interface MemberEvent {
  type: 'member';
  conv: string;
  change: MemberChange;
}

/** One of your devices changed your settings of a conversation (mute, archive, pin). */
export interface ConversationSettingsEvent {
  type: 'settings';
  settings: ConversationSettings;
}

/** An admin erased `user`: their messages in `conv` are now tombstones. */
export interface ErasedEvent {
  type: 'erased';
  conv: string;
  user: string;
}

/** The presence of a user you watch (or your own). `removed`: the user was erased. */
export interface PresenceEvent {
  type: 'presence';
  presence: Presence;
  removed: boolean;
}

/**
 * Your conversations, as the server holds them, after a connect or a reconnect: one event per
 * page of `conv.list` (newest activity first); `done` on the last. On a reconnect the messages and
 * read receipts missed while offline have been delivered as `message` and `read` events by the
 * time `done` is true.
 */
export interface SyncEvent {
  type: 'sync';
  phase: 'initial' | 'reconnect';
  conversations: ConversationSummary[];
  unreadTotal: number;
  done: boolean;
}

export type ConnectionState = 'connecting' | 'online' | 'reconnecting' | 'closed';

/** The connection to the broker changed state. `error` says why it is not online. */
export interface ConnectionStateEvent {
  type: 'connection';
  state: ConnectionState;
  error?: ConnectionError;
}

/** An event the SDK does not know (a server extension's), as received. */
export interface ExtensionEvent {
  type: 'extension';
  topic: string;
  payload: JsonObject;
}

/** Every event of a {@link ParleyClient}, by name. */
export interface ParleyEventMap {
  message: MessageEvent;
  read: ReadEvent;
  typing: TypingEvent;
  conversation: ConversationEvent;
  unread: UnreadEvent;
  change: ChangeEvent;
  member: MemberEvent;
  settings: ConversationSettingsEvent;
  erased: ErasedEvent;
  presence: PresenceEvent;
  sync: SyncEvent;
  connection: ConnectionStateEvent;
  extension: ExtensionEvent;
}

/** Any event, discriminated by `type`. */
export type ParleyEvent = ParleyEventMap[keyof ParleyEventMap];

type Listener<E> = (event: E) => void;

/** A small typed event emitter; a listener that throws does not stop the others. */
export class Emitter {
  private readonly listeners = new Map<string, Set<Listener<never>>>();
  private readonly anyListeners = new Set<Listener<ParleyEvent>>();

  on<K extends keyof ParleyEventMap>(type: K, listener: Listener<ParleyEventMap[K]>): () => void {
    let set = this.listeners.get(type);
    if (!set) {
      set = new Set();
      this.listeners.set(type, set);
    }
    set.add(listener);
    return () => set.delete(listener);
  }

  onAny(listener: Listener<ParleyEvent>): () => void {
    this.anyListeners.add(listener);
    return () => this.anyListeners.delete(listener);
  }

  emit(event: ParleyEvent): void {
    const set = this.listeners.get(event.type);
    const targets: Listener<ParleyEvent>[] = [
      ...((set ? [...set] : []) as Listener<ParleyEvent>[]),
      ...this.anyListeners,
    ];
    for (const listener of targets) {
      try {
        listener(event);
      } catch (error) {
        // A broken listener must not cost the others their events.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}
