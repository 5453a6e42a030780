/** HEAD/GET of `<BARCODE>.tar.gz.gpg`: ETag, Content-Length, Range, the download state change, the request log. */
import { createHash } from 'node:crypto';
import { startSimulator, type RunningSimulator } from '../../devkit/simulator';
import { PATIENCE_MS, waitUntil } from '../support/wait';
import { TINY, decrypt, download, grin, htmlRows, lines } from './simulator-helpers';

describe('simulator archives', () => {
  let sim: RunningSimulator;
  beforeEach(async () => {
    sim = await startSimulator({
      barcodes: ['C0001', 'C0002', 'N0001'],
      initialState: 'all-new',
      initialStates: { C0001: 'CONVERTED', C0002: 'CONVERTED' },
      conversionDelaySeconds: 10,
      poolCap: 2,
      ...TINY,
    });
  });
  afterEach(() => sim.close());

  it('answers HEAD with a quoted stable ETag and Content-Length, and GET with the same bytes, decryptable with the passphrase', async () => {
    const head = await grin(sim, 'C0001.tar.gz.gpg', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.etag).toMatch(/^"[0-9a-f]{32}"$/);
    const size = Number(head.headers['content-length']);
    expect(size).toBeGreaterThan(8192);
    const again = await grin(sim, 'C0001.tar.gz.gpg', { method: 'HEAD' });
    expect(again.headers.etag).toBe(head.headers.etag);
    const got = await download(sim, 'C0001.tar.gz.gpg');
    expect(got.status).toBe(200);
    expect(got.headers.etag).toBe(head.headers.etag);
    expect(got.body.length).toBe(size);
    expect(`"${createHash('md5').update(got.body).digest('hex')}"`).toBe(head.headers.etag);
    const plain = await decrypt(got.body, sim.passphrase);
    expect(plain.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    expect(sim.book('C0001')).toMatchObject({ etag: String(head.headers.etag).slice(1, -1), size });
  });

  it('moves the book to PREVIOUSLY_DOWNLOADED on a full GET, not on HEAD or a partial range; the package stays downloadable', async () => {
    await grin(sim, 'C0001.tar.gz.gpg', { method: 'HEAD' });
    await download(sim, 'C0001.tar.gz.gpg', { range: 'bytes=0-99' });
    expect(sim.book('C0001').state).toBe('CONVERTED');
    await download(sim, 'C0001.tar.gz.gpg');
    const book = sim.book('C0001');
    expect(book.state).toBe('PREVIOUSLY_DOWNLOADED');
    expect(book.inPool).toBe(true);
    expect(Math.abs(book.dates.downloaded!.getTime() - sim.now().getTime())).toBeLessThan(5000);
    expect((await grin(sim, 'C0001.tar.gz.gpg', { method: 'HEAD' })).status).toBe(200);
    expect(lines((await grin(sim, '_converted?format=text')).text)).toContain('C0001.tar.gz.gpg');
    const row = htmlRows((await grin(sim, '_all_books?result_count=-1')).text).find((r) => r[1] === 'C0001')!;
    expect(row[3]).toBe('PREVIOUSLY_DOWNLOADED');
    expect(row[7]).toMatch(/^\d{4}\/\d{2}\/\d{2} \d{2}:\d{2}$/);
    expect(lines((await grin(sim, '_process?barcodes=C0001')).text)[1]).toBe('C0001\tAlready available for download');
  });

  it('serves Range requests with 206 and Content-Range, and 416 past the end; a resumed download completes the book', async () => {
    const full = await download(sim, 'C0002.tar.gz.gpg', { range: 'bytes=0-' }); // a range from 0 is the whole file
    const size = full.body.length;
    const tail = await download(sim, 'C0002.tar.gz.gpg', { range: 'bytes=100-' });
    expect(tail.status).toBe(206);
    expect(tail.headers['content-range']).toBe(`bytes 100-${size - 1}/${size}`);
    expect(Number(tail.headers['content-length'])).toBe(size - 100);
    expect(tail.body.equals(full.body.subarray(100))).toBe(true);
    const middle = await download(sim, 'C0002.tar.gz.gpg', { range: 'bytes=10-19' });
    expect(middle.body.equals(full.body.subarray(10, 20))).toBe(true);
    expect((await download(sim, 'C0002.tar.gz.gpg', { range: `bytes=${size}-` })).status).toBe(416);
    const stale = await download(sim, 'C0002.tar.gz.gpg', { range: 'bytes=100-', 'if-range': '"0123456789abcdef0123456789abcdef"' });
    expect(stale.status).toBe(200);
    expect(stale.body.length).toBe(size);
    expect(sim.book('C0002').state).toBe('PREVIOUSLY_DOWNLOADED');
  });

  it('answers 404 for books not in the pool, unknown barcodes and names not written as listed', async () => {
    expect((await grin(sim, 'N0001.tar.gz.gpg', { method: 'HEAD' })).status).toBe(404);
    expect((await download(sim, 'N0001.tar.gz.gpg')).status).toBe(404);
    expect((await grin(sim, 'ZZZ999.tar.gz.gpg', { method: 'HEAD' })).status).toBe(404);
    expect((await grin(sim, 'TEST_C0001.tar.gz.gpg', { method: 'HEAD' })).status).toBe(404);
  });

  it('gives a new package with a new ETag for each conversion, and 404 once it is evicted', async () => {
    const before = (await grin(sim, 'C0001.tar.gz.gpg', { method: 'HEAD' })).headers.etag;
    await grin(sim, '_process?barcodes=N0001');
    sim.advance(10); // N0001 converts, pool cap 2 evicts C0001 (the oldest)
    expect((await grin(sim, 'C0001.tar.gz.gpg', { method: 'HEAD' })).status).toBe(404);
    expect((await grin(sim, 'C0001.tar.gz.gpg')).status).toBe(404);
    await grin(sim, '_process?barcodes=C0001');
    sim.advance(10);
    const after = await grin(sim, 'C0001.tar.gz.gpg', { method: 'HEAD' });
    expect(after.status).toBe(200);
    expect(after.headers.etag).not.toBe(before);
  });

  it('logs every request with status, bytes, range and barcode', async () => {
    await grin(sim, '_converted?format=text');
    await grin(sim, 'C0001.tar.gz.gpg', { method: 'HEAD' });
    const got = await download(sim, 'C0001.tar.gz.gpg', { range: 'bytes=5-' });
    await grin(sim, '_process?barcodes=N0001,C0002');
    // Entries are appended when each response closes, which may come just after the client has its answer.
    await waitUntil(async () => sim.requestLog.length >= 4, PATIENCE_MS, 'four requests logged');
    // In the order the responses closed, which for a body still being sent may be after a later request.
    const log = sim.requestLog;
    const line = (e: (typeof log)[number]) => `${e.method} ${e.path} ${e.status}`;
    expect(log.map(line).sort()).toEqual([
      'GET /libraries/TEST/C0001.tar.gz.gpg 206',
      'GET /libraries/TEST/_converted 200',
      'GET /libraries/TEST/_process 200',
      'HEAD /libraries/TEST/C0001.tar.gz.gpg 200',
    ]);
    const entry = (text: string) => log.find((e) => line(e) === text)!;
    const listing = entry('GET /libraries/TEST/_converted 200');
    expect(listing.query).toBe('format=text');
    expect(listing.bytesSent).toBe('C0001.tar.gz.gpg\nC0002.tar.gz.gpg\n'.length);
    expect(entry('HEAD /libraries/TEST/C0001.tar.gz.gpg 200')).toMatchObject({ barcode: 'C0001', bytesSent: 0 });
    expect(entry('GET /libraries/TEST/C0001.tar.gz.gpg 206')).toMatchObject({
      barcode: 'C0001',
      range: 'bytes=5-',
      bytesSent: got.body.length,
    });
    const processCall = entry('GET /libraries/TEST/_process 200');
    expect(processCall.barcodes).toEqual(['N0001', 'C0002']);
    expect(processCall.aborted).toBeUndefined();
    expect(typeof listing.time).toBe('number');
  });
});

describe('simulator archive names with a directory prefix', () => {
  it('serves exactly the listed <DIR>_<BARCODE>.tar.gz.gpg name', async () => {
    const sim = await startSimulator({
      barcodes: ['C0001'],
      initialStates: { C0001: 'CONVERTED' },
      filenamePrefix: true,
      directory: 'NLI',
      ...TINY,
    });
    try {
      expect(lines((await grin(sim, '_converted?format=text')).text)).toEqual(['NLI_C0001.tar.gz.gpg']);
      expect((await grin(sim, 'NLI_C0001.tar.gz.gpg', { method: 'HEAD' })).status).toBe(200);
      expect((await grin(sim, 'C0001.tar.gz.gpg', { method: 'HEAD' })).status).toBe(404);
      expect(sim.book('C0001').filename).toBe('NLI_C0001.tar.gz.gpg');
    } finally {
      await sim.close();
    }
  });
});

describe('simulator bookPages', () => {
  it('gives the named books their page counts and leaves the others as the seed draws them', async () => {
    const common = {
      barcodes: ['C0001', 'C0002'],
      initialStates: { C0001: 'CONVERTED' as const, C0002: 'CONVERTED' as const },
      ...TINY,
      pages: { min: 2, max: 9 },
    };
    const plain = await startSimulator(common);
    const sized = await startSimulator({ ...common, bookPages: { C0002: 30 } });
    try {
      expect(sized.book('C0002').pages).toBe(30);
      expect(sized.book('C0001').pages).toBe(plain.book('C0001').pages);
      expect((await sized.archive('C0002'))!.size).toBeGreaterThan(30 * TINY.pageImageBytes);
      await expect(startSimulator({ ...common, bookPages: { NOPE: 3 } })).rejects.toThrow(/bookPages names barcode "NOPE"/);
    } finally {
      await Promise.all([plain.close(), sized.close()]);
    }
  });
});
