import type { ErrorCode, JsonValue, WireError } from './protocol.js';
import { ERROR_CODES } from './protocol.js';

/** Extra fields of a refusal, e.g. `retry_after_ms`, or moderation's `moderation` and `until`. */
export type ErrorDetails = Readonly<Record<string, JsonValue>>;

/**
 * A command the server refused. `code` is the protocol's error code (docs/protocol.md, "Error
 * codes"): act on it. `message` is the server's text, for logs and developers, not for end users.
 */
export class ParleyError extends Error {
  override readonly name = 'ParleyError';
  /** The op of the refused command. */
  readonly op: string;
  readonly code: ErrorCode;
  /** Every field of the server's error object besides `code` and `message`. */
  readonly details: ErrorDetails;

  constructor(op: string, code: ErrorCode, message: string, details: ErrorDetails = {}) {
    super(message);
    this.op = op;
    this.code = code;
    this.details = details;
  }

  /** When the server said to try again (`rate_limited`, `unavailable`), in milliseconds. */
  get retryAfterMs(): number | undefined {
    const value = this.details['retry_after_ms'];
    return typeof value === 'number' ? value : undefined;
  }

  /** @internal Builds the error of a refused command's reply. */
  static fromWire(op: string, error: WireError): ParleyError {
    const code: ErrorCode = (ERROR_CODES as readonly string[]).includes(error.code)
      ? (error.code as ErrorCode)
      : 'internal';
    const details: Record<string, JsonValue> = {};
    for (const [key, value] of Object.entries(error)) {
      if (key !== 'code' && key !== 'message' && value !== undefined) {
        details[key] = value;
      }
    }
    if (code !== error.code) {
      details['unknown_code'] = error.code;
    }
    return new ParleyError(op, code, error.message, details);
  }
}

/** Why the SDK could not (or can no longer) reach the broker. */
export type ConnectionErrorReason =
  /** The broker refused the login: wrong password, or a token expired or not accepted. */
  | 'not_authorized'
  /** The broker cannot be reached, or the TLS handshake failed (e.g. a CA the client does not trust). */
  | 'unreachable'
  /** `close()` was called. */
  | 'closed';

/** The connection failed or was closed; pending commands of a closed client reject with it. */
export class ConnectionError extends Error {
  override readonly name = 'ConnectionError';
  readonly reason: ConnectionErrorReason;

  constructor(reason: ConnectionErrorReason, message: string) {
    super(message);
    this.reason = reason;
  }
}
