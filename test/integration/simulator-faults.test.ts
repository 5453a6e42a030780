/** Every fault switch of the simulator, over real HTTP: by barcode list, by rate, and transient (`times`). */
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { extract } from 'tar-stream';
import { startSimulator, validateFaultConfig, type RunningSimulator } from '../../devkit/simulator';
import { PATIENCE_MS, waitUntil } from '../support/wait';
import { TINY, call, decrypt, download, grin, lines } from './simulator-helpers';

/** Log entries are appended when each response closes, which may come just after the client has its answer. */
const waitForLog = (sim: RunningSimulator, entries: number) =>
  waitUntil(async () => sim.requestLog.length >= entries, PATIENCE_MS, `${entries} requests logged`);

async function untar(tarGz: Buffer): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  const ex = extract();
  const done = new Promise<void>((resolve, reject) => {
    ex.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => {
        chunks.push(c as Buffer);
      });
      stream.on('end', () => {
        files.set(header.name, Buffer.concat(chunks));
        next();
      });
    });
    ex.on('finish', resolve);
    ex.on('error', reject);
  });
  ex.end(gunzipSync(tarGz));
  await done;
  return files;
}

describe('simulator request faults', () => {
  let sim: RunningSimulator;
  beforeEach(async () => {
    sim = await startSimulator({
      barcodes: ['C0001', 'C0002', 'N0001'],
      initialStates: { C0001: 'CONVERTED', C0002: 'CONVERTED' },
      initialState: 'all-new',
      ...TINY,
    });
  });
  afterEach(() => sim.close());

  it('serverError: 5xx for the first N requests, then normal answers; the status is configurable', async () => {
    sim.setFaults({ serverError: { times: 2 }, serverErrorStatus: 503 });
    expect((await grin(sim, '_converted?format=text')).status).toBe(503);
    expect((await grin(sim, 'C0001.tar.gz.gpg', { method: 'HEAD' })).status).toBe(503);
    expect((await grin(sim, '_converted?format=text')).status).toBe(200);
    await waitForLog(sim, 3);
    // Entries are appended as responses close, not always in the order the requests were made.
    expect(sim.requestLog.map((e) => `${e.path.split('/').pop()} ${e.fault}`).sort()).toEqual(
      ['C0001.tar.gz.gpg serverError', '_converted serverError', '_converted undefined'].sort(),
    );
  });

  it('serverError for listed barcodes hits only requests about them, and changes nothing', async () => {
    sim.setFaults({ serverError: ['N0001'] });
    expect((await grin(sim, '_process?barcodes=N0001')).status).toBe(500);
    expect(sim.book('N0001').state).toBe('NEW');
    expect((await grin(sim, 'C0001.tar.gz.gpg', { method: 'HEAD' })).status).toBe(200);
    expect((await grin(sim, '_in_process?format=text')).status).toBe(200);
  });

  it('rateLimitArchive: 429 on HEAD and GET of the listed barcodes only', async () => {
    sim.setFaults({ rateLimitArchive: ['C0001'] });
    expect((await grin(sim, 'C0001.tar.gz.gpg', { method: 'HEAD' })).status).toBe(429);
    expect((await download(sim, 'C0001.tar.gz.gpg')).status).toBe(429);
    expect((await grin(sim, 'C0002.tar.gz.gpg', { method: 'HEAD' })).status).toBe(200);
    expect(sim.book('C0001').state).toBe('CONVERTED');
  });

  it('transient404: 404 although the package is in the pool, then 200 once the fault clears', async () => {
    sim.setFaults({ transient404: { barcodes: ['C0001'], times: 1 } });
    expect((await grin(sim, 'C0001.tar.gz.gpg', { method: 'HEAD' })).status).toBe(404);
    expect((await grin(sim, 'C0001.tar.gz.gpg', { method: 'HEAD' })).status).toBe(200);
  });

  it('missingEtag: HEAD and GET without an ETag header', async () => {
    sim.setFaults({ missingEtag: ['C0001'] });
    const head = await grin(sim, 'C0001.tar.gz.gpg', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.etag).toBeUndefined();
    expect(Number(head.headers['content-length'])).toBeGreaterThan(0);
    expect((await download(sim, 'C0001.tar.gz.gpg')).headers.etag).toBeUndefined();
    expect((await grin(sim, 'C0002.tar.gz.gpg', { method: 'HEAD' })).headers.etag).toMatch(/^"/);
  });

  it('truncateBody: sends part of the archive, then cuts the connection; the book is not marked downloaded', async () => {
    sim.setFaults({ truncateBody: { times: 1 }, truncateBodyFraction: 0.25 });
    const size = (await sim.archive('C0001'))!.size;
    await expect(download(sim, 'C0001.tar.gz.gpg')).rejects.toThrow();
    await waitForLog(sim, 1);
    const entry = sim.requestLog.at(-1)!;
    expect(entry).toMatchObject({ status: 200, aborted: true, fault: 'truncateBody', barcode: 'C0001' });
    expect(entry.bytesSent).toBe(Math.floor(size * 0.25));
    expect(sim.book('C0001').state).toBe('CONVERTED');
    const whole = await download(sim, 'C0001.tar.gz.gpg');
    expect(whole.body.length).toBe(size);
    expect(sim.book('C0001').state).toBe('PREVIOUSLY_DOWNLOADED');
  });

  it('slowBody: the archive arrives at the configured speed', async () => {
    const size = (await sim.archive('C0001'))!.size;
    const bytesPerSecond = Math.ceil(size / 0.8); // about 0.8 s for the whole archive
    sim.setFaults({ slowBody: ['C0001'], slowBodyBytesPerSecond: bytesPerSecond });
    const started = Date.now();
    const slow = await download(sim, 'C0001.tar.gz.gpg');
    expect(slow.body.length).toBe(size);
    expect(Date.now() - started).toBeGreaterThanOrEqual(600); // never faster than the configured speed
    await sim.archive('C0002');
    await download(sim, 'C0002.tar.gz.gpg'); // not listed: full speed
    await waitForLog(sim, 2);
    expect(sim.requestLog.map((e) => `${e.barcode} ${e.fault}`).sort()).toEqual(['C0001 slowBody', 'C0002 undefined']);
  });

  it('loginRedirect: a good token still gets the 302 to the Google login page while the fault lasts', async () => {
    sim.setFaults({ loginRedirect: { times: 1 } });
    const redirected = await grin(sim, '_converted?format=text');
    expect(redirected.status).toBe(302);
    expect(redirected.headers.location).toMatch(/^https:\/\/accounts\.google\.com\/ServiceLogin\?/);
    expect((await grin(sim, '_converted?format=text')).status).toBe(200);
  });

  it('requestUnavailable: HTML listings answer GRIN\'s "Your request is unavailable" page; text listings are unaffected', async () => {
    sim.setFaults({ requestUnavailable: {} });
    const page = await grin(sim, '_all_books?result_count=2');
    expect(page.status).toBe(200);
    expect(page.text).toContain('Your request is unavailable');
    expect(page.text).not.toContain('<tbody>');
    expect(lines((await grin(sim, '_all_books?format=text')).text)).toHaveLength(3);
    sim.setFaults({ requestUnavailable: undefined });
    expect((await grin(sim, '_all_books?result_count=2')).text).not.toContain('Your request is unavailable');
  });

  it('deepHtml: HTML listings answer a page nested deepHtmlLevels deep; text listings are unaffected', async () => {
    sim.setFaults({ deepHtml: { times: 1 }, deepHtmlLevels: 5_000 });
    const page = await grin(sim, '_failed');
    expect(page.status).toBe(200);
    expect(page.text).toContain('<div>'.repeat(5_000));
    expect(page.text).not.toContain('<div>'.repeat(5_001));
    expect(lines((await grin(sim, '_converted?format=text')).text)).toHaveLength(2);
    expect((await grin(sim, '_failed')).text).not.toContain('<div><div>');
  });

  it('connectionClose: answers say Connection: close and the server closes the connection after them', async () => {
    sim.setFaults({ connectionClose: { times: 1 } });
    const listing = await grin(sim, '_converted?format=text');
    expect(listing.headers.connection).toBe('close');
    expect(lines(listing.text)).toHaveLength(2);
    expect((await grin(sim, '_converted?format=text')).headers.connection).not.toBe('close');
    sim.setFaults({ connectionClose: ['C0001'] });
    expect((await download(sim, 'C0001.tar.gz.gpg')).headers.connection).toBe('close');
    expect((await download(sim, 'C0002.tar.gz.gpg')).headers.connection).not.toBe('close');
  });

  it('revokedCredentials: invalid_grant from the token endpoint and issued tokens refused while on; static tokens unaffected; off again at run time', async () => {
    const { clientId, clientSecret, refreshToken } = sim.oauthClients[0];
    const refresh = () =>
      call(sim.tokenUri, {
        method: 'POST',
        token: null,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'refresh_token',
          client_id: clientId,
          client_secret: clientSecret,
          refresh_token: refreshToken,
        }).toString(),
      });
    const issued = JSON.parse((await refresh()).text) as { access_token: string };
    sim.setFaults({ revokedCredentials: {} });
    const refused = await refresh();
    expect(refused.status).toBe(400);
    expect(JSON.parse(refused.text)).toMatchObject({ error: 'invalid_grant' });
    expect((await grin(sim, '_converted?format=text', { token: issued.access_token })).status).toBe(302);
    expect((await grin(sim, '_converted?format=text')).status).toBe(200); // the static sim-token
    sim.setFaults({ revokedCredentials: undefined });
    expect((await refresh()).status).toBe(200);
    expect((await grin(sim, '_converted?format=text', { token: issued.access_token })).status).toBe(200);
  });

  it('decides rate-based faults with a seeded RNG: some requests, not all, and the same ones for the same seed', async () => {
    const pattern = async (s: RunningSimulator) => {
      s.setFaults({ serverError: 0.5 });
      const out: number[] = [];
      for (let i = 0; i < 40; i++) out.push((await grin(s, '_in_process?format=text')).status);
      return out;
    };
    const first = await pattern(sim);
    const hits = first.filter((s) => s === 500).length;
    expect(hits).toBeGreaterThan(8);
    expect(hits).toBeLessThan(32);
    const twin = await startSimulator({ barcodes: ['C0001'], ...TINY });
    try {
      expect(await pattern(twin)).toEqual(first);
    } finally {
      await twin.close();
    }
  });

  it('rejects unknown fault names and bad rates with a message naming them', () => {
    expect(() => validateFaultConfig({ serverErorr: 1 })).toThrow(/unknown fault "serverErorr"/);
    expect(() => sim.setFaults({ transient404: 1.5 })).toThrow(/transient404.*rate/);
    expect(() => validateFaultConfig({ missingEtag: { rate: 0.1, bogus: 1 } })).toThrow(/unknown field "bogus"/);
  });
});

describe('simulator archive content faults', () => {
  const CONTENT_FAULTS = [
    'checksumMismatch',
    'notGzip',
    'truncatedTar',
    'noMarc',
    'missingListedFile',
    'missingPageText',
    'hostileArchive',
  ] as const;
  const barcodes = ['D0001', 'D0002', 'D0003', 'D0004', 'D0005', 'D0006', 'D0007', 'BAD01', 'COR01', 'GOOD1'];
  let sim: RunningSimulator;
  let baseline: RunningSimulator;
  beforeAll(async () => {
    const common = { barcodes, initialStates: Object.fromEntries(barcodes.map((b) => [b, 'CONVERTED' as const])), seed: 5, ...TINY };
    const faults = Object.fromEntries(CONTENT_FAULTS.map((name, i) => [name, [barcodes[i]]]));
    sim = await startSimulator({ ...common, faults: { ...faults, badPassphrase: ['BAD01'], corruptArchive: ['COR01'] } });
    baseline = await startSimulator(common);
  });
  afterAll(() => Promise.all([sim.close(), baseline.close()]));

  const plain = async (s: RunningSimulator, barcode: string) => decrypt((await download(s, `${barcode}.tar.gz.gpg`)).body, s.passphrase);

  it('badPassphrase: the archive does not decrypt with the library passphrase', async () => {
    const got = await download(sim, 'BAD01.tar.gz.gpg');
    expect(got.status).toBe(200);
    await expect(decrypt(got.body, sim.passphrase)).rejects.toThrow();
    expect((await sim.archive('BAD01'))!.faults).toEqual(['badPassphrase']);
  });

  it('corruptArchive: flipped bytes fail decryption, with the advertised size and ETag intact', async () => {
    const head = await grin(sim, 'COR01.tar.gz.gpg', { method: 'HEAD' });
    const got = await download(sim, 'COR01.tar.gz.gpg');
    expect(got.body.length).toBe(Number(head.headers['content-length']));
    expect(`"${createHash('md5').update(got.body).digest('hex')}"`).toBe(head.headers.etag);
    await expect(decrypt(got.body, sim.passphrase)).rejects.toThrow();
  });

  it('the untouched book decrypts to exactly the baseline tar.gz', async () => {
    expect((await plain(sim, 'GOOD1')).equals(await plain(baseline, 'GOOD1'))).toBe(true);
  });

  it.each(CONTENT_FAULTS.map((name, i) => [name, barcodes[i]]))('%s damages the decrypted archive of %s', async (name, barcode) => {
    const damaged = await plain(sim, barcode);
    const good = await plain(baseline, barcode);
    expect(damaged.equals(good)).toBe(false);
    expect((await sim.archive(barcode))!.faults).toEqual([name]);
    if (name === 'hostileArchive') expect([...(await untar(damaged)).keys()][0]).toBe(`../${barcode}-escape.txt`);
    if (name === 'notGzip') expect(damaged.subarray(0, 2)).not.toEqual(Buffer.from([0x1f, 0x8b]));
    if (name === 'checksumMismatch') {
      const files = await untar(damaged);
      const listed = new Map(
        files
          .get('checksum.md5')!
          .toString('utf8')
          .trim()
          .split('\n')
          .map((l) => [l.slice(34), l.slice(0, 32)]),
      );
      const mismatched = [...listed].filter(
        ([file, md5]) => files.has(file) && createHash('md5').update(files.get(file)!).digest('hex') !== md5,
      );
      expect(mismatched.length).toBeGreaterThan(0);
    }
  });
});

describe('simulator control endpoint', () => {
  let sim: RunningSimulator;
  beforeAll(async () => {
    sim = await startSimulator({ barcodes: ['C0001'], initialStates: { C0001: 'CONVERTED' }, control: true, ...TINY });
  });
  afterAll(() => sim.close());
  const origin = () => sim.baseUrl.replace(/\/libraries$/, '');

  it('switches faults at run time (null turns one off), shows a book and counts fault hits', async () => {
    const on = await call(`${origin()}/_simulator/faults`, { method: 'POST', token: null, body: JSON.stringify({ serverError: {} }) });
    expect(on.status).toBe(200);
    expect((await grin(sim, '_converted?format=text')).status).toBe(500);
    await call(`${origin()}/_simulator/faults`, { method: 'POST', token: null, body: JSON.stringify({ serverError: null }) });
    expect((await grin(sim, '_converted?format=text')).status).toBe(200);
    await waitForLog(sim, 2);
    const stats = JSON.parse((await call(`${origin()}/_simulator/stats`, { token: null })).text) as {
      faultHits: Record<string, number>;
      grinRequests: number;
    };
    expect(stats.faultHits).toEqual({ serverError: 1 });
    expect(stats.grinRequests).toBeGreaterThanOrEqual(2);
    const book = JSON.parse((await call(`${origin()}/_simulator/books/C0001`, { token: null })).text) as { state: string; pages: number };
    expect(book).toMatchObject({ state: 'CONVERTED', pages: 2 });
  });

  it('names a bad switch, and is absent unless asked for', async () => {
    const bad = await call(`${origin()}/_simulator/faults`, { method: 'POST', token: null, body: JSON.stringify({ nope: 1 }) });
    expect(bad.status).toBe(400);
    expect(bad.text).toMatch(/unknown fault "nope"/);
    const plain = await startSimulator({ barcodes: ['C0001'], ...TINY });
    try {
      expect((await call(`${plain.baseUrl.replace(/\/libraries$/, '')}/_simulator/stats`, { token: null })).status).toBe(404);
    } finally {
      await plain.close();
    }
  });
});
