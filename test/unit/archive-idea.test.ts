import { randomBytes } from 'node:crypto';
import { IdeaCfbDecipher, ideaEncryptBlock, ideaSubkeys } from '../../src/archive/idea';

const hex = (s: string): Buffer => Buffer.from(s.replace(/ /g, ''), 'hex');

describe('IDEA block cipher', () => {
  it('matches the published test vector (key 0001…0008, plaintext 0000 0001 0002 0003)', () => {
    const key = hex('0001 0002 0003 0004 0005 0006 0007 0008');
    expect(ideaEncryptBlock(key, hex('0000 0001 0002 0003')).toString('hex')).toBe('11fbed2b01986de5');
  });

  it('derives subkeys from the key rotated left by 25 bits, 8 at a time', () => {
    const k = ideaSubkeys(hex('0001 0002 0003 0004 0005 0006 0007 0008'));
    expect(k.length).toBe(52);
    expect(Array.from(k.subarray(0, 8))).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    // Rotated by 25: 0x0400 0x0600 0x0800 0x0a00 0x0c00 0x0e00 0x1000 0x0200.
    expect(Array.from(k.subarray(8, 16))).toEqual([0x0400, 0x0600, 0x0800, 0x0a00, 0x0c00, 0x0e00, 0x1000, 0x0200]);
  });

  it('refuses a key or block of the wrong size', () => {
    expect(() => ideaSubkeys(Buffer.alloc(15))).toThrow(/IDEA key has 16 bytes, not 15/);
    expect(() => ideaEncryptBlock(Buffer.alloc(16), Buffer.alloc(7))).toThrow(/IDEA block has 8 bytes, not 7/);
  });
});

describe('IdeaCfbDecipher (64-bit CFB)', () => {
  const key = randomBytes(16);
  const ciphertext = randomBytes(1000 + 5); // not a whole number of blocks

  it('XORs each block with the encryption of the previous ciphertext block (a zero IV first)', () => {
    const plain = new IdeaCfbDecipher(key).update(ciphertext);
    const xor = (a: Buffer, b: Buffer): Buffer => Buffer.from(a.map((v, i) => v ^ b[i]));
    expect(plain.subarray(0, 8)).toEqual(xor(ciphertext.subarray(0, 8), ideaEncryptBlock(key, Buffer.alloc(8))));
    expect(plain.subarray(8, 16)).toEqual(xor(ciphertext.subarray(8, 16), ideaEncryptBlock(key, ciphertext.subarray(0, 8))));
    const lastStart = 1000; // the final partial block of 5 bytes
    expect(plain.subarray(lastStart)).toEqual(
      xor(ciphertext.subarray(lastStart), ideaEncryptBlock(key, ciphertext.subarray(lastStart - 8, lastStart)).subarray(0, 5)),
    );
  });

  it('gives the same bytes whatever the chunk boundaries', () => {
    const whole = new IdeaCfbDecipher(key).update(ciphertext);
    for (const sizes of [[1], [3, 5], [7, 9, 8], [13], [500, 1], [8]]) {
      const d = new IdeaCfbDecipher(key);
      const parts: Buffer[] = [];
      for (let at = 0, i = 0; at < ciphertext.length; i++) {
        const n = sizes[i % sizes.length];
        parts.push(d.update(ciphertext.subarray(at, at + n)));
        at += n;
      }
      parts.push(d.final());
      expect(Buffer.concat(parts).equals(whole)).toBe(true);
    }
  });

  it('uses a given IV', () => {
    const iv = randomBytes(8);
    const plain = new IdeaCfbDecipher(key, iv).update(ciphertext.subarray(0, 8));
    expect(plain).toEqual(Buffer.from(ciphertext.subarray(0, 8).map((v, i) => v ^ ideaEncryptBlock(key, iv)[i])));
  });
});
