import type { JSX } from 'preact';
import { useState } from 'preact/hooks';

/** Sign in with your user name and your password, or a token (JWT) in the password field. */
export function LoginScreen(props: {
  busy: boolean;
  error: string | null;
  broker: string;
  onLogin: (user: string, secret: string) => void;
}): JSX.Element {
  const [user, setUser] = useState(localStorage.getItem('parley.user') ?? '');
  const [secret, setSecret] = useState('');
  return (
    <main class="login">
      <form
        class="login-card"
        aria-labelledby="login-title"
        onSubmit={(event) => {
          event.preventDefault();
          props.onLogin(user.trim(), secret);
        }}
      >
        <h1 id="login-title">Parley</h1>
        <label class="field">
          User name
          <input
            name="user"
            value={user}
            required
            autoComplete="username"
            autoCapitalize="none"
            onInput={(event) => setUser((event.target as HTMLInputElement).value)}
          />
        </label>
        <label class="field">
          Password or token
          <input
            name="password"
            type="password"
            value={secret}
            required
            autoComplete="current-password"
            onInput={(event) => setSecret((event.target as HTMLInputElement).value)}
          />
        </label>
        {props.error !== null && (
          <p class="form-error" role="alert">
            {props.error}
          </p>
        )}
        <button type="submit" class="primary" disabled={props.busy}>
          {props.busy ? 'Signing in…' : 'Sign in'}
        </button>
        <p class="hint">Server: {props.broker}</p>
      </form>
    </main>
  );
}
