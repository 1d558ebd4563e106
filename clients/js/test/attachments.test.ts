// The SDK's attachment calls against a real Mosquitto and parleyd with the attachments plugin
// (test/support/stack.ts, `attachments`): upload, send, receive, download over MQTT and by signed
// URL, refusals as typed errors, and uploads that survive a dropped connection or a restart.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import { ConnectionError, ParleyClient, ParleyError } from '../src/index.js';
import type { Attachment, UploadProgress } from '../src/index.js';
import { pngImage, textFile } from './support/files.js';
import { FaultyProxy } from './support/proxy.js';
import { Stack } from './support/stack.js';
import { Recorder, connectUser, waitFor } from './support/util.js';

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

    const file = textFile(300 * 1024 + 17, 1); // 10 chunks, the last one short
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
      [10, 10, file.length],
    );

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

    // And by the signed URL a browser would use.
    const url = await bobClient.attachmentUrl(attachment.id);
    assert.ok(url.startsWith(`${stack.httpUrl ?? ''}/ext/attachments/file?`), url);
    const response = await fetch(url);
    assert.equal(response.status, 200);
    assert.equal(sha256(new Uint8Array(await response.arrayBuffer())), sha256(file));
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
    const file = textFile(2 * 1024 * 1024, 3); // 64 chunks
    let cut = false;
    const attachment = await client.uploadAttachment(
      file,
      { name: 'long.txt', mime: 'text/plain' },
      {
        onProgress: (p) => {
          if (!cut && p.chunksDone >= 10) {
            cut = true;
            proxy.cut();
          }
        },
      },
    );
    assert.ok(cut);
    assert.ok(proxy.accepted >= 2, 'the client reconnected');
    assert.equal(sha256(await client.downloadAttachment(attachment.id)), sha256(file));
  });

  test('an upload interrupted by a closed client resumes where the server stands', async () => {
    const alice = newUser();
    const proxy = await FaultyProxy.start(brokerPort());
    cleanups.push(() => proxy.stop());
    const first = await connect(alice, { url: proxy.url, device: 'first' });
    const file = textFile(2 * 1024 * 1024, 4); // 64 chunks
    let upload = '';
    const interrupted = first.uploadAttachment(
      file,
      { name: 'resumed.txt', mime: 'text/plain' },
      {
        window: 4,
        onProgress: (p) => {
          upload = p.upload;
          if (p.chunksDone === 20) {
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
    const attachment: Attachment = await second.uploadAttachment(
      file,
      { name: 'resumed.txt', mime: 'text/plain' },
      { resume: upload, onProgress: (p) => progress.push(p) },
    );
    assert.equal(progress[0]?.upload, upload, 'the same upload went on');
    const resumedAt = progress[0].chunksDone;
    assert.ok(
      resumedAt >= 20 && resumedAt < 64,
      `resumed from what the server had: ${resumedAt} of 64 chunks`,
    );
    assert.equal(sha256(await second.downloadAttachment(attachment.id)), sha256(file));
  });

  test('an aborted upload is dropped on the server', async () => {
    const alice = newUser();
    const client = await connect(alice);
    const controller = new AbortController();
    let upload = '';
    const aborted = client.uploadAttachment(
      textFile(2 * 1024 * 1024, 5),
      { name: 'dropped.txt', mime: 'text/plain' },
      {
        onProgress: (p) => {
          upload = p.upload;
          if (p.chunksDone >= 5) {
            controller.abort();
          }
        },
        signal: controller.signal,
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
