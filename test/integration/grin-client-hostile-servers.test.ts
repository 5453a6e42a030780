/**
 * GrinClient against hand-made servers that misbehave in ways the simulator does not: answers sent
 * with `Connection: close` (complete, cut short, closed right after the headers or mid-body; undici
 * 7 crashed the whole process on some of them), a body that trickles (cut by the transfer-rate
 * floor and resumed with Range), and listing pages nested thousands of levels deep.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { GrinClient } from '../../src/grin/client';
import { GrinHttp, readBodyText } from '../../src/grin/http';
import { StaticTokenSource } from '../../src/grin/auth';
import { GrinFormatError, GrinListingError, SlowTransferError } from '../../src/grin/errors';
import { ConversionListings } from '../../src/grin/conversion-listings';
import { collect, retried } from './grin-client-helpers';

interface RawRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
}
/** What a raw server does with one request: write to the socket and end or destroy it. */
type RawHandler = (req: RawRequest, sock: net.Socket, n: number) => void;

/** A TCP server speaking just enough HTTP/1.1 to answer one request per connection, exactly as told. */
async function rawServe(handler: RawHandler) {
  const seen: RawRequest[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => undefined);
    let head = '';
    const onData = (chunk: Buffer) => {
      head += chunk.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      sock.off('data', onData);
      const [requestLine, ...lines] = head.slice(0, end).split('\r\n');
      const [method, target] = requestLine!.split(' ');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      const req = { method: method!, path: target!, headers };
      seen.push(req);
      handler(req, sock, seen.length);
    };
    sock.on('data', onData);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/libraries`;
  const close = () =>
    new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    });
  return { base, seen, close };
}

function head(status: string, headers: Record<string, string | number>): string {
  return `HTTP/1.1 ${status}\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}Connection: close\r\n\r\n`;
}

const makeClient = (baseUrl: string, extra: Partial<ConstructorParameters<typeof GrinClient>[0]> = {}) =>
  new GrinClient({ baseUrl, directory: 'TEST', tokens: new StaticTokenSource('t0k'), ...extra });

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Sizes around undici's 64 KiB body high-water mark (where its parser paused at the end), and larger. */
const SIZES = [65_536, 70_000, 300_000];

/** A text listing of about `bytes` bytes: barcodes one a line. */
function textListing(bytes: number): { body: Buffer; barcodes: string[] } {
  const barcodes: string[] = [];
  let text = '';
  for (let i = 0; text.length < bytes; i++) {
    const b = `B${String(i).padStart(8, '0')}`;
    barcodes.push(b);
    text += `${b}\n`;
  }
  return { body: Buffer.from(text), barcodes };
}

function archiveBytes(size: number): Buffer {
  const buf = Buffer.alloc(size);
  for (let i = 0; i < size; i++) buf[i] = (i * 7 + (i >> 11)) & 0xff;
  return buf;
}

/** Answers an archive request like GRIN (ETag, Range + If-Range), through `send` which may misbehave. */
function archiveAnswer(req: RawRequest, archive: Buffer, etag: string): { head: string; body: Buffer } {
  const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  if (range && req.headers['if-range'] === `"${etag}"`) {
    const start = Number(range[1]);
    if (start >= archive.length) {
      return {
        head: head('416 Range Not Satisfiable', { 'Content-Range': `bytes */${archive.length}`, 'Content-Length': 0 }),
        body: Buffer.alloc(0),
      };
    }
    const body = archive.subarray(start);
    return {
      head: head('206 Partial Content', {
        ETag: `"${etag}"`,
        'Content-Range': `bytes ${start}-${archive.length - 1}/${archive.length}`,
        'Content-Length': body.length,
      }),
      body,
    };
  }
  return { head: head('200 OK', { ETag: `"${etag}"`, 'Content-Length': archive.length }), body: archive };
}

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grin-hostile-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('answers sent with Connection: close', () => {
  it.each(SIZES)('complete answers of %i bytes: listings, HEAD and downloads all succeed, the process lives', async (size) => {
    const listing = textListing(size);
    const archive = archiveBytes(size);
    const etag = 'etag-1';
    const srv = await rawServe((req, sock) => {
      if (req.path.includes('_in_process')) {
        sock.write(head('200 OK', { 'Content-Type': 'text/plain', 'Content-Length': listing.body.length }));
        sock.end(listing.body);
      } else if (req.method === 'HEAD') {
        sock.end(head('200 OK', { ETag: `"${etag}"`, 'Content-Length': archive.length }));
      } else {
        const a = archiveAnswer(req, archive, etag);
        sock.write(a.head);
        sock.end(a.body);
      }
    });
    const client = makeClient(srv.base);
    try {
      for (let round = 0; round < 3; round++) {
        expect(await client.listInProcess('text')).toEqual(listing.barcodes);
        expect(await client.headArchive('TEST_A1.tar.gz.gpg')).toEqual({ etag, size });
        const dest = path.join(dir, `a${round}.gpg`);
        const result = await client.downloadArchive('TEST_A1.tar.gz.gpg', dest);
        expect(result).toEqual({ etag, size, resumed: false });
        expect(sha(fs.readFileSync(dest))).toBe(sha(archive));
      }
      // A consumer slower than the server (a busy disk, a slow reader of a streamed listing).
      const lines: string[] = [];
      for await (const line of client.textLines('_in_process')) {
        if (lines.length === 0) await new Promise((r) => setTimeout(r, 200));
        lines.push(line);
      }
      expect(lines).toEqual(listing.barcodes);
    } finally {
      await client.close();
      await srv.close();
    }
  });

  it.each(SIZES)('answers of %i bytes cut short (Content-Length not reached) fail transiently, and downloads resume', async (size) => {
    const listing = textListing(size);
    const archive = archiveBytes(size);
    const etag = 'etag-2';
    let listingCalls = 0;
    let archiveCalls = 0;
    const srv = await rawServe((req, sock) => {
      if (req.path.includes('_in_process')) {
        listingCalls++;
        sock.write(head('200 OK', { 'Content-Type': 'text/plain', 'Content-Length': listing.body.length }));
        if (listingCalls === 1) sock.end(listing.body.subarray(0, Math.floor(size * 0.9)));
        else sock.end(listing.body);
        return;
      }
      archiveCalls++;
      const a = archiveAnswer(req, archive, etag);
      sock.write(a.head);
      sock.end(archiveCalls === 1 ? a.body.subarray(0, Math.floor(size * 0.9)) : a.body);
    });
    const client = makeClient(srv.base);
    try {
      await expect(client.listInProcess('text')).rejects.toMatchObject({ retryable: true, message: expect.stringMatching(/_in_process/) });
      expect(listingCalls).toBe(1);
      expect(await retried(() => client.listInProcess('text'))).toEqual(listing.barcodes);
      expect(listingCalls).toBe(2);
      // The download resumes with Range within its one call: progress, not a retry.
      const dest = path.join(dir, 'cut.gpg');
      const result = await client.downloadArchive('TEST_A2.tar.gz.gpg', dest);
      expect(result).toEqual({ etag, size, resumed: true });
      expect(sha(fs.readFileSync(dest))).toBe(sha(archive));
      const gets = srv.seen.filter((r) => r.method === 'GET' && !r.path.includes('_in_process'));
      expect(gets.map((r) => r.headers.range)).toEqual([undefined, `bytes=${Math.floor(size * 0.9)}-`]);
    } finally {
      await client.close();
      await srv.close();
    }
  });

  it("a connection closed right after the headers, or mid-body, fails transiently; under the caller's retry the download completes", async () => {
    const size = 300_000;
    const listing = textListing(70_000);
    const archive = archiveBytes(size);
    const etag = 'etag-3';
    let calls = 0;
    const srv = await rawServe((req, sock) => {
      calls++;
      const isListing = req.path.includes('_in_process');
      const a = isListing
        ? { head: head('200 OK', { 'Content-Type': 'text/plain', 'Content-Length': listing.body.length }), body: listing.body }
        : archiveAnswer(req, archive, etag);
      sock.write(a.head);
      if (calls % 3 === 1)
        sock.end(); // closed right after the headers
      else if (calls % 3 === 2) {
        sock.write(a.body.subarray(0, 1000));
        setTimeout(() => sock.destroy(), 20); // closed mid-body, without a clean end
      } else sock.end(a.body);
    });
    const client = makeClient(srv.base, {});
    const policy = { attempts: 5, baseDelayMs: 5, maxDelayMs: 20 };
    try {
      expect(await retried(() => collect(client.textLines('_in_process')), undefined, policy)).toEqual(listing.barcodes);
      expect(calls).toBe(3);
      const dest = path.join(dir, 'mid.gpg');
      // Closed after the headers: nothing on disk, a failed try; closed mid-body: resumed at once with Range.
      const result = await retried(() => client.downloadArchive('TEST_A3.tar.gz.gpg', dest), undefined, policy);
      expect(calls).toBe(6);
      expect(result).toEqual({ etag, size, resumed: true });
      expect(sha(fs.readFileSync(dest))).toBe(sha(archive));
    } finally {
      await client.close();
      await srv.close();
    }
  });
});

describe('a body read late, after the server closed the connection', () => {
  // undici 7 paused its parser on a body of about its 64 KiB high-water mark that nobody read yet;
  // the server's FIN then threw an uncatchable assertion and ended the process (nodejs/undici#5360).
  it.each([
    ['complete', 65_536, 65_536],
    ['complete', 70_000, 70_000],
    ['cut short', 65_536, 140_000],
  ])('%s answer of %i bytes (Content-Length %i): read or failed, the process lives', async (_kind, sent, declared) => {
    const body = Buffer.alloc(sent, 0x61);
    const srv = await rawServe((_req, sock) => {
      sock.write(head('200 OK', { 'Content-Type': 'text/plain', 'Content-Length': declared }));
      sock.end(body);
    });
    const ctx = { endpoint: 'GET /TEST/_late' };
    const http = new GrinHttp(srv.base, new StaticTokenSource('t0k'));
    try {
      for (let round = 0; round < 3; round++) {
        const res = await http.send({ method: 'GET', url: `${srv.base}/TEST/_late`, ctx });
        await new Promise((r) => setTimeout(r, 300)); // a busy worker gets to the body late
        if (sent === declared) expect(await readBodyText(res, ctx)).toBe(body.toString());
        else await expect(readBodyText(res, ctx)).rejects.toMatchObject({ code: 'ECONNRESET' });
      }
    } finally {
      await http.close();
      await srv.close();
    }
  });
});

describe('kept-alive connections', () => {
  it('serve many answers without piling up listeners on the socket', async () => {
    const server = http.createServer((_req, res) => res.end('B1\nB2\n'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/libraries`;
    const grinHttp = new GrinHttp(base, new StaticTokenSource('t0k'));
    const ctx = { endpoint: 'GET /TEST/_in_process' };
    try {
      const closeListeners: number[] = [];
      for (let i = 0; i < 40; i++) {
        const res = await grinHttp.send({ method: 'GET', url: `${base}/TEST/_in_process`, ctx });
        // The connection under the answer (the body's source is not public: looked up for this test only).
        const socket = (res.body as unknown as { socket: net.Socket }).socket;
        expect(await readBodyText(res, ctx)).toBe('B1\nB2\n');
        closeListeners.push(socket.listenerCount('close'));
      }
      expect(new Set(closeListeners).size).toBe(1); // the same few listeners, not one more per answer
    } finally {
      await grinHttp.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});

describe('a body that trickles', () => {
  it('is cut by the transfer-rate floor and resumed with Range; the download completes', async () => {
    const archive = archiveBytes(200_000);
    const etag = 'etag-t';
    const timers: NodeJS.Timeout[] = [];
    const server = http.createServer((req, res) => {
      const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      if (range && req.headers['if-range'] === `"${etag}"`) {
        const start = Number(range[1]);
        res.writeHead(206, {
          etag: `"${etag}"`,
          'content-range': `bytes ${start}-${archive.length - 1}/${archive.length}`,
          'content-length': archive.length - start,
        });
        res.end(archive.subarray(start));
        return;
      }
      // 20,000 bytes at once, then one byte every 100 ms: never idle, never done.
      res.writeHead(200, { etag: `"${etag}"`, 'content-length': archive.length });
      res.write(archive.subarray(0, 20_000));
      let at = 20_000;
      const tick = setInterval(() => {
        if (res.destroyed) return clearInterval(tick);
        res.write(archive.subarray(at, ++at));
      }, 100);
      timers.push(tick);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/libraries`;
    const warnings: string[] = [];
    const client = makeClient(base, {
      timeouts: { connectMs: 2_000, requestMs: 10_000 },
      minDownloadRate: { bytes: 4_096, windowMs: 1_000 },
      logger: { warn: (m) => warnings.push(m) },
    });
    try {
      const dest = path.join(dir, 'trickle.gpg');
      const result = await client.downloadArchive('TEST_T1.tar.gz.gpg', dest);
      expect(result).toEqual({ etag, size: archive.length, resumed: true });
      expect(sha(fs.readFileSync(dest))).toBe(sha(archive));
      expect(warnings.join('\n')).toMatch(/below the floor of 4096 bytes per 1 s \(grin\.minDownloadRate\); cut to resume/);
    } finally {
      timers.forEach(clearInterval);
      await client.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('a trickle that never speeds up ends the call with a transient SlowTransferError that says what is awaited', async () => {
    const timers: NodeJS.Timeout[] = [];
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { etag: '"e"', 'content-length': 1_000_000 });
      const tick = setInterval(() => res.write(Buffer.alloc(1, 0x61)), 100);
      timers.push(tick);
      res.on('close', () => clearInterval(tick));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/libraries`;
    // Without a known ETag nothing can be resumed: the first cut ends the call.
    const client = makeClient(base, { minDownloadRate: { bytes: 4_096, windowMs: 500 } });
    try {
      const err = await client.downloadArchive('TEST_T2.tar.gz.gpg', path.join(dir, 't2.gpg')).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SlowTransferError);
      expect((err as SlowTransferError).retryable).toBe(true);
      expect((err as SlowTransferError).waitingFor).toMatch(/GRIN to send the archive faster than 4096 bytes per 0.5 s/);
    } finally {
      timers.forEach(clearInterval);
      await client.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});

describe('listing pages nested thousands of levels deep', () => {
  const heading =
    '<tr class="heading"><td></td><td><span class="hd3">Barcode</span></td><td><span class="hd3">Convert Failed Info</span></td></tr>';
  const deepPage = `<html><body><table>${heading}<tr><td></td><td>F1</td><td>${'<div>'.repeat(10_000)}x</td></tr></table></body></html>`;

  it('a deep _failed page is a clear listing error; books _converted lists still go on', async () => {
    const srv = await rawServe((req, sock) => {
      const body = req.path.includes('_failed') ? Buffer.from(deepPage) : Buffer.from('TEST_C1.tar.gz.gpg\n');
      sock.write(
        head('200 OK', { 'Content-Type': req.path.includes('_failed') ? 'text/html' : 'text/plain', 'Content-Length': body.length }),
      );
      sock.end(body);
    });
    const client = makeClient(srv.base);
    try {
      const err = await client.listFailed('html').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(GrinFormatError);
      expect((err as Error).message).toMatch(
        /GRIN GET \/TEST\/_failed.*page 1 of the listing was refused: the page nests elements more than 1000 levels deep/,
      );
      const listings = new ConversionListings(client, { intervalMs: 60_000 });
      expect(await listings.check('C1')).toEqual({ state: 'converted', filename: 'TEST_C1.tar.gz.gpg' });
      const waiting = await listings.check('W1').catch((e: unknown) => e);
      expect(waiting).toBeInstanceOf(GrinListingError);
      expect((waiting as GrinListingError).retryable).toBe(true);
      expect((waiting as GrinListingError).waitingFor).toMatch(/_failed/);
    } finally {
      await client.close();
      await srv.close();
    }
  });

  it.each(['_converted', '_all_books'])('a deep %s HTML page is a clear listing error', async (resource) => {
    const srv = await rawServe((_req, sock) => {
      const body = Buffer.from(deepPage);
      sock.write(head('200 OK', { 'Content-Type': 'text/html', 'Content-Length': body.length }));
      sock.end(body);
    });
    const client = makeClient(srv.base);
    try {
      const run = resource === '_converted' ? client.listConverted('html') : collect(client.listAllBooks('html'));
      await expect(run).rejects.toThrow(new RegExp(`GRIN GET /TEST/${resource}.*nests elements more than 1000 levels deep`));
      await expect(run).rejects.toBeInstanceOf(GrinFormatError);
    } finally {
      await client.close();
      await srv.close();
    }
  });
});
