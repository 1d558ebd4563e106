import type { ConversationSummary } from '@parley/sdk';

/** A member's display name, or their uid. */
export function nameOf(summary: ConversationSummary | undefined, user: string): string {
  if (user === 'system') {
    return 'Parley';
  }
  const member = summary?.members.find((m) => m.user === user);
  return member && member.name !== '' ? member.name : user;
}

/** The other member of a 1:1 (undefined for a group). */
export function peerOf(summary: ConversationSummary, me: string): string | undefined {
  if (summary.kind !== 'direct') {
    return undefined;
  }
  return summary.members.find((m) => m.user !== me)?.user ?? summary.members[0]?.user;
}

/** What a conversation is called in the list and its header. */
export function titleOf(summary: ConversationSummary, me: string): string {
  if (summary.kind === 'group') {
    return (
      summary.title ??
      summary.members
        .filter((m) => m.user !== me)
        .map((m) => m.name || m.user)
        .join(', ')
    );
  }
  const peer = peerOf(summary, me);
  return peer ? nameOf(summary, peer) : 'Conversation';
}

export function timeOf(ts: number): string {
  const date = new Date(ts);
  const now = new Date();
  if (date.toDateString() === now.toDateString()) {
    return date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  }
  return date.toLocaleDateString([], { month: 'short', day: 'numeric' });
}
