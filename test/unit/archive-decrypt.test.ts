import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { decryptFile } from '../../src/archive/decrypt';
import { ArchiveLimitError, DecryptError } from '../../src/archive/errors';
import { PASSPHRASE, cleanupGpg, encryptWithOpenpgp, gpgEncrypt, removeDir, tempDir } from './archive-fixtures';

describe('decryptFile', () => {
  let dir: string;
  /** Random (incompressible) and text-like (compressible) plaintexts. */
  const random = randomBytes(300_000);
  const text = Buffer.from('Page text that compresses well. '.repeat(20_000));

  beforeAll(() => {
    dir = tempDir();
    writeFileSync(join(dir, 'random.bin'), random);
    writeFileSync(join(dir, 'text.txt'), text);
  });
  afterAll(() => {
    removeDir(dir);
    cleanupGpg();
  });

  async function decryptTo(file: string, passphrase = PASSPHRASE): Promise<Buffer> {
    const out = join(dir, 'out.bin');
    const { bytes } = await decryptFile(file, out, passphrase);
    const data = readFileSync(out);
    expect(bytes).toBe(data.length);
    return data;
  }

  function gpgFile(name: string, input: 'random.bin' | 'text.txt', extra: string[]): string {
    const file = join(dir, name);
    gpgEncrypt(join(dir, input), file, extra);
    return file;
  }

  it.each(['AES128', 'AES192', 'AES256', 'CAST5', '3DES', 'BLOWFISH', 'TWOFISH'])(
    'decrypts what gpg --symmetric --cipher-algo %s writes',
    async (cipher) => {
      const file = gpgFile(`c-${cipher}.gpg`, 'random.bin', ['--cipher-algo', cipher]);
      expect((await decryptTo(file)).equals(random)).toBe(true);
    },
  );

  it.each(['none', 'zip', 'zlib', 'bzip2'])('decrypts gpg output with --compress-algo %s', async (algo) => {
    const file = gpgFile(`z-${algo}.gpg`, 'text.txt', ['--compress-algo', algo]);
    expect((await decryptTo(file)).equals(text)).toBe(true);
  });

  it('decrypts gpg defaults (gpg skips its compression for a gzip input) and ASCII armour', async () => {
    writeFileSync(join(dir, 'book.tar.gz'), gzipSync(text));
    gpgEncrypt(join(dir, 'book.tar.gz'), join(dir, 'default.gpg'));
    expect((await decryptTo(join(dir, 'default.gpg'))).equals(gzipSync(text))).toBe(true);
    const armored = gpgFile('armored.asc', 'random.bin', ['--armor']);
    expect((await decryptTo(armored)).equals(random)).toBe(true);
  });

  it('decrypts openpgp.js messages, SEIPD v1 and AEAD (SEIPD v2)', async () => {
    for (const aead of [false, true]) {
      const file = join(dir, `openpgp-${aead}.gpg`);
      writeFileSync(file, await encryptWithOpenpgp(random, { aead }));
      expect((await decryptTo(file)).equals(random)).toBe(true);
    }
  });

  it('reports progress as encrypted bytes read', async () => {
    const file = gpgFile('progress.gpg', 'random.bin', []);
    const seen: number[] = [];
    await decryptFile(file, join(dir, 'p.out'), PASSPHRASE, { onProgress: (n) => seen.push(n) });
    expect(seen.length).toBeGreaterThan(0);
    expect(seen[seen.length - 1]).toBe(readFileSync(file).length);
  });

  describe('a wrong passphrase is named as such', () => {
    it.each([
      ['AES256 (gpg default)', ['--cipher-algo', 'AES256']],
      ['3DES', ['--cipher-algo', '3DES']],
      ['zlib-compressed', ['--compress-algo', 'zlib']],
    ])('%s', async (label, extra) => {
      const file = gpgFile(`wrong-${label.length}.gpg`, 'random.bin', extra);
      const out = join(dir, 'wrong.out');
      const err = await decryptFile(file, out, 'not the passphrase').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DecryptError);
      expect((err as Error).message).toMatch(/: the GPG passphrase is wrong \(or the archive was encrypted for another library\)/);
      expect((err as Error).message).not.toContain('not the passphrase');
      expect(existsSync(out)).toBe(false);
    });

    // Node's OpenSSL 3 lacks these three: the quick check uses openpgp.js's own block ciphers.
    it.each([
      ['CAST5', ['--cipher-algo', 'CAST5']],
      ['BLOWFISH', ['--cipher-algo', 'BLOWFISH']],
      ['TWOFISH', ['--cipher-algo', 'TWOFISH']],
      ['armoured AES256', ['--cipher-algo', 'AES256', '--armor']],
      ['armoured CAST5', ['--cipher-algo', 'CAST5', '--armor']],
    ])('%s, in the worker and in the calling thread', async (label, extra) => {
      const file = gpgFile(`wrong-${label.replace(/\W+/g, '-')}.gpg`, 'random.bin', extra);
      const out = join(dir, 'wrong.out');
      for (const thread of ['worker', 'main'] as const) {
        const err = await decryptFile(file, out, 'not the passphrase', { thread }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(DecryptError);
        expect((err as Error).message).toMatch(/: the GPG passphrase is wrong \(or the archive was encrypted for another library\)/);
        expect((err as Error).message).not.toMatch(/either|damaged/);
        expect(existsSync(out)).toBe(false);
      }
      expect((await decryptTo(file)).equals(random)).toBe(true); // and the right one still works
    });

    it('for AEAD messages too', async () => {
      const file = join(dir, 'aead-wrong.gpg');
      writeFileSync(file, await encryptWithOpenpgp(random, { aead: true }));
      await expect(decryptFile(file, join(dir, 'x.out'), 'nope')).rejects.toThrow(/passphrase is wrong/);
    });
  });

  it('refuses a damaged file (flipped bytes in the middle) through the integrity check, and deletes the output', async () => {
    const file = gpgFile('damaged.gpg', 'random.bin', []);
    const bytes = readFileSync(file);
    for (let i = 0; i < 8; i++) bytes[Math.floor(bytes.length / 2) + i] ^= 0xff;
    writeFileSync(file, bytes);
    const out = join(dir, 'damaged.out');
    const err = await decryptFile(file, out, PASSPHRASE).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DecryptError);
    // Where the flipped bytes land decides which check trips first: the MDC at the end, or gpg's
    // compression layer inside (random salt and session key move the packet boundaries).
    expect((err as Error).message).toMatch(/integrity check failed|damaged or incomplete/);
    expect(existsSync(out)).toBe(false);
  });

  it('refuses a damaged AEAD message', async () => {
    const bytes = await encryptWithOpenpgp(random, { aead: true });
    bytes[Math.floor(bytes.length / 2)] ^= 0x01;
    const file = join(dir, 'aead-damaged.gpg');
    writeFileSync(file, bytes);
    await expect(decryptFile(file, join(dir, 'y.out'), PASSPHRASE)).rejects.toThrow(DecryptError);
  });

  it('refuses a truncated file', async () => {
    const file = gpgFile('truncated.gpg', 'random.bin', []);
    const bytes = readFileSync(file);
    writeFileSync(file, bytes.subarray(0, bytes.length - 1000));
    const out = join(dir, 'truncated.out');
    const err = await decryptFile(file, out, PASSPHRASE).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DecryptError);
    expect((err as Error).message).toMatch(/damaged|incomplete|integrity/);
    expect(existsSync(out)).toBe(false);
  });

  it('says when the file is not OpenPGP at all, or empty', async () => {
    writeFileSync(join(dir, 'plain.tar.gz'), gzipSync(text));
    await expect(decryptFile(join(dir, 'plain.tar.gz'), join(dir, 'z.out'), PASSPHRASE)).rejects.toThrow(
      /gzip file, not an OpenPGP message/,
    );
    writeFileSync(join(dir, 'empty.gpg'), '');
    await expect(decryptFile(join(dir, 'empty.gpg'), join(dir, 'z.out'), PASSPHRASE)).rejects.toThrow(/empty/);
    writeFileSync(join(dir, 'noise.gpg'), Buffer.from('hello, this is not encrypted'));
    await expect(decryptFile(join(dir, 'noise.gpg'), join(dir, 'z.out'), PASSPHRASE)).rejects.toThrow(DecryptError);
  });

  it('refuses a message without integrity protection (no MDC), as gpg 2.2+ does', async () => {
    const file = gpgFile('nomdc.gpg', 'random.bin', ['--rfc2440', '--cipher-algo', '3DES']);
    await expect(decryptFile(file, join(dir, 'n.out'), PASSPHRASE)).rejects.toThrow(/without integrity protection/);
  });

  it('names a cipher id it does not know, and lists the supported ones', async () => {
    // gpg writes no such file: patch the cipher byte of an AES file's passphrase packet (version 4).
    const bytes = readFileSync(gpgFile('unknown-cipher.gpg', 'random.bin', ['--cipher-algo', 'AES128']));
    expect([bytes[0], bytes[2], bytes[3]]).toEqual([0x8c, 4, 7]); // old-format SKESK, v4, AES128
    bytes[3] = 6;
    const file = join(dir, 'unknown-cipher-6.gpg');
    writeFileSync(file, bytes);
    await expect(decryptFile(file, join(dir, 'u.out'), PASSPHRASE)).rejects.toThrow(
      /encrypted with cipher #6, which is not supported \(supported: .*Twofish\)/,
    );
  });

  describe('IDEA and Camellia (openpgp.js lacks them) are refused by name, saying how to decrypt by hand', () => {
    it.each(['IDEA', 'CAMELLIA128', 'CAMELLIA256'])('%s', async (cipher) => {
      const file = gpgFile(`B1.tar.gz.${cipher}.gpg`, 'random.bin', ['--cipher-algo', cipher]);
      const out = join(dir, `${cipher}.out`);
      for (const thread of ['worker', 'main'] as const) {
        const err = await decryptFile(file, out, PASSPHRASE, { thread }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(DecryptError);
        const message = (err as Error).message;
        expect(message).toContain(`encrypted with ${cipher}`);
        expect(message).toContain(`gpg -d B1.tar.gz.${cipher}.gpg > B1.tar.gz.${cipher}.tar.gz`);
        expect(message).toContain('grin-pipeline unpack --decrypted');
        expect(existsSync(out)).toBe(false);
      }
    });

    it('armoured too', async () => {
      const file = gpgFile('cam.asc', 'random.bin', ['--cipher-algo', 'CAMELLIA192', '--armor']);
      await expect(decryptFile(file, join(dir, 'cam.out'), PASSPHRASE)).rejects.toThrow(
        /encrypted with CAMELLIA192.*gpg -d cam\.asc > cam\.tar\.gz/,
      );
    });
  });

  it('stops at maxBytes (an OpenPGP compression bomb cannot fill the disk)', async () => {
    const file = gpgFile('bomb.gpg', 'text.txt', ['--compress-algo', 'zlib']);
    const out = join(dir, 'bomb.out');
    await expect(decryptFile(file, out, PASSPHRASE, { maxBytes: 100_000 })).rejects.toThrow(ArchiveLimitError);
    expect(existsSync(out)).toBe(false);
  });
});
