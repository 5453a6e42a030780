/**
 * GrinClient against a hand-made HTTP server for what the simulator does not inject: a text listing
 * cut short mid-stream (read again whole by the caller's retry), refused connections, redirects, timeouts.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { GrinClient } from '../../src/grin/client';
import { StaticTokenSource } from '../../src/grin/auth';
import { GrinHttpError } from '../../src/grin/errors';
import { collect, retried } from './grin-client-helpers';

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, n: number) => void;

async function serve(handler: Handler) {
  let n = 0;
  const seen: { url: string; auth?: string }[] = [];
  const server = http.createServer((req, res) => {
    seen.push({ url: req.url ?? '', auth: req.headers.authorization });
    handler(req, res, ++n);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/libraries`;
  const close = () =>
    new Promise<void>((r) => {
      server.close(() => r());
      server.closeAllConnections();
    });
  return { base, seen, close };
}

const makeClient = (baseUrl: string, extra: Partial<ConstructorParameters<typeof GrinClient>[0]> = {}) =>
  new GrinClient({ baseUrl, directory: 'TEST', tokens: new StaticTokenSource('t0k'), ...extra });

describe('GrinClient network edge cases', () => {
  it("a text listing cut mid-stream fails transiently; the caller's retry reads it again without repeating or losing lines", async () => {
    const lines = Array.from({ length: 2000 }, (_, i) => `B${String(i).padStart(6, '0')}`);
    const body = lines.join('\n') + '\n';
    const srv = await serve((_req, res, n) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(Buffer.byteLength(body)) });
      if (n === 1) {
        res.write(body.slice(0, 7_001)); // ends in the middle of a line
        setTimeout(() => res.socket?.destroy(), 20);
      } else res.end(body);
    });
    const client = makeClient(srv.base);
    try {
      const delivered: string[] = [];
      const err = await (async () => {
        for await (const line of client.listAllBarcodes()) delivered.push(line);
      })().catch((e: unknown) => e);
      expect(err).toMatchObject({ retryable: true, message: expect.stringMatching(/_all_books: network error: ECONNRESET/) });
      expect(delivered.length).toBeGreaterThan(0);
      expect(delivered).toEqual(lines.slice(0, delivered.length));
      expect(await retried(() => collect(client.listAllBarcodes()))).toEqual(lines);
      expect(srv.seen).toHaveLength(2);
    } finally {
      await client.close();
      await srv.close();
    }
  });

  it('an HTML page where a text listing was expected is an error, not barcodes', async () => {
    const srv = await serve((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html><body>Sorry</body></html>'));
    const client = makeClient(srv.base);
    try {
      await expect(client.listInProcess()).rejects.toThrow(/HTML page/);
      expect(srv.seen).toHaveLength(1);
      await expect(retried(() => client.listInProcess())).rejects.toThrow(/HTML page/);
      expect(srv.seen).toHaveLength(4);
    } finally {
      await client.close();
      await srv.close();
    }
  });

  it('follows ordinary redirects by hand with the token, at most 5', async () => {
    const srv = await serve((req, res, n) => {
      if (req.url!.includes('_in_process') && n < 3)
        return res.writeHead(302, { location: `/libraries/TEST/_in_process?format=text&hop=${n}` }).end();
      if (req.url!.includes('_in_process')) return res.writeHead(200).end('B1\nB2\n');
      res.writeHead(302, { location: '/libraries/TEST/_available?format=text' }).end();
    });
    const client = makeClient(srv.base);
    try {
      expect(await client.listInProcess()).toEqual(['B1', 'B2']);
      expect(srv.seen.slice(0, 3).every((s) => s.auth === 'Bearer t0k')).toBe(true);
      const err = await client.listAvailable().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(GrinHttpError);
      expect((err as Error).message).toMatch(/more than 5 redirects/);
    } finally {
      await client.close();
      await srv.close();
    }
  });

  it('a refused connection ends in an error naming the endpoint', async () => {
    const srv = await serve((_req, res) => res.end());
    const base = srv.base;
    await srv.close();
    const client = makeClient(base);
    try {
      const err = await client.headArchive('B1.tar.gz.gpg').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(GrinHttpError);
      expect((err as Error).message).toMatch(/GRIN HEAD \/TEST\/B1\.tar\.gz\.gpg, barcode B1: network error: ECONNREFUSED/);
    } finally {
      await client.close();
    }
  });

  it("a server that stops sending hits the idle timeout, a transient failure the caller's retry gets past", async () => {
    const srv = await serve((_req, res, n) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      if (n === 1)
        res.write('B1\n'); // then silence
      else res.end('B1\nB2\n');
    });
    // A second of silence: short for the test, long beyond any pause a busy machine puts in a live answer.
    const client = makeClient(srv.base, { timeouts: { connectMs: 5_000, requestMs: 1_000 } });
    try {
      expect(await retried(() => client.listInProcess())).toEqual(['B1', 'B2']);
      expect(srv.seen).toHaveLength(2);
    } finally {
      await client.close();
      await srv.close();
    }
  });
});
