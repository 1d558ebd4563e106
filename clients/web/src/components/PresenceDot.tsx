import type { PresenceState } from '@parley/sdk';
import type { JSX } from 'preact';

const LABEL: Record<PresenceState, string> = {
  online: 'online',
  away: 'away',
  offline: 'offline',
};

/** Green online, yellow away, grey offline (or not known yet). */
export function PresenceDot(props: {
  user: string;
  state: PresenceState | undefined;
}): JSX.Element {
  const state = props.state ?? 'offline';
  return (
    <span
      class={`presence-dot presence-${state}`}
      role="img"
      aria-label={`${props.user} is ${LABEL[state]}`}
      title={`${props.user} is ${LABEL[state]}`}
      data-presence={state}
      data-user={props.user}
    />
  );
}
