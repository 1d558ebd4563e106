// Your own settings of a conversation (conv.set: mute, pin, archive) and a group's members
// (conv.add, conv.remove, conv.leave, conv.rename, conv.admin), from the chat's header.
import type { ConversationSummary } from '@parley/sdk';
import type { JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';

import { describeError } from '../errors';
import { titleOf } from '../names';
import type { ChatState } from '../state/ChatState';

/** Mute, Pin and Archive as toggle buttons; kept on the server for all your devices. */
export function ConversationSettings(props: {
  state: ChatState;
  summary: ConversationSummary;
}): JSX.Element {
  const { state, summary } = props;
  const toggles: { label: string; on: boolean; change: { [key: string]: boolean } }[] = [
    { label: 'Mute', on: summary.muted, change: { muted: !summary.muted } },
    {
      label: 'Pin',
      on: summary.pinned_at !== null,
      change: { pinned: summary.pinned_at === null },
    },
    { label: 'Archive', on: summary.archived, change: { archived: !summary.archived } },
  ];
  return (
    <p class="conversation-settings" role="group" aria-label="Conversation settings">
      {toggles.map((toggle) => (
        <button
          key={toggle.label}
          type="button"
          class="toggle"
          aria-pressed={toggle.on}
          onClick={() => void state.setSettings(summary.conv, toggle.change)}
        >
          {toggle.label}
        </button>
      ))}
    </p>
  );
}

export function MembersButton(props: {
  state: ChatState;
  summary: ConversationSummary;
}): JSX.Element {
  const [open, setOpen] = useState(false);
  return (
    <>
      <button type="button" onClick={() => setOpen(true)}>
        Members
      </button>
      {open && (
        <GroupDialog state={props.state} conv={props.summary.conv} onClose={() => setOpen(false)} />
      )}
    </>
  );
}

function splitNames(text: string): string[] {
  return text
    .split(/[\s,]+/)
    .map((name) => name.trim())
    .filter((name) => name !== '');
}

/**
 * A group's members with their admin marker; an admin adds, removes, promotes and renames; anyone
 * leaves. A refusal shows in the dialog, in words.
 */
export function GroupDialog(props: {
  state: ChatState;
  conv: string;
  onClose: () => void;
}): JSX.Element {
  const { state, conv } = props;
  const dialog = useRef<HTMLDialogElement>(null);
  const summary = state.conversations.get(conv);
  const [title, setTitle] = useState(summary?.title ?? '');
  const [adding, setAdding] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    dialog.current?.showModal();
  }, []);

  const run = async (action: () => Promise<unknown>): Promise<boolean> => {
    setBusy(true);
    setError(null);
    try {
      await action();
      return true;
    } catch (caught) {
      setError(describeError(caught));
      return false;
    } finally {
      setBusy(false);
    }
  };

  const admin = summary?.members.some((m) => m.user === state.me && m.admin) === true;
  return (
    <dialog ref={dialog} class="group-dialog" aria-labelledby="group-title" onClose={props.onClose}>
      <h2 id="group-title">{summary ? titleOf(summary, state.me) : 'Group'}</h2>
      {summary && (
        <ul class="members" aria-label="Members">
          {summary.members.map((member) => (
            <li key={member.user} class="member" data-user={member.user}>
              <span class="member-name">
                {member.name !== '' ? member.name : member.user}
                {member.user === state.me ? ' (you)' : ''}
              </span>
              {member.admin && (
                <span class="admin-marker" data-admin="true">
                  admin
                </span>
              )}
              {admin && member.user !== state.me && (
                <span class="member-actions">
                  {!member.admin && (
                    <button
                      type="button"
                      class="link"
                      disabled={busy}

                      onClick={() =>
                        void run(() =>
                          state.changeMembers(conv, (c) => c.makeAdmin(conv, member.user)),
                        )
                      }
                    >
                      Make admin<span class="sr-only">: {member.user}</span>
                    </button>
                  )}
                  <button
                    type="button"
                    class="link"
                    disabled={busy}

                    onClick={() =>
                      void run(() =>
                        state.changeMembers(conv, (c) => c.removeMembers(conv, [member.user])),
                      )
                    }
                  >
                    Remove<span class="sr-only"> {member.user}</span>
                  </button>
                </span>
              )}
            </li>
          ))}
        </ul>
      )}
      {admin && (
        <>
          <form
            class="inline-form"
            onSubmit={(event) => {
              event.preventDefault();
              const names = splitNames(adding);
              if (names.length === 0) {
                return;
              }
              void run(() => state.changeMembers(conv, (c) => c.addMembers(conv, names))).then(
                (done) => {
                  if (done) {
                    setAdding('');
                  }
                },
              );
            }}
          >
            <label class="field">
              Add members (user names)
              <input
                name="add"
                value={adding}
                autoComplete="off"
                autoCapitalize="none"
                onInput={(event) => setAdding((event.target as HTMLInputElement).value)}
              />
            </label>
            <button type="submit" disabled={busy}>
              Add
            </button>
          </form>
          <form
            class="inline-form"
            onSubmit={(event) => {
              event.preventDefault();
              void run(() =>
                state.changeMembers(conv, (c) => c.renameGroup(conv, title.trim() || null)),
              );
            }}
          >
            <label class="field">
              Group title
              <input
                name="title"
                value={title}
                maxLength={128}
                onInput={(event) => setTitle((event.target as HTMLInputElement).value)}
              />
            </label>
            <button type="submit" disabled={busy}>
              Rename
            </button>
          </form>
        </>
      )}
      {error !== null && (
        <p class="form-error" role="alert">
          {error}
        </p>
      )}
      <div class="actions">
        <button
          type="button"
          class="danger"
          disabled={busy}
          onClick={() =>
            void run(() => state.leave(conv)).then((done) => {
              if (done) {
                dialog.current?.close();
              }
            })
          }
        >
          Leave group
        </button>
        <button type="button" onClick={() => dialog.current?.close()}>
          Close
        </button>
      </div>
    </dialog>
  );
}
