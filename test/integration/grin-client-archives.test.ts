/** GrinClient HEAD/GET of archives over real HTTP: resume with Range, ETag checks, faults, 404. */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startSimulator, type RunningSimulator } from '../../devkit/simulator';
import { ArchiveNotFoundError, GrinHttpError } from '../../src/grin/errors';
import type { GrinClient } from '../../src/grin/client';
import type { DownloadProgress } from '../../src/grin/types';
import { clientFor, retried } from './grin-client-helpers';

const sha = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

describe('GrinClient archives against the simulator', () => {
  let sim: RunningSimulator;
  let client: GrinClient;
  let dir: string;
  let converted: string[];
  let notInPool: string;

  beforeAll(async () => {
    sim = await startSimulator({
      barcodes: ['ARCH0001', 'ARCH0002', 'ARCH0003', 'NEWB0004'],
      initialStates: { ARCH0001: 'CONVERTED', ARCH0002: 'CONVERTED', ARCH0003: 'CONVERTED', NEWB0004: 'NEW' },
      pages: { min: 26, max: 26 },
    });
    client = clientFor(sim);
    converted = ['ARCH0001', 'ARCH0002', 'ARCH0003'];
    notInPool = 'NEWB0004';
  });
  afterAll(async () => {
    await client.close();
    await sim.close();
  });
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grin-client-archive-'));
    sim.setFaults({
      truncateBody: undefined,
      missingEtag: undefined,
      transient404: undefined,
      rateLimitArchive: undefined,
      serverError: undefined,
    });
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const archiveLog = (barcode: string) => sim.requestLog.filter((e) => e.barcode === barcode);

  it('HEAD gives the ETag without quotes and the size; 404 gives null', async () => {
    const info = (await sim.archive('ARCH0001'))!;
    expect(await client.headArchive('ARCH0001.tar.gz.gpg')).toEqual({ etag: info.etag, size: info.size });
    expect(await client.headArchive(`${notInPool}.tar.gz.gpg`)).toBeNull();
  });

  it('downloads the whole archive, reporting progress at most every MiB', async () => {
    const info = (await sim.archive('ARCH0001'))!;
    expect(info.size).toBeGreaterThan(2 * 1024 * 1024);
    const dest = path.join(dir, 'ARCH0001.tar.gz.gpg.part');
    const progress: DownloadProgress[] = [];
    const result = await client.downloadArchive('ARCH0001.tar.gz.gpg', dest, { onProgress: (p) => progress.push(p) });
    expect(result).toEqual({ etag: info.etag, size: info.size, resumed: false });
    expect(sha(dest)).toBe(sha(info.path));
    expect(progress.at(-1)).toEqual({ bytes: info.size, etag: info.etag });
    expect(progress.length).toBeLessThanOrEqual(Math.ceil(info.size / (1024 * 1024)) + 1);
    for (let i = 1; i < progress.length - 1; i++) expect(progress[i]!.bytes - progress[i - 1]!.bytes).toBeGreaterThanOrEqual(1024 * 1024);
  });

  it('a body cut short is resumed with Range + If-Range from the bytes on disk', async () => {
    const info = (await sim.archive('ARCH0002'))!;
    sim.setFaults({ truncateBody: { times: 1, barcodes: ['ARCH0002'] } });
    const dest = path.join(dir, 'ARCH0002.tar.gz.gpg.part');
    const before = archiveLog('ARCH0002').length;
    const result = await client.downloadArchive('ARCH0002.tar.gz.gpg', dest);
    expect(result).toEqual({ etag: info.etag, size: info.size, resumed: true });
    expect(sha(dest)).toBe(sha(info.path));
    const gets = archiveLog('ARCH0002').slice(before);
    expect(gets).toHaveLength(2);
    expect(gets[0]!.fault).toBe('truncateBody');
    expect(gets[1]!.status).toBe(206);
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(gets[1]!.range ?? '')?.[1]);
    // Every byte sent before the cut was kept (the simulator cuts after half the archive), so nothing
    // is fetched twice: the two answers add up to the archive.
    expect(resumedAt).toBe(Math.floor(info.size * 0.5));
    expect(gets[1]!.bytesSent).toBe(info.size - resumedAt);
  });

  it('a later call resumes a partial file with the expected ETag', async () => {
    const info = (await sim.archive('ARCH0003'))!;
    const dest = path.join(dir, 'ARCH0003.tar.gz.gpg.part');
    const half = Math.floor(info.size / 2);
    fs.writeFileSync(dest, fs.readFileSync(info.path).subarray(0, half));
    const before = archiveLog('ARCH0003').length;
    const result = await client.downloadArchive('ARCH0003.tar.gz.gpg', dest, { expectEtag: `"${info.etag}"` });
    expect(result.resumed).toBe(true);
    expect(sha(dest)).toBe(sha(info.path));
    const gets = archiveLog('ARCH0003').slice(before);
    expect(gets.map((g) => [g.status, g.range])).toEqual([[206, `bytes=${half}-`]]);
  });

  it('starts over when the ETag changed (If-Range answered with 200)', async () => {
    const info = (await sim.archive('ARCH0003'))!;
    const dest = path.join(dir, 'ARCH0003.tar.gz.gpg.part');
    fs.writeFileSync(dest, Buffer.alloc(1000, 7)); // bytes of an older package
    const result = await client.downloadArchive('ARCH0003.tar.gz.gpg', dest, { expectEtag: 'an-older-etag' });
    expect(result).toEqual({ etag: info.etag, size: info.size, resumed: false });
    expect(sha(dest)).toBe(sha(info.path));
  });

  it('a partial file without a known ETag is fetched from the start', async () => {
    const info = (await sim.archive('ARCH0003'))!;
    const dest = path.join(dir, 'ARCH0003.tar.gz.gpg.part');
    fs.writeFileSync(dest, Buffer.alloc(1000, 7));
    const before = archiveLog('ARCH0003').length;
    expect((await client.downloadArchive('ARCH0003.tar.gz.gpg', dest)).resumed).toBe(false);
    expect(sha(dest)).toBe(sha(info.path));
    expect(archiveLog('ARCH0003').slice(before)[0]!.range).toBeUndefined();
  });

  it('an already complete file is accepted when the range is past the end (416)', async () => {
    const info = (await sim.archive('ARCH0001'))!;
    const dest = path.join(dir, 'ARCH0001.tar.gz.gpg.part');
    fs.copyFileSync(info.path, dest);
    expect(await client.downloadArchive('ARCH0001.tar.gz.gpg', dest, { expectEtag: info.etag })).toEqual({
      etag: info.etag,
      size: info.size,
      resumed: true,
    });
  });

  it("a missing ETag is a transient failure (the caller's retry downloads), and an error when it stays missing", async () => {
    const dest = path.join(dir, 'x.part');
    sim.setFaults({ missingEtag: { times: 1 } });
    expect((await retried(() => client.downloadArchive('ARCH0001.tar.gz.gpg', dest))).size).toBeGreaterThan(0);
    sim.setFaults({ missingEtag: 1 });
    const err = await retried(() => client.downloadArchive('ARCH0001.tar.gz.gpg', path.join(dir, 'y.part'))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GrinHttpError);
    expect((err as GrinHttpError).retryable).toBe(true);
    expect((err as Error).message).toMatch(/GET \/TEST\/ARCH0001\.tar\.gz\.gpg, barcode ARCH0001, HTTP 200: no ETag/);
    await expect(client.headArchive('ARCH0001.tar.gz.gpg')).rejects.toThrow(/no ETag/);
  });

  it("429 and 5xx on archives are transient failures, one request per call; the caller's retry downloads", async () => {
    const dest = path.join(dir, 'z.part');
    sim.setFaults({ rateLimitArchive: { times: 1 }, serverError: { times: 1 } });
    const before = archiveLog('ARCH0002').length;
    const first = await client.downloadArchive('ARCH0002.tar.gz.gpg', dest).catch((e: unknown) => e);
    expect(first).toMatchObject({ status: 500, retryable: true });
    expect(archiveLog('ARCH0002').slice(before)).toHaveLength(1);
    expect((await retried(() => client.downloadArchive('ARCH0002.tar.gz.gpg', dest))).resumed).toBe(false);
    expect(
      archiveLog('ARCH0002')
        .slice(before)
        .map((e) => e.status),
    ).toEqual([500, 429, 200]);
  });

  it('404 on an archive is ArchiveNotFoundError at once, even when it would have been transient', async () => {
    sim.setFaults({ transient404: { times: 1 } });
    const before = archiveLog('ARCH0001').length;
    const err = await client.downloadArchive('ARCH0001.tar.gz.gpg', path.join(dir, 'a.part')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ArchiveNotFoundError);
    expect((err as ArchiveNotFoundError).status).toBe(404);
    expect((err as Error).message).toContain('barcode ARCH0001');
    expect(archiveLog('ARCH0001').slice(before)).toHaveLength(1);
    await expect(client.downloadArchive(`${notInPool}.tar.gz.gpg`, path.join(dir, 'b.part'))).rejects.toBeInstanceOf(ArchiveNotFoundError);
  });

  it('stops when aborted, leaving the partial file for a later resume', async () => {
    sim.setFaults({});
    const controller = new AbortController();
    const dest = path.join(dir, 'c.part');
    const done = client.downloadArchive('ARCH0002.tar.gz.gpg', dest, {
      signal: controller.signal,
      onProgress: () => controller.abort(),
    });
    await expect(done).rejects.toThrow();
    const onDisk = fs.statSync(dest).size;
    const info = (await sim.archive('ARCH0002'))!;
    expect(onDisk).toBeLessThan(info.size);
    const result = await client.downloadArchive('ARCH0002.tar.gz.gpg', dest, { expectEtag: info.etag });
    expect(result.resumed).toBe(true);
    expect(sha(dest)).toBe(sha(info.path));
  });

  it('refuses file names that are not plain archive names', async () => {
    await expect(client.headArchive('../_converted')).rejects.toThrow(/not valid/);
    expect(converted).toHaveLength(3);
  });
});
