/** The simulator's listings over real HTTP: text, mode=all TSV, HTML with paging, summary, _barcode_search. */
import { startSimulator, type RunningSimulator } from '../../devkit/simulator';
import { TINY, call, grin, htmlHeadings, htmlRows, lines, nextHref } from './simulator-helpers';

const GRIN_DATE = /^\d{4}\/\d{2}\/\d{2} \d{2}:\d{2}$/;

describe('simulator listings', () => {
  let sim: RunningSimulator;
  beforeAll(async () => {
    sim = await startSimulator({
      books: 20,
      barcodes: ['T0001', 'T0002', 'T0003', 'T0004', 'T0005'],
      initialStates: {
        T0001: 'IN_PROCESS',
        T0002: 'CONVERTED',
        T0003: 'CHECKED_IN',
        T0004: 'NOT_AVAILABLE_FOR_DOWNLOAD',
        T0005: 'PREVIOUSLY_DOWNLOADED',
      },
      seed: 7,
      initialState: 'mixed',
      conversionDelaySeconds: 3600,
      htmlPageSize: 10,
      ...TINY,
    });
  });
  afterAll(() => sim.close());

  const states = () => sim.barcodes.map((b) => sim.book(b));

  it('serves a short text summary of the directory', async () => {
    const answer = await grin(sim, '?format=text&result_count=1');
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toMatch(/^text\/plain/);
    expect(answer.text).toContain('Directory\tTEST');
    expect(answer.text).toContain('Total books\t25');
  });

  it('lists every barcode of _all_books, one per line, and the PUL 7-column TSV with mode=all', async () => {
    const plain = await grin(sim, '_all_books?format=text');
    expect(lines(plain.text)).toEqual(sim.barcodes);
    const full = lines((await grin(sim, '_all_books?format=text&mode=all')).text).map((l) => l.split('\t'));
    expect(full).toHaveLength(25);
    for (const row of full) expect(row).toHaveLength(7);
    const scanned = full.find((r) => r[1] !== '')!;
    const book = sim.book(scanned[0]);
    expect(scanned[1]).toMatch(GRIN_DATE);
    expect(scanned[6]).toMatch(/^https:\/\/books\.google\.com\/books\?id=/);
    expect(new Date(`${scanned[1].replace(/\//g, '-').replace(' ', 'T')}:00Z`).getTime()).toBe(
      Math.floor(book.dates.scanned!.getTime() / 60000) * 60000,
    );
    // result_count limits text listings too (GT's smoke test)
    expect(lines((await grin(sim, '_all_books?format=text&mode=all&result_count=3')).text)).toHaveLength(3);
  });

  it('lists _in_process, _available, _converted and _failed by state', async () => {
    const inProcess = lines((await grin(sim, '_in_process?format=text')).text);
    expect(inProcess).toContain('T0001');
    expect(inProcess.sort()).toEqual(
      states()
        .filter((b) => b.state === 'IN_PROCESS')
        .map((b) => b.barcode)
        .sort(),
    );
    const available = lines((await grin(sim, '_available?format=text')).text);
    expect(available).toContain('T0005');
    expect(available).not.toContain('T0003');
    expect(available).not.toContain('T0004');
    expect(available.sort()).toEqual(
      states()
        .filter((b) => (b.state === 'NEW' || b.state === 'PREVIOUSLY_DOWNLOADED') && !b.inPool)
        .map((b) => b.barcode)
        .sort(),
    );
    const converted = lines((await grin(sim, '_converted?format=text')).text);
    expect(converted).toContain('T0002.tar.gz.gpg');
    expect(converted.sort()).toEqual(
      states()
        .filter((b) => b.inPool)
        .map((b) => `${b.barcode}.tar.gz.gpg`)
        .sort(),
    );
    const convertedAll = lines((await grin(sim, '_converted?format=text&mode=all')).text).map((l) => l.split('\t'));
    for (const row of convertedAll) {
      expect(row).toHaveLength(5);
      expect(row[0]).toMatch(/\.tar\.gz\.gpg$/);
      expect(row[2]).toMatch(GRIN_DATE);
    }
    for (const row of lines((await grin(sim, '_available?format=text&mode=all')).text)) expect(row.split('\t')).toHaveLength(6);
    expect((await grin(sim, '_failed?format=text')).text).toBe('');
  });

  it('pages HTML listings with result_count and first=, following relative Next &gt; links', async () => {
    const first = await grin(sim, '_all_books?result_count=10');
    expect(first.status).toBe(200);
    expect(first.headers['content-type']).toMatch(/^text\/html/);
    expect(first.text).toContain('<thead><tr class="heading">');
    expect(htmlHeadings(first.text)).toEqual([
      '',
      'Barcode',
      'Title',
      'Status',
      'Scanned Date',
      'Analyzed Date',
      'Converted Date',
      'Downloaded Date',
      'Processed Date',
      "OCR'd Date",
      'Google Books',
    ]);
    const seen: string[] = [];
    let page = first.text;
    let pages = 1;
    for (;;) {
      const rows = htmlRows(page);
      for (const row of rows) {
        expect(row).toHaveLength(11);
        expect(row[0]).toBe(`checkbox:${row[1]}`);
        expect(row[3]).toBe(sim.book(row[1]).state);
        expect(row[10]).toMatch(/^https:\/\/books\.google\.com\/books\?id=/);
        seen.push(row[1]);
      }
      const href = nextHref(page);
      if (!href) break;
      expect(href).toMatch(/^_all_books\?result_count=10&first=\d+$/);
      page = (await call(`${sim.baseUrl}/${sim.directory}/${href}`)).text;
      pages += 1;
    }
    expect(pages).toBe(3);
    expect(seen).toEqual(sim.barcodes);
  });

  it('uses htmlPageSize without result_count and gives everything on one page with result_count=-1', async () => {
    expect(htmlRows((await grin(sim, '_all_books')).text)).toHaveLength(10);
    const all = await grin(sim, '_all_books?result_count=-1');
    expect(htmlRows(all.text)).toHaveLength(25);
    expect(nextHref(all.text)).toBeUndefined();
  });

  it('labels _converted by Filename and _failed by the failure columns', async () => {
    const converted = await grin(sim, '_converted?result_count=-1');
    expect(htmlHeadings(converted.text)[1]).toBe('Filename');
    for (const row of htmlRows(converted.text)) expect(row[1]).toBe(`${row[0].slice('checkbox:'.length)}.tar.gz.gpg`);
    const failed = await grin(sim, '_failed?result_count=-1');
    expect(htmlHeadings(failed.text)).toEqual(
      expect.arrayContaining(['Barcode', 'Convert Failed Date', 'Convert Failed Info', 'Detailed Convert Failed Info']),
    );
  });

  it('answers a bad paging parameter with 400 naming it', async () => {
    const answer = await grin(sim, '_all_books?result_count=ten');
    expect(answer.status).toBe(400);
    expect(answer.text).toContain('result_count');
    expect((await grin(sim, '_all_books?ctoken=garbage')).status).toBe(400);
    expect((await grin(sim, '_no_such_listing')).status).toBe(404);
  });

  it('answers _barcode_search with a header row and rows for the barcodes it knows', async () => {
    const [a, b] = sim.barcodes;
    const answer = await grin(sim, `_barcode_search?execute_query=true&format=text&mode=full&barcodes=${a}%20UNKNOWN1%20${b}`);
    expect(answer.status).toBe(200);
    const [header, ...rows] = lines(answer.text).map((l) => l.split('\t'));
    expect(header.slice(0, 3)).toEqual(['Barcode', 'Check-In Date', 'State']);
    expect(header).toHaveLength(25);
    expect(header).toEqual(
      expect.arrayContaining(['Viewability', 'Opted-Out (post-scan)', 'Material Error%', "OCR'd Date", 'Digitization Method']),
    );
    expect(rows.map((r) => r[0])).toEqual([a, b]);
    for (const row of rows) expect(row).toHaveLength(25);
    expect(rows[0][header.indexOf('State')]).toBe(sim.book(a).state);
    expect(['VIEW_FULL', 'VIEW_METADATA', 'VIEW_NONE', 'VIEW_SNIPPET']).toContain(rows[0][header.indexOf('Viewability')]);
  });

  it('filters _all_books by scan date with the execute_query form', async () => {
    const scanned = states()
      .filter((b) => b.dates.scanned)
      .map((b) => b.dates.scanned!.toISOString().slice(0, 10))
      .sort();
    const day = scanned[0];
    const end = new Date(Date.parse(day) + 86_400_000).toISOString().slice(0, 10);
    const answer = await grin(sim, `_all_books?execute_query=true&format=text&last_scan_date_start=${day}&last_scan_date_end=${end}`);
    expect(lines(answer.text).sort()).toEqual(
      states()
        .filter((b) => b.dates.scanned?.toISOString().startsWith(day))
        .map((b) => b.barcode)
        .sort(),
    );
  });
});

describe('simulator listing variants', () => {
  it('pages by opaque ctoken= with absolute-path hrefs, lists the GT 9-column layout and prefixed file names', async () => {
    const sim = await startSimulator({
      books: 7,
      seed: 3,
      initialState: 'all-available',
      initialStates: {},
      htmlPaging: 'ctoken',
      nextHref: 'absolute-path',
      allBooksTextLayout: 'gt9',
      filenamePrefix: true,
      directory: 'PRNC',
      ...TINY,
    });
    try {
      const seen: string[] = [];
      let page = (await grin(sim, '_all_books?result_count=3')).text;
      for (;;) {
        seen.push(...htmlRows(page).map((r) => r[1]));
        const href = nextHref(page);
        if (!href) break;
        expect(href).toMatch(/^\/libraries\/PRNC\/_all_books\?result_count=3&ctoken=[A-Za-z0-9_-]+$/);
        expect(href).not.toContain('first=');
        page = (await call(new URL(href, sim.baseUrl).toString())).text;
      }
      expect(seen).toEqual(sim.barcodes);
      for (const row of lines((await grin(sim, '_all_books?format=text&mode=all')).text)) expect(row.split('\t')).toHaveLength(9);
      const converted = lines((await grin(sim, '_converted?format=text')).text);
      expect(converted.length).toBeGreaterThan(0);
      for (const name of converted) expect(name).toMatch(/^PRNC_39999\d{9}\.tar\.gz\.gpg$/);
    } finally {
      await sim.close();
    }
  });

  it('is the same library for the same seed and a different one for another seed', async () => {
    const startTime = new Date('2025-01-01T00:00:00Z');
    const [a, b, c] = await Promise.all([11, 11, 12].map((seed) => startSimulator({ books: 5, seed, startTime, ...TINY })));
    try {
      const listing = async (sim: RunningSimulator) => (await grin(sim, '_all_books?format=text&mode=all')).text;
      expect(await listing(a)).toBe(await listing(b));
      expect(await listing(a)).not.toBe(await listing(c));
      expect(a.barcodes.every((bc) => /^39999\d{9}$/.test(bc))).toBe(true);
    } finally {
      await Promise.all([a.close(), b.close(), c.close()]);
    }
  });
});
