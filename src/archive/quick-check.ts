/**
 * gpg's quick check, which tells a wrong passphrase from damaged data: in a SEIPD v1 packet the
 * plaintext starts with one cipher block of random bytes and then repeats its last two, so the first
 * block + 2 bytes of ciphertext decide whether a session key is right (a false "right" has odds of
 * 1 in 65536). openpgp.js skips this check on purpose, so we do it before handing it the key.
 *
 * No cipher is implemented here. AES and 3DES come from node:crypto (CFB mode). CAST5, Blowfish
 * and Twofish are not in Node's OpenSSL 3 default provider; for them the block cipher of openpgp.js
 * itself is used (the module its own build loads lazily for these legacy ciphers), and only the two
 * CFB steps that the check needs are written out. If that module cannot be loaded (older Node
 * without require() of ES modules), the check is unavailable and the caller says so.
 */
import { createDecipheriv } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** node:crypto CFB names of the OpenPGP ciphers Node's OpenSSL has by default (RFC 9580 ids). */
export const NODE_CFB: Record<number, { name: string; blockSize: number }> = {
  2: { name: 'des-ede3-cfb', blockSize: 8 },
  7: { name: 'aes-128-cfb', blockSize: 16 },
  8: { name: 'aes-192-cfb', blockSize: 16 },
  9: { name: 'aes-256-cfb', blockSize: 16 },
};

/** openpgp.js's names of the legacy ciphers in its `legacyCiphers` map. */
const OPENPGPJS_LEGACY: Record<number, string> = { 3: 'cast5', 4: 'blowfish', 10: 'twofish' };

interface BlockCipher {
  blockSize: number;
  encrypt(block: Uint8Array): Uint8Array | number[];
}
type BlockCipherClass = new (key: Uint8Array) => BlockCipher;

let legacyCiphers: Map<string, BlockCipherClass> | null | undefined;

/** openpgp.js's legacy cipher classes, or null when they cannot be loaded here. */
function openpgpLegacyCiphers(): Map<string, BlockCipherClass> | null {
  if (legacyCiphers !== undefined) return legacyCiphers;
  legacyCiphers = null;
  try {
    // Node's own require (not a test runner's): it loads this ES module on Node >= 20.19.
    const nodeRequire = process.getBuiltinModule?.('node:module')?.createRequire(__filename);
    if (!nodeRequire) return legacyCiphers;
    const file = join(dirname(nodeRequire.resolve('openpgp')), '..', 'lightweight', 'legacy_ciphers.mjs');
    if (!existsSync(file)) return legacyCiphers;
    const loaded = (nodeRequire(file) as { legacyCiphers?: Map<string, BlockCipherClass> }).legacyCiphers;
    // Not `instanceof Map`: loaded by Node's own loader, it may come from another realm (test runners).
    if (typeof loaded?.get === 'function') legacyCiphers = loaded;
  } catch {
    // unavailable: the caller reports "wrong passphrase or damaged" instead
  }
  return legacyCiphers;
}

/** Block size of the cipher, when the quick check can be done for it here. */
function checkable(cipherAlgo: number): number | null {
  if (NODE_CFB[cipherAlgo]) return NODE_CFB[cipherAlgo].blockSize;
  const name = OPENPGPJS_LEGACY[cipherAlgo];
  const cipher = name === undefined ? undefined : openpgpLegacyCiphers()?.get(name);
  return cipher ? new cipher(new Uint8Array(16)).blockSize : null;
}

/** How many ciphertext bytes the check needs (block size + 2), or null when it is unavailable. */
export function quickCheckBytes(cipherAlgo: number): number | null {
  const blockSize = checkable(cipherAlgo);
  return blockSize === null ? null : blockSize + 2;
}

/** The first block + 2 bytes of CFB plaintext (zero IV) of `ciphertext`. */
function firstPlaintext(cipherAlgo: number, key: Uint8Array, ciphertext: Buffer): Buffer | null {
  const node = NODE_CFB[cipherAlgo];
  if (node) {
    const decipher = createDecipheriv(node.name, key, Buffer.alloc(node.blockSize));
    return Buffer.concat([decipher.update(ciphertext.subarray(0, node.blockSize + 2)), decipher.final()]);
  }
  const Cipher = openpgpLegacyCiphers()?.get(OPENPGPJS_LEGACY[cipherAlgo] ?? '');
  if (!Cipher) return null;
  const cipher = new Cipher(key);
  const b = cipher.blockSize;
  // CFB: P1 = E(IV) xor C1 with IV = 0; the next two bytes are E(C1) xor C2.
  const first = Buffer.from(cipher.encrypt(new Uint8Array(b)));
  const next = Buffer.from(cipher.encrypt(Uint8Array.from(ciphertext.subarray(0, b))));
  const plain = Buffer.alloc(b + 2);
  for (let i = 0; i < b; i++) plain[i] = first[i] ^ ciphertext[i];
  for (let i = 0; i < 2; i++) plain[b + i] = next[i] ^ ciphertext[b + i];
  return plain;
}

/**
 * True when `key` passes gpg's quick check on the first ciphertext bytes of a SEIPD v1 packet,
 * false when it fails (wrong key), null when the check cannot be done for this cipher here.
 */
export function quickCheck(cipherAlgo: number, key: Uint8Array, ciphertext: Buffer): boolean | null {
  const need = quickCheckBytes(cipherAlgo);
  if (need === null) return null;
  if (ciphertext.length < need) return false;
  let plain: Buffer | null;
  try {
    plain = firstPlaintext(cipherAlgo, key, ciphertext);
  } catch {
    return null; // e.g. a key of the wrong size for the cipher: leave the verdict to openpgp.js
  }
  if (!plain) return null;
  const b = need - 2;
  return plain[b] === plain[b - 2] && plain[b + 1] === plain[b - 1];
}
