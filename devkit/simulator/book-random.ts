/**
 * Seeded randomness for generated book archives. Everything is derived from a text label (seed,
 * barcode, purpose), so each part of a book can be regenerated on its own and the same label always
 * gives the same values, on any machine. (The simulator's inventory uses `./random` instead.)
 */
import { createCipheriv, createHash } from 'node:crypto';

/** Small seeded generator for choices (words, dates, counts); not for bulk bytes. */
export class SeededRandom {
  private state: number;

  constructor(label: string) {
    // xorshift32 must never hold 0, so a zero hash falls back to a fixed odd constant.
    this.state = createHash('sha256').update(label).digest().readUInt32LE(0) || 0x9e3779b9;
  }

  /** Next unsigned 32-bit value (xorshift32). */
  nextUint32(): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state;
  }

  /** Uniform float in [0, 1). */
  next(): number {
    return this.nextUint32() / 0x1_0000_0000;
  }

  /** Uniform integer in [min, max], both inclusive. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('SeededRandom.pick: cannot pick from an empty list');
    return items[Math.floor(this.next() * items.length)];
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }
}

/**
 * Deterministic pseudo-random bytes for `label`, `totalBytes` long, in chunks of at most `chunkSize`.
 * Uses the AES-256-CTR keystream of a key hashed from the label: native code, so 100 MB takes a
 * fraction of a second, and the output is the same on every platform.
 */
export function* seededByteChunks(label: string, totalBytes: number, chunkSize = 64 * 1024): Generator<Buffer> {
  if (!Number.isInteger(totalBytes) || totalBytes < 0) {
    throw new Error(`seededByteChunks: totalBytes must be a non-negative integer, got ${totalBytes}`);
  }
  const key = createHash('sha256').update(`bytes:${label}`).digest();
  const iv = createHash('md5').update(`iv:${label}`).digest();
  const cipher = createCipheriv('aes-256-ctr', key, iv);
  const zeros = Buffer.alloc(chunkSize);
  let remaining = totalBytes;
  while (remaining > 0) {
    const size = Math.min(chunkSize, remaining);
    yield cipher.update(size === chunkSize ? zeros : zeros.subarray(0, size));
    remaining -= size;
  }
}
