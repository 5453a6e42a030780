/**
 * Decryption of gpg's common symmetric format (SKESK v4 + SEIPD v1) for ciphers openpgp.js v6 lacks:
 * Camellia with node:crypto, IDEA with idea.ts (see cfb.ts). Only the encryption layer is done here:
 * the result is the plaintext OpenPGP packet stream (compressed / literal data), which decrypt.ts
 * hands to openpgp.js.
 *
 * SEIPD v1 (RFC 9580 §5.13.1): the packet body is a version byte, then CFB with a zero IV over
 * [random prefix of one block][its last two bytes again][packets][0xD3 0x14][SHA-1 of all before it].
 * The MDC can only be checked at the end, so the plaintext is untrusted until the stream ends cleanly
 * (the same policy decrypt.ts applies to openpgp.js's streams).
 */
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { NODE_CFB, cfbAvailable, createCfbDecipher } from './cfb';
import type { S2KSpec, SymKeyPacketInfo } from './pgp-inspect';

/** OpenPGP hash ids (RFC 9580 §9.5) → node:crypto names. */
const HASHES: Record<number, string> = {
  1: 'md5',
  2: 'sha1',
  3: 'ripemd160',
  8: 'sha256',
  9: 'sha384',
  10: 'sha512',
  11: 'sha224',
  12: 'sha3-256',
  14: 'sha3-512',
};

/** A cipher and key that may decrypt the data, derived from one SKESK packet. */
export interface NodeSessionKey {
  cipherAlgo: number;
  key: Buffer;
}

/** Why a SKESK packet cannot be used here; decrypt.ts words it for the operator. */
export class NodeSeipdUnsupported extends Error {}

/** True when the cipher is available in CFB mode here (node:crypto as built, or idea.ts). */
export function nodeHasCipher(cipherAlgo: number): boolean {
  return cfbAvailable(cipherAlgo);
}

function keySize(cipherAlgo: number): number {
  const cfb = NODE_CFB[cipherAlgo];
  if (cfb?.keySize) return cfb.keySize;
  // AES and 3DES (for an encrypted session key protected by them).
  const sizes: Record<number, number> = { 2: 24, 7: 16, 8: 24, 9: 32 };
  const size = sizes[cipherAlgo];
  if (size === undefined) throw new NodeSeipdUnsupported(`cipher #${cipherAlgo} is not available in node:crypto`);
  return size;
}

/**
 * The S2K key: hash contexts preloaded with 0, 1, 2… zero bytes, each fed the salted passphrase
 * (repeated to `count` bytes for the iterated type), concatenated until `length` bytes.
 */
export function deriveS2KKey(passphrase: string, s2k: S2KSpec, length: number): Buffer {
  const hashName = HASHES[s2k.hashAlgo];
  if (!hashName) throw new NodeSeipdUnsupported(`its passphrase hash (#${s2k.hashAlgo}) is not supported`);
  if (s2k.type !== 0 && s2k.type !== 1 && s2k.type !== 3) {
    throw new NodeSeipdUnsupported(`its passphrase derivation (S2K type ${s2k.type}) is not supported for this cipher`);
  }
  const data = Buffer.concat([s2k.salt ?? Buffer.alloc(0), Buffer.from(passphrase, 'utf8')]);
  const total = s2k.type === 3 ? Math.max(s2k.count ?? 0, data.length) : data.length;
  // Hash large repeated blocks rather than one copy at a time: gpg's default count is ~65 MB.
  const reps = Math.max(1, Math.floor((64 * 1024) / Math.max(1, data.length)));
  const block = Buffer.concat(new Array<Buffer>(reps).fill(data));
  const parts: Buffer[] = [];
  for (let i = 0, have = 0; have < length; i++) {
    const h = createHash(hashName);
    if (i > 0) h.update(Buffer.alloc(i));
    let left = total;
    while (left > 0) {
      const n = Math.min(left, block.length);
      h.update(block.subarray(0, n));
      left -= n;
    }
    const digest = h.digest();
    parts.push(digest);
    have += digest.length;
  }
  return Buffer.concat(parts).subarray(0, length);
}

/** The session key one SKESK v4 packet yields for `passphrase` (unverified: see the quick check). */
export function sessionKeyFromSkesk(passphrase: string, packet: SymKeyPacketInfo): NodeSessionKey {
  if (packet.version !== 4 || packet.cipherAlgo === undefined || !packet.s2k) {
    throw new NodeSeipdUnsupported(`its passphrase packet (version ${packet.version}) is not supported for this cipher`);
  }
  const kek = deriveS2KKey(passphrase, packet.s2k, keySize(packet.cipherAlgo));
  if (!packet.encryptedSessionKey) return { cipherAlgo: packet.cipherAlgo, key: kek };
  if (!nodeHasCipher(packet.cipherAlgo)) throw new NodeSeipdUnsupported(`cipher #${packet.cipherAlgo} is not available in node:crypto`);
  const decipher = createCfbDecipher(packet.cipherAlgo, kek);
  const plain = Buffer.concat([decipher.update(packet.encryptedSessionKey), decipher.final()]);
  return { cipherAlgo: plain[0], key: plain.subarray(1) };
}

/** Reads one length field of a new-format packet: [length, partial, bytes used], or null if cut short. */
function readNewLength(buf: Buffer, at: number): [number, boolean, number] | null {
  if (at >= buf.length) return null;
  const o = buf[at];
  if (o < 192) return [o, false, 1];
  if (o < 224) return at + 1 < buf.length ? [((o - 192) << 8) + buf[at + 1] + 192, false, 2] : null;
  if (o === 255) return at + 4 < buf.length ? [buf.readUInt32BE(at + 1), false, 5] : null;
  return [1 << (o & 0x1f), true, 1];
}

/**
 * Takes the whole file and passes on only the body of the encrypted data packet at `packetOffset`,
 * without its header and partial-length fields (gpg writes its output in partial-length chunks).
 */
export function packetBodyExtractor(packetOffset: number): Transform {
  let skip = packetOffset;
  let pending = Buffer.alloc(0); // bytes of a length field cut by a chunk boundary
  let inHeader = true;
  let remaining = 0; // body bytes left in the current chunk; Infinity for an indeterminate length
  let last = false;
  let done = false;
  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      let buf = chunk;
      if (skip > 0) {
        const n = Math.min(skip, buf.length);
        skip -= n;
        buf = buf.subarray(n);
      }
      if (pending.length > 0) {
        buf = Buffer.concat([pending, buf]);
        pending = Buffer.alloc(0);
      }
      let at = 0;
      while (at < buf.length) {
        if (done) {
          cb(new Error('unexpected data after the encrypted packet'));
          return;
        }
        if (remaining === 0) {
          let length: [number, boolean, number] | null;
          if (inHeader) {
            const ctb = buf[at];
            if (ctb & 0x40) {
              length = readNewLength(buf, at + 1);
              if (length) length[2] += 1;
            } else {
              const kind = ctb & 3;
              const n = [1, 2, 4, 0][kind];
              if (kind === 3) length = [Infinity, false, 1];
              else length = at + n < buf.length ? [n === 1 ? buf[at + 1] : n === 2 ? buf.readUInt16BE(at + 1) : buf.readUInt32BE(at + 1), false, 1 + n] : null;
            }
          } else {
            length = readNewLength(buf, at);
          }
          if (!length) {
            pending = Buffer.from(buf.subarray(at));
            break;
          }
          inHeader = false;
          [remaining, last] = [length[0], !length[1]];
          at += length[2];
          if (remaining === 0 && last) done = true;
          continue;
        }
        const n = Math.min(remaining, buf.length - at);
        this.push(buf.subarray(at, at + n));
        at += n;
        remaining -= n;
        if (remaining === 0 && last) done = true;
      }
      cb();
    },
    flush(cb: TransformCallback) {
      if (done || (remaining === Infinity && pending.length === 0)) cb();
      else cb(new Error('the encrypted data end early: the file is truncated'));
    },
  });
}

const MDC_LENGTH = 22; // 0xD3 0x14 + SHA-1

/**
 * Decrypts a SEIPD v1 body (from packetBodyExtractor) and passes on the plaintext packets between
 * the random prefix and the MDC. Errors at the end when the MDC does not match ("Modification
 * detected", worded for the operator by decrypt.ts).
 */
export function seipdV1Decryptor(session: NodeSessionKey): Transform {
  const cfb = NODE_CFB[session.cipherAlgo];
  const decipher = createCfbDecipher(session.cipherAlgo, session.key);
  const mdc: Hash = createHash('sha1');
  let versionSeen = false;
  let prefixLeft = cfb.blockSize + 2;
  let held = Buffer.alloc(0); // the last MDC_LENGTH bytes seen so far: maybe the MDC

  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      let data = chunk;
      if (!versionSeen && data.length > 0) {
        if (data[0] !== 1) {
          cb(new Error(`unsupported encrypted data packet version ${data[0]}`));
          return;
        }
        versionSeen = true;
        data = data.subarray(1);
      }
      const plain = decipher.update(data);
      // Everything but the final MDC_LENGTH bytes is released: held + plain minus a new tail.
      const pieces: Buffer[] = [];
      if (plain.length >= MDC_LENGTH) {
        pieces.push(held, plain.subarray(0, plain.length - MDC_LENGTH));
        held = Buffer.from(plain.subarray(plain.length - MDC_LENGTH));
      } else {
        const joined = Buffer.concat([held, plain]);
        const cut = Math.max(0, joined.length - MDC_LENGTH);
        pieces.push(joined.subarray(0, cut));
        held = joined.subarray(cut);
      }
      for (let piece of pieces) {
        if (piece.length === 0) continue;
        mdc.update(piece);
        if (prefixLeft > 0) {
          const n = Math.min(prefixLeft, piece.length);
          prefixLeft -= n;
          piece = piece.subarray(n);
        }
        if (piece.length > 0) this.push(piece);
      }
      cb();
    },
    flush(cb: TransformCallback) {
      decipher.final();
      if (prefixLeft > 0 || held.length < MDC_LENGTH) {
        cb(new Error('the encrypted data end early: the file is truncated'));
        return;
      }
      mdc.update(held.subarray(0, 2));
      const ok = held[0] === 0xd3 && held[1] === 0x14 && mdc.digest().equals(held.subarray(2));
      cb(ok ? null : new Error('Modification detected: the integrity check (MDC) does not match'));
    },
  });
}
