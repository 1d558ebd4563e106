#!/usr/bin/python3
"""Real servers that plugins/notify delivers to in tests and the benchmark.

  notify_sinks.py smtp DIR PORT [starttls|tls CERT KEY] [auth USER PASSWORD]
                                  an SMTP server (aiosmtpd) on 127.0.0.1:PORT; every message it
                                  accepts becomes DIR/{ns}-{n}.json: {"mail_from", "rcpt_tos",
                                  "headers", "subject", "text", "html", "raw", "tls", "login"}.
                                  starttls: STARTTLS required; tls: implicit TLS; auth: AUTH
                                  required (over TLS), with this user and password only
  notify_sinks.py http DIR PORT   an HTTP server; every POST becomes DIR/{ns}-{n}.json: {"path",
                                  "headers", "body"}, answered 200
  notify_sinks.py stall PORT      accepts TCP connections and never answers (a hung server)

Files are written whole (to a temporary name, then renamed), so a reader never sees half of one.
Stops on SIGTERM.
"""
import asyncio
import email
import email.policy
import http.server
import itertools
import json
import os
import signal
import socket
import sys
import threading
import time

counter = itertools.count(1)
lock = threading.Lock()


def write(folder, record):
    # Nanoseconds first: names sort by arrival, and a restarted sink never reuses one.
    with lock:
        name = "%d-%06d.json" % (time.time_ns(), next(counter))
    temporary = os.path.join(folder, "." + name)
    with open(temporary, "w", encoding="utf-8") as out:
        json.dump(record, out)
    os.rename(temporary, os.path.join(folder, name))


def run_smtp(folder, port, options):
    import ssl
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            raw = envelope.original_content or envelope.content
            message = email.message_from_bytes(raw, policy=email.policy.default)
            text = message.get_body(preferencelist=("plain",))
            html = message.get_body(preferencelist=("html",))
            write(folder, {
                "tls": server.transport.get_extra_info("ssl_object") is not None,
                "login": session.auth_data.decode() if session.auth_data else None,
                "mail_from": envelope.mail_from,
                "rcpt_tos": envelope.rcpt_tos,
                "headers": {k: str(v) for k, v in message.items()},
                "subject": str(message["subject"]),
                "text": text.get_content() if text else "",
                "html": html.get_content() if html else "",
                "raw": raw.decode("utf-8", "replace"),
            })
            return "250 OK"

    parameters = {}
    at = 0
    while at < len(options):
        if options[at] in ("starttls", "tls"):
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(options[at + 1], options[at + 2])
            if options[at] == "starttls":
                parameters.update(tls_context=context, require_starttls=True)
            else:
                parameters.update(ssl_context=context)
            at += 3
        elif options[at] == "auth":
            user, password = options[at + 1].encode(), options[at + 2].encode()

            def authenticate(server, session, envelope, mechanism, data):
                ok = data.login == user and data.password == password
                return AuthResult(success=ok, auth_data=data.login if ok else None)

            parameters.update(auth_required=True, authenticator=authenticate)
            at += 3
        else:
            sys.exit("unknown smtp option " + options[at])
    controller = Controller(Handler(), hostname="127.0.0.1", port=port, **parameters)
    controller.start()
    print("smtp sink listening on %d" % port, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    while not stop.wait(0.2):
        pass
    controller.stop()


def run_http(folder, port):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length).decode("utf-8", "replace")
            write(folder, {"path": self.path, "headers": dict(self.headers.items()), "body": body})
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print("http sink listening on %d" % port, flush=True)
    server.serve_forever()


def run_stall(port):
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(128)
    print("stalled sink listening on %d" % port, flush=True)
    held = []
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        connection, _ = listener.accept()
        held.append(connection)  # never read, never answered, never closed
        # What the benchmark counts: each is a send the plugin attempted.
        print("connection %d" % len(held), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "smtp":
        run_smtp(sys.argv[2], int(sys.argv[3]), sys.argv[4:])
    elif sys.argv[1] == "http":
        run_http(sys.argv[2], int(sys.argv[3]))
    elif sys.argv[1] == "stall":
        run_stall(int(sys.argv[2]))
    else:
        sys.exit("usage: notify_sinks.py smtp DIR PORT | http DIR PORT | stall PORT")
