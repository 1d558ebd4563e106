// A TCP proxy on loopback between a client and the broker, for fault tests: it passes the TLS
// bytes through untouched, and on demand cuts every connection, refuses new ones, or swallows
// what the broker sends (a reply lost on the way).
import { createConnection, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';

export class FaultyProxy {
  private readonly pairs = new Set<{ client: Socket; upstream: Socket }>();
  private refusing = false;
  private swallowing = false;
  /** Connections accepted so far (reconnects show here). */
  accepted = 0;

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(targetPort: number): Promise<FaultyProxy> {
    const holder: { proxy?: FaultyProxy } = {};
    const server = createServer((client) => {
      holder.proxy?.accept(client, targetPort);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const proxy = new FaultyProxy(server, port);
    holder.proxy = proxy;
    return proxy;
  }

  /** `mqtts://127.0.0.1:PORT` (the broker's certificate names 127.0.0.1, so TLS still verifies). */
  get url(): string {
    return `mqtts://127.0.0.1:${this.port}`;
  }

  private accept(client: Socket, targetPort: number): void {
    if (this.refusing) {
      client.destroy();
      return;
    }
    this.accepted += 1;
    const upstream = createConnection({ host: '127.0.0.1', port: targetPort });
    const pair = { client, upstream };
    this.pairs.add(pair);
    client.on('data', (chunk: Buffer) => upstream.write(chunk));
    upstream.on('data', (chunk: Buffer) => {
      if (!this.swallowing) {
        client.write(chunk);
      }
    });
    const close = (): void => {
      client.destroy();
      upstream.destroy();
      this.pairs.delete(pair);
    };
    client.on('close', close);
    upstream.on('close', close);
    client.on('error', close);
    upstream.on('error', close);
  }

  /** Drops every open connection at once, as a network failure would. */
  cut(): void {
    for (const { client, upstream } of this.pairs) {
      client.destroy();
      upstream.destroy();
    }
    this.pairs.clear();
  }

  /** While true, new connections are closed at once (the client stays offline). */
  refuse(on: boolean): void {
    this.refusing = on;
  }

  /** While true, what the broker sends is dropped (the client hears nothing). */
  swallow(on: boolean): void {
    this.swallowing = on;
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
