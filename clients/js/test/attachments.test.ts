// The SDK's attachment calls against a real Mosquitto and parleyd with the attachments plugin
// (test/support/stack.ts, `attachments`): upload, send, receive, download over MQTT (raw bytes on
// the .../bin topics, and base64 in JSON) and by signed URL, refusals as typed errors, uploads
// that survive a dropped connection or a restart, and the byte budget's transfer_limited.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import { ConnectionError, ParleyClient, ParleyError } from '../src/index.js';
import type { Attachment, BlobLike, UploadProgress } from '../src/index.js';
import { pngImage, textFile } from './support/files.js';
import { FaultyProxy } from './support/proxy.js';
import { Stack } from './support/stack.js';
import { Recorder, connectUser, rawObserver, waitFor } from './support/util.js';

const USERS = Array.from({ length: 20 }, (_, i) => `f${i + 1}`);
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

function brokerPort(): number {
  return Number(new URL(stack.mqttsUrl.replace('mqtts:', 'https:')).port);
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * What the broker saw of `user`'s commands with bytes (`c2s/{user}/bin`) and replies with bytes
 * (`u/{user}/bin`), from its log (`log_type all` logs every PUBLISH with its topic).
 */
function binTraffic(user: string): { sent: number; received: number } {
  const log = stack.brokerLog();
  const count = (pattern: RegExp): number => log.match(pattern)?.length ?? 0;
  return {
    sent: count(
      new RegExp(`Received PUBLISH from ${user}-[^ ]* \\([^)]*'parley/v1/c2s/${user}/bin'`, 'g'),
    ),
    received: count(
      new RegExp(`Sending PUBLISH to ${user}-[^ ]* \\([^)]*'parley/v1/u/${user}/bin'`, 'g'),
    ),
  };
}

async function refusal(promise: Promise<unknown>): Promise<ParleyError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ParleyError, `a ParleyError, not ${String(error)}`);
    return error;
  }
  assert.fail('the command was not refused');
}

before(async () => {
  stack = await Stack.start({ users: USERS, attachments: true });
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

describe('attachments', { timeout: 120000 }, () => {
  test('a file uploaded and sent arrives with the message; the other member downloads the same bytes', async () => {
    const alice = newUser();
    const bob = newUser();
    const aliceClient = await connect(alice);
    const bobClient = await connect(bob);
    const bobEvents = new Recorder(bobClient);
    const conv = (await aliceClient.openConversation(bob)).conv;

    // Raw bytes on .../bin, 256 KiB chunks: 4 chunks, the last one short.
    const file = textFile(3 * 256 * 1024 + 17, 1);
    const progress: UploadProgress[] = [];
    const attachment = await aliceClient.uploadAttachment(
      new Blob([file]),
      { name: 'notes.txt', mime: 'text/plain' },
      { onProgress: (p) => progress.push(p) },
    );
    assert.equal(attachment.name, 'notes.txt');
    assert.equal(attachment.mime, 'text/plain');
    assert.equal(attachment.size, file.length);
    assert.equal(progress[0]?.chunksDone, 0);
    assert.deepEqual(
      [progress.at(-1)?.chunksDone, progress.at(-1)?.chunks, progress.at(-1)?.sentBytes],
      [4, 4, file.length],
    );
    // At least: a loaded machine may resend a chunk whose reply was slow.
    assert.ok(binTraffic(alice).sent >= 4, 'each chunk went as raw bytes on c2s/{uid}/bin');

    const sent = await aliceClient.sendMessage(conv, 'the notes', {
      attachments: [attachment.id],
    });
    await waitFor('bob to get the message', () =>
      bobEvents.of('message').some((e) => e.message.seq === sent.seq),
    );
    const received = bobEvents.of('message').find((e) => e.message.seq === sent.seq)?.message;
    assert.deepEqual(received?.attachments, [attachment]);
    const history = await bobClient.history(conv);
    assert.deepEqual(history.msgs.at(-1)?.attachments, [attachment]);

    const downloaded = await bobClient.downloadAttachment(attachment.id);
    assert.equal(downloaded.length, file.length);
    assert.equal(sha256(downloaded), sha256(file));
    const bobBin = binTraffic(bob);
    assert.ok(
      bobBin.sent >= 4 && bobBin.received >= 4,
      `each chunk asked on c2s/{uid}/bin and answered on u/{uid}/bin: ${JSON.stringify(bobBin)}`,
    );

    // And by the signed URL a browser would use.
    const url = await bobClient.attachmentUrl(attachment.id);
    assert.ok(url.startsWith(`${stack.httpUrl ?? ''}/ext/attachments/file?`), url);
    const response = await fetch(url);
    assert.equal(response.status, 200);
    assert.equal(sha256(new Uint8Array(await response.arrayBuffer())), sha256(file));
  });

  test('base64 chunks in JSON (raw: false) still go up and down, byte-identical', async () => {
    const alice = newUser();
    const client = await connect(alice, { rawBytes: false });
    const file = textFile(100 * 1024 + 3, 7); // 4 chunks of 32 KiB, the last one short
    const progress: UploadProgress[] = [];
    const attachment = await client.uploadAttachment(
      file,
      { name: 'plain.txt', mime: 'text/plain' },
      { onProgress: (p) => progress.push(p) },
    );
    assert.equal(progress.at(-1)?.chunks, 4);
    assert.equal(sha256(await client.downloadAttachment(attachment.id)), sha256(file));
    assert.deepEqual(binTraffic(alice), { sent: 0, received: 0 }, 'nothing on .../bin');
    // And the raw path for one call of the same client.
    assert.equal(
      sha256(await client.downloadAttachment(attachment.id, { raw: true })),
      sha256(file),
    );
    assert.ok(binTraffic(alice).received >= 1, 'the raw download came on u/{uid}/bin');
  });

  test('a file that changed between the hash and the chunks is refused checksum_mismatch', async () => {
    const alice = newUser();
    const client = await connect(alice);
    // The SDK reads the file twice (the SHA-256 first, then the chunks): a file edited on disk in
    // between sends other bytes than it declared.
    const original = textFile(600 * 1024, 8);
    const edited = original.slice();
    edited[300 * 1024] = 0x21;
    assert.notEqual(sha256(edited), sha256(original));
    let hashed = false;
    const file: BlobLike = {
      size: original.length,
      slice(start, end) {
        const bytes = hashed ? edited : original;
        hashed = true; // one piece hashes 600 KiB: every later read is a chunk
        return new Blob([bytes.subarray(start, end)]);
      },
    };
    const refused = await refusal(
      client.uploadAttachment(file, { name: 'edited.txt', mime: 'text/plain' }),
    );
    assert.deepEqual([refused.code, refused.op], ['checksum_mismatch', 'attach.commit']);
    assert.ok(binTraffic(alice).sent >= 3, 'the chunks went up as raw bytes');
  });

  test('an image gets its size and a thumbnail, downloadable by chunks and by URL', async () => {
    const alice = newUser();
    const client = await connect(alice);
    const attachment = await client.uploadAttachment(pngImage(640, 480), {
      name: 'bike.png',
      mime: 'image/png',
    });
    assert.deepEqual(
      [attachment.mime, attachment.width, attachment.height],
      ['image/png', 640, 480],
    );
    assert.equal(attachment.thumbnail?.mime, 'image/webp');
    const thumbnail = await client.downloadAttachment(attachment.id, { variant: 'thumbnail' });
    assert.equal(thumbnail.length, attachment.thumbnail.size);
    assert.equal(Buffer.from(thumbnail.subarray(8, 12)).toString('ascii'), 'WEBP');
    const response = await fetch(await client.attachmentUrl(attachment.id, 'thumbnail'));
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'image/webp');
    assert.equal(sha256(new Uint8Array(await response.arrayBuffer())), sha256(thumbnail));
  });

  test('each refusal rejects with its typed code', async () => {
    const alice = newUser();
    const bob = newUser();
    const carol = newUser();
    const aliceClient = await connect(alice);
    const bobClient = await connect(bob);
    const carolClient = await connect(carol);
    const conv = (await bobClient.openConversation(alice)).conv;

    const svg = new TextEncoder().encode('<svg xmlns="http://www.w3.org/2000/svg"></svg>');
    const unsupported = await refusal(
      aliceClient.uploadAttachment(svg, { name: 'x.svg', mime: 'image/svg+xml' }),
    );
    assert.deepEqual([unsupported.code, unsupported.op], ['unsupported_type', 'attach.begin']);
    assert.match(unsupported.message, /image\/png/, 'the message lists the types taken');

    const mismatch = await refusal(
      aliceClient.uploadAttachment(pngImage(8, 8), { name: 'x.jpg', mime: 'image/jpeg' }),
    );
    assert.deepEqual([mismatch.code, mismatch.op], ['type_mismatch', 'attach.commit']);

    const tooLarge = await refusal(
      aliceClient.uploadAttachment(new Uint8Array(25 * 1024 * 1024 + 1), {
        name: 'big.txt',
        mime: 'text/plain',
      }),
    );
    assert.deepEqual([tooLarge.code, tooLarge.op], ['too_large', 'attach.begin']);

    // Bob's file: alice may not send it, and carol (never a member) may not read it.
    const bobs = await bobClient.uploadAttachment(textFile(1000, 2), {
      name: 'b.txt',
      mime: 'text/plain',
    });
    const notHers = await refusal(
      aliceClient.sendMessage(conv, 'not mine', { attachments: [bobs.id] }),
    );
    assert.deepEqual([notHers.code, notHers.op], ['forbidden', 'msg.send']);
    await bobClient.sendMessage(conv, 'mine', { attachments: [bobs.id] });
    assert.equal(
      sha256(await aliceClient.downloadAttachment(bobs.id)),
      sha256(textFile(1000, 2)),
      'a member of the conversation reads it',
    );
    const outsider = await refusal(carolClient.downloadAttachment(bobs.id));
    assert.deepEqual([outsider.code, outsider.op], ['forbidden', 'attach.info']);
    const outsiderUrl = await refusal(carolClient.attachmentUrl(bobs.id));
    assert.equal(outsiderUrl.code, 'forbidden');
  });

  test('an upload goes on across a dropped connection', async () => {
    const alice = newUser();
    const proxy = await FaultyProxy.start(brokerPort());
    cleanups.push(() => proxy.stop());
    const client = await connect(alice, { url: proxy.url, reconnectMinDelayMs: 100 });
    const file = textFile(6 * 1024 * 1024, 3); // 24 raw chunks
    let cut = false;
    const attachment = await client.uploadAttachment(
      file,
      { name: 'long.txt', mime: 'text/plain' },
      {
        window: 4,
        onProgress: (p) => {
          if (!cut && p.chunksDone >= 6) {
            cut = true;
            proxy.cut();
          }
        },
      },
    );
    assert.ok(cut);
    assert.ok(proxy.accepted >= 2, 'the client reconnected');
    assert.ok(binTraffic(alice).sent >= 24, 'raw chunks, those cut off sent again');
    assert.equal(sha256(await client.downloadAttachment(attachment.id)), sha256(file));
  });

  test('an upload interrupted by a closed client resumes where the server stands', async () => {
    const alice = newUser();
    const proxy = await FaultyProxy.start(brokerPort());
    cleanups.push(() => proxy.stop());
    const first = await connect(alice, { url: proxy.url, device: 'first' });
    const file = textFile(6 * 1024 * 1024, 4); // 24 raw chunks
    let upload = '';
    const interrupted = first.uploadAttachment(
      file,
      { name: 'resumed.txt', mime: 'text/plain' },
      {
        window: 4,
        onProgress: (p) => {
          upload = p.upload;
          if (p.chunksDone === 8) {
            proxy.refuse(true); // the app dies: no more chunks reach the server
            proxy.cut();
          }
        },
      },
    );
    await waitFor('the connection to drop', () => first.connectionState === 'reconnecting');
    await first.close();
    await assert.rejects(
      interrupted,
      (error: unknown) => error instanceof ConnectionError && error.reason === 'closed',
    );

    const second = await connect(alice, { device: 'second' });
    const progress: UploadProgress[] = [];
    const binBefore = binTraffic(alice).sent;
    // Begun raw, it goes on raw, as attach.status says, though this call asks for base64.
    const attachment: Attachment = await second.uploadAttachment(
      file,
      { name: 'resumed.txt', mime: 'text/plain' },
      { resume: upload, raw: false, onProgress: (p) => progress.push(p) },
    );
    assert.equal(progress[0]?.upload, upload, 'the same upload went on');
    const resumedAt = progress[0].chunksDone;
    assert.ok(
      resumedAt >= 8 && resumedAt < 24,
      `resumed from what the server had: ${resumedAt} of 24 chunks`,
    );
    assert.equal(progress.at(-1)?.chunksDone, 24);
    assert.ok(
      binTraffic(alice).sent - binBefore >= 24 - resumedAt,
      'the chunks left went as raw bytes on c2s/{uid}/bin',
    );
    assert.equal(sha256(await second.downloadAttachment(attachment.id)), sha256(file));
  });

  test('an aborted upload is dropped on the server', async () => {
    const alice = newUser();
    const client = await connect(alice);
    const controller = new AbortController();
    let upload = '';
    const aborted = client.uploadAttachment(
      textFile(8 * 1024 * 1024, 5),
      { name: 'dropped.txt', mime: 'text/plain' },
      {
        onProgress: (p) => {
          upload = p.upload;
          if (p.chunksDone >= 4) {
            controller.abort();
          }
        },
        signal: controller.signal,
        window: 2,
      },
    );
    await assert.rejects(aborted, (error: unknown) => (error as Error).name === 'AbortError');
    const gone = await refusal(
      (async () => {
        for (let i = 0; i < 50; i++) {
          await client.extension('attach.status', { upload });
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      })(),
    );
    assert.equal(gone.code, 'not_found');
  });
});

// Its own parleyd, with a byte budget small enough that a 3 MiB file runs past it both ways.
describe('attachments past the byte budget', { timeout: 120000 }, () => {
  let limited: Stack;
  before(async () => {
    limited = await Stack.start({
      users: ['t1'],
      attachments: true,
      transfer: { burstBytes: 1024 * 1024, bytesPerSecond: 1024 * 1024 },
    });
  });
  after(async () => {
    await limited.stop();
  });

  test('transfer_limited chunks are sent again after retry_after_ms, up and down', async () => {
    const observer = await rawObserver(limited, 't1');
    cleanups.push(() => observer.client.endAsync());
    const client = await connectUser(limited, 't1');
    clients.push(client);
    const file = textFile(3 * 1024 * 1024 + 5, 9); // 13 chunks, 3 MiB against a 1 MiB burst
    const attachment = await client.uploadAttachment(file, { name: 'big.txt', mime: 'text/plain' });
    const refusedUp = observer.payloads.filter(
      (p) => (p.json['error'] as { code?: string } | undefined)?.code === 'transfer_limited',
    );
    assert.ok(refusedUp.length > 0, 'the budget refused chunks on the way up');
    for (const { json } of refusedUp) {
      const error = json['error'] as { retry_after_ms?: unknown };
      assert.equal(typeof error.retry_after_ms, 'number', 'with retry_after_ms');
    }
    const downloaded = await client.downloadAttachment(attachment.id);
    assert.equal(sha256(downloaded), sha256(file));
    const refusedAll = observer.payloads.filter(
      (p) => (p.json['error'] as { code?: string } | undefined)?.code === 'transfer_limited',
    );
    assert.ok(refusedAll.length > refusedUp.length, 'and on the way down');
    // Each refused command was sent again, the same command (its id), and then answered. The
    // observer is a connection of its own: the broker may hand it the last answer after the
    // client that asked has it, so wait for it before asserting.
    const answered = (id: unknown): boolean =>
      observer.payloads.some((p) => p.json['id'] === id && p.json['ok'] === true);
    await waitFor('the observer to see every refused command answered', () =>
      refusedAll.every(({ json }) => answered(json['id'])),
    ).catch(() => undefined); // the assertions below name the one missing
    for (const { json } of refusedAll) {
      assert.ok(
        observer.payloads.some((p) => p.json['id'] === json['id'] && p.json['ok'] === true),
        `${String(json['id'])} answered after its refusal`,
      );
    }
  });
});
