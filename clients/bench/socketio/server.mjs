// The stack Parley's users run today, as a peer in the benchmark (docs/performance.md): a
// Socket.IO server that stores one row per message in MariaDB through mysql2 (one INSERT, its
// own autocommit transaction) and acknowledges after the INSERT, then emits the message to every
// member's room. No validation, hooks or unread counts: the plainest server of that stack.
// Conversations live in memory; the bench opens them before it sends.
//
// node server.mjs --port P --db-host H --db-port P --db-user U --db-password W --db-name D
// Prints "socketio ready" once it listens (127.0.0.1 only).
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import mysql from 'mysql2/promise';
import { Server } from 'socket.io';

const { values: options } = parseArgs({
  options: {
    port: { type: 'string' },
    'db-host': { type: 'string', default: '127.0.0.1' },
    'db-port': { type: 'string', default: '3306' },
    'db-user': { type: 'string' },
    'db-password': { type: 'string', default: '' },
    'db-name': { type: 'string' },
    'pool-size': { type: 'string', default: '8' },
  },
});

const pool = mysql.createPool({
  host: options['db-host'],
  port: Number(options['db-port']),
  user: options['db-user'],
  password: options['db-password'],
  database: options['db-name'],
  connectionLimit: Number(options['pool-size']),
});
await pool.query(`CREATE TABLE IF NOT EXISTS messages (
  id BIGINT AUTO_INCREMENT PRIMARY KEY,
  conv VARCHAR(64) NOT NULL,
  sender VARCHAR(64) NOT NULL,
  cmid VARCHAR(128) NOT NULL,
  body TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  UNIQUE KEY sender_cmid (sender, cmid),
  KEY conv_id (conv, id)
) ENGINE=InnoDB`);

const conversations = new Map(); // id -> members
const direct = new Map(); // "a|b" -> id
let nextConversation = 1;

const http = createServer();
const io = new Server(http, { transports: ['websocket'], serveClient: false });

io.use((socket, next) => {
  const user = socket.handshake.auth.user;
  if (typeof user !== 'string' || user === '') {
    next(new Error('unauthorized'));
    return;
  }
  socket.data.user = user;
  next();
});

io.on('connection', (socket) => {
  const user = socket.data.user;
  void socket.join(`u:${user}`);
  socket.on('conv.open', (command, ack) => {
    const peer = String(command.peer);
    const key = user < peer ? `${user}|${peer}` : `${peer}|${user}`;
    let conv = direct.get(key);
    if (conv === undefined) {
      conv = `s${nextConversation++}`;
      direct.set(key, conv);
      conversations.set(conv, [user, peer]);
    }
    ack({ ok: true, conv, members: conversations.get(conv) });
  });
  socket.on('conv.create', (command, ack) => {
    const conv = `s${nextConversation++}`;
    const members = [user, ...command.members.map(String).filter((m) => m !== user)];
    conversations.set(conv, members);
    ack({ ok: true, conv, members });
  });
  socket.on('msg.send', async (command, ack) => {
    const members = conversations.get(command.conv);
    if (members === undefined || !members.includes(user)) {
      ack({ ok: false, error: { code: 'not_found' } });
      return;
    }
    const ts = Date.now();
    let id;
    try {
      const [result] = await pool.execute(
        'INSERT INTO messages (conv, sender, cmid, body, created_at) VALUES (?, ?, ?, ?, ?)',
        [command.conv, user, command.cmid, command.body, ts],
      );
      id = result.insertId;
    } catch (error) {
      if (error.code === 'ER_DUP_ENTRY') {
        // A resend: the first row's id, stored once.
        const [rows] = await pool.execute('SELECT id FROM messages WHERE sender = ? AND cmid = ?', [
          user,
          command.cmid,
        ]);
        ack({ ok: true, conv: command.conv, id: rows[0].id, ts });
        return;
      }
      ack({ ok: false, error: { code: 'internal', message: String(error.message) } });
      return;
    }
    ack({ ok: true, conv: command.conv, id, ts });
    io.to(members.map((m) => `u:${m}`)).emit('msg', {
      conv: command.conv,
      id,
      sender: user,
      cmid: command.cmid,
      body: command.body,
      meta: command.meta,
      ts,
    });
  });
});

http.listen(Number(options.port), '127.0.0.1', () => {
  console.log('socketio ready');
});
const stop = () => {
  void io.close();
  void pool.end();
  setTimeout(() => process.exit(0), 500).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
