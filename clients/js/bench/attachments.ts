// The SDK's attachment throughput (docs/attachments.md, "Performance"): prints figures, asserts
// nothing about speed. Run by `tools/bench-attachments.sh --sdk`, which builds what it needs and
// sets the environment of the tests (test/support/stack.ts): a private Mosquitto (TLS, as the
// SDK's users reach it) and parleyd with the attachments plugin, on loopback.
//
// Each round, for a file of PARLEY_BENCH_MIB MiB (default 25):
//   raw broker  the same payloads the SDK's raw upload publishes (a JSON line, a newline, 256 KiB),
//               from one MQTT.js client to another through the broker alone, 16 in flight;
//   SDK raw     ParleyClient.uploadAttachment of a Blob (its SHA-256 pass, attach.begin, the
//               chunks on .../bin, attach.commit), then downloadAttachment, checked byte for byte;
//   SDK base64  the same with rawBytes: false (chunks in JSON), for comparison;
// and, apart, how long the SDK's SHA-256 pass alone takes over the same Blob.
// The broker's publish limit and parleyd's per-user limits are lifted: it measures the path.
import { createHash } from 'node:crypto';
import { loadavg } from 'node:os';

import mqtt from 'mqtt';

import { sha256Hex } from '../src/attachments.js';
import { ParleyClient } from '../src/index.js';
import { textFile } from '../test/support/files.js';
import { Stack } from '../test/support/stack.js';

const MIB = Number(process.env['PARLEY_BENCH_MIB'] ?? 25);
const ROUNDS = Number(process.env['PARLEY_BENCH_ROUNDS'] ?? 2);
const WINDOW = 16;
const RAW_CHUNK = 256 * 1024;

function rate(bytes: number, seconds: number): string {
  return `${(bytes / (1024 * 1024) / seconds).toFixed(1)} MiB/s (${seconds.toFixed(2)} s)`;
}

function seconds(since: bigint): number {
  return Number(process.hrtime.bigint() - since) / 1e9;
}

function digest(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The raw broker: the SDK's chunk payloads from parleyd's account to bob's inbox, a window in flight. */
async function rawBroker(stack: Stack, file: Uint8Array): Promise<number> {
  const options = { ca: stack.caPem, protocolVersion: 5 as const, reconnectPeriod: 0 };
  const receiver = await mqtt.connectAsync(stack.mqttsUrl, {
    ...options,
    clientId: 'bob-bench',
    username: 'bob',
    password: stack.password('bob'),
  });
  const sender = await mqtt.connectAsync(stack.mqttsUrl, {
    ...options,
    clientId: 'parleyd-bench',
    username: Stack.service.user,
    password: Stack.service.password,
  });
  try {
    await receiver.subscribeAsync('parley/v1/u/bob/bin', { qos: 1 });
    const chunks = Math.ceil(file.length / RAW_CHUNK);
    const payloads = Array.from({ length: chunks }, (_, index) => {
      const line = new TextEncoder().encode(
        JSON.stringify({ op: 'attach.chunk', id: `c${index}`, upload: 'x'.repeat(24), index }),
      );
      const bytes = file.subarray(index * RAW_CHUNK, (index + 1) * RAW_CHUNK);
      const payload = Buffer.alloc(line.length + 1 + bytes.length);
      payload.set(line, 0);
      payload[line.length] = 0x0a;
      payload.set(bytes, line.length + 1);
      return payload;
    });
    let received = 0;
    let wake: (() => void) | undefined;
    receiver.on('message', () => {
      received += 1;
      wake?.();
    });
    const until = (count: number): Promise<void> =>
      new Promise((resolve) => {
        const check = (): void => {
          if (received >= count) {
            wake = undefined;
            resolve();
          }
        };
        wake = check;
        check();
      });
    const start = process.hrtime.bigint();
    for (let index = 0; index < chunks; index++) {
      if (index >= WINDOW) {
        await until(index - WINDOW + 1);
      }
      sender.publish('parley/v1/u/bob/bin', payloads[index] as Buffer, { qos: 1 });
    }
    await until(chunks);
    return seconds(start);
  } finally {
    await sender.endAsync();
    await receiver.endAsync();
  }
}

async function sdkRun(
  stack: Stack,
  file: Uint8Array,
  raw: boolean,
  name: string,
): Promise<{ up: number; down: number; identical: boolean; rssBefore: number; rssPeak: number }> {
  const client = await ParleyClient.connect({
    url: stack.mqttsUrl,
    user: 'alice',
    password: stack.password('alice'),
    ca: stack.caPem,
    device: 'bench',
    rawBytes: raw,
  });
  try {
    const blob = new Blob([file]);
    const rssBefore = process.memoryUsage.rss();
    let rssPeak = rssBefore;
    const sampler = setInterval(() => {
      rssPeak = Math.max(rssPeak, process.memoryUsage.rss());
    }, 10);
    const upStart = process.hrtime.bigint();
    const attachment = await client.uploadAttachment(blob, { name, mime: 'text/plain' });
    const up = seconds(upStart);
    clearInterval(sampler);
    const downStart = process.hrtime.bigint();
    const back = await client.downloadAttachment(attachment.id);
    const down = seconds(downStart);
    return { up, down, identical: digest(back) === digest(file), rssBefore, rssPeak };
  } finally {
    await client.close();
  }
}

async function main(): Promise<void> {
  const stack = await Stack.start({
    users: ['alice', 'bob'],
    attachments: true,
    unlimited: true,
    transfer: { burstBytes: 64 * 1024 * 1024, bytesPerSecond: 0 },
  });
  let allIdentical = true;
  try {
    const size = MIB * 1024 * 1024;
    console.log(
      `file: ${MIB} MiB of text, SDK over mqtts (TLS) to a local broker, parleyd on SQLite, ` +
        `${WINDOW} chunks in flight; Node ${process.versions.node}`,
    );
    for (let round = 1; round <= ROUNDS; round++) {
      // Other bytes each round: the store keeps identical bytes once.
      const file = textFile(size, 100 + round);
      console.log(
        `\nround ${round}, load average: ${loadavg()
          .map((l) => l.toFixed(2))
          .join(' ')}`,
      );
      console.log('| path | upload | download |\n|---|---|---|');
      const rawSeconds = await rawBroker(stack, file);
      console.log(`| raw broker, same payloads (256 KiB) | ${rate(size, rawSeconds)} | |`);
      for (const raw of [true, false]) {
        const run = await sdkRun(stack, file, raw, `bench-${round}-${raw ? 'raw' : 'b64'}.txt`);
        allIdentical &&= run.identical;
        console.log(
          `| SDK, ${raw ? 'raw bytes on .../bin (256 KiB)' : 'base64 in JSON (32 KiB)'} | ` +
            `${rate(size, run.up)} | ${rate(size, run.down)}${run.identical ? '' : ' NOT IDENTICAL'} |`,
        );
        if (raw) {
          console.log(
            `(bench process RSS during the raw upload: ${(run.rssBefore / 2 ** 20).toFixed(0)} → ` +
              `peak ${(run.rssPeak / 2 ** 20).toFixed(0)} MiB, the ${MIB} MiB Blob included)`,
          );
        }
      }
      const hashStart = process.hrtime.bigint();
      await sha256Hex(new Blob([file]));
      console.log(
        `the SDK's SHA-256 pass alone (@noble/hashes): ${rate(size, seconds(hashStart))}`,
      );
    }
  } finally {
    await stack.stop();
  }
  console.log(`\ndownloads byte-identical: ${allIdentical ? 'yes' : 'NO'}`);
  if (!allIdentical) {
    process.exitCode = 1;
  }
}

await main();
