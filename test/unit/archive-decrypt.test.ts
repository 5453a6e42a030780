import { createCipheriv, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { decryptFile } from '../../src/archive/decrypt';
import { deriveS2KKey } from '../../src/archive/node-seipd';
import { unpackArchive } from '../../src/archive/unpack';
import { ArchiveLimitError, DecryptError } from '../../src/archive/errors';
import {
  PASSPHRASE,
  bookEntries,
  cleanupGpg,
  encryptWithOpenpgp,
  gpgEncrypt,
  makeTarGz,
  removeDir,
  tempDir,
} from './archive-fixtures';

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

    it('CAST5 (no quick check in Node\'s OpenSSL 3): says wrong passphrase or damaged', async () => {
      const file = gpgFile('wrong-cast5.gpg', 'random.bin', ['--cipher-algo', 'CAST5']);
      await expect(decryptFile(file, join(dir, 'w.out'), 'not the passphrase')).rejects.toThrow(
        /either the GPG passphrase is wrong or the file is damaged/,
      );
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
      /encrypted with cipher #6, which is not supported \(supported: .*Camellia128\/192\/256, IDEA\)/,
    );
  });

  describe('IDEA (decrypted with idea.ts: neither openpgp.js nor Node\'s OpenSSL 3 has it)', () => {
    it.each([
      ['none', 'random.bin'],
      ['zlib', 'text.txt'],
    ] as const)('decrypts gpg --cipher-algo IDEA --compress-algo %s, in the worker and the calling thread', async (compress, input) => {
      const file = gpgFile(`idea-${compress}.gpg`, input, ['--cipher-algo', 'IDEA', '--compress-algo', compress]);
      const expected = input === 'random.bin' ? random : text;
      expect((await decryptTo(file)).equals(expected)).toBe(true);
      const out = join(dir, `idea-${compress}-main.out`);
      const { bytes } = await decryptFile(file, out, PASSPHRASE, { thread: 'main' });
      expect(bytes).toBe(expected.length);
      expect(readFileSync(out).equals(expected)).toBe(true);
    });

    it.each(['worker', 'main'] as const)('names a wrong passphrase as for other ciphers (%s thread)', async (thread) => {
      const file = gpgFile('idea-wrong.gpg', 'random.bin', ['--cipher-algo', 'IDEA']);
      const out = join(dir, 'idea-wrong.out');
      const err = await decryptFile(file, out, 'not the passphrase', { thread }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DecryptError);
      expect((err as Error).message).toMatch(/: the GPG passphrase is wrong \(or the archive was encrypted for another library\)/);
      expect(existsSync(out)).toBe(false);
    });

    it.each(['none', 'zlib'])('refuses a flipped byte (compression %s) and deletes the output', async (compress) => {
      const source = compress === 'none' ? 'random.bin' : 'text.txt';
      const file = gpgFile(`idea-damaged-${compress}.gpg`, source, ['--cipher-algo', 'IDEA', '--compress-algo', compress]);
      const bytes = readFileSync(file);
      bytes[Math.floor(bytes.length / 2)] ^= 0x01;
      writeFileSync(file, bytes);
      const out = join(dir, 'idea-damaged.out');
      const err = await decryptFile(file, out, PASSPHRASE).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DecryptError);
      expect((err as Error).message).toMatch(compress === 'none' ? /integrity check failed/ : /integrity check failed|damaged or incomplete/);
      expect(existsSync(out)).toBe(false);
    });

    it('decrypts ASCII armour', async () => {
      const file = gpgFile('idea-armored.asc', 'text.txt', ['--cipher-algo', 'IDEA', '--armor']);
      expect((await decryptTo(file)).equals(text)).toBe(true);
    });

    it('goes through unpackArchive (streamed decrypt + extract, worker thread)', async () => {
      const tarGz = join(dir, 'idea-book.tar.gz');
      writeFileSync(tarGz, await makeTarGz(bookEntries('IDEA001', ['one', 'two'])));
      const archive = join(dir, 'IDEA001.tar.gz.gpg');
      gpgEncrypt(tarGz, archive, ['--cipher-algo', 'IDEA']);
      const summary = await unpackArchive({ archive, passphrase: PASSPHRASE, outDir: join(dir, 'idea-unpacked') });
      expect(summary).toMatchObject({ barcode: 'IDEA001', checksum: { verified: 7, hadChecksumFile: true }, pageCount: 2 });
      expect(readFileSync(summary.decryptedPath!).equals(readFileSync(tarGz))).toBe(true);
      expect(readFileSync(join(summary.extractedDir, '00000002.txt'), 'utf8')).toBe('two');
    });
  });

  describe('Camellia (decrypted with node:crypto, which openpgp.js lacks)', () => {
    it.each([
      ['CAMELLIA128', 'none'],
      ['CAMELLIA128', 'zlib'],
      ['CAMELLIA256', 'none'],
      ['CAMELLIA256', 'zlib'],
      ['CAMELLIA192', 'bzip2'],
    ])('decrypts gpg --cipher-algo %s --compress-algo %s', async (cipher, compress) => {
      const file = gpgFile(`cam-${cipher}-${compress}.gpg`, 'text.txt', ['--cipher-algo', cipher, '--compress-algo', compress]);
      expect((await decryptTo(file)).equals(text)).toBe(true);
    });

    it('decrypts with gpg\'s default S2K count and a SHA-512 S2K, in the calling thread too', async () => {
      const file = join(dir, 'cam-default-s2k.gpg');
      gpgEncrypt(join(dir, 'random.bin'), file, ['--cipher-algo', 'CAMELLIA256', '--s2k-count', '65011712', '--s2k-digest-algo', 'SHA512']);
      expect((await decryptTo(file)).equals(random)).toBe(true);
      const out = join(dir, 'cam-main.out');
      await decryptFile(file, out, PASSPHRASE, { thread: 'main' });
      expect(readFileSync(out).equals(random)).toBe(true);
    });

    it('decrypts a passphrase packet that carries an encrypted session key, and names a wrong passphrase', async () => {
      // gpg 2.2 writes such packets only with -c -e, which fails to decrypt with gpg itself here; so
      // re-wrap a gpg file's session key: an AES256-protected SKESK holding the CAMELLIA256 key.
      const gpgBytes = readFileSync(gpgFile('cam-esk-src.gpg', 'random.bin', ['--cipher-algo', 'CAMELLIA256']));
      expect(gpgBytes[0]).toBe(0x8c); // old-format SKESK with a one-byte length
      const skesk = gpgBytes.subarray(2, 2 + gpgBytes[1]);
      const count = (16 + (skesk[12] & 15)) << ((skesk[12] >> 4) + 6);
      const sessionKey = deriveS2KKey(PASSPHRASE, { type: 3, hashAlgo: 2, salt: skesk.subarray(4, 12), count }, 32);
      const salt = randomBytes(8);
      const kek = deriveS2KKey(PASSPHRASE, { type: 3, hashAlgo: 8, salt, count: 65536 }, 32);
      const cipher = createCipheriv('aes-256-cfb', kek, Buffer.alloc(16));
      const esk = Buffer.concat([cipher.update(Buffer.concat([Buffer.from([13]), sessionKey])), cipher.final()]);
      const body = Buffer.concat([Buffer.from([4, 9, 3, 8]), salt, Buffer.from([0x60]), esk]);
      const file = join(dir, 'cam-esk.gpg');
      writeFileSync(file, Buffer.concat([Buffer.from([0x8c, body.length]), body, gpgBytes.subarray(2 + gpgBytes[1])]));
      expect((await decryptTo(file)).equals(random)).toBe(true);
      await expect(decryptFile(file, join(dir, 'cam-esk.out'), 'not the passphrase')).rejects.toThrow(/passphrase is wrong/);
    });

    it('decrypts ASCII armour', async () => {
      const file = gpgFile('cam-armored.asc', 'text.txt', ['--cipher-algo', 'CAMELLIA128', '--armor']);
      expect((await decryptTo(file)).equals(text)).toBe(true);
      await expect(decryptFile(file, join(dir, 'cam-armored.out'), 'not the passphrase')).rejects.toThrow(/passphrase is wrong/);
    });

    it('names a wrong passphrase', async () => {
      const file = gpgFile('cam-wrong.gpg', 'random.bin', ['--cipher-algo', 'CAMELLIA256']);
      const out = join(dir, 'cam-wrong.out');
      const err = await decryptFile(file, out, 'not the passphrase').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DecryptError);
      expect((err as Error).message).toMatch(/: the GPG passphrase is wrong \(or the archive was encrypted for another library\)/);
      expect(existsSync(out)).toBe(false);
    });

    it.each(['none', 'zlib'])('refuses a flipped byte (compression %s) and deletes the output', async (compress) => {
      const source = compress === 'none' ? 'random.bin' : 'text.txt';
      const file = gpgFile(`cam-damaged-${compress}.gpg`, source, ['--cipher-algo', 'CAMELLIA128', '--compress-algo', compress]);
      const bytes = readFileSync(file);
      bytes[Math.floor(bytes.length / 2)] ^= 0x01;
      writeFileSync(file, bytes);
      const out = join(dir, 'cam-damaged.out');
      const err = await decryptFile(file, out, PASSPHRASE).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DecryptError);
      expect((err as Error).message).toMatch(compress === 'none' ? /integrity check failed/ : /integrity check failed|damaged or incomplete/);
      expect(existsSync(out)).toBe(false);
    });

    it('refuses a truncated file', async () => {
      const file = gpgFile('cam-truncated.gpg', 'random.bin', ['--cipher-algo', 'CAMELLIA256']);
      const bytes = readFileSync(file);
      writeFileSync(file, bytes.subarray(0, bytes.length - 1000));
      const out = join(dir, 'cam-truncated.out');
      await expect(decryptFile(file, out, PASSPHRASE)).rejects.toThrow(/damaged or incomplete/);
      expect(existsSync(out)).toBe(false);
    });

    it('goes through unpackArchive (streamed decrypt + extract, worker thread)', async () => {
      const tarGz = join(dir, 'cam-book.tar.gz');
      writeFileSync(tarGz, await makeTarGz(bookEntries('CAM001', ['one', 'two'])));
      const archive = join(dir, 'CAM001.tar.gz.gpg');
      gpgEncrypt(tarGz, archive, ['--cipher-algo', 'CAMELLIA256']);
      const summary = await unpackArchive({ archive, passphrase: PASSPHRASE, outDir: join(dir, 'cam-unpacked') });
      expect(summary).toMatchObject({ barcode: 'CAM001', checksum: { verified: 7, hadChecksumFile: true }, pageCount: 2 });
      expect(readFileSync(summary.decryptedPath!).equals(readFileSync(tarGz))).toBe(true);
      expect(readFileSync(join(summary.extractedDir, '00000002.txt'), 'utf8')).toBe('two');
    });

    it('stops at maxBytes', async () => {
      const file = gpgFile('cam-bomb.gpg', 'text.txt', ['--cipher-algo', 'CAMELLIA128', '--compress-algo', 'zlib']);
      await expect(decryptFile(file, join(dir, 'cam-bomb.out'), PASSPHRASE, { maxBytes: 100_000 })).rejects.toThrow(ArchiveLimitError);
    });
  });

  it('stops at maxBytes (an OpenPGP compression bomb cannot fill the disk)', async () => {
    const file = gpgFile('bomb.gpg', 'text.txt', ['--compress-algo', 'zlib']);
    const out = join(dir, 'bomb.out');
    await expect(decryptFile(file, out, PASSPHRASE, { maxBytes: 100_000 })).rejects.toThrow(ArchiveLimitError);
    expect(existsSync(out)).toBe(false);
  });
});
