// The SDK against a real Mosquitto and parleyd (test/support/stack.ts): resends, catch-up,
// typed errors, token login, presence and typing.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { ConnectionError, ParleyClient, ParleyError } from '../src/index.js';
import type { ErrorCode, MemberEvent } from '../src/index.js';
import { FaultyProxy } from './support/proxy.js';
import { Stack } from './support/stack.js';
import { Recorder, connectUser, rawObserver, sleep, waitFor } from './support/util.js';

const USERS = Array.from({ length: 40 }, (_, i) => `w${i + 1}`);
let stack: Stack;
let nextUser = 0;
const clients: ParleyClient[] = [];
const cleanups: (() => Promise<void> | void)[] = [];

function newUser(): string {
  const user = USERS[nextUser++];
  if (user === undefined) {
    throw new Error('raise the number of USERS');
  }
  return user;
}

async function connect(
  user: string,
  extra: Parameters<typeof connectUser>[2] = {},
): Promise<ParleyClient> {
  const client = await connectUser(stack, user, extra);
  clients.push(client);
  return client;
}

/** The broker's TLS port, for a proxy in front of it. */
function brokerPort(): number {
  return Number(new URL(stack.mqttsUrl.replace('mqtts:', 'https:')).port);
}

before(async () => {
  stack = await Stack.start({ users: USERS, jwt: true, typing: { burst: 5, perSecond: 1 } });
});

after(async () => {
  for (const client of clients) {
    await client.close().catch(() => undefined);
  }
  for (const cleanup of cleanups) {
    await cleanup();
  }
  await stack.stop();
});

describe('resending', { timeout: 90000 }, () => {
  test('a message whose reply was lost with the connection is resent and stored once', async () => {
    const alice = newUser();
    const bob = newUser();
    const proxy = await FaultyProxy.start(brokerPort());
    cleanups.push(() => proxy.stop());
    const client = await connect(alice, { url: proxy.url, reconnectMinDelayMs: 100 });
    const events = new Recorder(client);
    const observer = await rawObserver(stack, bob);
    cleanups.push(() => observer.client.endAsync());
    const conv = (await client.openConversation(bob)).conv;

    // The broker's answer never reaches alice, her connection drops, and the broker restarts
    // (its sessions are volatile): the reply is lost for good.
    proxy.swallow(true);
    const cmid = client.newCmid();
    const sent = client.sendMessage(conv, 'stored once', { cmid });
    const bobCopies = (): number =>
      observer.payloads.filter((p) => p.json['ev'] === 'msg' && p.json['cmid'] === cmid).length;
    await waitFor('bob to get the message', () => bobCopies() >= 1);
    await sleep(300); // the reply to alice has left the broker by now, into the proxy
    proxy.refuse(true);
    proxy.cut();
    proxy.swallow(false);
    await stack.restartBroker();
    proxy.refuse(false);

    const reply = await sent;
    assert.equal(reply.seq, 1);
    assert.equal(reply.cmid, cmid);
    assert.equal(reply.dup, true, 'the reply came from the resend, which found the message stored');
    const history = await client.history(conv);
    assert.deepEqual(
      history.msgs.map((m) => [m.seq, m.cmid, m.body]),
      [[1, cmid, 'stored once']],
    );
    assert.ok(proxy.accepted >= 2, 'alice reconnected');
    await waitFor('alice to see her message', () => events.messagesIn(conv).length >= 1);
    await sleep(300);
    assert.deepEqual(
      events.messagesIn(conv).map((m) => m.seq),
      [1],
      'the SDK delivers the message once',
    );
  });

  test('commands sent while parleyd is down are answered once it is back', async () => {
    const alice = newUser();
    const bob = newUser();
    const proxy = await FaultyProxy.start(brokerPort());
    cleanups.push(() => proxy.stop());
    const client = await connect(alice, { url: proxy.url, reconnectMinDelayMs: 100 });
    const conv = (await client.openConversation(bob)).conv;
    await stack.stopParleyd();
    let sends: Promise<{ seq: number }>[] = [];
    try {
      sends = [1, 2, 3].map((n) => client.sendMessage(conv, `while down ${n}`));
      await sleep(500);
      proxy.cut(); // and the connection drops too: the SDK resends after reconnecting
      await sleep(1000);
    } finally {
      await stack.startParleyd();
    }
    const replies = await Promise.all(sends);
    assert.deepEqual(replies.map((r) => r.seq).sort(), [1, 2, 3]);
    const history = await client.history(conv);
    assert.deepEqual(history.msgs.map((m) => m.body).sort(), [
      'while down 1',
      'while down 2',
      'while down 3',
    ]);
    assert.equal(new Set(history.msgs.map((m) => m.cmid)).size, 3);
  });

  test(
    'publishes the broker drops over its rate limit are sent again soon, stored once',
    {
      timeout: 60000,
    },
    async () => {
      const alice = newUser();
      const bob = newUser();
      // A reply timeout far past the test's: only a resend on the broker's refusal (PUBACK 0x87)
      // can get the dropped messages through in time.
      const client = await connect(alice, { resendAfterMs: 600000 });
      const conv = (await client.openConversation(bob)).conv;
      const count = 450; // past the broker's burst of 300 a connection
      const replies = await Promise.all(
        Array.from({ length: count }, (_, n) => client.sendMessage(conv, `burst ${n + 1}`)),
      );
      assert.equal(new Set(replies.map((r) => r.seq)).size, count);
      assert.match(stack.brokerLog(), new RegExp(`user '${alice}' .* publishes faster than`));
      const stored = new Set<string>();
      let before: number | undefined;
      for (;;) {
        const page = await client.history(conv, { limit: 100, ...(before ? { before } : {}) });
        page.msgs.forEach((m) => stored.add(m.body));
        const oldest = page.msgs[0];
        if (!page.has_more || !oldest) {
          break;
        }
        before = oldest.seq;
      }
      assert.equal(stored.size, count);
    },
  );
});

describe('catch-up', { timeout: 120000 }, () => {
  for (const brokerRestarts of [false, true]) {
    test(`after being offline, messages and read receipts come in order, once (${
      brokerRestarts ? 'the broker lost its queues' : 'the broker kept its queues'
    })`, async () => {
      const alice = newUser();
      const bob = newUser();
      const carol = newUser();
      const proxy = await FaultyProxy.start(brokerPort());
      cleanups.push(() => proxy.stop());
      const aliceClient = await connect(alice, {
        url: proxy.url,
        reconnectMinDelayMs: 100,
        reconnectMaxDelayMs: 500,
      });
      const events = new Recorder(aliceClient);
      const bobClient = await connect(bob);
      const carolClient = await connect(carol);
      const conv = (await aliceClient.openConversation(bob)).conv;
      for (const n of [1, 2, 3]) {
        await aliceClient.sendMessage(conv, `a${n}`);
      }
      await waitFor('alice to see her 3 messages', () => events.messagesIn(conv).length === 3);

      // Alice goes offline; meanwhile bob reads and writes, and carol starts a conversation.
      proxy.refuse(true);
      proxy.cut();
      await waitFor('alice offline', () => aliceClient.connectionState === 'reconnecting');
      await bobClient.markRead(conv, 3);
      for (const n of [4, 5, 6, 7, 8]) {
        await bobClient.sendMessage(conv, `b${n}`);
      }
      const carolConv = (await carolClient.openConversation(alice)).conv;
      await carolClient.sendMessage(carolConv, 'hi alice');
      await carolClient.sendMessage(carolConv, 'are you there?');
      if (brokerRestarts) {
        await stack.restartBroker(); // every queued event for alice is gone; storage is not
      }
      proxy.refuse(false);

      const synced = (): boolean =>
        events.of('sync').some((e) => e.phase === 'reconnect' && e.done);
      await waitFor('alice to catch up', synced, 30000);
      await sleep(500); // queued events (if the broker kept them) arrive too: still no duplicate
      assert.deepEqual(
        events.messagesIn(conv).map((m) => `${m.seq}:${m.body}`),
        ['1:a1', '2:a2', '3:a3', '4:b4', '5:b5', '6:b6', '7:b7', '8:b8'],
      );
      assert.deepEqual(
        events.messagesIn(carolConv).map((m) => `${m.seq}:${m.body}`),
        ['1:hi alice', '2:are you there?'],
      );
      assert.ok(
        events.of('read').some((e) => e.conv === conv && e.user === bob && e.seq >= 3),
        "bob's read receipt arrived",
      );
      assert.ok(
        events.of('conversation').some((e) => e.conversation.conv === carolConv),
        "carol's new conversation was announced",
      );
      // The messages missed were all delivered before the sync said it was done.
      const doneAt = events.events.findIndex(
        (e) => e.type === 'sync' && e.phase === 'reconnect' && e.done,
      );
      const lastMissed = events.events.findIndex(
        (e) => e.type === 'message' && e.message.conv === conv && e.message.seq === 8,
      );
      assert.ok((lastMissed >= 0 && lastMissed < doneAt) || !brokerRestarts);
      if (brokerRestarts) {
        await waitFor('bob back online', () => bobClient.connectionState === 'online');
        await waitFor('carol back online', () => carolClient.connectionState === 'online');
      }
    });
  }
});

describe('typed errors', { timeout: 60000 }, () => {
  async function refusal(promise: Promise<unknown>): Promise<ParleyError> {
    try {
      await promise;
    } catch (error) {
      assert.ok(error instanceof ParleyError, `a ParleyError, not ${String(error)}`);
      return error;
    }
    assert.fail('the command was not refused');
  }

  test('each refusal rejects with its code, op and details', async () => {
    const alice = newUser();
    const bob = newUser();
    const carol = newUser();
    const client = await connect(alice, { retryRateLimitedUpToMs: 0 });
    const bobClient = await connect(bob);
    const conv = (await bobClient.openConversation(carol)).conv;
    const own = (await client.openConversation(bob)).conv;

    const cases: [ErrorCode, string, Promise<unknown>][] = [
      ['bad_request', 'conv.open', client.openConversation(alice)],
      ['unknown_op', 'no.such.op', client.extension('no.such.op')],
      ['forbidden', 'msg.history', client.history(conv)],
      ['not_found', 'conv.get', client.getConversation('cnosuchconversation0000')],
      ['too_large', 'msg.send', client.sendMessage(own, 'x'.repeat(17 * 1024))],
      ['forbidden', 'msg.send', client.sendMessage(conv, 'not my conversation')],
      ['not_found', 'listing.get', client.getListing('no-such-listing')],
    ];
    // Every promise gets its handler now: they are refused in any order.
    const outcomes = cases.map(([code, op, promise]) => [code, op, refusal(promise)] as const);
    for (const [code, op, outcome] of outcomes) {
      const error = await outcome;
      assert.equal(error.code, code, `${op}: ${error.message}`);
      assert.equal(error.op, op);
      assert.ok(error.message.length > 0);
    }

    // Typing: a burst of 5, then 1 per second (the server's typing limit).
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, () => client.request({ op: 'typing', conv: own, state: 'start' })),
    );
    const limited = results.filter((r) => r.status === 'rejected').map((r) => r.reason as unknown);
    assert.ok(limited.length >= 1, 'some typing was rate limited');
    const error = limited[0];
    assert.ok(error instanceof ParleyError);
    assert.equal(error.code, 'rate_limited');
    assert.equal(typeof error.retryAfterMs, 'number');
    assert.equal(error.details['retry_after_ms'], error.retryAfterMs);
  });

  test('a closed listing refuses messages as forbidden', async () => {
    const owner = newUser();
    const buyer = newUser();
    const admin = await ParleyClient.connect({
      url: stack.mqttsUrl,
      user: stack.admin,
      password: stack.password(stack.admin),
      ca: stack.caPem,
    });
    clients.push(admin);
    await admin.extension('listing.upsert', {
      listing: `bike-${owner}`,
      owner,
      title: 'Blue bike',
      status: 'open',
    });
    const client = await connect(buyer);
    const thread = await client.openConversation(owner, { type: 'listing', id: `bike-${owner}` });
    // The listings script puts the registered title and status on the thread once it is created.
    const summary = await client.getConversation(thread.conv);
    assert.deepEqual([summary.context?.title, summary.context?.status], ['Blue bike', 'open']);
    await admin.extension('listing.upsert', { listing: `bike-${owner}`, status: 'sold' });
    const error = await refusal(client.sendMessage(thread.conv, 'still there?'));
    assert.equal(error.code, 'forbidden');
    assert.match(error.message, /sold/);
  });
});

describe('groups', { timeout: 60000 }, () => {
  test('admins add, rename, promote and remove; members leave; refusals carry their codes', async () => {
    const alice = newUser();
    const bob = newUser();
    const carol = newUser();
    const aliceClient = await connect(alice);
    const bobClient = await connect(bob);
    const memberEvents: MemberEvent[] = [];
    bobClient.onEvent((event) => {
      if (event.type === 'member') {
        memberEvents.push(event);
      }
    });
    const group = await aliceClient.createGroup([bob]);
    assert.deepEqual(
      group.members.map((m) => [m.user, m.admin]),
      [
        [alice, true],
        [bob, false],
      ],
    );

    const added = await aliceClient.addMembers(group.conv, [carol]);
    assert.equal(added.changed, true);
    assert.deepEqual(
      added.changes.map((c) => [c.kind, c.user]),
      [['joined', carol]],
    );
    const renamed = await aliceClient.renameGroup(group.conv, 'Trip');
    assert.equal(renamed.changes[0]?.title, 'Trip');
    assert.equal((await bobClient.getConversation(group.conv)).title, 'Trip');
    // Bob, a member, is told of each change as a typed event, with its rev.
    await waitFor('bob to get both member events', () => memberEvents.length >= 2);
    assert.deepEqual(
      memberEvents.map((e) => [e.conv, e.change.kind, e.change.user, e.change.title, e.change.by]),
      [
        [group.conv, 'joined', carol, undefined, alice],
        [group.conv, 'renamed', undefined, 'Trip', alice],
      ],
    );
    assert.deepEqual(
      memberEvents.map((e) => e.change.rev),
      [added.rev, renamed.rev],
    );

    // One at a time, each command sent only when its refusal is awaited.
    const direct = (await aliceClient.openConversation(bob)).conv;
    const refusals: [ErrorCode, () => Promise<unknown>][] = [
      ['not_admin', () => bobClient.addMembers(group.conv, ['someone'])],
      ['already_member', () => aliceClient.addMembers(group.conv, [bob])],
      ['not_member', () => aliceClient.removeMembers(group.conv, ['nobody-here'])],
      ['not_group', () => aliceClient.leaveGroup(direct)],
    ];
    for (const [code, command] of refusals) {
      await assert.rejects(command(), (error: unknown) => {
        assert.ok(error instanceof ParleyError);
        assert.equal(error.code, code);
        return true;
      });
    }

    await aliceClient.makeAdmin(group.conv, bob);
    const removed = await bobClient.removeMembers(group.conv, [carol]);
    assert.equal(removed.changes[0]?.kind, 'removed');
    const left = await aliceClient.leaveGroup(group.conv);
    assert.equal(left.changes[0]?.kind, 'left');
    const now = await bobClient.getConversation(group.conv);
    assert.deepEqual(
      now.members.map((m) => m.user),
      [bob],
    );
    assert.equal(now.rev, left.rev);
  });
});

describe('connecting', { timeout: 60000 }, () => {
  test('a wrong password is refused as not_authorized', async () => {
    const user = newUser();
    await assert.rejects(
      ParleyClient.connect({ url: stack.mqttsUrl, user, password: 'wrong', ca: stack.caPem }),
      (error: unknown) => error instanceof ConnectionError && error.reason === 'not_authorized',
    );
  });

  test('a broker certificate from a CA the client does not trust is refused', async () => {
    const user = newUser();
    await assert.rejects(
      ParleyClient.connect({
        url: stack.mqttsUrl,
        user,
        password: stack.password(user),
        connectTimeoutMs: 3000,
      }),
      (error: unknown) => error instanceof ConnectionError && error.reason === 'unreachable',
    );
  });

  test('over WebSockets with TLS, as browsers connect', async () => {
    const user = newUser();
    const client = await connect(user, { url: stack.wssUrl });
    const pong = await client.ping();
    assert.ok(pong.ts > 0);
  });

  test('token login asks for a fresh token on reconnect, and again when refused', async () => {
    const user = newUser();
    const reasons: string[] = [];
    let giveExpired = false;
    const proxy = await FaultyProxy.start(brokerPort());
    cleanups.push(() => proxy.stop());
    const client = await ParleyClient.connect({
      url: proxy.url,
      user,
      ca: stack.caPem,
      reconnectMinDelayMs: 100,
      reconnectMaxDelayMs: 300,
      token: (reason) => {
        reasons.push(reason);
        const expired = giveExpired;
        giveExpired = false;
        return stack.token(user, expired ? -3600 : 600);
      },
    });
    clients.push(client);
    assert.deepEqual(reasons, ['connect']);
    giveExpired = true; // the next reconnect gets an expired token, refused by the broker
    proxy.cut();
    await waitFor('a reconnect with a fresh token', () => reasons.includes('refused'), 20000);
    await waitFor('online again', () => client.connectionState === 'online', 20000);
    assert.deepEqual(reasons.slice(0, 3), ['connect', 'reconnect', 'refused']);
    assert.ok((await client.ping()).ts > 0);
  });
});

describe('presence and typing', { timeout: 60000 }, () => {
  test('the last will says offline when the connection drops; idleness says away', async () => {
    const alice = newUser();
    const bob = newUser();
    const proxy = await FaultyProxy.start(brokerPort());
    cleanups.push(() => proxy.stop());
    const aliceClient = await connect(alice, { url: proxy.url, idleAfterMs: 1000 });
    const bobClient = await connect(bob);
    const seen = new Recorder(bobClient);
    bobClient.watchPresence([alice]);
    const stateOf = (): string | undefined =>
      seen
        .of('presence')
        .filter((e) => e.presence.user === alice)
        .at(-1)?.presence.state;
    await waitFor('alice online', () => stateOf() === 'online');
    await waitFor('alice away after 1 s without activity', () => stateOf() === 'away', 10000);
    aliceClient.activity();
    await waitFor('alice online again on activity', () => stateOf() === 'online', 10000);
    proxy.refuse(true);
    proxy.cut();
    await waitFor('alice offline by her last will', () => stateOf() === 'offline', 10000);
  });

  test('typing is throttled and stops by itself', async () => {
    const alice = newUser();
    const bob = newUser();
    const aliceClient = await connect(alice, { typingIntervalMs: 3000, typingStopAfterMs: 800 });
    const bobClient = await connect(bob);
    const seen = new Recorder(bobClient);
    const conv = (await aliceClient.openConversation(bob)).conv;
    for (let i = 0; i < 20; i++) {
      aliceClient.typing(conv); // a keystroke every 50 ms for a second
      await sleep(50);
    }
    await waitFor('a stop after the keystrokes pause', () =>
      seen.of('typing').some((e) => e.state === 'stop'),
    );
    assert.deepEqual(
      seen.of('typing').map((e) => `${e.user}:${e.state}`),
      [`${alice}:start`, `${alice}:stop`],
    );
  });
});

describe('editing, reactions, replies, search and settings', { timeout: 60000 }, () => {
  test('each change reaches the other member as a change event and catches up by rev', async () => {
    const alice = newUser();
    const bob = newUser();
    const aliceClient = await connect(alice);
    const bobClient = await connect(bob);
    const seen = new Recorder(bobClient);
    const { conv } = await aliceClient.openConversation(bob);
    const first = await aliceClient.sendMessage(conv, 'the blue bike is helo');
    const question = await bobClient.sendMessage(conv, 'how much for the bike?');
    const answer = await aliceClient.reply(conv, question.seq, '120 EUR');
    const mistake = await aliceClient.sendMessage(conv, 'wrong chat, a mistake');

    const edited = await aliceClient.editMessage(conv, first.seq, 'the blue bike is here');
    assert.equal(edited.changed, true);
    assert.equal(edited.msg.body, 'the blue bike is here');
    assert.equal(typeof edited.msg.edited_at, 'number');
    const reacted = await bobClient.react(conv, answer.seq, '👍');
    assert.deepEqual(reacted.msg.reactions, [{ emoji: '👍', count: 1, users: [bob] }]);
    const deleted = await aliceClient.deleteMessage(conv, mistake.seq);
    assert.equal(deleted.msg.deleted, true);
    assert.equal(deleted.msg.body, '');
    await waitFor('the edit and the deletion as events', () =>
      ['edit', 'delete'].every((kind) => seen.of('change').some((e) => e.kind === kind)),
    );
    // The reply's message event carries what it answers, as history does.
    const replyEvent = seen.of('message').find((e) => e.message.seq === answer.seq);
    assert.ok(replyEvent);
    assert.equal(replyEvent.message.reply_to, question.seq);
    assert.equal(replyEvent.message.reply_preview?.body, 'how much for the bike?');
    const edit = seen.of('change').find((e) => e.kind === 'edit');
    assert.ok(edit);
    assert.equal(edit.by, alice);
    assert.equal(edit.message.body, 'the blue bike is here');

    const history = await bobClient.history(conv);
    const reply = history.msgs.find((m) => m.seq === answer.seq);
    assert.ok(reply);
    assert.equal(reply.reply_to, question.seq);
    assert.equal(reply.reply_preview?.body, 'how much for the bike?');
    const caughtUp = await bobClient.changes(conv, 0);
    assert.deepEqual(
      caughtUp.msgs.map((m) => m.seq),
      [first.seq, answer.seq, mistake.seq],
      'each changed message once, as it is now',
    );
    assert.equal(caughtUp.rev, deleted.rev);
    assert.equal(caughtUp.next_rev, deleted.rev);

    const found = await bobClient.search('BIKE blue');
    assert.deepEqual(
      found.msgs.map((m) => m.seq),
      [first.seq],
    );
    assert.equal(found.convs[0]?.conv, conv);
    assert.equal((await bobClient.search('helo')).msgs.length, 0, 'the text before the edit');
    assert.equal((await bobClient.search('mistake')).msgs.length, 0, 'deleted');
    const paged = await bobClient.search('bike', { conv, limit: 1 });
    assert.equal(paged.has_more, true);
    assert.ok(paged.next_before !== undefined);
    const rest = await bobClient.search('bike', { conv, before: paged.next_before });
    assert.deepEqual(
      [...paged.msgs, ...rest.msgs].map((m) => m.seq),
      [question.seq, first.seq],
    );
    await assert.rejects(
      bobClient.search('"*()'),
      (error: unknown) => error instanceof ParleyError && error.code === 'bad_request',
    );
  });

  test('mute, archive and pin are kept for every device and muted leaves the badge', async () => {
    const alice = newUser();
    const bob = newUser();
    const phone = await connect(alice);
    const laptop = await connect(alice, { device: 'laptop' });
    const bobClient = await connect(bob);
    const seen = new Recorder(laptop);
    const { conv } = await phone.openConversation(bob);
    await bobClient.sendMessage(conv, 'one');
    await bobClient.sendMessage(conv, 'two');
    const muted = await phone.setConversation(conv, { muted: true, pinned: true });
    assert.equal(muted.changed, true);
    assert.equal(muted.unread_total, 0);
    assert.equal(typeof muted.pinned_at, 'number');
    await waitFor('the laptop is told', () =>
      seen.of('settings').some((e) => e.settings.conv === conv && e.settings.muted),
    );
    const summary = await laptop.getConversation(conv);
    assert.equal(summary.muted, true);
    assert.equal(summary.archived, false);
    assert.equal(summary.pinned_at, muted.pinned_at);
    assert.equal(summary.unread, 2, 'its own count stays');
    assert.equal((await laptop.listConversations()).unread_total, 0);
    assert.equal((await bobClient.getConversation(conv)).muted, false, 'hers alone');
  });
});
