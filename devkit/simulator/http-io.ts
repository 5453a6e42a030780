/** Small HTTP helpers for the simulator: bodies in, text and files out, with back-pressure. */
import { createReadStream } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';

export const TEXT = 'text/plain; charset=utf-8';
export const HTML = 'text/html; charset=utf-8';

export class RequestTooLarge extends Error {}

export function sendText(
  res: ServerResponse,
  status: number,
  contentType: string,
  body: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': String(Buffer.byteLength(body)), ...headers });
  res.end(body);
}

/** Resolves once the response can take more data, or has closed. */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/**
 * Sends a body produced chunk by chunk (chunked transfer encoding). The first chunk is produced
 * before the headers go out, so an error about the request still becomes a proper status.
 */
export async function sendChunks(
  res: ServerResponse,
  status: number,
  contentType: string,
  chunks: Iterable<string>,
  headOnly: boolean,
): Promise<void> {
  const iterator = chunks[Symbol.iterator]();
  let next = iterator.next();
  res.writeHead(status, { 'Content-Type': contentType });
  if (headOnly) {
    res.end();
    return;
  }
  while (!next.done) {
    if (res.destroyed) return;
    if (!res.write(next.value)) await drained(res);
    next = iterator.next();
  }
  res.end();
}

export async function readBody(req: IncomingMessage, maxBytes: number): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > maxBytes) throw new RequestTooLarge(`request body is over ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export type StreamOutcome = 'complete' | 'stopped' | 'aborted';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Streams bytes `start..end` (inclusive) of a file into the response, optionally throttled to
 * `bytesPerSecond`, optionally stopping after `stopAfter` bytes ('stopped': the caller cuts the
 * connection). Ends the response only when every byte was sent. `beforeLastChunk` runs just
 * before the final byte is handed over, so no client can see the whole body before it has run.
 */
export async function streamFileRange(
  res: ServerResponse,
  path: string,
  start: number,
  end: number,
  opts: { bytesPerSecond?: number; stopAfter?: number; beforeLastChunk?: () => void } = {},
): Promise<StreamOutcome> {
  const length = end - start + 1;
  const toSend = opts.stopAfter !== undefined ? Math.min(opts.stopAfter, length) : length;
  const chunkSize = opts.bytesPerSecond ? Math.max(1024, Math.min(64 * 1024, Math.floor(opts.bytesPerSecond / 4))) : 64 * 1024;
  if (toSend > 0) {
    const file = createReadStream(path, { start, end: start + toSend - 1, highWaterMark: chunkSize });
    try {
      let sent = 0;
      for await (const chunk of file as AsyncIterable<Buffer>) {
        if (res.destroyed) return 'aborted';
        sent += chunk.length;
        if (sent === length) opts.beforeLastChunk?.();
        if (!res.write(chunk)) await drained(res);
        if (opts.bytesPerSecond) await sleep((chunk.length / opts.bytesPerSecond) * 1000);
      }
    } finally {
      file.destroy();
    }
  }
  if (res.destroyed) return 'aborted';
  if (toSend < length) return 'stopped';
  await new Promise<void>((resolve) => {
    res.once('finish', resolve);
    res.once('close', resolve);
    res.end();
  });
  return res.writableFinished ? 'complete' : 'aborted';
}

/** Parses a single `bytes=N-`, `bytes=N-M` or `bytes=-N` range; null = ignore it, 'unsatisfiable' = 416. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | null | 'unsatisfiable' {
  if (!header) return null;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === '' && match[2] === '')) return null; // several ranges or garbage: send it all
  if (match[1] === '') {
    const suffix = Number(match[2]);
    if (suffix === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(match[1]);
  const end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}
