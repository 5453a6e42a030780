import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as openpgp from 'openpgp';
import { decryptFile } from '../../src/archive/decrypt';
import { DecryptError } from '../../src/archive/errors';
import { decodeS2KCount, inspectPgpFile, type BinaryPgpInspection, type S2KSpec } from '../../src/archive/pgp-inspect';
import { deriveS2KKey, sessionKeyFromPassphrase } from '../../src/archive/s2k';
import { PASSPHRASE, cleanupGpg, encryptWithOpenpgp, gpgEncrypt, removeDir, tempDir } from './archive-fixtures';

/** The S2K written out the slow, obvious way (whole input in memory), to check the fast one against. */
function naiveS2K(passphrase: string, s2k: S2KSpec, length: number, hash: string): Buffer {
  const data = Buffer.concat([s2k.salt ?? Buffer.alloc(0), Buffer.from(passphrase, 'utf8')]);
  const total = s2k.type === 3 ? Math.max(s2k.count ?? 0, data.length) : data.length;
  const input = Buffer.alloc(total);
  for (let at = 0; at < total; at += data.length) data.copy(input, at, 0, Math.min(data.length, total - at));
  const out: Buffer[] = [];
  for (let i = 0; Buffer.concat(out).length < length; i++) out.push(createHash(hash).update(Buffer.alloc(i)).update(input).digest());
  return Buffer.concat(out).subarray(0, length);
}

/** The session key openpgp.js derives from the passphrase for `file`. */
async function openpgpSessionKey(file: string, passphrase = PASSPHRASE): Promise<{ data: Uint8Array; algorithm: string | null }> {
  const message = await openpgp.readMessage({ binaryMessage: readFileSync(file) });
  const [key] = await openpgp.decryptSessionKeys({ message, passwords: [passphrase] });
  return key;
}

describe('S2K with node:crypto', () => {
  let dir: string;
  const plain = Buffer.from('A page of text. '.repeat(5_000));

  beforeAll(() => {
    dir = tempDir();
    writeFileSync(join(dir, 'plain.txt'), plain);
  });
  afterAll(() => {
    removeDir(dir);
    cleanupGpg();
  });

  it('decodes the count octet as RFC 9580 does', () => {
    expect(decodeS2KCount(0)).toBe(1024);
    expect(decodeS2KCount(96)).toBe(65536);
    expect(decodeS2KCount(255)).toBe(65011712);
  });

  it.each([
    ['md5', 1],
    ['sha1', 2],
    ['sha256', 8],
    ['sha512', 10],
  ])('matches a plain implementation for %s, several hash lengths, odd counts and all S2K types', (hash, hashAlgo) => {
    const salt = Buffer.from('0102030405060708', 'hex');
    const specs: S2KSpec[] = [
      { type: 0, hashAlgo },
      { type: 1, hashAlgo, salt },
      { type: 3, hashAlgo, salt, count: 1024 },
      { type: 3, hashAlgo, salt, count: 3_000_001 }, // not a multiple of salt+passphrase, > one block
      { type: 3, hashAlgo, salt, count: 10 }, // less than one copy: one whole copy is hashed
    ];
    for (const spec of specs) {
      for (const length of [16, 24, 32, 48]) {
        expect(deriveS2KKey(PASSPHRASE, spec, length)!.toString('hex')).toBe(naiveS2K(PASSPHRASE, spec, length, hash).toString('hex'));
      }
    }
    expect(deriveS2KKey('', { type: 3, hashAlgo, salt, count: 2048 }, 32)).toEqual(
      naiveS2K('', { type: 3, hashAlgo, salt, count: 2048 }, 32, hash),
    );
  });

  it('returns null for a hash it does not know', () => {
    expect(deriveS2KKey(PASSPHRASE, { type: 0, hashAlgo: 99 }, 32)).toBeNull();
  });

  it.each([
    ['SHA1', 'AES256'],
    ['SHA256', 'AES256'],
    ['SHA512', 'AES128'],
    ['SHA1', '3DES'],
    ['SHA256', 'CAST5'],
    ['SHA1', 'TWOFISH'],
  ])("derives the key openpgp.js derives for gpg's default count, --s2k-digest-algo %s, %s", async (digest, cipher) => {
    const file = join(dir, `gpg-${digest}-${cipher}.gpg`);
    gpgEncrypt(join(dir, 'plain.txt'), file, ['--s2k-count', '65011712', '--s2k-digest-algo', digest, '--cipher-algo', cipher]);
    const info = (await inspectPgpFile(file)) as BinaryPgpInspection;
    expect(info.symKeys[0].s2k).toMatchObject({ type: 3, count: 65011712 });
    const ours = sessionKeyFromPassphrase(info.symKeys[0], PASSPHRASE);
    const theirs = await openpgpSessionKey(file);
    expect(ours).not.toBeNull();
    expect(ours).not.toBe('wrong');
    const key = ours as { cipherAlgo: number; data: Uint8Array };
    expect(Buffer.from(key.data).toString('hex')).toBe(Buffer.from(theirs.data).toString('hex'));
    expect(openpgp.enums.read(openpgp.enums.symmetric, key.cipherAlgo)).toBe(theirs.algorithm);
    // and the file decrypts through this path, byte for byte
    const out = join(dir, 'out.txt');
    await decryptFile(file, out, PASSPHRASE, { thread: 'main' });
    expect(readFileSync(out).equals(plain)).toBe(true);
  });

  it('decrypts an encrypted session key inside the packet (as openpgp.js writes), and says "wrong" for a wrong passphrase', async () => {
    const file = join(dir, 'openpgp.gpg');
    writeFileSync(file, await encryptWithOpenpgp(plain));
    const info = (await inspectPgpFile(file)) as BinaryPgpInspection;
    expect(info.symKeys[0].hasEncryptedSessionKey).toBe(true);
    const ours = sessionKeyFromPassphrase(info.symKeys[0], PASSPHRASE) as { cipherAlgo: number; data: Uint8Array };
    const theirs = await openpgpSessionKey(file);
    expect(Buffer.from(ours.data).toString('hex')).toBe(Buffer.from(theirs.data).toString('hex'));
    expect(openpgp.enums.read(openpgp.enums.symmetric, ours.cipherAlgo)).toBe(theirs.algorithm);
    // A wrong passphrase gives nonsense (rarely a plausible algorithm id: then the quick check rejects it).
    let wrong = 0;
    for (let i = 0; i < 20; i++) if (sessionKeyFromPassphrase(info.symKeys[0], `not it ${i}`) === 'wrong') wrong++;
    expect(wrong).toBeGreaterThan(15);
    for (const thread of ['main', 'worker'] as const) {
      const err = await decryptFile(file, join(dir, 'x.out'), 'not the passphrase', { thread }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DecryptError);
      expect((err as Error).message).toMatch(/the GPG passphrase is wrong/);
      const out = join(dir, `ok-${thread}.out`);
      await decryptFile(file, out, PASSPHRASE, { thread });
      expect(readFileSync(out).equals(plain)).toBe(true);
    }
  });

  it('leaves argon2 and SKESK v6 (AEAD) to openpgp.js', async () => {
    const message = await openpgp.createMessage({ binary: plain });
    const argon = join(dir, 'argon2.gpg');
    const bytes = await openpgp.encrypt({
      message,
      passwords: [PASSPHRASE],
      format: 'binary',
      config: { s2kType: openpgp.enums.s2k.argon2, aeadProtect: false },
    });
    writeFileSync(argon, Buffer.from(bytes));
    const info = (await inspectPgpFile(argon)) as BinaryPgpInspection;
    expect(info.symKeys[0].s2k).toBeUndefined();
    expect(sessionKeyFromPassphrase(info.symKeys[0], PASSPHRASE)).toBeNull();
    await decryptFile(argon, join(dir, 'argon.out'), PASSPHRASE, { thread: 'main' });
    expect(readFileSync(join(dir, 'argon.out')).equals(plain)).toBe(true);

    const aead = join(dir, 'aead.gpg');
    writeFileSync(aead, await encryptWithOpenpgp(plain, { aead: true }));
    const v6 = (await inspectPgpFile(aead)) as BinaryPgpInspection;
    expect(sessionKeyFromPassphrase(v6.symKeys[0], PASSPHRASE)).toBeNull();
  });
});
