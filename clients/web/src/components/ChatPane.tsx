import type { ConversationSummary, MemberChange, Message } from '@parley/sdk';
import type { JSX } from 'preact';
import { useCallback, useMemo, useRef, useState } from 'preact/hooks';

import type { ChatState, PendingMessage, Thread } from '../state/ChatState';
import { sizeOf } from './Attachments';
import { nameOf, peerOf, timeOf, titleOf } from '../names';
import { ConversationSettings, MembersButton } from './GroupDialog';
import { MessageActions, Reactions, ReplyQuote } from './MessageActions';
import { MessageContent } from './MessageContent';
import { PresenceDot } from './PresenceDot';
import { VirtualList } from './VirtualList';

type Row =
  | { kind: 'top' }
  | { kind: 'divider' }
  | { kind: 'message'; message: Message }
  | { kind: 'member'; change: MemberChange }
  | { kind: 'pending'; pending: PendingMessage };

function rowsOf(thread: Thread): Row[] {
  const rows: Row[] = [{ kind: 'top' }];
  // A membership change came after message `seq` (the last one then): its line goes after it.
  // Those before the first message loaded wait until older history is loaded.
  const firstSeq = thread.messages[0]?.seq ?? Number.MAX_SAFE_INTEGER;
  const changes = thread.memberChanges.filter(
    (change) => !thread.hasOlder || change.seq >= firstSeq,
  );
  let next = 0;
  const changesUpTo = (seq: number): void => {
    for (; next < changes.length && (changes[next]?.seq ?? 0) <= seq; next++) {
      const change = changes[next];
      if (change) {
        rows.push({ kind: 'member', change });
      }
    }
  };
  for (const message of thread.messages) {
    changesUpTo(message.seq - 1);
    if (thread.firstUnread !== null && message.seq === thread.firstUnread) {
      rows.push({ kind: 'divider' });
    }
    rows.push({ kind: 'message', message });
  }
  changesUpTo(Number.MAX_SAFE_INTEGER);
  for (const pending of thread.pending) {
    rows.push({ kind: 'pending', pending });
  }
  return rows;
}

function keyOfRow(row: Row | undefined): string {
  switch (row?.kind) {
    case 'message':
      return `m${row.message.seq}`;
    case 'pending':
      return `p${row.pending.cmid}`;
    case 'member':
      return `g${row.change.rev}`;
    case 'divider':
      return 'divider';
    default:
      return 'top';
  }
}

/** A membership change as a line of the thread: "alice added dana", "bob left". */
function memberChangeText(summary: ConversationSummary, me: string, change: MemberChange): string {
  const who = (user: string | undefined): string =>
    user === undefined ? 'someone' : user === me ? 'You' : nameOf(summary, user);
  const whom = (user: string | undefined): string => (user === me ? 'you' : who(user));
  switch (change.kind) {
    case 'joined':
      return change.by === change.user
        ? `${who(change.user)} joined`
        : `${who(change.by)} added ${whom(change.user)}`;
    case 'removed':
      return `${who(change.by)} removed ${whom(change.user)}`;
    case 'left':
      return `${who(change.user)} left`;
    case 'admin':
      return `${who(change.user)} ${change.user === me ? 'are' : 'is'} now an admin`;
    case 'renamed':
      return change.title !== undefined && change.title !== null && change.title !== ''
        ? `${who(change.by)} renamed the group to “${change.title}”`
        : `${who(change.by)} removed the group's title`;
  }
}

/** Who has read up to `seq`, for your own messages: "Seen", "Seen by 2", or "Sent". */
function receiptOf(summary: ConversationSummary, me: string, seq: number): string {
  const readers = summary.members.filter((m) => m.user !== me && m.read_seq >= seq);
  if (readers.length === 0) {
    return 'Sent';
  }
  return summary.kind === 'direct' ? 'Seen' : `Seen by ${readers.length}`;
}

export function ChatHeader(props: {
  state: ChatState;
  summary: ConversationSummary;
  onBack: () => void;
}): JSX.Element {
  const { state, summary } = props;
  const peer = peerOf(summary, state.me);
  const presence = peer !== undefined ? (state.presence.get(peer) ?? 'offline') : undefined;
  return (
    <header class="chat-header">
      <button type="button" class="back" aria-label="Back to conversations" onClick={props.onBack}>
        ←
      </button>
      <div class="chat-title">
        <h2 id="chat-title">
          {peer !== undefined && <PresenceDot user={peer} state={state.presence.get(peer)} />}
          {titleOf(summary, state.me)}
        </h2>
        <p class="chat-subtitle">
          {peer !== undefined ? presence : `${summary.members.length} members`}
        </p>
      </div>
      <div class="chat-actions">
        <ConversationSettings state={state} summary={summary} />
        {summary.kind === 'group' && <MembersButton state={state} summary={summary} />}
      </div>
      {summary.context?.type === 'listing' && (
        <p class="listing-chip" data-listing-status={summary.context.status ?? ''}>
          Listing: <strong>{summary.context.title ?? summary.context.id}</strong>
          {summary.context.status && <span class="status">{summary.context.status}</span>}
        </p>
      )}
    </header>
  );
}

/** Files of this conversation on their way up, or refused. */
function UploadList(props: { state: ChatState; conv: string }): JSX.Element | null {
  const { state, conv } = props;
  const uploads = state.uploads.filter((upload) => upload.conv === conv);
  if (uploads.length === 0) {
    return null;
  }
  return (
    <ul class="uploads">
      {uploads.map((upload) =>
        upload.error !== undefined ? (
          <li key={upload.key} class="upload failed" role="alert">
            {upload.name} not sent: {upload.error}{' '}
            <button type="button" class="link" onClick={() => state.dismissUpload(upload.key)}>
              Dismiss
            </button>
          </li>
        ) : (
          <li key={upload.key} class="upload" role="status">
            <label>
              Uploading {upload.name} ({sizeOf(upload.totalBytes)}){' '}
              <progress max={upload.totalBytes} value={upload.sentBytes} />
            </label>
          </li>
        ),
      )}
    </ul>
  );
}

function Composer(props: { state: ChatState; conv: string }): JSX.Element {
  const { state, conv } = props;
  const [text, setText] = useState('');
  const field = useRef<HTMLTextAreaElement>(null);
  const picker = useRef<HTMLInputElement>(null);
  /** Each file goes as its own message; typed text becomes the first one's caption. */
  const sendFiles = (files: FileList | null | undefined): void => {
    if (!files || files.length === 0) {
      return;
    }
    let caption = text.trim();
    setText('');
    for (const file of Array.from(files)) {
      void state.sendFile(conv, file, caption);
      caption = '';
    }
  };
  const replyTo = state.replyTo.get(conv);
  const send = (): void => {
    const body = text.trim();
    if (body === '') {
      return;
    }
    setText('');
    state.setReplyTo(conv, null);
    void state.send(conv, body, undefined, undefined, replyTo?.seq);
    field.current?.focus();
  };
  return (
    <form
      class="composer"
      onSubmit={(event) => {
        event.preventDefault();
        send();
      }}
      onDragOver={(event) => {
        if (event.dataTransfer?.types.includes('Files')) {
          event.preventDefault();
        }
      }}
      onDrop={(event) => {
        if (event.dataTransfer && event.dataTransfer.files.length > 0) {
          event.preventDefault();
          sendFiles(event.dataTransfer.files);
        }
      }}
    >
      {replyTo && (
        <p class="replying" data-reply-to={replyTo.seq}>
          Replying to{' '}
          {replyTo.sender === state.me
            ? 'yourself'
            : nameOf(state.conversations.get(conv), replyTo.sender)}
          : <span class="reply-text">{replyTo.body}</span>
          <button
            type="button"
            class="link"
            aria-label="Cancel the reply"
            onClick={() => state.setReplyTo(conv, null)}
          >
            ×
          </button>
        </p>
      )}
      <input
        ref={picker}
        type="file"
        class="file-picker"
        aria-label="File to send"
        multiple
        hidden
        onChange={(event) => {
          const input = event.target as HTMLInputElement;
          sendFiles(input.files);
          input.value = ''; // the same file again is a new choice
        }}
      />
      <button
        type="button"
        class="attach"
        title="Attach a file (or paste or drop one here)"
        onClick={() => picker.current?.click()}
      >
        Attach
      </button>
      <textarea
        ref={field}
        aria-label="Message"
        placeholder="Write a message"
        rows={1}
        value={text}
        onInput={(event) => {
          const value = (event.target as HTMLTextAreaElement).value;
          setText(value);
          if (value.trim() === '') {
            state.client.stopTyping(conv);
          } else {
            state.client.typing(conv);
          }
        }}
        onPaste={(event) => {
          const files = event.clipboardData?.files;
          if (files && files.length > 0) {
            event.preventDefault();
            sendFiles(files);
          }
        }}
        onKeyDown={(event) => {
          if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
            event.preventDefault();
            send();
          }
        }}
      />
      <button type="submit" class="send" disabled={text.trim() === ''}>
        Send
      </button>
    </form>
  );
}

export function ChatPane(props: {
  state: ChatState;
  conv: string;
  onBack: () => void;
}): JSX.Element {
  const { state, conv } = props;
  const summary = state.conversations.get(conv);
  const thread = state.threads.get(conv);
  const rows = useMemo(() => (thread ? rowsOf(thread) : []), [thread, state.version]);
  const keyOf = useCallback((index: number) => keyOfRow(rows[index]), [rows]);
  const lastOwnSeq = useMemo(() => {
    for (let i = (thread?.messages.length ?? 0) - 1; i >= 0; i--) {
      const message = thread?.messages[i];
      if (message?.sender === state.me) {
        return message.seq;
      }
    }
    return -1;
  }, [thread, state.version]);
  const onNearTop = useCallback(() => {
    void state.loadOlder(conv);
  }, [state, conv]);
  const onAtBottom = useCallback(() => {
    state.scheduleRead(conv);
  }, [state, conv]);
  const focus = thread?.focus;
  const focusIndex = useMemo(() => {
    if (!focus) {
      return null;
    }
    const index = rows.findIndex((row) => row.kind === 'message' && row.message.seq === focus.seq);
    return index >= 0 ? index : null;
  }, [rows, focus?.token]);

  if (!summary) {
    return (
      <section class="chat-pane" aria-label="Conversation">
        <p class="list-empty" role="status">
          Loading…
        </p>
      </section>
    );
  }
  const typing = [...(state.typing.get(conv) ?? [])];
  return (
    <section class="chat-pane" aria-labelledby="chat-title">
      <ChatHeader state={state} summary={summary} onBack={props.onBack} />
      {!thread?.loaded ? (
        <p class="list-empty" role="status">
          Loading messages…
        </p>
      ) : (
        <VirtualList
          count={rows.length}
          keyOf={keyOf}
          estimate={56}
          stickToBottom
          scrollToIndex={focusIndex}
          scrollToken={focus?.token}
          onNearTop={onNearTop}
          onAtBottom={onAtBottom}
          listTag="ol"
          itemTag="li"
          className="messages"
          containerProps={{ role: 'log', 'aria-label': 'Messages', tabIndex: 0 }}
          render={(index) => {
            const row = rows[index];
            switch (row?.kind) {
              case 'top':
                return (
                  <p class="history-edge">
                    {thread.loadingOlder
                      ? 'Loading older messages…'
                      : thread.hasOlder
                        ? 'Scroll up for older messages'
                        : 'This is the beginning of the conversation.'}
                  </p>
                );
              case 'divider':
                return <p class="unread-divider">New messages</p>;
              case 'member':
                return (
                  <p
                    class="member-change"
                    data-kind={row.change.kind}
                    data-rev={row.change.rev}
                    title={new Date(row.change.ts).toLocaleString()}
                  >
                    {memberChangeText(summary, state.me, row.change)}
                  </p>
                );
              case 'message': {
                const { message } = row;
                const mine = message.sender === state.me;
                const system = message.sender === 'system';
                return (
                  <article
                    class={`message${mine ? ' mine' : ''}${system ? ' system' : ''}${
                      focus?.seq === message.seq ? ' focused' : ''
                    }`}
                    data-seq={message.seq}
                  >
                    {!mine && !system && summary.kind === 'group' && (
                      <p class="sender">{nameOf(summary, message.sender)}</p>
                    )}
                    <ReplyQuote summary={summary} message={message} />
                    <MessageContent state={state} message={message} />
                    <Reactions state={state} message={message} />
                    <p class="meta">
                      <time dateTime={new Date(message.ts).toISOString()}>
                        {timeOf(message.ts)}
                      </time>
                      {message.edited_at !== undefined && !message.deleted && (
                        <span class="edited" title={new Date(message.edited_at).toLocaleString()}>
                          edited
                        </span>
                      )}
                      {mine && message.seq === lastOwnSeq && (
                        <span
                          class="receipt"
                          data-receipt={receiptOf(summary, state.me, message.seq)}
                        >
                          {receiptOf(summary, state.me, message.seq)}
                        </span>
                      )}
                    </p>
                    <MessageActions state={state} summary={summary} message={message} />
                  </article>
                );
              }
              case 'pending': {
                const { pending } = row;
                return (
                  <article
                    class={`message mine pending${pending.error ? ' failed' : ''}`}
                    data-cmid={pending.cmid}
                  >
                    {pending.attachments?.map((attachment) => (
                      <p key={attachment.id} class="attachment-file">
                        <span class="attachment-name">{attachment.name}</span>{' '}
                        <span class="attachment-size">{sizeOf(attachment.size)}</span>
                      </p>
                    ))}
                    <p class="message-body">{pending.body}</p>
                    <p class="meta">
                      {pending.error ? (
                        <>
                          <span class="receipt" role="alert">
                            Not sent: {pending.error}
                          </span>
                          <button
                            type="button"
                            class="link"
                            onClick={() =>
                              void state.send(
                                conv,
                                pending.body,
                                pending.cmid,
                                pending.attachments,
                                pending.replyTo,
                              )
                            }
                          >
                            Retry
                          </button>
                          <button
                            type="button"
                            class="link"
                            onClick={() => state.discardPending(conv, pending.cmid)}
                          >
                            Discard
                          </button>
                        </>
                      ) : (
                        <span class="receipt" data-receipt="Sending">
                          Sending…
                        </span>
                      )}
                    </p>
                  </article>
                );
              }
              default:
                return null;
            }
          }}
        />
      )}
      <p class="typing-indicator" aria-live="polite">
        {typing.length > 0
          ? `${typing.map((u) => nameOf(summary, u)).join(', ')} ${typing.length > 1 ? 'are' : 'is'} typing…`
          : ''}
      </p>
      <UploadList state={state} conv={conv} />
      <Composer key={conv} state={state} conv={conv} />
    </section>
  );
}
