/**
 * The IDEA block cipher (Lai and Massey; RFC 9580 symmetric algorithm 1), encryption direction only,
 * and a CFB decryptor on top of it: OpenPGP's CFB runs the block cipher forwards for decryption too,
 * and neither openpgp.js nor Node's OpenSSL 3 provides IDEA.
 *
 * IDEA works on four 16-bit words with three operations: XOR, addition mod 2^16 and multiplication
 * mod 2^16+1 (where the word 0 stands for 2^16). 8 rounds use 6 subkeys each, and an output
 * transformation 4 more: 52 subkeys, taken 8 at a time from the 128-bit key rotated left by 25 bits.
 */

export const IDEA_BLOCK_SIZE = 8;
export const IDEA_KEY_SIZE = 16;
const SUBKEYS = 52;

/** Multiplication mod 65537 with 0 standing for 65536 (the result is in the same form). */
function mul(a: number, b: number): number {
  // Words below 2^16: the product is below 2^32, so imul's low 32 bits are all of it, and it is 0
  // only when an operand is 0.
  const p = Math.imul(a, b) >>> 0;
  if (p !== 0) {
    // With p = hi·2^16 + lo and 2^16 ≡ -1: p ≡ lo - hi (mod 65537); +65537 if negative, then 16 bits.
    const lo = p & 0xffff;
    const hi = p >>> 16;
    return (lo - hi + (lo < hi ? 1 : 0)) & 0xffff;
  }
  // An operand 0 stands for 2^16 ≡ -1: the product is minus the other (1 - x in 16 bits; 1 for 0·0).
  return (1 - a - b) & 0xffff;
}

/** The 52 encryption subkeys of a 16-byte key. */
export function ideaSubkeys(key: Uint8Array): Uint16Array {
  if (key.length !== IDEA_KEY_SIZE) throw new RangeError(`an IDEA key has ${IDEA_KEY_SIZE} bytes, not ${key.length}`);
  const k = new Uint16Array(SUBKEYS);
  const words = new Uint16Array(8);
  for (let i = 0; i < 8; i++) words[i] = (key[2 * i] << 8) | key[2 * i + 1];
  for (let i = 0; i < SUBKEYS; i++) {
    if (i > 0 && i % 8 === 0) {
      // Rotate the 128-bit key left by 25 bits: one whole word (16) plus 9 bits.
      const w = Array.from(words);
      for (let j = 0; j < 8; j++) words[j] = ((w[(j + 1) % 8] << 9) | (w[(j + 2) % 8] >>> 7)) & 0xffff;
    }
    k[i] = words[i % 8];
  }
  return k;
}

/** Encrypts one block given as four words (x1..x4) into `out` (four words). */
function encryptWords(k: Uint16Array, x1: number, x2: number, x3: number, x4: number, out: Int32Array): void {
  let s = 0;
  for (let round = 0; round < 8; round++, s += 6) {
    const a = mul(x1, k[s]);
    const b = (x2 + k[s + 1]) & 0xffff;
    const c = (x3 + k[s + 2]) & 0xffff;
    const d = mul(x4, k[s + 3]);
    const e = mul(a ^ c, k[s + 4]);
    const f = mul(((b ^ d) + e) & 0xffff, k[s + 5]);
    const g = (e + f) & 0xffff;
    // The middle words change places between rounds.
    x1 = a ^ f;
    x2 = c ^ f;
    x3 = b ^ g;
    x4 = d ^ g;
  }
  // The output transformation undoes the last round's swap.
  out[0] = mul(x1, k[48]);
  out[1] = (x3 + k[49]) & 0xffff;
  out[2] = (x2 + k[50]) & 0xffff;
  out[3] = mul(x4, k[51]);
}

/** IDEA encryption of one 8-byte block (for tests and single blocks; CFB uses the word form). */
export function ideaEncryptBlock(key: Uint8Array, block: Uint8Array): Buffer {
  if (block.length !== IDEA_BLOCK_SIZE) throw new RangeError(`an IDEA block has ${IDEA_BLOCK_SIZE} bytes, not ${block.length}`);
  const out = new Int32Array(4);
  const w = (i: number): number => (block[2 * i] << 8) | block[2 * i + 1];
  encryptWords(ideaSubkeys(key), w(0), w(1), w(2), w(3), out);
  const result = Buffer.alloc(IDEA_BLOCK_SIZE);
  for (let i = 0; i < 4; i++) result.writeUInt16BE(out[i], 2 * i);
  return result;
}

/**
 * IDEA in CFB mode with 64-bit feedback, decrypting: each plaintext block is the ciphertext block
 * XOR the encryption of the previous ciphertext block (of the IV for the first). Chunks may end
 * anywhere; the same interface as node:crypto's Decipher where node-seipd.ts uses it.
 */
export class IdeaCfbDecipher {
  private readonly subkeys: Uint16Array;
  /** The feedback register: the last full ciphertext block (the IV at first). */
  private readonly register = Buffer.alloc(IDEA_BLOCK_SIZE);
  /** Encryption of the register, for the block in progress. */
  private readonly keystream = Buffer.alloc(IDEA_BLOCK_SIZE);
  /** Bytes of the current block already done (0 at a block boundary). */
  private position = 0;
  private readonly words = new Int32Array(4);

  constructor(key: Uint8Array, iv: Uint8Array = new Uint8Array(IDEA_BLOCK_SIZE)) {
    this.subkeys = ideaSubkeys(key);
    if (iv.length !== IDEA_BLOCK_SIZE) throw new RangeError(`an IDEA CFB IV has ${IDEA_BLOCK_SIZE} bytes, not ${iv.length}`);
    this.register.set(iv);
  }

  update(data: Uint8Array): Buffer {
    const n = data.length;
    const out = Buffer.allocUnsafe(n);
    let i = 0;
    // Bytes of a block begun in an earlier chunk, or a tail shorter than a block: byte by byte.
    while (i < n && (this.position !== 0 || n - i < IDEA_BLOCK_SIZE)) i = this.step(data, out, i);
    if (i + IDEA_BLOCK_SIZE <= n) i = this.wholeBlocks(data, out, i);
    while (i < n) i = this.step(data, out, i);
    return out;
  }

  /** CFB has no padding: there is never anything left to emit. */
  final(): Buffer {
    return Buffer.alloc(0);
  }

  private step(data: Uint8Array, out: Buffer, i: number): number {
    const r = this.register;
    if (this.position === 0) {
      encryptWords(this.subkeys, (r[0] << 8) | r[1], (r[2] << 8) | r[3], (r[4] << 8) | r[5], (r[6] << 8) | r[7], this.words);
      for (let j = 0; j < 4; j++) {
        this.keystream[2 * j] = this.words[j] >>> 8;
        this.keystream[2 * j + 1] = this.words[j] & 0xff;
      }
    }
    const c = data[i];
    out[i] = c ^ this.keystream[this.position];
    r[this.position] = c;
    this.position = (this.position + 1) % IDEA_BLOCK_SIZE;
    return i + 1;
  }

  /** The fast path, from a block boundary: as many whole blocks as `data` holds from `i`. */
  private wholeBlocks(data: Uint8Array, out: Buffer, i: number): number {
    const k = this.subkeys;
    const w = this.words;
    const r = this.register;
    let r0 = (r[0] << 8) | r[1];
    let r1 = (r[2] << 8) | r[3];
    let r2 = (r[4] << 8) | r[5];
    let r3 = (r[6] << 8) | r[7];
    const end = data.length - IDEA_BLOCK_SIZE;
    for (; i <= end; i += IDEA_BLOCK_SIZE) {
      encryptWords(k, r0, r1, r2, r3, w);
      r0 = (data[i] << 8) | data[i + 1];
      r1 = (data[i + 2] << 8) | data[i + 3];
      r2 = (data[i + 4] << 8) | data[i + 5];
      r3 = (data[i + 6] << 8) | data[i + 7];
      const p0 = r0 ^ w[0];
      const p1 = r1 ^ w[1];
      const p2 = r2 ^ w[2];
      const p3 = r3 ^ w[3];
      out[i] = p0 >>> 8;
      out[i + 1] = p0 & 0xff;
      out[i + 2] = p1 >>> 8;
      out[i + 3] = p1 & 0xff;
      out[i + 4] = p2 >>> 8;
      out[i + 5] = p2 & 0xff;
      out[i + 6] = p3 >>> 8;
      out[i + 7] = p3 & 0xff;
    }
    r[0] = r0 >>> 8;
    r[1] = r0 & 0xff;
    r[2] = r1 >>> 8;
    r[3] = r1 & 0xff;
    r[4] = r2 >>> 8;
    r[5] = r2 & 0xff;
    r[6] = r3 >>> 8;
    r[7] = r3 & 0xff;
    return i;
  }
}
