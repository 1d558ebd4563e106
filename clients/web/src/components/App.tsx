import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';

import type { ChatState } from '../state/ChatState';
import { ChatPane } from './ChatPane';
import { ConversationList } from './ConversationList';
import { ListingPage } from './ListingPage';
import { NewChatDialog } from './NewChatDialog';
import { SearchBox, SearchResults } from './SearchResults';

type Route =
  | { view: 'list' }
  | { view: 'chat'; conv: string; seq?: number }
  | { view: 'listing'; id: string }
  | { view: 'search'; q: string };

function parseRoute(hash: string): Route {
  const message = /^#\/c\/([^/]+)\/m\/(\d+)$/.exec(hash);
  if (message?.[1] && message[2]) {
    return { view: 'chat', conv: decodeURIComponent(message[1]), seq: Number(message[2]) };
  }
  const chat = /^#\/c\/(.+)$/.exec(hash);
  if (chat?.[1]) {
    return { view: 'chat', conv: decodeURIComponent(chat[1]) };
  }
  const listing = /^#\/listing\/(.+)$/.exec(hash);
  if (listing?.[1]) {
    return { view: 'listing', id: decodeURIComponent(listing[1]) };
  }
  const search = /^#\/search\/(.+)$/.exec(hash);
  if (search?.[1]) {
    return { view: 'search', q: decodeURIComponent(search[1]) };
  }
  return { view: 'list' };
}

export function go(route: Route): void {
  location.hash =
    route.view === 'chat'
      ? `#/c/${encodeURIComponent(route.conv)}${route.seq !== undefined ? `/m/${route.seq}` : ''}`
      : route.view === 'listing'
        ? `#/listing/${encodeURIComponent(route.id)}`
        : route.view === 'search'
          ? `#/search/${encodeURIComponent(route.q)}`
          : '#/';
}

function useVersion(state: ChatState): number {
  const [version, setVersion] = useState(state.version);
  useEffect(() => state.subscribe(() => setVersion(state.version)), [state]);
  return version;
}

function ConnectionBanner(props: { state: ChatState }): JSX.Element | null {
  const { state } = props;
  if (state.connection === 'online') {
    return null;
  }
  return (
    <p class="connection-banner" role="status" data-connection={state.connection}>
      {state.connection === 'reconnecting'
        ? 'Connection lost: reconnecting… Messages you send now go out once it is back.'
        : state.connection === 'closed'
          ? 'Signed out.'
          : 'Connecting…'}
      {state.connectionError !== null && <span class="detail"> {state.connectionError}</span>}
    </p>
  );
}

function Notices(props: { state: ChatState }): JSX.Element {
  return (
    <div class="notices" role="alert">
      {props.state.notices.map((notice) => (
        <p key={notice.id} class={`notice ${notice.kind}`}>
          {notice.text}
          <button
            type="button"
            class="link"
            aria-label="Dismiss"
            onClick={() => props.state.dismiss(notice.id)}
          >
            ×
          </button>
        </p>
      ))}
    </div>
  );
}

export function App(props: { state: ChatState; onSignOut: () => void }): JSX.Element {
  const { state } = props;
  useVersion(state);
  const [route, setRoute] = useState<Route>(parseRoute(location.hash));
  const [newChat, setNewChat] = useState(false);

  useEffect(() => {
    const onHash = (): void => setRoute(parseRoute(location.hash));
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);

  useEffect(() => {
    state.select(route.view === 'chat' ? route.conv : null);
    if (route.view === 'chat' && route.seq !== undefined) {
      void state.showMessage(route.conv, route.seq);
    }
  }, [state, route]);

  // The open group was left (here or on another device) or we were removed: back to the list.
  useEffect(() => {
    state.onGone = () => go({ view: 'list' });
    return () => {
      state.onGone = undefined;
    };
  }, [state]);

  // The unread total in the tab's title, so it shows from another tab.
  useEffect(() => {
    document.title = state.unreadTotal > 0 ? `(${state.unreadTotal}) Parley` : 'Parley';
  });

  const open = (conv: string): void => go({ view: 'chat', conv });
  const showingDetail = route.view !== 'list';

  return (
    <div class={`app${showingDetail ? ' detail-open' : ''}`}>
      <a class="skip-link" href="#main-pane">
        Skip to the conversation
      </a>
      <aside class="sidebar" aria-label="Your conversations">
        <header class="sidebar-header">
          <h1>
            Parley
            {state.unreadTotal > 0 && (
              <span
                class="badge total"
                aria-label={`${state.unreadTotal} unread in total`}
                data-unread-total={state.unreadTotal}
              >
                {state.unreadTotal}
              </span>
            )}
          </h1>
          <p class="me">{state.me}</p>
          <div class="sidebar-actions">
            <button type="button" class="primary" onClick={() => setNewChat(true)}>
              New chat
            </button>
            <button type="button" onClick={props.onSignOut}>
              Sign out
            </button>
          </div>
          <SearchBox
            initial={route.view === 'search' ? route.q : ''}
            onSearch={(q) => go({ view: 'search', q })}
          />
        </header>
        <ConnectionBanner state={state} />
        <ConversationList state={state} onSelect={open} />
      </aside>
      <main class="main-pane" id="main-pane" tabIndex={-1}>
        {route.view === 'chat' && (
          <ChatPane
            key={route.conv}
            state={state}
            conv={route.conv}
            onBack={() => go({ view: 'list' })}
          />
        )}
        {route.view === 'listing' && <ListingPage state={state} id={route.id} onOpened={open} />}
        {route.view === 'search' && (
          <SearchResults
            state={state}
            q={route.q}
            onOpen={(conv, seq) => go({ view: 'chat', conv, seq })}
          />
        )}
        {route.view === 'list' && (
          <p class="placeholder">Choose a conversation, or start one with “New chat”.</p>
        )}
      </main>
      {newChat && (
        <NewChatDialog
          state={state}
          onClose={() => setNewChat(false)}
          onOpened={(conv) => {
            setNewChat(false);
            open(conv);
          }}
        />
      )}
      <Notices state={state} />
    </div>
  );
}
