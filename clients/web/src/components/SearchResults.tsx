// msg.search from the page: the messages holding every word, newest first, each with its
// conversation; a click opens that conversation. Paged with "More results".
import type { ConversationSummary, Message } from '@parley/sdk';
import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';

import { describeError } from '../errors';
import { nameOf, timeOf, titleOf } from '../names';
import type { ChatState } from '../state/ChatState';

interface Results {
  msgs: Message[];
  convs: Map<string, ConversationSummary>;
  nextBefore: number | undefined;
}

/** The search box of the sidebar: submitting opens the results in the main pane. */
export function SearchBox(props: { initial: string; onSearch: (q: string) => void }): JSX.Element {
  const [q, setQ] = useState(props.initial);
  useEffect(() => setQ(props.initial), [props.initial]);
  return (
    <form
      class="search-box"
      role="search"
      onSubmit={(event) => {
        event.preventDefault();
        if (q.trim() !== '') {
          props.onSearch(q.trim());
        }
      }}
    >
      <input
        type="search"
        aria-label="Search messages"
        placeholder="Search messages"
        value={q}
        onInput={(event) => setQ((event.target as HTMLInputElement).value)}
      />
      <button type="submit">Search</button>
    </form>
  );
}

export function SearchResults(props: {
  state: ChatState;
  q: string;
  onOpen: (conv: string, seq: number) => void;
}): JSX.Element {
  const { state, q } = props;
  const [results, setResults] = useState<Results | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);

  const load = async (before?: number): Promise<void> => {
    setLoading(true);
    setError(null);
    try {
      const page = await state.search(q, before);
      setResults((known) => {
        const convs = new Map(before !== undefined ? known?.convs : undefined);
        for (const summary of page.convs) {
          convs.set(summary.conv, summary);
        }
        return {
          msgs: [...(before !== undefined ? (known?.msgs ?? []) : []), ...page.msgs],
          convs,
          nextBefore: page.has_more ? page.next_before : undefined,
        };
      });
    } catch (caught) {
      setError(describeError(caught));
    } finally {
      setLoading(false);
    }
  };

  useEffect(() => {
    setResults(null);
    void load();
  }, [q]);

  return (
    <section class="search-results" aria-labelledby="search-title">
      <h2 id="search-title">Messages with “{q}”</h2>
      {error !== null && (
        <p class="form-error" role="alert">
          {error}
        </p>
      )}
      {results === null && error === null && (
        <p class="list-empty" role="status">
          Searching…
        </p>
      )}
      {results !== null && results.msgs.length === 0 && (
        <p class="list-empty" role="status">
          No message has all of these words.
        </p>
      )}
      {results !== null && results.msgs.length > 0 && (
        <ol class="results" aria-label={`Results (${results.msgs.length})`}>
          {results.msgs.map((message) => {
            const summary =
              results.convs.get(message.conv) ?? state.conversations.get(message.conv);
            return (
              <li key={`${message.conv}/${message.seq}`}>
                <button
                  type="button"
                  class="result"
                  data-conv={message.conv}
                  data-seq={message.seq}
                  onClick={() => props.onOpen(message.conv, message.seq)}
                >
                  <span class="row-top">
                    <span class="row-title">
                      {summary ? titleOf(summary, state.me) : message.conv}
                    </span>
                    <span class="row-time">{timeOf(message.ts)}</span>
                  </span>
                  <span class="result-body">
                    {message.sender === state.me ? 'You' : nameOf(summary, message.sender)}:{' '}
                    {message.body}
                  </span>
                </button>
              </li>
            );
          })}
        </ol>
      )}
      {results?.nextBefore !== undefined && (
        <button type="button" disabled={loading} onClick={() => void load(results.nextBefore)}>
          More results
        </button>
      )}
    </section>
  );
}
