/** `_process` in every request form and status, the queue cap, the simulated clock, pool eviction and failures. */
import { startSimulator, type RunningSimulator } from '../../devkit/simulator';
import { TINY, grin, lines } from './simulator-helpers';

const START = new Date('2025-03-01T00:00:00Z');

function statuses(text: string): Record<string, string> {
  const [header, ...rows] = lines(text);
  expect(header).toBe('Barcode\tStatus');
  return Object.fromEntries(rows.map((r) => r.split('\t') as [string, string]));
}

describe('simulator _process', () => {
  let sim: RunningSimulator;
  beforeEach(async () => {
    sim = await startSimulator({
      barcodes: ['N0001', 'N0002', 'N0003', 'N0004', 'N0005', 'N0006', 'CHK01', 'NAV01', 'CNV01', 'PRV01'],
      initialState: 'all-new',
      initialStates: { CHK01: 'CHECKED_IN', NAV01: 'NOT_AVAILABLE_FOR_DOWNLOAD', CNV01: 'CONVERTED', PRV01: 'PREVIOUSLY_DOWNLOADED' },
      startTime: START,
      conversionDelaySeconds: 600,
      ...TINY,
    });
  });
  afterEach(() => sim.close());

  it('answers every recorded status for a comma-separated GET', async () => {
    await grin(sim, '_process?barcodes=N0002');
    const answer = await grin(sim, '_process?barcodes=N0001,N0002,CNV01,CHK01,NAV01,NOPE99,PRV01');
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toMatch(/^text\/plain/);
    expect(lines(answer.text)[1]).toBe('N0001\tSuccess');
    expect(statuses(answer.text)).toEqual({
      N0001: 'Success',
      N0002: 'Already being converted',
      CNV01: 'Already available for download',
      CHK01: 'Not allowed to be downloaded',
      NAV01: 'Not allowed to be downloaded',
      NOPE99: 'Other error',
      PRV01: 'Success',
    });
    expect(sim.book('N0001').state).toBe('IN_PROCESS');
    expect(sim.book('PRV01').state).toBe('IN_PROCESS');
    expect(sim.book('CHK01').state).toBe('CHECKED_IN');
    expect(lines((await grin(sim, '_in_process?format=text')).text)).toEqual(['N0002', 'N0001', 'PRV01']);
  });

  it('accepts repeated barcodes= parameters on POST, a newline-joined form body, a plain body and process_format=html', async () => {
    const repeated = await grin(sim, '_process?barcodes=N0001&barcodes=N0002', { method: 'POST' });
    expect(statuses(repeated.text)).toEqual({ N0001: 'Success', N0002: 'Success' });
    const form = await grin(sim, '_process', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ barcodes: 'N0003\nN0004' }).toString(),
    });
    expect(statuses(form.text)).toEqual({ N0003: 'Success', N0004: 'Success' });
    const plain = await grin(sim, '_process', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'N0005\nN0001\n' });
    expect(statuses(plain.text)).toEqual({ N0005: 'Success', N0001: 'Already being converted' });
    const json = await grin(sim, '_process?process_format=json', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'barcodes=N0006',
    });
    expect(statuses(json.text)).toEqual({ N0006: 'Success' });
    const html = await grin(sim, '_process?barcodes=N0006&process_format=html');
    expect(html.text).toMatch(
      /<div id="Main"><table>\s*<tr><td>N0006<\/td><td><div><pre>Already being converted<\/pre><\/div><\/td><\/tr>/,
    );
    expect((await grin(sim, '_process')).status).toBe(400);
  });

  it('converts after the delay on the simulated clock, then the package is listed and downloadable', async () => {
    await grin(sim, '_process?barcodes=N0001,N0002');
    sim.advance(599);
    expect(sim.book('N0001').state).toBe('IN_PROCESS');
    expect((await grin(sim, 'N0001.tar.gz.gpg', { method: 'HEAD' })).status).toBe(404);
    sim.advance(1);
    const book = sim.book('N0001');
    expect(book.state).toBe('CONVERTED');
    // requested a moment after START (the clock also runs in real time), converted 600 s later
    expect(book.dates.converted!.getTime() - START.getTime()).toBeGreaterThanOrEqual(600_000);
    expect(book.dates.converted!.getTime() - START.getTime()).toBeLessThan(630_000);
    expect(lines((await grin(sim, '_converted?format=text')).text)).toEqual(
      expect.arrayContaining(['N0001.tar.gz.gpg', 'N0002.tar.gz.gpg']),
    );
    expect((await grin(sim, '_in_process?format=text')).text).toBe('');
    expect(statuses((await grin(sim, '_process?barcodes=N0001')).text)).toEqual({ N0001: 'Already available for download' });
    expect((await grin(sim, 'N0001.tar.gz.gpg', { method: 'HEAD' })).status).toBe(200);
  });
});

describe('simulator limits', () => {
  it('answers 429 once the queue reaches its cap, queueing only what fits', async () => {
    const sim = await startSimulator({
      books: 6,
      initialState: 'all-new',
      queueCap: 3,
      conversionDelaySeconds: 100,
      startTime: START,
      ...TINY,
    });
    try {
      const [a, b, c, d, e] = sim.barcodes;
      expect((await grin(sim, `_process?barcodes=${a},${b}`)).status).toBe(200);
      const over = await grin(sim, `_process?barcodes=${c},${d},${a}`);
      expect(over.status).toBe(429);
      expect(statuses(over.text)).toEqual({ [c]: 'Success', [d]: 'Queue limit reached', [a]: 'Already being converted' });
      expect((await grin(sim, `_process?barcodes=${e}`)).status).toBe(429);
      expect(sim.book(e).state).toBe('NEW');
      expect(lines((await grin(sim, '_in_process?format=text')).text)).toHaveLength(3);
      sim.advance(100);
      expect((await grin(sim, `_process?barcodes=${d},${e}`)).status).toBe(200);
      expect(sim.stats().queueHighWater).toBe(3);
      expect(sim.stats().queueFullRefusals).toBe(2);
    } finally {
      await sim.close();
    }
  });

  it('completes at most conversionsPerDay per simulated day, the rest the next day', async () => {
    const sim = await startSimulator({
      books: 5,
      initialState: 'all-new',
      conversionsPerDay: 2,
      conversionDelaySeconds: 60,
      startTime: START,
      ...TINY,
    });
    try {
      await grin(sim, `_process?barcodes=${sim.barcodes.join(',')}`);
      sim.advance(3600);
      expect(sim.barcodes.map((b) => sim.book(b).state)).toEqual(['CONVERTED', 'CONVERTED', 'IN_PROCESS', 'IN_PROCESS', 'IN_PROCESS']);
      sim.advance(86_400 - 3600);
      expect(sim.barcodes.filter((b) => sim.book(b).state === 'CONVERTED')).toHaveLength(4);
      expect(sim.book(sim.barcodes[2]).dates.converted!.toISOString()).toBe('2025-03-02T00:00:00.000Z');
      sim.advance(86_400);
      expect(sim.stats().conversionsCompleted).toBe(5);
    } finally {
      await sim.close();
    }
  });

  it('runs the clock faster than real time with clockSpeed', async () => {
    const sim = await startSimulator({ books: 1, initialState: 'all-new', clockSpeed: 3600, conversionDelaySeconds: 1800, ...TINY });
    try {
      await grin(sim, `_process?barcodes=${sim.barcodes[0]}`);
      await new Promise((r) => setTimeout(r, 600)); // 0.6 s real = 36 simulated minutes
      expect(sim.book(sim.barcodes[0]).state).toBe('CONVERTED');
    } finally {
      await sim.close();
    }
  });

  it('evicts the oldest package past the pool cap; the evicted book needs _process again', async () => {
    const sim = await startSimulator({
      books: 3,
      initialState: 'all-new',
      poolCap: 2,
      conversionDelaySeconds: 10,
      startTime: START,
      ...TINY,
    });
    try {
      const [a, b, c] = sim.barcodes;
      for (const barcode of [a, b, c]) {
        await grin(sim, `_process?barcodes=${barcode}`);
        sim.advance(10);
      }
      expect(lines((await grin(sim, '_converted?format=text')).text)).toEqual([`${b}.tar.gz.gpg`, `${c}.tar.gz.gpg`]);
      expect(sim.book(a)).toMatchObject({ state: 'NEW', inPool: false });
      expect((await grin(sim, `${a}.tar.gz.gpg`, { method: 'HEAD' })).status).toBe(404);
      expect(lines((await grin(sim, '_available?format=text')).text)).toEqual([a]);
      expect(statuses((await grin(sim, `_process?barcodes=${a}`)).text)).toEqual({ [a]: 'Success' });
      sim.advance(10);
      expect(sim.book(a)).toMatchObject({ state: 'CONVERTED', inPool: true, conversions: 2 });
      expect(sim.book(b).inPool).toBe(false);
      expect(sim.stats().evictions).toBe(2);
    } finally {
      await sim.close();
    }
  });

  it('lists failed conversions in _failed with date and reasons, and lets them be requested again', async () => {
    const sim = await startSimulator({
      barcodes: ['F0001', 'G0001'],
      initialState: 'all-new',
      failConversion: ['F0001'],
      conversionDelaySeconds: 30,
      startTime: START,
      ...TINY,
    });
    try {
      await grin(sim, '_process?barcodes=F0001,G0001');
      sim.advance(30);
      expect(sim.book('F0001')).toMatchObject({ state: 'NEW', inPool: false });
      expect(sim.book('G0001').state).toBe('CONVERTED');
      expect(lines((await grin(sim, '_failed?format=text')).text)).toEqual(['F0001']);
      const [row] = lines((await grin(sim, '_failed?format=text&mode=all')).text).map((l) => l.split('\t'));
      expect(row).toHaveLength(9);
      expect(row[4]).toBe('2025/03/01 00:00');
      expect(row[5]).toMatch(/^Error: /);
      expect(row[7]).not.toBe('');
      expect((await grin(sim, 'F0001.tar.gz.gpg', { method: 'HEAD' })).status).toBe(404);
      expect(statuses((await grin(sim, '_process?barcodes=F0001')).text)).toEqual({ F0001: 'Success' });
      expect((await grin(sim, '_failed?format=text')).text).toBe('');
    } finally {
      await sim.close();
    }
  });

  it('fails a share of conversions with conversionFailureRate', async () => {
    const sim = await startSimulator({
      books: 40,
      initialState: 'all-new',
      conversionFailureRate: 0.5,
      conversionDelaySeconds: 1,
      startTime: START,
      ...TINY,
    });
    try {
      await grin(sim, `_process?barcodes=${sim.barcodes.join(',')}`);
      sim.advance(1);
      const failed = lines((await grin(sim, '_failed?format=text')).text).length;
      expect(failed).toBeGreaterThan(8);
      expect(failed).toBeLessThan(32);
      expect(sim.stats().conversionsCompleted).toBe(40 - failed);
    } finally {
      await sim.close();
    }
  });
});
