#!/usr/bin/env node
// Serves the built web client (clients/web/dist) over HTTPS, for development (tools/up.sh) and
// the browser tests. Node's own https module and nothing else, so it runs wherever `node` does,
// without the dev dependencies. Production serves dist/ with any web server (docs/clients.md, "The web client").
//
// usage: node serve.mjs --root DIR --port PORT --cert FILE --key FILE [--host 127.0.0.1]
//                       [--config FILE]   (served as /config.json: {"broker": "wss://..."})
//                       [--attachments http://127.0.0.1:9464]   (parleyd's HTTP listener)
//
// With --attachments, GET /ext/attachments/file (the signed links of docs/attachments.md) is
// forwarded to parleyd's HTTP listener and nothing else of it is: the page and its images share
// one origin, as behind a production reverse proxy (docs/clients.md, "The web client").
import { readFileSync, statSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer } from 'node:https';
import { extname, join, normalize, resolve, sep } from 'node:path';

const args = new Map();
for (let i = 2; i < process.argv.length; i += 2) {
  args.set(process.argv[i].replace(/^--/, ''), process.argv[i + 1]);
}
for (const name of ['root', 'port', 'cert', 'key']) {
  if (!args.get(name)) {
    console.error(`serve.mjs: --${name} is required`);
    process.exit(2);
  }
}
const root = resolve(args.get('root'));
const host = args.get('host') ?? '127.0.0.1';
const configFile = args.get('config');
const attachments = args.get('attachments');
const ATTACHMENT_PATH = '/ext/attachments/file';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.map': 'application/json',
  '.webmanifest': 'application/manifest+json',
};

// The page talks only to its own origin and to the broker's WebSocket listener.
const SECURITY_HEADERS = {
  'Content-Security-Policy':
    "default-src 'self'; connect-src 'self' wss: ws:; img-src 'self' data: blob:; " +
    "style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};

/** Forwards a signed attachment link; parleyd checks the signature and sets the headers. */
function forwardAttachment(request, response, url) {
  const upstream = httpRequest(
    new URL(url.pathname + url.search, attachments),
    { method: request.method },
    (answer) => {
      response.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(response);
    },
  );
  upstream.on('error', () => {
    send(response, 502, 'text/plain', 'attachments are unavailable\n');
  });
  upstream.end();
}

function send(response, status, type, body, extra = {}) {
  response.writeHead(status, { 'Content-Type': type, ...SECURITY_HEADERS, ...extra });
  response.end(body);
}

const server = createServer(
  { cert: readFileSync(args.get('cert')), key: readFileSync(args.get('key')) },
  (request, response) => {
    const url = new URL(request.url ?? '/', 'https://localhost');
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      send(response, 405, 'text/plain', 'method not allowed\n');
      return;
    }
    if (url.pathname === ATTACHMENT_PATH && attachments) {
      forwardAttachment(request, response, url);
      return;
    }
    if (url.pathname === '/config.json' && configFile) {
      send(response, 200, TYPES['.json'], readFileSync(configFile), {
        'Cache-Control': 'no-store',
      });
      return;
    }
    const relative = normalize(decodeURIComponent(url.pathname)).replace(/^(\.\.[/\\])+/, '');
    let file = join(root, relative);
    if (!file.startsWith(root + sep) && file !== root) {
      send(response, 404, 'text/plain', 'not found\n');
      return;
    }
    try {
      if (statSync(file).isDirectory()) {
        file = join(file, 'index.html');
      }
      const body = readFileSync(file);
      // Vite names assets by their content hash: they never change under the same name.
      const cache = relative.includes(`${sep}assets${sep}`)
        ? 'public, max-age=31536000, immutable'
        : 'no-cache';
      send(response, 200, TYPES[extname(file)] ?? 'application/octet-stream', body, {
        'Cache-Control': cache,
      });
    } catch {
      send(response, 404, 'text/plain', 'not found\n');
    }
  },
);
server.listen(Number(args.get('port')), host, () => {
  console.log(`serving ${root} on https://${host}:${args.get('port')}/`);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
