/** GrinClient listings over real HTTP against the simulator: text, mode=all, HTML paging, faults. */
import { startSimulator, type RunningSimulator } from '../../devkit/simulator';
import { GrinHttpError } from '../../src/grin/errors';
import type { GrinClient } from '../../src/grin/client';
import { clientFor, collect, logged, retried } from './grin-client-helpers';

describe('GrinClient listings against the simulator', () => {
  let sim: RunningSimulator;
  let client: GrinClient;
  const warnings: string[] = [];

  beforeAll(async () => {
    sim = await startSimulator({ books: 23, initialState: 'mixed', htmlPageSize: 5, failConversion: [], seed: 7 });
    client = clientFor(sim, { logger: { warn: (m) => warnings.push(m) }, htmlPageSize: { allBooks: 5, converted: 5 } });
  });
  afterAll(async () => {
    await client.close();
    await sim.close();
  });
  beforeEach(() => {
    sim.setFaults({ serverError: undefined, requestUnavailable: undefined });
    warnings.length = 0;
  });

  const inPool = () => sim.barcodes.filter((b) => sim.book(b).inPool).sort();

  it('a streamed listing holds its listing slot until it ends: with one slot, a second listing starts only after', async () => {
    const oneSlot = clientFor(sim, { listingConcurrency: 1 });
    try {
      const first = oneSlot.listAllBarcodes()[Symbol.asyncIterator]();
      expect((await first.next()).done).toBe(false); // the first listing is open, part read
      let secondDone = false;
      const second = collect(oneSlot.listAllBarcodes()).then((all) => {
        secondDone = true;
        return all;
      });
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(secondDone).toBe(false); // waiting for the slot
      while (!(await first.next()).done);
      expect(await second).toEqual(sim.barcodes);
    } finally {
      await oneSlot.close();
    }
  });

  it('lists every barcode (text, streamed)', async () => {
    expect(await collect(client.listAllBarcodes())).toEqual(sim.barcodes);
  });

  it('_all_books mode=all text in the PUL layout', async () => {
    const records = await collect(client.listAllBooks('text'));
    expect(records.map((r) => r.barcode)).toEqual(sim.barcodes);
    const b = sim.barcodes[0]!;
    const view = sim.book(b);
    const rec = records[0]!;
    expect(rec.googleBooksLink).toMatch(/^https:\/\/books\.google\.com\/books\?id=/);
    if (view.dates.scanned) expect(rec.scannedDate).toMatch(/^\d{4}\/\d{2}\/\d{2} \d{2}:\d{2}$/);
  });

  it('_all_books HTML: follows first= Next links page by page, parsed by header name', async () => {
    const before = logged(sim, '_all_books').length;
    const records = await collect(client.listAllBooks('html'));
    expect(records.map((r) => r.barcode)).toEqual(sim.barcodes);
    const pages = logged(sim, '_all_books').slice(before);
    expect(pages).toHaveLength(Math.ceil(23 / 5));
    expect(new URLSearchParams(pages[1]!.query).get('first')).toBe('5');
    for (const r of records) {
      const view = sim.book(r.barcode);
      expect(r.state).toBe(view.state);
      expect(r.title ?? '').toBe(view.title);
    }
    expect(records.some((r) => r.barcode === 'Barcode')).toBe(false);
  });

  it('_converted in text, text mode=all and HTML all agree with the pool', async () => {
    const expected = inPool();
    expect(expected.length).toBeGreaterThan(0);
    for (const format of ['text', 'text-all', 'html'] as const) {
      const entries = await client.listConverted(format);
      expect(entries.map((e) => e.barcode).sort()).toEqual(expected);
      for (const e of entries) expect(e.filename).toBe(`${e.barcode}.tar.gz.gpg`);
    }
  });

  it('_in_process and _available, text and HTML', async () => {
    const candidates = sim.barcodes.filter((b) => ['NEW', 'PREVIOUSLY_DOWNLOADED'].includes(sim.book(b).state)).slice(0, 2);
    expect(candidates.length).toBe(2);
    await client.requestConversion(candidates);
    const inProcess = sim.barcodes.filter((b) => sim.book(b).inProcess).sort();
    expect((await client.listInProcess('text')).sort()).toEqual(inProcess);
    expect((await client.listInProcess('html')).sort()).toEqual(inProcess);
    const available = await client.listAvailable();
    expect(available.length).toBeGreaterThan(0);
    for (const b of candidates) expect(available).not.toContain(b);
  });

  it("a 5xx on a listing is one transient failure per call; the caller's retry reads it; the request log shows each try", async () => {
    sim.setFaults({ serverError: { times: 2 } });
    const before = logged(sim, '_converted').length;
    const err = await client.listConverted('text').catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 500, retryable: true });
    expect(logged(sim, '_converted').slice(before)).toHaveLength(1);
    const lines: string[] = [];
    expect((await retried(() => client.listConverted('text'), lines)).length).toBe(inPool().length);
    expect(
      logged(sim, '_converted')
        .slice(before)
        .map((c) => c.status),
    ).toEqual([500, 500, 200]);
    expect(lines).toEqual([
      expect.stringMatching(
        /^test: retrying in \d+\.\d s \(GRIN GET \/\w+\/_converted, HTTP 500: unexpected HTTP status 500\); attempt 2 of 3$/,
      ),
    ]);
  });

  it('a listing that keeps failing throws (never an empty list), naming endpoint and status', async () => {
    sim.setFaults({ serverError: 1 });
    const err = await client.listConverted('text').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GrinHttpError);
    expect((err as GrinHttpError).status).toBe(500);
    expect((err as Error).message).toContain(`GET /${sim.directory}/_converted`);
    await expect(collect(client.listAllBarcodes())).rejects.toThrow(/HTTP 500/);
  });

  it('404 on a listing is transient (retried by the caller), then reported', async () => {
    const before = sim.requestLog.length;
    const err = await retried(() => collect(client.textLines('_no_such_listing'))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GrinHttpError);
    expect((err as GrinHttpError).status).toBe(404);
    expect((err as GrinHttpError).retryable).toBe(true);
    expect(sim.requestLog.slice(before).filter((e) => e.path.endsWith('/_no_such_listing'))).toHaveLength(3);
  });

  it('"Your request is unavailable" on a later page stops paging with a warning', async () => {
    // Page 1 is answered normally, page 2 is the refusal page.
    const before = logged(sim, '_all_books').length;
    const gen = client.htmlRows('_all_books', 5);
    const first = await gen.next();
    expect(first.done).toBe(false);
    sim.setFaults({ requestUnavailable: { times: 1 } });
    const rest = await collect({ [Symbol.asyncIterator]: () => gen });
    expect(rest).toHaveLength(4); // the other rows of page 1 only
    expect(logged(sim, '_all_books').slice(before)).toHaveLength(2);
    expect(warnings.join('\n')).toMatch(/Your request is unavailable/);
  });

  it('"Your request is unavailable" on the first page is a transient error (the caller\'s retry reads the listing), and an error if it persists', async () => {
    sim.setFaults({ requestUnavailable: { times: 1 } });
    await expect(client.listFailed('html')).rejects.toMatchObject({
      retryable: true,
      message: expect.stringMatching(/Your request is unavailable/),
    });
    sim.setFaults({ requestUnavailable: { times: 1 } });
    expect((await retried(() => client.listFailed('html'))).length).toBe(0);
    sim.setFaults({ requestUnavailable: 1 });
    await expect(retried(() => client.listConverted('html'))).rejects.toThrow(/Your request is unavailable/);
  });
});

describe('GrinClient listing variants', () => {
  it('ctoken paging, absolute-path Next links, <DIR>_ file names and the GT 9-column layout', async () => {
    const sim = await startSimulator({
      directory: 'PRNC',
      books: 12,
      htmlPageSize: 4,
      htmlPaging: 'ctoken',
      nextHref: 'absolute-path',
      filenamePrefix: true,
      allBooksTextLayout: 'gt9',
      seed: 3,
    });
    const client = clientFor(sim, { htmlPageSize: { allBooks: 4, converted: 4 } });
    try {
      const html = await collect(client.listAllBooks('html'));
      expect(html.map((r) => r.barcode)).toEqual(sim.barcodes);
      const pages = logged(sim, '_all_books');
      expect(pages).toHaveLength(3);
      expect(new URLSearchParams(pages[1]!.query).get('ctoken')).toBeTruthy();

      const text = await collect(client.listAllBooks('text'));
      expect(text.map((r) => r.barcode)).toEqual(sim.barcodes);
      const sample = text.find((r) => sim.book(r.barcode).dates.downloaded)!;
      if (sample) expect(sample.downloadedDate).toMatch(/^\d{4}\/\d{2}\/\d{2} \d{2}:\d{2}$/);
      expect(text.every((r) => r.googleBooksLink?.startsWith('https://books.google.com/books?id='))).toBe(true);

      const pool = sim.barcodes.filter((b) => sim.book(b).inPool).sort();
      for (const format of ['text', 'text-all', 'html'] as const) {
        const entries = await client.listConverted(format);
        expect(entries.map((e) => e.barcode).sort()).toEqual(pool);
        for (const e of entries) expect(e.filename).toBe(`PRNC_${e.barcode}.tar.gz.gpg`);
      }
      // The name is downloaded exactly as listed.
      const [entry] = await client.listConverted('text');
      const head = await client.headArchive(entry!.filename);
      expect(head?.size).toBeGreaterThan(0);
    } finally {
      await client.close();
      await sim.close();
    }
  });

  it('_failed in HTML and text mode=all carries date and reasons', async () => {
    const sim = await startSimulator({
      barcodes: ['FAIL0001', 'FAIL0002', 'GOOD0003'],
      initialState: 'all-new',
      conversionDelaySeconds: 10,
      failConversion: ['FAIL0001', 'FAIL0002'],
    });
    const client = clientFor(sim);
    try {
      const outcomes = await client.requestConversion(sim.barcodes);
      expect([...outcomes.values()].every((o) => o.kind === 'requested')).toBe(true);
      sim.advance(60);
      for (const format of ['html', 'text-all'] as const) {
        const failed = await client.listFailed(format);
        expect(failed.map((f) => f.barcode).sort()).toEqual(['FAIL0001', 'FAIL0002']);
        for (const f of failed) {
          const failure = sim.book(f.barcode).failure!;
          expect(f.info).toBe(failure.info);
          expect(f.detailedInfo).toBe(failure.detailedInfo);
          expect(f.failedDate).toMatch(/^\d{4}\/\d{2}\/\d{2} \d{2}:\d{2}$/);
        }
      }
      expect((await client.listFailed('text')).map((f) => f.barcode).sort()).toEqual(['FAIL0001', 'FAIL0002']);
      expect((await client.listConverted()).map((e) => e.barcode)).toEqual(['GOOD0003']);
    } finally {
      await client.close();
      await sim.close();
    }
  });
});
