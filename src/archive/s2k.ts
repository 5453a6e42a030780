/**
 * The passphrase → session key step of a `gpg --symmetric` file (SKESK v4, RFC 9580 §3.7 and
 * §5.3), done with node:crypto's native hashes so that openpgp.js can be handed the session key
 * instead of the passphrase. openpgp.js's own S2K builds the whole iterated input in memory (gpg's
 * usual count is 65 MB, built and hashed twice for an AES-256 key with SHA-1) before hashing it;
 * here the salt and passphrase are repeated into one block of about 1 MiB that is hashed again and
 * again, the bytes the standard asks for and no more.
 *
 * Only what is plainly specified is done here: S2K types 0, 1 and 3 with the hashes Node has, and
 * an encrypted session key inside the packet only for the ciphers node:crypto has in CFB mode (AES,
 * 3DES). Anything else (argon2, SKESK v5/v6, unknown algorithms) returns null and the caller lets
 * openpgp.js derive the key from the passphrase as before.
 */
import { createDecipheriv, createHash, getHashes, type Hash } from 'node:crypto';
import type { S2KSpec, SymKeyPacketInfo } from './pgp-inspect';
import { NODE_CFB } from './quick-check';

/** RFC 9580 §9.5 hash ids → node:crypto names. */
const HASH_NAMES: Record<number, string> = {
  1: 'md5',
  2: 'sha1',
  3: 'ripemd160',
  8: 'sha256',
  9: 'sha384',
  10: 'sha512',
  11: 'sha224',
};

/** Key sizes in bytes of the ciphers openpgp.js can decrypt (RFC 9580 ids). */
export const KEY_BYTES: Record<number, number> = { 2: 24, 3: 16, 4: 16, 7: 16, 8: 24, 9: 32, 10: 32 };

/** Key sizes of the ciphers gpg has and openpgp.js lacks (IDEA, Camellia), refused by name later. */
const GPG_ONLY_KEY_BYTES: Record<number, number> = { 1: 16, 11: 16, 12: 24, 13: 32 };

/** Bytes of repeated salt+passphrase hashed per update. */
const BLOCK_BYTES = 1024 * 1024;

let available: Set<string> | undefined;

/** The node:crypto name of an OpenPGP hash id, when this Node's OpenSSL has it. */
function nodeHashName(hashAlgo: number): string | null {
  available ??= new Set(getHashes().map((h) => h.toLowerCase()));
  const name = HASH_NAMES[hashAlgo];
  return name !== undefined && available.has(name) ? name : null;
}

/**
 * The `length`-byte key the S2K specifier derives from `passphrase` (UTF-8), or null when its hash
 * is not available here. As the standard says: when one hash is too short, further hashes are taken
 * of the same input preceded by 1, 2, … zero bytes, and their outputs are concatenated.
 */
export function deriveS2KKey(passphrase: string, s2k: S2KSpec, length: number): Buffer | null {
  const hashName = nodeHashName(s2k.hashAlgo);
  if (hashName === null) return null;
  const data = Buffer.concat([s2k.salt ?? Buffer.alloc(0), Buffer.from(passphrase, 'utf8')]);
  // Iterated: `count` bytes of salt+passphrase repeated (cut short in the last copy), but never
  // less than one whole copy. Simple and salted: one copy.
  const total = s2k.type === 3 ? Math.max(s2k.count ?? 0, data.length) : data.length;
  const hashLength = createHash(hashName).digest().length;
  const contexts: Hash[] = [];
  for (let i = 0; i * hashLength < length; i++) contexts.push(createHash(hashName).update(Buffer.alloc(i)));
  if (data.length > 0) {
    const copies = Math.max(1, Math.floor(Math.min(BLOCK_BYTES, total) / data.length));
    const block = Buffer.alloc(copies * data.length);
    for (let at = 0; at < block.length; at += data.length) data.copy(block, at);
    for (let left = total; left > 0;) {
      const piece = left >= block.length ? block : block.subarray(0, left);
      for (const h of contexts) h.update(piece);
      left -= piece.length;
    }
  }
  return Buffer.concat(contexts.map((h) => h.digest())).subarray(0, length);
}

/** A session key recovered from a passphrase packet, for openpgp.decrypt's `sessionKeys`. */
export interface RecoveredSessionKey {
  /** RFC 9580 symmetric algorithm id of the data. */
  cipherAlgo: number;
  data: Uint8Array;
}

/**
 * What the passphrase gives for one SKESK v4 packet: the session key (for a wrong passphrase, a
 * wrong key, which the caller's quick check rejects), 'wrong' when the packet's own encrypted
 * session key decrypts to nonsense (which only a wrong passphrase does), or null when this packet
 * is not one we handle (then openpgp.js should do the whole step).
 */
export function sessionKeyFromPassphrase(packet: SymKeyPacketInfo, passphrase: string): RecoveredSessionKey | 'wrong' | null {
  if (packet.version !== 4 || packet.s2k === undefined || packet.cipherAlgo === undefined) return null;
  const keyBytes = KEY_BYTES[packet.cipherAlgo];
  if (keyBytes === undefined) return null;
  if (!packet.hasEncryptedSessionKey) {
    const key = deriveS2KKey(passphrase, packet.s2k, keyBytes);
    return key === null ? null : { cipherAlgo: packet.cipherAlgo, data: key };
  }
  const esk = packet.encryptedSessionKey;
  const cfb = NODE_CFB[packet.cipherAlgo];
  if (esk === undefined || cfb === undefined) return null;
  const kek = deriveS2KKey(passphrase, packet.s2k, keyBytes);
  if (kek === null) return null;
  // The packet's session key: CFB with a zero IV; first octet the data cipher, then its key.
  const decipher = createDecipheriv(cfb.name, kek, Buffer.alloc(cfb.blockSize));
  const plain = Buffer.concat([decipher.update(esk), decipher.final()]);
  const cipherAlgo = plain[0];
  // An id openpgp.js lacks (IDEA, Camellia) is still handed back: the caller refuses it by name.
  const size = KEY_BYTES[cipherAlgo] ?? GPG_ONLY_KEY_BYTES[cipherAlgo];
  // A wrong passphrase gives a random first octet: an unknown id, or a key of the wrong size.
  if (size === undefined || plain.length - 1 !== size) return 'wrong';
  return { cipherAlgo, data: plain.subarray(1) };
}
