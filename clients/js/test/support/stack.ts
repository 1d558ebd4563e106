// Real servers for the SDK's and the web client's tests: a Mosquitto with Parley's ACL and broker
// settings (config/mosquitto) and TLS listeners only, and the parleyd of the build tree on
// SQLite, each on free loopback ports in a temporary folder, with certificates from a CA made for
// the run. What tests/support does for the C++ tests, for the tests that run in Node.
//
// The paths come from the environment that ctest sets (tests/web/CMakeLists.txt):
//   PARLEY_SOURCE_DIR   the repository (config/mosquitto, scripts/)
//   PARLEY_PARLEYD      the parleyd binary to test
//   PARLEY_JWT_PLUGIN   Parley's broker plugin (subscription checks, publish limits, tokens)
//   PARLEY_ATTACHMENTS_PLUGIN the attachments plugin (parley_attachments.so), for `attachments`
//   PARLEY_ASAN_PRELOAD the ASan runtime to preload into Mosquitto for a sanitized plugin
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHmac } from 'node:crypto';
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface StackOptions {
  /** Users with passwords (`passwordOf(uid)`). */
  users: string[];
  /** parleyd's presence.away_after (a short one lets a test see `away`). Default 30s. */
  awayAfter?: string;
  /** Give the broker's plugin an HS256 secret for token logins (see {@link Stack.token}). */
  jwt?: boolean;
  /** Serve this folder over HTTPS with clients/web/serve.mjs (the web client's build). */
  webRoot?: string;
  /** parleyd's typing limit (burst, per second). Default the server's (5, 1). */
  typing?: { burst: number; perSecond: number };
  /** Turn off the broker's publish limit and parleyd's per-user ingress limits (for seeding). */
  unlimited?: boolean;
  /**
   * Load the attachments plugin (docs/attachments.md) with parleyd's HTTP listener on for its
   * signed URLs. With `webRoot`, the web server forwards `/ext/attachments/file` to that listener
   * (one origin for the page and its images, as a production reverse proxy does).
   */
  attachments?: boolean;
  /**
   * parleyd's budget of bytes per user for commands with bytes (`limits.user_transfer_burst_bytes`,
   * `limits.user_transfer_bytes_per_second`; 0 per second turns it off). Default the server's.
   */
  transfer?: { burstBytes: number; bytesPerSecond: number };
}

function required(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') {
    throw new Error(`${name} is not set: run the tests through ctest (tools/test.sh -L web)`);
  }
  return value;
}

export async function freePort(): Promise<number> {
  const [port] = await freePorts(1);
  return port as number;
}

// `count` different free loopback ports: each is held open until all are found, so two calls in a
// row cannot hand out the same port (the kernel may reuse a port as soon as it is closed, and a
// broker given one port for two listeners cannot start).
export async function freePorts(count: number): Promise<number[]> {
  const servers = Array.from({ length: count }, () => createServer());
  try {
    return await Promise.all(
      servers.map(
        (server) =>
          new Promise<number>((resolve, reject) => {
            server.unref();
            server.on('error', reject);
            server.listen(0, '127.0.0.1', () => {
              const address = server.address();
              resolve(typeof address === 'object' && address ? address.port : 0);
            });
          }),
      ),
    );
  } finally {
    await Promise.all(
      servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))),
    );
  }
}

function run(command: string, args: string[], cwd: string): void {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8' });
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr}${result.stdout}`);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const children = new Set<ChildProcess>();
// A test process that dies leaves no server behind: they also get SIGKILL when it exits
// (setpriv --pdeathsig), and a normal exit kills what is left.
process.on('exit', () => {
  for (const child of children) {
    child.kill('SIGKILL');
  }
});

/** One server process with its log file. */
class Server {
  private child: ChildProcess | undefined;
  private logStart = 0;

  constructor(
    readonly name: string,
    private readonly command: string[],
    readonly logFile: string,
    private readonly cwd: string,
    private readonly env: NodeJS.ProcessEnv = {},
  ) {}

  log(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(readyLine: string, timeoutMs = 20000): Promise<void> {
    if (this.child) {
      throw new Error(`${this.name} is already running`);
    }
    this.logStart = this.log().length;
    const out = openSync(this.logFile, 'a');
    const [program, ...args] = this.command;
    const child = spawn('setpriv', ['--pdeathsig', 'SIGKILL', '--', program ?? '', ...args], {
      cwd: this.cwd,
      stdio: ['ignore', out, out],
      env: { ...process.env, ...this.env },
    });
    closeSync(out);
    children.add(child);
    this.child = child;
    const status = { exited: false };
    child.on('exit', () => {
      status.exited = true;
      children.delete(child);
    });
    const deadline = Date.now() + timeoutMs;
    while (!this.log().slice(this.logStart).includes(readyLine)) {
      if (status.exited || Date.now() > deadline) {
        this.child = undefined;
        child.kill('SIGKILL');
        throw new Error(
          `${this.name} did not start (${status.exited ? 'exited' : 'timed out'}); its log:\n${this.log()}`,
        );
      }
      await sleep(50);
    }
  }

  /** SIGTERM, SIGKILL after 10 s; returns once it has exited. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (!child) {
      return;
    }
    this.child = undefined;
    if (child.exitCode !== null || child.signalCode !== null) {
      return;
    }
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
    await exited;
    clearTimeout(timer);
  }
}

/** A broker and a parleyd (and optionally the web client's server) for one test file. */
export class Stack {
  readonly dir: string;
  readonly caFile: string;
  readonly caPem: string;
  readonly mqttsUrl: string;
  readonly wssUrl: string;
  /** `https://127.0.0.1:PORT/` when `webRoot` was given. */
  readonly webUrl: string | undefined;
  /** parleyd's HTTP listener, `http://127.0.0.1:PORT`, when `attachments` was given. */
  readonly httpUrl: string | undefined;
  /** A user listed in parleyd's `admins` (for listing.upsert). */
  readonly admin = 'ops';
  /**
   * parleyd's own broker account: it may publish to any inbox (the benchmark's raw broker run
   * sends from it, as bench/attachments_bench.cpp does).
   */
  static readonly service = { user: 'parleyd', password: 'parleyd-secret' };
  private readonly jwtSecret: string | undefined;
  private readonly broker: Server;
  private readonly parleyd: Server;
  private readonly web: Server | undefined;

  private constructor(
    dir: string,
    ports: { mqtts: number; wss: number; web: number; http: number },
    servers: { broker: Server; parleyd: Server; web: Server | undefined },
    jwtSecret: string | undefined,
  ) {
    this.dir = dir;
    this.caFile = join(dir, 'ca.crt');
    this.caPem = readFileSync(this.caFile, 'utf8');
    this.mqttsUrl = `mqtts://127.0.0.1:${ports.mqtts}`;
    this.wssUrl = `wss://127.0.0.1:${ports.wss}`;
    this.webUrl = servers.web ? `https://127.0.0.1:${ports.web}/` : undefined;
    this.httpUrl = ports.http > 0 ? `http://127.0.0.1:${ports.http}` : undefined;
    this.broker = servers.broker;
    this.parleyd = servers.parleyd;
    this.web = servers.web;
    this.jwtSecret = jwtSecret;
  }

  static passwordOf(uid: string): string {
    return `pw-${uid}`;
  }

  static async start(options: StackOptions): Promise<Stack> {
    const source = required('PARLEY_SOURCE_DIR');
    const parleydPath = required('PARLEY_PARLEYD');
    const dir = mkdtempSync(join(tmpdir(), 'parley-web-'));
    makePki(dir);

    const users = ['parleyd', 'ops', ...options.users];
    writeFileSync(
      join(dir, 'passwd'),
      users
        .map(
          (uid) =>
            `${uid}:${uid === Stack.service.user ? Stack.service.password : Stack.passwordOf(uid)}\n`,
        )
        .join(''),
    );
    run('mosquitto_passwd', ['-U', join(dir, 'passwd')], dir);

    const [mqttsPort, wssPort, webPort, httpPort] = (await freePorts(4)) as [
      number,
      number,
      number,
      number,
    ];
    const ports = {
      mqtts: mqttsPort,
      wss: wssPort,
      web: webPort,
      http: options.attachments ? httpPort : 0,
    };
    let jwtSecret: string | undefined;
    // Parley's broker plugin runs in every broker Parley is behind (config/mosquitto/dev.conf):
    // subscription checks and the publish rate limit on its defaults (parleyd the service
    // account, 100 publishes/s per connection), and token logins when `jwt` is set.
    let pluginLines = `plugin ${required('PARLEY_JWT_PLUGIN')}\nplugin_opt_service_users parleyd\n`;
    const brokerEnv: NodeJS.ProcessEnv = {};
    const preload = process.env['PARLEY_ASAN_PRELOAD'];
    if (preload) {
      // A sanitized plugin in an uninstrumented broker (docs/testing.md, "Sanitizers").
      brokerEnv['LD_PRELOAD'] = preload;
      brokerEnv['ASAN_OPTIONS'] = 'detect_leaks=0';
    }
    if (options.jwt) {
      jwtSecret = 'test-secret-of-at-least-32-bytes-' + String(process.pid);
      writeFileSync(join(dir, 'jwt.secret'), jwtSecret);
      pluginLines += `plugin_opt_hs256_secret_file ${join(dir, 'jwt.secret')}\n`;
    }
    if (options.unlimited) {
      pluginLines += 'plugin_opt_publish_rate 0\n';
    }
    const cert = join(dir, 'server.crt');
    const key = join(dir, 'server.key');
    // `user root`: started as root, Mosquitto would switch to `mosquitto`, which cannot read this
    // folder (as in tests/support/MosquittoServer.cpp).
    writeFileSync(
      join(dir, 'mosquitto.conf'),
      `user root\n` +
        `listener ${ports.mqtts} 127.0.0.1\ncertfile ${cert}\nkeyfile ${key}\n` +
        `listener ${ports.wss} 127.0.0.1\nprotocol websockets\ncertfile ${cert}\nkeyfile ${key}\n` +
        `password_file ${join(dir, 'passwd')}\nacl_file ${source}/config/mosquitto/acl\n` +
        `persistence false\nlog_dest stderr\nlog_type all\n` +
        `include_dir ${source}/config/mosquitto/conf.d\n` +
        pluginLines,
    );
    const broker = new Server(
      'mosquitto',
      ['mosquitto', '-c', join(dir, 'mosquitto.conf')],
      join(dir, 'mosquitto.log'),
      dir,
      brokerEnv,
    );

    const typing = options.typing
      ? `typing: {burst: ${options.typing.burst}, per_second: ${options.typing.perSecond}}\n`
      : '';
    writeFileSync(
      join(dir, 'parleyd.yaml'),
      `broker:\n  uri: ssl://127.0.0.1:${ports.mqtts}\n  tls: {ca_file: ${join(dir, 'ca.crt')}}\n` +
        `  client_id: parleyd-web-tests\n  username: ${Stack.service.user}\n` +
        `  password: ${Stack.service.password}\n` +
        `  session_expiry: 5m\n` +
        `store:\n  backend: sqlite\n  sqlite: {path: parley.db, synchronous: normal}\n` +
        `presence: {away_after: ${options.awayAfter ?? '30s'}, sweep_interval: 250ms}\n` +
        typing +
        limitsConfig(options) +
        `log: {level: info}\n` +
        `admins: [ops]\n` +
        `extensions:\n` +
        `  - name: moderation\n    script: ${source}/scripts/moderation.lua\n` +
        `    options: {messages_per_minute: 0, conversations_per_hour: 0}\n` +
        `  - name: listings\n    script: ${source}/scripts/listings.lua\n` +
        (options.attachments ? attachmentsConfig(dir, ports, options.webRoot !== undefined) : ''),
    );
    const parleyd = new Server(
      'parleyd',
      [parleydPath, '--config', join(dir, 'parleyd.yaml')],
      join(dir, 'parleyd.log'),
      dir,
    );

    let web: Server | undefined;
    if (options.webRoot !== undefined) {
      writeFileSync(
        join(dir, 'config.json'),
        JSON.stringify({ broker: `wss://127.0.0.1:${ports.wss}` }),
      );
      web = new Server(
        'web server',
        [
          process.execPath,
          join(source, 'clients/web/serve.mjs'),
          '--root',
          options.webRoot,
          '--port',
          String(ports.web),
          '--cert',
          cert,
          '--key',
          key,
          '--config',
          join(dir, 'config.json'),
          ...(options.attachments ? ['--attachments', `http://127.0.0.1:${ports.http}`] : []),
        ],
        join(dir, 'web.log'),
        dir,
      );
    }

    const stack = new Stack(dir, ports, { broker, parleyd, web }, jwtSecret);
    try {
      await broker.start(' running');
      await parleyd.start('parleyd ready');
      await web?.start('serving');
    } catch (error) {
      await stack.stop();
      throw error;
    }
    return stack;
  }

  password(uid: string): string {
    return Stack.passwordOf(uid);
  }

  /** An HS256 token for `uid`, valid `lifetimeSeconds` (negative: already expired). */
  token(uid: string, lifetimeSeconds = 3600): string {
    if (this.jwtSecret === undefined) {
      throw new Error('the stack was started without jwt');
    }
    const encode = (value: object): string =>
      Buffer.from(JSON.stringify(value)).toString('base64url');
    const body = `${encode({ alg: 'HS256', typ: 'JWT' })}.${encode({
      sub: uid,
      exp: Math.floor(Date.now() / 1000) + lifetimeSeconds,
    })}`;
    const signature = createHmac('sha256', this.jwtSecret).update(body).digest('base64url');
    return `${body}.${signature}`;
  }

  async stopParleyd(): Promise<void> {
    await this.parleyd.stop();
    this.checkSanitizers();
  }

  async startParleyd(): Promise<void> {
    await this.parleyd.start('parleyd ready');
  }

  /** Stops the broker and starts it again on the same ports: every session and queue is lost. */
  async restartBroker(): Promise<void> {
    await this.broker.stop();
    await this.broker.start(' running');
  }

  parleydLog(): string {
    return this.parleyd.log();
  }

  brokerLog(): string {
    return this.broker.log();
  }

  /** Stops everything; throws if parleyd's log shows a sanitizer report. */
  async stop(): Promise<void> {
    await this.web?.stop();
    await this.parleyd.stop();
    await this.broker.stop();
    const keep = process.env['PARLEY_KEEP_TEST_DIRS'] === '1';
    try {
      this.checkSanitizers();
    } finally {
      if (!keep) {
        rmSync(this.dir, { recursive: true, force: true });
      }
    }
  }

  private checkSanitizers(): void {
    const log = this.parleyd.log();
    for (const marker of ['ERROR: AddressSanitizer', 'ERROR: LeakSanitizer', 'runtime error:']) {
      const at = log.indexOf(marker);
      if (at >= 0) {
        throw new Error(`parleyd reported a sanitizer error:\n${log.slice(Math.max(0, at - 200))}`);
      }
    }
  }
}

/** parleyd's `limits:` for `unlimited` and `transfer`, or nothing (the server's defaults). */
function limitsConfig(options: StackOptions): string {
  const limits: string[] = [];
  if (options.unlimited) {
    limits.push('user_commands_per_second: 0', 'user_queued_commands: 0');
  }
  if (options.transfer) {
    limits.push(
      `user_transfer_burst_bytes: ${options.transfer.burstBytes}`,
      `user_transfer_bytes_per_second: ${options.transfer.bytesPerSecond}`,
    );
  }
  return limits.length > 0 ? `limits: {${limits.join(', ')}}\n` : '';
}

/**
 * The attachments extension and what it needs from parleyd: the HTTP listener, and a command
 * budget a loaded test machine meets (a commit hashes and re-encodes images). Its signed URLs
 * point at the web server when there is one (it forwards them), else at the HTTP listener.
 */
function attachmentsConfig(
  dir: string,
  ports: { web: number; http: number },
  web: boolean,
): string {
  mkdirSync(join(dir, 'attachments'));
  const base = web ? `https://127.0.0.1:${ports.web}` : `http://127.0.0.1:${ports.http}`;
  return (
    `  - name: attachments\n    plugin: ${required('PARLEY_ATTACHMENTS_PLUGIN')}\n` +
    `    options: {folder: ${join(dir, 'attachments')}, public_base_url: "${base}"}\n` +
    `http: {listen: 127.0.0.1, port: ${ports.http}}\n` +
    `hooks:\n  command: {budget: 20s}\n  message.before_store: {budget: 5s}\n` +
    `  message.after_store: {budget: 5s}\n`
  );
}

/** A CA and a certificate for 127.0.0.1 and localhost signed by it, as tools/up.sh makes. */
function makePki(dir: string): void {
  run(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-sha256',
      '-days',
      '2',
      '-subj',
      '/CN=Parley web tests CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
    ],
    dir,
  );
  run(
    'openssl',
    [
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-subj',
      '/CN=127.0.0.1',
      '-keyout',
      'server.key',
      '-out',
      'server.csr',
    ],
    dir,
  );
  writeFileSync(
    join(dir, 'server.ext'),
    'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyAgreement\n' +
      'extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n',
  );
  run(
    'openssl',
    [
      'x509',
      '-req',
      '-sha256',
      '-days',
      '2',
      '-in',
      'server.csr',
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-extfile',
      'server.ext',
      '-out',
      'server.crt',
    ],
    dir,
  );
}
