import type { JSX } from 'preact';
import { useCallback, useState } from 'preact/hooks';

import type { ChatState } from '../state/ChatState';
import { nameOf, peerOf, timeOf, titleOf } from '../names';
import { PresenceDot } from './PresenceDot';
import { VirtualList } from './VirtualList';

const ROW_HEIGHT = 68;
/** Where the "Archived" heading goes in the list's rows (not a conversation id: those have no spaces). */
const ARCHIVED_HEADING = ' archived';

/**
 * Your conversations, newest activity first (pinned ones on top, archived ones in a section of
 * their own at the end): previews, unread highlights (none for muted ones), presence.
 */
export function ConversationList(props: {
  state: ChatState;
  onSelect: (conv: string) => void;
}): JSX.Element {
  const { state } = props;
  const sorted = state.sortedConversations();
  // The archived ones come last (sortedConversations), under a heading of their own.
  const firstArchived = sorted.findIndex((conv) => state.conversations.get(conv)?.archived);
  const archivedCount = firstArchived < 0 ? 0 : sorted.length - firstArchived;
  const order =
    firstArchived < 0
      ? sorted
      : [...sorted.slice(0, firstArchived), ARCHIVED_HEADING, ...sorted.slice(firstArchived)];
  const [focusIndex, setFocusIndex] = useState<number | null>(null);
  const keyOf = useCallback((index: number) => order[index] ?? String(index), [order]);

  const onKeyDown = (event: KeyboardEvent): void => {
    const target = event.target as HTMLElement;
    const index = Number(target.dataset['index'] ?? -1);
    if (index < 0 || (event.key !== 'ArrowDown' && event.key !== 'ArrowUp')) {
      return;
    }
    event.preventDefault();
    const step = event.key === 'ArrowDown' ? 1 : -1;
    let next = Math.max(0, Math.min(order.length - 1, index + step));
    if (order[next] === ARCHIVED_HEADING) {
      next = Math.max(0, Math.min(order.length - 1, next + step));
    }
    setFocusIndex(next);
    requestAnimationFrame(() => {
      document.querySelector<HTMLElement>(`[data-index="${next}"]`)?.focus();
    });
  };

  if (!state.listShown) {
    return (
      <p class="list-empty" role="status">
        Loading conversations…
      </p>
    );
  }
  if (order.length === 0) {
    return (
      <p class="list-empty" role="status">
        No conversations yet. Start one with “New chat”.
      </p>
    );
  }
  return (
    <div class="conversation-list" onKeyDown={onKeyDown}>
      <VirtualList
        count={order.length}
        keyOf={keyOf}
        estimate={ROW_HEIGHT}
        listTag="ul"
        itemTag="li"
        scrollToIndex={focusIndex}
        containerProps={{ 'aria-label': `Conversations (${sorted.length})`, role: 'region' }}
        render={(index) => {
          const conv = order[index];
          if (conv === ARCHIVED_HEADING) {
            return (
              <h2 class="list-section" id="archived-heading">
                Archived ({archivedCount})
              </h2>
            );
          }
          const summary = conv !== undefined ? state.conversations.get(conv) : undefined;
          if (!summary) {
            return null;
          }
          const peer = peerOf(summary, state.me);
          const typing = [...(state.typing.get(summary.conv) ?? [])];
          const title = titleOf(summary, state.me);
          // Muted: still counted in the conversation, but no badge and no part of the total.
          const unread = summary.muted ? 0 : summary.unread;
          const selected = state.selected === summary.conv;
          let preview = 'No messages yet';
          if (typing.length > 0) {
            preview = `${typing.map((u) => nameOf(summary, u)).join(', ')} typing…`;
          } else if (summary.preview) {
            const who =
              summary.preview.sender === state.me
                ? 'You: '
                : summary.kind === 'group'
                  ? `${nameOf(summary, summary.preview.sender)}: `
                  : '';
            preview = summary.preview.erased ? 'Message erased' : `${who}${summary.preview.body}`;
          }
          return (
            <button
              type="button"
              class={`conversation-row${unread > 0 ? ' unread' : ''}${selected ? ' selected' : ''}`}
              data-index={index}
              data-conv={summary.conv}
              data-muted={summary.muted ? 'true' : undefined}
              data-pinned={summary.pinned_at !== null ? 'true' : undefined}
              data-archived={summary.archived ? 'true' : undefined}
              aria-current={selected ? 'true' : undefined}
              onClick={() => {
                props.onSelect(summary.conv);
              }}
            >
              <span class="avatar" aria-hidden="true">
                {(title[0] ?? '?').toUpperCase()}
                {peer !== undefined && <PresenceDot user={peer} state={state.presence.get(peer)} />}
              </span>
              {peer !== undefined && (
                <span class="sr-only">{`${state.presence.get(peer) ?? 'offline'}, `}</span>
              )}
              <span class="row-main">
                <span class="row-top">
                  <span class="row-title">{title}</span>
                  {summary.pinned_at !== null && (
                    <span class="row-flag" title="Pinned">
                      Pinned
                    </span>
                  )}
                  {summary.muted && (
                    <span class="row-flag" title="Muted: no badge, no notifications">
                      Muted
                    </span>
                  )}
                  <span class="row-time">{timeOf(summary.last_ts)}</span>
                </span>
                {summary.context?.title && (
                  <span class="row-context">
                    {summary.context.title}
                    {summary.context.status ? ` · ${summary.context.status}` : ''}
                  </span>
                )}
                <span class={`row-preview${typing.length > 0 ? ' typing' : ''}`}>{preview}</span>
              </span>
              {unread > 0 && (
                <span class="badge" data-unread={unread}>
                  {unread > 99 ? '99+' : unread}
                  <span class="sr-only"> unread</span>
                </span>
              )}
            </button>
          );
        }}
      />
    </div>
  );
}
