const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';

/** `length` random characters from [0-9a-z]: for ids that must not collide, not for secrets. */
export function randomTag(length: number): string {
  const bytes = new Uint8Array(length);
  const crypto = (globalThis as { crypto?: { getRandomValues?: (array: Uint8Array) => void } })
    .crypto;
  if (crypto?.getRandomValues) {
    crypto.getRandomValues(bytes);
  } else {
    // Node 18 without the global Web Crypto: uniqueness is all these ids need.
    for (let i = 0; i < length; i++) {
      bytes[i] = Math.floor(Math.random() * 256);
    }
  }
  let tag = '';
  for (const byte of bytes) {
    tag += ALPHABET.charAt(byte % ALPHABET.length);
  }
  return tag;
}
