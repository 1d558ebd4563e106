import type { JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';

import { describeError } from '../errors';
import type { ChatState } from '../state/ChatState';

/** Start a 1:1 with someone by their user name, or create a group. */
export function NewChatDialog(props: {
  state: ChatState;
  onClose: () => void;
  onOpened: (conv: string) => void;
}): JSX.Element {
  const dialog = useRef<HTMLDialogElement>(null);
  const [mode, setMode] = useState<'direct' | 'group'>('direct');
  const [peer, setPeer] = useState('');
  const [members, setMembers] = useState('');
  const [title, setTitle] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    dialog.current?.showModal();
  }, []);

  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const conv =
        mode === 'direct'
          ? await props.state.openDirect(peer.trim())
          : await props.state.createGroup(
              members
                .split(/[\s,]+/)
                .map((m) => m.trim())
                .filter((m) => m !== ''),
              title.trim(),
            );
      props.onOpened(conv);
    } catch (caught) {
      setError(describeError(caught));
    } finally {
      setBusy(false);
    }
  };

  return (
    <dialog ref={dialog} class="new-chat" aria-labelledby="new-chat-title" onClose={props.onClose}>
      <form onSubmit={(event) => void submit(event)}>
        <h2 id="new-chat-title">New chat</h2>
        <fieldset class="mode">
          <legend>Kind</legend>
          <label>
            <input
              type="radio"
              name="mode"
              checked={mode === 'direct'}
              onChange={() => setMode('direct')}
            />
            With one person
          </label>
          <label>
            <input
              type="radio"
              name="mode"
              checked={mode === 'group'}
              onChange={() => setMode('group')}
            />
            Group
          </label>
        </fieldset>
        {mode === 'direct' ? (
          <label class="field">
            User name
            <input
              name="peer"
              value={peer}
              required
              autoComplete="off"
              autoCapitalize="none"
              onInput={(event) => setPeer((event.target as HTMLInputElement).value)}
            />
          </label>
        ) : (
          <>
            <label class="field">
              Members (user names, separated by commas or spaces)
              <input
                name="members"
                value={members}
                required
                autoComplete="off"
                autoCapitalize="none"
                onInput={(event) => setMembers((event.target as HTMLInputElement).value)}
              />
            </label>
            <label class="field">
              Group title (optional)
              <input
                name="title"
                value={title}
                maxLength={128}
                onInput={(event) => setTitle((event.target as HTMLInputElement).value)}
              />
            </label>
          </>
        )}
        {error !== null && (
          <p class="form-error" role="alert">
            {error}
          </p>
        )}
        <div class="actions">
          <button type="button" onClick={() => dialog.current?.close()}>
            Cancel
          </button>
          <button type="submit" class="primary" disabled={busy}>
            {mode === 'direct' ? 'Open chat' : 'Create group'}
          </button>
        </div>
      </form>
    </dialog>
  );
}
