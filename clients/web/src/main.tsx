import { ParleyClient } from '@parley/sdk';
import { render } from 'preact';
import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';

import { App } from './components/App';
import { LoginScreen } from './components/LoginScreen';
import { brokerUrl, deviceName } from './config';
import { describeError } from './errors';
import { ChatState } from './state/ChatState';
import './styles.css';

/** Keyboard, pointer and the page being shown count as activity (online, not away). */
function trackActivity(client: ParleyClient): () => void {
  let last = 0;
  const onActivity = (): void => {
    const now = Date.now();
    if (now - last > 1000 && document.visibilityState === 'visible') {
      last = now;
      client.activity();
    }
  };
  const events = ['keydown', 'pointerdown', 'focus', 'visibilitychange'] as const;
  for (const name of events) {
    window.addEventListener(name, onActivity, { passive: true });
  }
  return () => {
    for (const name of events) {
      window.removeEventListener(name, onActivity);
    }
  };
}

function Root(props: { broker: string }): JSX.Element {
  const [state, setState] = useState<ChatState | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    if (!state) {
      return;
    }
    const stop = trackActivity(state.client);
    const onHide = (): void => {
      void state.client.close();
    };
    window.addEventListener('pagehide', onHide);
    return () => {
      stop();
      window.removeEventListener('pagehide', onHide);
    };
  }, [state]);

  const login = async (user: string, secret: string): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      // A JWT is three base64url parts: sent as the password, which is what token login is.
      const client = await ParleyClient.connect({
        url: props.broker,
        user,
        password: secret,
        device: deviceName(),
        // The broker keeps a tab's events for a while it reloads; catch-up does the rest.
        sessionExpirySeconds: 600,
      });
      localStorage.setItem('parley.user', user);
      setState(new ChatState(client));
    } catch (caught) {
      setError(describeError(caught));
    } finally {
      setBusy(false);
    }
  };

  if (!state) {
    return (
      <LoginScreen
        busy={busy}
        error={error}
        broker={props.broker}
        onLogin={(u, s) => void login(u, s)}
      />
    );
  }
  return (
    <App
      state={state}
      onSignOut={() => {
        void state.client.close();
        setState(null);
      }}
    />
  );
}

async function main(): Promise<void> {
  const root = document.getElementById('app');
  if (!root) {
    return;
  }
  render(<Root broker={await brokerUrl()} />, root);
}

void main();
