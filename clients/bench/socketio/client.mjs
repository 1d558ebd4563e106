// The load generator for the Socket.IO peer of the benchmark (docs/performance.md): the same
// loads as parley-bench's (users in 1:1 pairs or groups, a window of messages awaiting their
// acknowledgement per sender at flood, or a rate with senders drawn at random and latency from
// when each message was due), every user a socket.io-client connection (WebSocket) in this one
// Node process, and the same books: every acknowledged message must reach every member once.
// Writes one JSON report (parley-bench's keys) to --out.
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { io } from 'socket.io-client';

const { values: options } = parseArgs({
  options: {
    url: { type: 'string' },
    users: { type: 'string', default: '100' },
    'group-size': { type: 'string', default: '2' },
    rate: { type: 'string', default: '0' },
    window: { type: 'string', default: '20' },
    seconds: { type: 'string', default: '8' },
    drain: { type: 'string', default: '30' },
    'body-bytes': { type: 'string', default: '128' },
    'max-unanswered': { type: 'string', default: '10' },
    out: { type: 'string' },
  },
});
const userCount = Number(options.users);
const groupSize = Number(options['group-size']);
const rate = Number(options.rate);
const windowSize = Number(options.window);
const seconds = Number(options.seconds);
const maxUnanswered = Number(options['max-unanswered']);
const body = 'x'.repeat(Number(options['body-bytes']));
const runTag = `-${Date.now()}-`;

const users = [];
for (let i = 0; i < userCount; i++) {
  users.push({
    uid: `bench-${String(i + 1).padStart(4, '0')}`,
    socket: null,
    conversation: -1,
    due: [], // by message number: when it was due (ms since start)
    heldBack: [],
    outstanding: 0,
    received: new Map(), // message id -> copies
  });
}
const conversations = [];

function connect(user) {
  return new Promise((resolve, reject) => {
    const socket = io(options.url, {
      transports: ['websocket'],
      auth: { user: user.uid },
      forceNew: true,
      reconnection: false,
    });
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', reject);
  });
}

await Promise.all(
  users.map(async (user) => {
    user.socket = await connect(user);
  }),
);
for (let first = 0; first + groupSize <= userCount; first += groupSize) {
  const creator = users[first];
  const reply =
    groupSize === 2
      ? await creator.socket.emitWithAck('conv.open', { peer: users[first + 1].uid })
      : await creator.socket.emitWithAck('conv.create', {
          title: 'bench',
          members: users.slice(first + 1, first + groupSize).map((u) => u.uid),
        });
  const members = [];
  for (let m = first; m < first + groupSize; m++) {
    members.push(m);
    users[m].conversation = conversations.length;
  }
  conversations.push({ id: reply.conv, members, replies: new Map() }); // message id -> acks
}
const senders = conversations.length * groupSize;
process.stderr.write(
  `  ${senders} users connected (socket.io-client), ${conversations.length} conversations\n`,
);

let start = 0;
let sending = false;
let sent = 0;
let replies = 0;
let stored = 0;
let deliveredAll = 0;
let deliveredOthers = 0;
let lastReplyMs = 0;
let lastDeliveryMs = 0;
const replyMicros = [];
const deliveryMicros = [];
const refused = {};

for (const [index, user] of users.entries()) {
  user.socket.on('msg', (event) => {
    const arrived = performance.now() - start;
    const conversation = conversations[user.conversation];
    if (conversation === undefined || event.conv !== conversation.id) {
      return;
    }
    user.received.set(event.id, (user.received.get(event.id) ?? 0) + 1);
    deliveredAll++;
    if (event.sender === user.uid) {
      return;
    }
    deliveredOthers++;
    lastDeliveryMs = arrived;
    deliveryMicros.push(Math.max(0, Math.round((arrived - event.meta.t) * 1000)));
  });
  user.index = index;
}

function send(index, dueMs) {
  const user = users[index];
  const number = user.due.length;
  user.due.push(dueMs);
  user.outstanding++;
  sent++;
  const conversation = conversations[user.conversation];
  user.socket.emit(
    'msg.send',
    { conv: conversation.id, cmid: `${user.uid}${runTag}${number}`, body, meta: { t: dueMs } },
    (reply) => {
      const arrived = performance.now() - start;
      replies++;
      user.outstanding--;
      lastReplyMs = arrived;
      replyMicros.push(Math.max(0, Math.round((arrived - user.due[number]) * 1000)));
      if (reply.ok) {
        stored++;
        conversation.replies.set(reply.id, (conversation.replies.get(reply.id) ?? 0) + 1);
      } else {
        refused[reply.error.code] = (refused[reply.error.code] ?? 0) + 1;
      }
      if (rate > 0) {
        if (user.heldBack.length > 0 && user.outstanding < maxUnanswered) {
          send(index, user.heldBack.shift());
        }
      } else if (sendingActive()) {
        send(index, performance.now() - start);
      }
    },
  );
}

let deadline = 0;
function sendingActive() {
  return sending && performance.now() < deadline;
}

const cpuBefore = process.cpuUsage();
start = performance.now();
deadline = start + seconds * 1000;
sending = true;
let random = 20261122;
function nextRandom() {
  // A fixed-seed generator (xorshift), so every run makes the same draws.
  random ^= random << 13;
  random ^= random >>> 17;
  random ^= random << 5;
  return (random >>> 0) / 4294967296;
}
await new Promise((resolve) => {
  if (rate <= 0) {
    for (let round = 0; round < windowSize; round++) {
      for (let user = 0; user < senders; user++) {
        send(user, performance.now() - start);
      }
    }
    setTimeout(resolve, seconds * 1000);
    return;
  }
  const interval = 1000 / rate;
  let nextDue = 0;
  const pace = () => {
    const now = performance.now() - start;
    while (nextDue <= now && sendingActive()) {
      const index = Math.floor(nextRandom() * senders);
      const user = users[index];
      if (user.outstanding >= maxUnanswered || user.heldBack.length > 0) {
        user.heldBack.push(nextDue);
      } else {
        send(index, nextDue);
      }
      nextDue += interval;
    }
    if (!sendingActive()) {
      resolve();
      return;
    }
    // Node's timers have a resolution of 1 ms: a send may leave up to 1 ms after it was due,
    // which counts in its latency (sendLateness below says how much).
    setTimeout(pace, Math.max(0, nextDue - (performance.now() - start)));
  };
  pace();
});
sending = false;
const sendingSeconds = (performance.now() - start) / 1000;
const drainEnd = performance.now() + Number(options.drain) * 1000;
await new Promise((resolve) => {
  const check = () => {
    for (let index = 0; index < senders; index++) {
      const user = users[index];
      while (user.heldBack.length > 0 && user.outstanding < maxUnanswered) {
        send(index, user.heldBack.shift());
      }
    }
    const heldBack = users.some((u) => u.heldBack.length > 0);
    if (
      (!heldBack && replies >= sent && deliveredAll >= stored * groupSize) ||
      performance.now() > drainEnd
    ) {
      resolve();
      return;
    }
    setTimeout(check, 20);
  };
  check();
});
const cpu = process.cpuUsage(cpuBefore);
const elapsed = (performance.now() - start) / 1000;

let deliveriesExpected = 0;
let delivered = 0;
let lostDeliveries = 0;
let duplicateDeliveries = 0;
let duplicateStores = 0;
for (const conversation of conversations) {
  for (const [id, acks] of conversation.replies) {
    duplicateStores += acks - 1;
    for (const member of conversation.members) {
      deliveriesExpected++;
      const copies = users[member].received.get(id) ?? 0;
      if (copies === 0) {
        lostDeliveries++;
      } else {
        delivered++;
        duplicateDeliveries += copies - 1;
      }
    }
  }
}
function summarize(micros) {
  micros.sort((a, b) => a - b);
  const at = (fraction) =>
    micros.length === 0
      ? 0
      : micros[Math.min(micros.length - 1, Math.floor(fraction * micros.length))] / 1000;
  return {
    count: micros.length,
    p50_ms: at(0.5),
    p90_ms: at(0.9),
    p99_ms: at(0.99),
    max_ms: micros.length === 0 ? 0 : micros[micros.length - 1] / 1000,
  };
}
const cpuSeconds = (cpu.user + cpu.system) / 1e6;
const report = {
  users: userCount,
  group_size: groupSize,
  offered_rate: rate,
  window: windowSize,
  sending_seconds: sendingSeconds,
  elapsed_seconds: elapsed,
  sent,
  stored,
  refused,
  unanswered: sent - replies,
  duplicate_stores: duplicateStores,
  seq_gaps: 0, // the stack has no per-conversation seq: ids come from AUTO_INCREMENT
  deliveries_expected: deliveriesExpected,
  delivered,
  lost_deliveries: lostDeliveries,
  duplicate_deliveries: duplicateDeliveries,
  stored_per_second: lastReplyMs > 0 ? stored / (lastReplyMs / 1000) : 0,
  delivered_per_second: lastDeliveryMs > 0 ? deliveredOthers / (lastDeliveryMs / 1000) : 0,
  reply_latency: summarize(replyMicros),
  delivery_latency: summarize(deliveryMicros),
  bench_cpu_percent: (100 * cpuSeconds) / elapsed,
  bench_cpu_us_per_message: stored > 0 ? (1e6 * cpuSeconds) / stored : -1,
  held_back: users.reduce((total, u) => total + u.heldBack.length, 0),
  generator: 'socket.io-client, one Node process',
};
writeFileSync(options.out, JSON.stringify(report) + '\n');
for (const user of users) {
  user.socket.disconnect();
}
process.exit(0);
