// What a person can do to a stored message (docs/protocol.md, msg.edit / msg.delete / msg.react /
// reply_to), and how those changes show: the quote of the message a reply answers, the reactions
// with their counts, "edited".
import type { ConversationSummary, Message } from '@parley/sdk';
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';

import { nameOf } from '../names';
import type { ChatState } from '../state/ChatState';

/** The reactions offered in one click; any emoji a member sent shows among the counts. */
export const QUICK_REACTIONS = ['👍', '❤️', '😂', '😮'];

/** The message a reply answers, as the server previewed it. */
export function ReplyQuote(props: {
  summary: ConversationSummary;
  message: Message;
}): JSX.Element | null {
  const preview = props.message.reply_preview;
  if (props.message.reply_to === undefined || props.message.deleted) {
    return null;
  }
  const text = !preview
    ? 'an earlier message'
    : preview.deleted
      ? 'Message deleted'
      : preview.erased
        ? 'Message erased'
        : preview.body;
  return (
    <blockquote class="reply-quote" data-reply-to={props.message.reply_to}>
      {preview && <span class="reply-sender">{nameOf(props.summary, preview.sender)}</span>}
      <span class="reply-text">{text}</span>
    </blockquote>
  );
}

/** Each emoji given to a message with its count; yours pressed, a click takes it back. */
export function Reactions(props: { state: ChatState; message: Message }): JSX.Element | null {
  const { state, message } = props;
  const reactions = message.reactions ?? [];
  if (reactions.length === 0 || message.deleted) {
    return null;
  }
  return (
    <ul class="reactions" aria-label="Reactions">
      {reactions.map((reaction) => {
        const mine = reaction.users.includes(state.me);
        return (
          <li key={reaction.emoji}>
            <button
              type="button"
              class="reaction"
              aria-pressed={mine}
              data-emoji={reaction.emoji}
              data-count={reaction.count}
              title={reaction.users.join(', ')}
              onClick={() => void state.toggleReaction(message, reaction.emoji)}
            >
              {reaction.emoji} {reaction.count}
            </button>
          </li>
        );
      })}
    </ul>
  );
}

/**
 * Reply, react, and for your own messages edit; delete for everyone for yours, or for anyone's
 * when you are an admin of the group. Editing replaces the toolbar with a small form.
 */
export function MessageActions(props: {
  state: ChatState;
  summary: ConversationSummary;
  message: Message;
}): JSX.Element | null {
  const { state, summary, message } = props;
  const [mode, setMode] = useState<'idle' | 'edit' | 'delete' | 'react'>('idle');
  const [draft, setDraft] = useState(message.body);
  if (message.deleted || message.erased || message.sender === 'system') {
    return null;
  }
  const mine = message.sender === state.me;
  const admin = summary.members.some((m) => m.user === state.me && m.admin);
  const mayDelete = mine || (summary.kind === 'group' && admin);

  if (mode === 'edit') {
    const save = async (): Promise<void> => {
      const body = draft.trim();
      if (body === '' || body === message.body) {
        setMode('idle');
        return;
      }
      if (await state.editMessage(message.conv, message.seq, body)) {
        setMode('idle');
      }
    };
    return (
      <form
        class="edit-form"
        onSubmit={(event) => {
          event.preventDefault();
          void save();
        }}
      >
        <textarea
          aria-label="Edit message"
          rows={2}
          value={draft}
          onInput={(event) => setDraft((event.target as HTMLTextAreaElement).value)}
          onKeyDown={(event) => {
            if (event.key === 'Escape') {
              setMode('idle');
            } else if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
              event.preventDefault();
              void save();
            }
          }}
        />
        <button type="submit" class="link">
          Save
        </button>
        <button type="button" class="link" onClick={() => setMode('idle')}>
          Cancel
        </button>
      </form>
    );
  }
  if (mode === 'delete') {
    return (
      <p class="message-actions confirm" role="group" aria-label="Delete for everyone?">
        Delete for everyone?{' '}
        <button
          type="button"
          class="link"
          onClick={() => {
            setMode('idle');
            void state.deleteMessage(message.conv, message.seq);
          }}
        >
          Delete
        </button>
        <button type="button" class="link" onClick={() => setMode('idle')}>
          Keep
        </button>
      </p>
    );
  }
  return (
    <p class="message-actions" role="group" aria-label="Message actions">
      <button
        type="button"
        class="link"
        aria-label="Reply"
        onClick={() => {
          state.setReplyTo(message.conv, message);
          document.querySelector<HTMLTextAreaElement>('.composer textarea')?.focus();
        }}
      >
        Reply
      </button>
      {mode === 'react' ? (
        QUICK_REACTIONS.map((emoji) => (
          <button
            key={emoji}
            type="button"
            class="link"
            aria-label={`React ${emoji}`}
            onClick={() => {
              setMode('idle');
              void state.toggleReaction(message, emoji);
            }}
          >
            {emoji}
          </button>
        ))
      ) : (
        <button type="button" class="link" aria-label="React" onClick={() => setMode('react')}>
          React
        </button>
      )}
      {mine && (
        <button
          type="button"
          class="link"
          aria-label="Edit"
          onClick={() => {
            setDraft(message.body);
            setMode('edit');
          }}
        >
          Edit
        </button>
      )}
      {mayDelete && (
        <button type="button" class="link" aria-label="Delete" onClick={() => setMode('delete')}>
          Delete
        </button>
      )}
    </p>
  );
}
