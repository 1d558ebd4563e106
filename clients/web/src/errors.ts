// One clear sentence for every error a person can meet: each protocol error code (by op where it
// helps), and the connection's. The server's own `message` is for developers; it is shown only
// where an extension wrote it for people (forbidden: "this listing is sold").
import { ConnectionError, ParleyError } from '@parley/sdk';
import type { ErrorCode } from '@parley/sdk';

const BY_CODE: Record<ErrorCode, string> = {
  bad_request: 'Parley could not accept that: something in it is not valid.',
  unknown_op: 'This Parley server does not offer that feature.',
  forbidden: 'You are not allowed to do that.',
  not_found: 'That does not exist (any more).',
  too_large: 'That is too long for Parley.',
  rate_limited: 'You are going a bit fast: wait a moment and try again.',
  unavailable: 'The server cannot reach its storage right now. Try again in a moment.',
  internal: 'Something went wrong on the server (it has been logged). Try again.',
  unsupported_type: 'That kind of file cannot be sent here.',
  type_mismatch: 'The file is not of the type its name says: pick the file again.',
  checksum_mismatch: 'The file arrived damaged: send it again.',
  size_mismatch: 'The file arrived incomplete or too long: send it again.',
  quota_exceeded: 'You have sent as much as you can for today: try again tomorrow.',
  upload_incomplete: 'The upload is not finished yet: wait for it or send the file again.',
  image_too_large: 'That image has too many pixels: make it smaller and send it again.',
  not_sender: 'Only the person who sent that message can change it.',
  edit_window_passed: 'That message is too old to edit.',
  message_deleted: 'That message was deleted.',
  too_many_reactions: 'That message already has as many different reactions as it can take.',
  not_group: 'A conversation between two people keeps its two members.',
  not_admin: 'Only an admin of this group can do that.',
  already_member: 'They are in this group already.',
  not_member: 'They are not in this group.',
  group_full: 'This group has as many members as it can have.',
  transfer_limited:
    'You are sending or fetching files faster than the server allows; it goes on in a moment.',
};

const BY_OP: Partial<Record<string, Partial<Record<ErrorCode, string>>>> = {
  'conv.open': {
    bad_request:
      'That is not a user you can message (a user name is letters, digits and . _ @ -, and not your own).',
    not_found: 'That listing is not known to Parley.',
  },
  'conv.create': {
    bad_request:
      'A group needs at least one other valid user name, and a title of at most 128 characters.',
    too_large: 'A group can have at most 100 members.',
  },
  'msg.send': {
    too_large: 'That message is too long: at most 16 KiB of text.',
    bad_request: 'That message cannot be sent: it is empty or not valid.',
    not_found: 'That conversation no longer exists.',
  },
  'msg.history': {
    forbidden: 'You are not a member of that conversation.',
    not_found: 'That conversation does not exist.',
  },
  'conv.get': {
    forbidden: 'You are not a member of that conversation.',
    not_found: 'That conversation does not exist.',
  },
  'attach.begin': {
    too_large: 'That file is too large to send here.',
    not_found: 'The upload expired: send the file again.',
  },
  'attach.commit': {
    unsupported_type: 'That kind of file cannot be sent here (checked from its content).',
    not_found: 'The upload expired: send the file again.',
  },
  'attach.chunk': {
    not_found: 'The upload expired: send the file again.',
  },
  'listing.get': {
    not_found: 'That listing is not known to Parley.',
    unknown_op: 'Listings are not turned on on this server.',
  },
};

function when(ms: number): string {
  return new Date(ms).toLocaleString();
}

/** A sentence for a person, from any error the SDK (or anything else) threw. */
export function describeError(error: unknown): string {
  if (error instanceof ParleyError) {
    if (error.code === 'rate_limited' && error.retryAfterMs !== undefined) {
      const seconds = Math.max(1, Math.ceil(error.retryAfterMs / 1000));
      return `You are going a bit fast: try again in ${seconds} s.`;
    }
    if (error.code === 'forbidden') {
      const moderation = error.details['moderation'];
      const until = error.details['until'];
      if (moderation === 'muted') {
        return typeof until === 'number'
          ? `You are muted until ${when(until)}.`
          : 'You are muted for now.';
      }
      if (moderation === 'suspended') {
        return typeof until === 'number'
          ? `Your account is suspended until ${when(until)}.`
          : 'Your account is suspended.';
      }
      if (error.op === 'msg.send' || error.op === 'conv.open') {
        // Extensions refuse with a sentence written for the user ("this listing is sold: ...").
        return `Not allowed: ${error.message}.`;
      }
    }
    const users = error.details['users'];
    if (error.code === 'not_found' && Array.isArray(users) && users.length > 0) {
      // users.directory: known (docs/operations.md): the server names who it does not know.
      return `Parley does not know ${users.map(String).join(', ')}: check the user names.`;
    }
    const sentence = BY_OP[error.op]?.[error.code] ?? BY_CODE[error.code];
    if (error.op.startsWith('attach.') && error.message !== '') {
      // The attachments plugin words its refusals for people: the limit, the types it takes.
      return `${sentence} (The server says: ${error.message}.)`;
    }
    return sentence;
  }
  if (error instanceof ConnectionError) {
    switch (error.reason) {
      case 'not_authorized':
        return 'Wrong user name or password (or the token has expired).';
      case 'unreachable':
        return 'Cannot reach the Parley server. Check your network; if it is a development server, check that it runs and that this browser trusts its certificate.';
      case 'closed':
        return 'You are signed out.';
    }
  }
  return error instanceof Error ? error.message : String(error);
}

export { BY_CODE as ERROR_TEXT_BY_CODE };
