import mqtt from 'mqtt';
import type { MqttClient } from 'mqtt';

import { ParleyClient } from '../../src/index.js';
import type { ParleyClientOptions, ParleyEvent } from '../../src/index.js';
import { Stack } from './stack.js';

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` until it is true; throws naming `what` after `timeoutMs`. */
export async function waitFor(
  what: string,
  check: () => boolean,
  timeoutMs = 15000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await sleep(20);
  }
}

/** Every event a client emitted, in order, for assertions. */
export class Recorder {
  readonly events: ParleyEvent[] = [];

  constructor(client: ParleyClient) {
    client.onEvent((event) => this.events.push(event));
  }

  of<T extends ParleyEvent['type']>(type: T): Extract<ParleyEvent, { type: T }>[] {
    return this.events.filter(
      (event): event is Extract<ParleyEvent, { type: T }> => event.type === type,
    );
  }

  messagesIn(conv: string): { seq: number; body: string; cmid: string; live: boolean }[] {
    return this.of('message')
      .filter((event) => event.message.conv === conv)
      .map((event) => ({
        seq: event.message.seq,
        body: event.message.body,
        cmid: event.message.cmid,
        live: event.live,
      }));
  }
}

export function connectUser(
  stack: Stack,
  user: string,
  extra: Partial<ParleyClientOptions> = {},
): Promise<ParleyClient> {
  return ParleyClient.connect({
    url: stack.mqttsUrl,
    user,
    password: stack.password(user),
    ca: stack.caPem,
    device: 'test',
    ...extra,
  });
}

/** A plain MQTT client logged in as `user`, subscribed to its whole inbox: sees every copy. */
export async function rawObserver(
  stack: Stack,
  user: string,
): Promise<{ client: MqttClient; payloads: { topic: string; json: Record<string, unknown> }[] }> {
  const payloads: { topic: string; json: Record<string, unknown> }[] = [];
  const client = await mqtt.connectAsync(stack.mqttsUrl, {
    clientId: `${user}-observer`,
    username: user,
    password: stack.password(user),
    ca: stack.caPem,
    protocolVersion: 5,
    reconnectPeriod: 1000,
  });
  client.on('message', (topic, payload) => {
    // On .../bin the JSON is the first line, raw bytes follow (docs/protocol.md).
    const newline = topic.endsWith('/bin') ? payload.indexOf(0x0a) : -1;
    const text = (newline >= 0 ? payload.subarray(0, newline) : payload).toString();
    payloads.push({ topic, json: JSON.parse(text) as Record<string, unknown> });
  });
  await client.subscribeAsync(`parley/v1/u/${user}/#`, { qos: 1 });
  return { client, payloads };
}
