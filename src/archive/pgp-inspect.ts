/**
 * A look at the first OpenPGP packets of an encrypted file, before openpgp.js decrypts it, so that
 * failures can be worded precisely: not OpenPGP at all, encrypted to a key instead of a passphrase,
 * no integrity protection, a cipher openpgp.js lacks, and where the first ciphertext bytes are for
 * gpg's quick check of the passphrase (quick-check.ts). Only packet headers and the first cipher
 * block are read (de-armoured first for an ASCII-armoured file); nothing here decrypts.
 */
import { open } from 'node:fs/promises';
import { PipelineError } from '../common/errors';

/** RFC 9580 packet tags used here. */
const TAG = { pkesk: 1, skesk: 3, sed: 9, marker: 10, seipd: 18, aead: 20 } as const;

/** Symmetric algorithm ids (RFC 9580 §9.3) with their names as gpg prints them. */
export const CIPHER_NAMES: Record<number, string> = {
  1: 'IDEA',
  2: '3DES',
  3: 'CAST5',
  4: 'BLOWFISH',
  7: 'AES128',
  8: 'AES192',
  9: 'AES256',
  10: 'TWOFISH',
  11: 'CAMELLIA128',
  12: 'CAMELLIA192',
  13: 'CAMELLIA256',
};

/** Ciphers openpgp.js v6 can decrypt (it has no IDEA and no Camellia). */
export const OPENPGPJS_CIPHERS = new Set([2, 3, 4, 7, 8, 9, 10]);

/** Ciphers gpg may use that openpgp.js lacks: refused by name, with how to decrypt by hand. */
export const GPG_ONLY_CIPHERS = new Set([1, 11, 12, 13]);

/** A v4 string-to-key specifier of type 0 (simple), 1 (salted) or 3 (iterated and salted). */
export interface S2KSpec {
  type: 0 | 1 | 3;
  hashAlgo: number;
  /** 8 bytes, for types 1 and 3. */
  salt?: Buffer;
  /** Bytes to hash (decoded from the count octet), for type 3. */
  count?: number;
}

export interface SymKeyPacketInfo {
  version: number;
  /** For v4 packets: the cipher of the data, unless the packet carries its own encrypted session key. */
  cipherAlgo?: number;
  /** True when a v4 packet holds an encrypted session key (then the data cipher is inside it). */
  hasEncryptedSessionKey: boolean;
  /** For v4 packets with a simple, salted or iterated S2K (not argon2 or unknown types). */
  s2k?: S2KSpec;
  /** For v4 packets: the encrypted session key, when there is one. */
  encryptedSessionKey?: Buffer;
}

export type PgpInspection =
  | {
      kind: 'armored';
      /**
       * The packets at the start of the de-armoured data, when the head of the file decodes to an
       * encrypted message (offsets count de-armoured bytes); `head` holds those first bytes.
       */
      dearmored?: BinaryPgpInspection & { head: Buffer };
    }
  | BinaryPgpInspection;

export interface BinaryPgpInspection {
  kind: 'binary';
  symKeys: SymKeyPacketInfo[];
  publicKeyPackets: number;
  /** The encrypted data packet: 18 = SEIPD (integrity protected), 9 = SED (none), 20 = AEAD (LibrePGP). */
  dataTag: number;
  /** SEIPD version (1 = CFB + MDC, 2 = AEAD); 0 for other packets. */
  dataVersion: number;
  /** File offset of the first ciphertext byte of a SEIPD v1 packet (after its version byte). */
  ciphertextOffset: number;
  /** File offset of the encrypted data packet's header. */
  dataPacketOffset: number;
}

/** Why a file is not something we can decrypt; the caller words it for the operator. */
export class PgpFormatProblem extends PipelineError {
  constructor(message: string) {
    super(message, { retryable: false });
  }
}

interface PacketHeader {
  tag: number;
  headerLength: number;
  /** Length of the body, or of its first chunk when `partial`; null when indeterminate (old format). */
  bodyLength: number | null;
  partial: boolean;
}

/** Parses one packet header at `pos`, or returns null when `buf` ends inside it. */
function readPacketHeader(buf: Buffer, pos: number): PacketHeader | null {
  if (pos >= buf.length) return null;
  const ctb = buf[pos];
  if ((ctb & 0x80) === 0) throw new PgpFormatProblem('not an OpenPGP packet');
  const need = (n: number): boolean => pos + n <= buf.length;
  if (ctb & 0x40) {
    const tag = ctb & 0x3f;
    if (!need(2)) return null;
    const o = buf[pos + 1];
    if (o < 192) return { tag, headerLength: 2, bodyLength: o, partial: false };
    if (o < 224) {
      if (!need(3)) return null;
      return { tag, headerLength: 3, bodyLength: ((o - 192) << 8) + buf[pos + 2] + 192, partial: false };
    }
    if (o === 255) {
      if (!need(6)) return null;
      return { tag, headerLength: 6, bodyLength: buf.readUInt32BE(pos + 2), partial: false };
    }
    return { tag, headerLength: 2, bodyLength: 1 << (o & 0x1f), partial: true };
  }
  const tag = (ctb >> 2) & 0x0f;
  switch (ctb & 0x03) {
    case 0:
      return need(2) ? { tag, headerLength: 2, bodyLength: buf[pos + 1], partial: false } : null;
    case 1:
      return need(3) ? { tag, headerLength: 3, bodyLength: buf.readUInt16BE(pos + 1), partial: false } : null;
    case 2:
      return need(5) ? { tag, headerLength: 5, bodyLength: buf.readUInt32BE(pos + 1), partial: false } : null;
    default:
      return { tag, headerLength: 1, bodyLength: null, partial: false };
  }
}

/** Length of a v4 S2K specifier (RFC 9580 §3.7.1), or null for an unknown type. */
function s2kLength(body: Buffer, at: number): number | null {
  switch (body[at]) {
    case 0:
      return 2; // simple: type, hash
    case 1:
      return 10; // salted: type, hash, 8-byte salt
    case 3:
      return 11; // iterated and salted: + count
    case 4:
      return 20; // argon2: type, 16-byte salt, t, p, m
    default:
      return null;
  }
}

/** Decodes the one-octet iteration count of an iterated S2K (RFC 9580 §3.7.1.3). */
export function decodeS2KCount(c: number): number {
  return (16 + (c & 15)) * 2 ** ((c >> 4) + 6);
}

/** The S2K at `at` when it is of a type node:crypto hashes can derive (0, 1, 3) and complete. */
function parseS2K(body: Buffer, at: number, length: number | null): S2KSpec | undefined {
  if (length === null || body.length < at + length) return undefined;
  const type = body[at];
  const hashAlgo = body[at + 1];
  if (type === 0) return { type, hashAlgo };
  if (type === 1) return { type, hashAlgo, salt: Buffer.from(body.subarray(at + 2, at + 10)) };
  if (type === 3) return { type, hashAlgo, salt: Buffer.from(body.subarray(at + 2, at + 10)), count: decodeS2KCount(body[at + 10]) };
  return undefined;
}

function parseSymKeyPacket(body: Buffer): SymKeyPacketInfo {
  const version = body[0];
  if (version !== 4) return { version, hasEncryptedSessionKey: true };
  const s2kLen = s2kLength(body, 2);
  const hasEncryptedSessionKey = s2kLen !== null && body.length > 2 + s2kLen;
  return {
    version,
    cipherAlgo: body[1],
    hasEncryptedSessionKey,
    s2k: parseS2K(body, 2, s2kLen),
    ...(hasEncryptedSessionKey ? { encryptedSessionKey: Buffer.from(body.subarray(2 + s2kLen)) } : {}),
  };
}

const HEAD_BYTES = 64 * 1024;

/** Reads the packet headers at the start of `file` (at most 64 KiB). */
export async function inspectPgpFile(file: string): Promise<PgpInspection> {
  const handle = await open(file, 'r');
  let buf: Buffer;
  try {
    const chunk = Buffer.alloc(HEAD_BYTES);
    const { bytesRead } = await handle.read(chunk, 0, HEAD_BYTES, 0);
    buf = chunk.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
  if (buf.length === 0) throw new PgpFormatProblem('the file is empty');
  if (/^\s*-----BEGIN PGP MESSAGE-----/.test(buf.subarray(0, 200).toString('latin1'))) {
    const head = dearmorHead(buf.toString('latin1'));
    try {
      return { kind: 'armored', dearmored: { ...inspectPackets(head), head } };
    } catch (err) {
      if (err instanceof PgpFormatProblem) return { kind: 'armored' }; // openpgp.js will say what is wrong
      throw err;
    }
  }
  if (buf[0] === 0x1f && buf[1] === 0x8b) {
    throw new PgpFormatProblem('it is a gzip file, not an OpenPGP message (already decrypted?)');
  }
  return inspectPackets(buf);
}

/**
 * Decodes the complete base64 lines at the start of an ASCII-armoured message (after the armour
 * headers' blank line), stopping at the checksum, the end line or the last, possibly cut, line.
 */
function dearmorHead(text: string): Buffer {
  const lines = text.split(/\r?\n/);
  lines.pop(); // may be cut by the 64 KiB read
  let i = lines.findIndex((l) => l.startsWith('-----BEGIN PGP MESSAGE-----')) + 1;
  while (i < lines.length && lines[i].trim() !== '') i++; // armour headers
  const body: string[] = [];
  for (i++; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line.startsWith('=') || line.startsWith('-----')) break;
    body.push(line);
  }
  const b64 = body.join('');
  return Buffer.from(b64.slice(0, b64.length - (b64.length % 4)), 'base64');
}

/** Walks the packets in `buf` up to the encrypted data packet. */
function inspectPackets(buf: Buffer): BinaryPgpInspection {
  const symKeys: SymKeyPacketInfo[] = [];
  let publicKeyPackets = 0;
  let pos = 0;
  for (;;) {
    const header = readPacketHeader(buf, pos);
    if (!header) throw new PgpFormatProblem('no encrypted data packet in the first 64 KiB');
    const bodyStart = pos + header.headerLength;
    const { tag } = header;
    if (tag === TAG.seipd || tag === TAG.sed || tag === TAG.aead) {
      const dataVersion = tag === TAG.seipd ? buf[bodyStart] : 0;
      return {
        kind: 'binary',
        symKeys,
        publicKeyPackets,
        dataTag: tag,
        dataVersion,
        ciphertextOffset: bodyStart + 1,
        dataPacketOffset: pos,
      };
    }
    if (header.partial || header.bodyLength === null) {
      throw new PgpFormatProblem(`unexpected packet (tag ${tag}) before the encrypted data`);
    }
    const body = buf.subarray(bodyStart, bodyStart + header.bodyLength);
    if (tag === TAG.skesk) symKeys.push(parseSymKeyPacket(body));
    else if (tag === TAG.pkesk) publicKeyPackets++;
    else if (tag !== TAG.marker) {
      throw new PgpFormatProblem(`it is an OpenPGP file but not an encrypted message (first packet has tag ${tag})`);
    }
    pos = bodyStart + header.bodyLength;
  }
}

/**
 * The first `n` ciphertext bytes of a SEIPD v1 packet (for the quick check), from the de-armoured
 * head of an armoured file or read from a binary one; fewer if the file is shorter.
 */
export async function firstCiphertext(file: string, info: PgpInspection, n: number): Promise<Buffer | null> {
  if (info.kind === 'armored') {
    const view = info.dearmored;
    return view ? view.head.subarray(view.ciphertextOffset, view.ciphertextOffset + n) : null;
  }
  const handle = await open(file, 'r');
  try {
    const bytes = Buffer.alloc(n);
    const { bytesRead } = await handle.read(bytes, 0, n, info.ciphertextOffset);
    return bytes.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}
