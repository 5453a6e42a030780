/**
 * A record of every request the simulator answered, for tests and benchmarks: what was asked,
 * what was answered and how many body bytes actually went out (a cut-off body shows fewer).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface RequestLogEntry {
  /** Real time the request arrived, epoch ms. */
  time: number;
  /** Simulated time the request arrived, epoch ms. */
  simTime: number;
  method: string;
  /** Path without the query, e.g. `/libraries/TEST/_converted`. */
  path: string;
  /** Raw query string without `?` (parse with `new URLSearchParams(entry.query)`). */
  query: string;
  status: number;
  /** Body bytes written to the socket layer. */
  bytesSent: number;
  durationMs: number;
  /** The `Range` header, when sent. */
  range?: string;
  /** The barcode of an archive request. */
  barcode?: string;
  /** The barcodes of a `_process` or `_barcode_search` request. */
  barcodes?: string[];
  /** The fault that shaped this answer, if any. */
  fault?: string;
  /** The response did not finish (connection cut by a fault or by the client). */
  aborted?: boolean;
}

export class RequestLog {
  readonly entries: RequestLogEntry[] = [];

  constructor(private readonly limit = 200_000) {}

  /**
   * Starts an entry for `req`; it is appended when the response closes. Returns the live entry so
   * handlers can add the barcode, fault and so on.
   */
  track(req: IncomingMessage, res: ServerResponse, simNow: number): RequestLogEntry {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const entry: RequestLogEntry = {
      time: Date.now(),
      simTime: simNow,
      method: req.method ?? 'GET',
      path: q < 0 ? url : url.slice(0, q),
      query: q < 0 ? '' : url.slice(q + 1),
      status: 0,
      bytesSent: 0,
      durationMs: 0,
    };
    if (typeof req.headers.range === 'string') entry.range = req.headers.range;
    const count = (chunk: unknown, encoding?: unknown) => {
      if (typeof chunk === 'string')
        entry.bytesSent += Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
      else if (chunk instanceof Uint8Array) entry.bytesSent += chunk.byteLength;
    };
    const write = res.write.bind(res) as (...args: unknown[]) => boolean;
    const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
    res.write = ((chunk: unknown, ...rest: unknown[]) => {
      count(chunk, rest[0]);
      return write(chunk, ...rest);
    }) as ServerResponse['write'];
    res.end = ((chunk?: unknown, ...rest: unknown[]) => {
      if (typeof chunk !== 'function') count(chunk, rest[0]);
      return end(chunk, ...rest);
    }) as ServerResponse['end'];
    res.once('close', () => {
      entry.status = res.statusCode;
      entry.durationMs = Date.now() - entry.time;
      if (!res.writableFinished) entry.aborted = true;
      if (req.method === 'HEAD') entry.bytesSent = 0;
      this.entries.push(entry);
      if (this.entries.length > this.limit) this.entries.splice(0, this.entries.length - this.limit);
    });
    return entry;
  }
}
