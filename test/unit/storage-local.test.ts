import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LocalStorage, StorageLinkError } from '../../src/storage/local';
import type { PipelineError } from '../../src/common/errors';

describe('LocalStorage', () => {
  let root: string;
  let src: string;
  let storage: LocalStorage;

  beforeEach(() => {
    const base = fs.mkdtempSync(path.join(os.tmpdir(), 'grin-storage-local-'));
    root = path.join(base, 'books');
    src = path.join(base, 'src');
    fs.mkdirSync(src);
    storage = new LocalStorage(root);
  });
  afterEach(() => fs.rmSync(path.dirname(root), { recursive: true, force: true }));

  /** Everything under root except sidecars, to spot leftover temp files. */
  function listTree(dir = root): string[] {
    return fs
      .readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((d) => d.isFile())
      .map((d) => path.relative(root, path.join(d.parentPath, d.name)))
      .sort();
  }

  test('putFile copies a file under root with a metadata sidecar; head and getBytes read it back', async () => {
    const data = Buffer.alloc(300_000, 7);
    data.write('hello', 1000);
    fs.writeFileSync(path.join(src, 'B123.tar.gz'), data);

    const stored = await storage.putFile(path.join(src, 'B123.tar.gz'), 'raw/B123/B123.tar.gz', {
      metadata: { Barcode: 'B123', grin_etag: 'abc123', original_filename: 'B123.tar.gz.gpg' },
    });

    const expectedMeta = { barcode: 'B123', grin_etag: 'abc123', original_filename: 'B123.tar.gz.gpg' };
    expect(stored).toEqual({ size: data.length, metadata: expectedMeta });
    expect(fs.readFileSync(path.join(root, 'raw/B123/B123.tar.gz')).equals(data)).toBe(true);
    expect(JSON.parse(fs.readFileSync(path.join(root, 'raw/B123/B123.tar.gz.meta.json'), 'utf8')).metadata).toEqual(expectedMeta);
    expect(await storage.head('raw/B123/B123.tar.gz')).toEqual({ size: data.length, metadata: expectedMeta });
    expect((await storage.getBytes('raw/B123/B123.tar.gz')).equals(data)).toBe(true);
    expect(listTree()).toEqual(['raw/B123/B123.tar.gz', 'raw/B123/B123.tar.gz.meta.json']);
    expect(storage.location).toBe(root);
  });

  test('putBytes stores strings and buffers', async () => {
    await storage.putBytes('{"a":1}', 'meta/B1/B1.token.json', { contentType: 'application/json' });
    expect((await storage.getBytes('meta/B1/B1.token.json')).toString()).toBe('{"a":1}');
    expect(await storage.head('meta/B1/B1.token.json')).toEqual({ size: 7, metadata: {} });
  });

  test('head of a missing key is null; getBytes of a missing key names the key', async () => {
    expect(await storage.head('raw/none/none.tar.gz')).toBeNull();
    await expect(storage.getBytes('raw/none/none.tar.gz')).rejects.toThrow(/no object at key raw\/none\/none.tar.gz/);
  });

  test('overwrite replaces data and metadata; a put without metadata leaves none behind', async () => {
    await storage.putBytes('first version', 'k/obj', { metadata: { grin_etag: 'old', barcode: 'B1' } });
    await storage.putBytes('second', 'k/obj', { metadata: { grin_etag: 'new' } });
    expect(await storage.head('k/obj')).toEqual({ size: 6, metadata: { grin_etag: 'new' } });
    await storage.putBytes('third!', 'k/obj');
    expect(await storage.head('k/obj')).toEqual({ size: 6, metadata: {} });
    expect((await storage.getBytes('k/obj')).toString()).toBe('third!');
    expect(listTree()).toEqual(['k/obj', 'k/obj.meta.json']);
  });

  test('a failed write leaves the old object intact and no temp file', async () => {
    await storage.putBytes('old content', 'raw/B2/B2.tar.gz', { metadata: { grin_etag: 'e1' } });
    // A folder as source: stat succeeds, reading fails in the middle of the copy.
    fs.mkdirSync(path.join(src, 'a-folder'));
    await expect(storage.putFile(path.join(src, 'a-folder'), 'raw/B2/B2.tar.gz')).rejects.toThrow(/EISDIR/);
    expect((await storage.getBytes('raw/B2/B2.tar.gz')).toString()).toBe('old content');
    expect(await storage.head('raw/B2/B2.tar.gz')).toEqual({ size: 11, metadata: { grin_etag: 'e1' } });
    expect(listTree()).toEqual(['raw/B2/B2.tar.gz', 'raw/B2/B2.tar.gz.meta.json']);
  });

  test('an aborted write leaves no object and no temp file', async () => {
    fs.writeFileSync(path.join(src, 'f'), Buffer.alloc(1024 * 1024, 1));
    const controller = new AbortController();
    controller.abort();
    await expect(storage.putFile(path.join(src, 'f'), 'raw/B3/B3.tar.gz', { signal: controller.signal })).rejects.toThrow(/abort/i);
    expect(await storage.head('raw/B3/B3.tar.gz')).toBeNull();
    expect(listTree()).toEqual([]);
  });

  test('data without a sidecar (crash between data and metadata) has empty metadata', async () => {
    await storage.putBytes('data', 'raw/B4/B4.tar.gz', { metadata: { grin_etag: 'e' } });
    fs.rmSync(path.join(root, 'raw/B4/B4.tar.gz.meta.json'));
    expect(await storage.head('raw/B4/B4.tar.gz')).toEqual({ size: 4, metadata: {} });
  });

  test.each(['../outside', 'a/../../outside', '/etc/passwd', 'a/b/', 'raw/x.meta.json', ''])('refuses key %j', async (key) => {
    await expect(storage.putBytes('x', key)).rejects.toThrow(/Refusing storage key/);
    await expect(storage.head(key)).rejects.toThrow(/Refusing storage key/);
    expect(fs.existsSync(path.join(path.dirname(root), 'outside'))).toBe(false);
  });

  test('abortUpload is a no-op', async () => {
    await expect(storage.abortUpload({ key: 'raw/B1/B1.tar.gz', uploadId: 'x', partSize: 8 << 20, parts: [] })).resolves.toBeUndefined();
  });
});

describe('LocalStorage and symbolic links', () => {
  let base: string;
  let root: string;
  let outside: string;
  let src: string;
  let storage: LocalStorage;

  beforeEach(() => {
    base = fs.mkdtempSync(path.join(os.tmpdir(), 'grin-storage-links-'));
    root = path.join(base, 'books');
    outside = path.join(base, 'elsewhere');
    src = path.join(base, 'B123.tar.gz');
    fs.mkdirSync(outside);
    fs.writeFileSync(src, 'decrypted book');
    storage = new LocalStorage(root);
  });
  afterEach(() => fs.rmSync(base, { recursive: true, force: true }));

  /** Every file under `dir`, links not followed. */
  const filesUnder = (dir: string) => fs.readdirSync(dir, { recursive: true }).map(String).sort();

  test.each([
    ['the book folder', 'raw/B123'],
    ['a parent folder', 'raw'],
  ])('a link planted at %s is refused (permanent, naming it) and nothing lands outside the root', async (_where, linkAt) => {
    fs.mkdirSync(path.dirname(path.join(root, linkAt)), { recursive: true });
    fs.symlinkSync(outside, path.join(root, linkAt));
    const link = path.join(root, linkAt);
    for (const attempt of [
      () => storage.putFile(src, 'raw/B123/B123.tar.gz', { metadata: { barcode: 'B123' } }),
      () => storage.putBytes('{}', 'raw/B123/B123.token.json'),
      () => storage.head('raw/B123/B123.tar.gz'),
      () => storage.getBytes('raw/B123/B123.tar.gz'),
    ]) {
      const err = (await attempt().catch((e: unknown) => e)) as PipelineError;
      expect(err).toBeInstanceOf(StorageLinkError);
      expect(err.retryable).toBe(false);
      expect(err.message).toContain(`Local storage refuses ${link}: it is a symbolic link`);
    }
    expect(filesUnder(outside)).toEqual([]);
  });

  test('a link at the object itself or at its metadata is refused, the file it points to untouched', async () => {
    const victim = path.join(outside, 'victim.txt');
    fs.writeFileSync(victim, 'not yours');
    fs.mkdirSync(path.join(root, 'raw/B123'), { recursive: true });
    fs.symlinkSync(victim, path.join(root, 'raw/B123/B123.tar.gz'));
    await expect(storage.getBytes('raw/B123/B123.tar.gz')).rejects.toBeInstanceOf(StorageLinkError);
    await expect(storage.putFile(src, 'raw/B123/B123.tar.gz')).rejects.toBeInstanceOf(StorageLinkError);
    fs.rmSync(path.join(root, 'raw/B123/B123.tar.gz'));
    fs.symlinkSync(victim, path.join(root, 'raw/B123/B123.tar.gz.meta.json'));
    await expect(storage.putFile(src, 'raw/B123/B123.tar.gz')).rejects.toBeInstanceOf(StorageLinkError);
    expect(fs.readFileSync(victim, 'utf8')).toBe('not yours');
  });

  test("the root itself may be a link (a mount point); what is stored is the owner's only (0600 files, 0700 folders)", async () => {
    const real = path.join(base, 'real-books');
    fs.mkdirSync(real);
    fs.symlinkSync(real, root);
    await storage.putFile(src, 'raw/B123/B123.tar.gz', { metadata: { barcode: 'B123' } });
    expect(fs.readFileSync(path.join(real, 'raw/B123/B123.tar.gz'), 'utf8')).toBe('decrypted book');
    expect(fs.statSync(path.join(real, 'raw/B123/B123.tar.gz')).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.join(real, 'raw/B123/B123.tar.gz.meta.json')).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.join(real, 'raw/B123')).mode & 0o777).toBe(0o700);
    expect(fs.statSync(path.join(real, 'raw')).mode & 0o777).toBe(0o700);
  });

  test('listKeys: stored keys only (no sidecars, temp files or links)', async () => {
    await storage.putBytes('a', 'raw/B1/B1.tar.gz');
    await storage.putBytes('b', 'meta/B1/B1.token.json');
    fs.writeFileSync(path.join(root, 'raw/B1/.B1.tar.gz.tmp-1-abcd'), 'partial');
    fs.symlinkSync(outside, path.join(root, 'link'));
    fs.writeFileSync(path.join(outside, 'x'), 'x');
    const keys: string[] = [];
    for await (const key of storage.listKeys()) keys.push(key);
    expect(keys).toEqual(['meta/B1/B1.token.json', 'raw/B1/B1.tar.gz']);
  });
});
