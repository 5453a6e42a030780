/**
 * One HTTP exchange with GRIN: bearer token on every request, redirects followed by hand
 * (a redirect to Google's login page, or a 401, means the token was refused: refresh once and try
 * again), 403 turned into a permission error. No retries here: a failure is classified (transient
 * or not) and thrown; the caller's retry layer waits (Temporal's activity retry policy, which keeps
 * to the shared GRIN rate limit and the activity's timeout, or the CLI's helper in src/cli/retry.ts).
 *
 * The transport is Node's own http/https client, not undici: undici 7 (the last line that runs on
 * Node 20) throws an uncatchable assertion from a socket's end handler when a server closes the
 * connection (`Connection: close`) while a body waits to be read, which ends the whole worker
 * process (nodejs/undici#5360, fixed only in undici 8, which needs Node 22).
 */
import * as http from 'node:http';
import * as https from 'node:https';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { AccessTokenSource } from './auth';
import {
  WAITING_FOR_GRIN,
  ConnectionFault,
  GrinAbortError,
  GrinAuthError,
  GrinHttpError,
  GrinPermissionError,
  asGrinError,
  isTransientError,
  type GrinErrorContext,
} from './errors';

export interface HttpTimeouts {
  /** TCP/TLS connect timeout. */
  connectMs: number;
  /** Time to wait for response headers, and the longest pause between body chunks (idle, not total). */
  requestMs: number;
}

export const DEFAULT_TIMEOUTS: HttpTimeouts = { connectMs: 10_000, requestMs: 60_000 };
const MAX_REDIRECTS = 5;

export interface GrinRequest {
  method: 'GET' | 'HEAD';
  url: string;
  /** For error messages: which endpoint and barcode this was. */
  ctx: GrinErrorContext;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/** A response whose body the caller must read to the end, `dump()` or `destroy()`. */
export interface GrinResponse {
  statusCode: number;
  headers: http.IncomingHttpHeaders;
  body: ResponseBody;
}

/**
 * A response's body that keeps every byte that arrived: Node destroys a response cut short (the
 * server closed mid-body) with whatever still sat in its buffer, so a resume would fetch those bytes
 * twice. Here the buffer is moved out before the socket's close handler runs, and the error reaches
 * the reader only after the bytes before it.
 */
export class ResponseBody extends Readable {
  private pendingError?: Error;
  /** The connection the answer came on (kept: Node detaches it from the response once that ends). */
  private readonly socket: http.IncomingMessage['socket'] | null;

  constructor(private readonly res: http.IncomingMessage) {
    super({ highWaterMark: 64 * 1024 });
    res.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) res.pause();
    });
    res.on('end', () => this.push(null));
    res.on('error', (err) => this.failAfterData(err));
    res.on('aborted', () =>
      this.failAfterData(new ConnectionFault('the server closed the connection before the end of the body', 'ECONNRESET')),
    );
    // Runs before Node's own close handler, which destroys a response not yet complete. Removed
    // once the response is over: a kept-alive socket serves many responses.
    const socket = (this.socket = res.socket);
    const rescue = () => {
      while (res.read() !== null); // each read emits 'data': pushed above
    };
    socket?.prependListener('close', rescue);
    res.once('close', () => socket?.off('close', rescue));
  }

  override _read(): void {
    if (!this.pendingError) this.res.resume();
    else if (this.readableLength === 0) this.destroy(this.pendingError);
    else this.push(Buffer.alloc(0)); // nothing more will come: ask to be called again as the reader drains
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (!this.res.destroyed) this.res.destroy();
    cb(err);
  }

  /** Reads and discards the rest of the body; never throws. */
  async dump(): Promise<void> {
    if (this.readableEnded || this.destroyed) return;
    this.resume();
    await finished(this).catch(() => undefined);
  }

  private failAfterData(err: Error): void {
    if (this.destroyed || this.readableEnded || this.pendingError) return;
    this.pendingError = err;
    if (this.readableLength === 0) this.destroy(err);
    else this.push(Buffer.alloc(0)); // a read already asked for may be waiting: let the next one come
  }
}

/** True for a redirect to Google's sign-in page: GRIN's way of saying the token was not accepted. */
export function isLoginRedirect(location: string | undefined): boolean {
  if (!location) return false;
  try {
    const url = new URL(location, 'https://books.google.com/');
    return url.hostname === 'accounts.google.com' || /\/ServiceLogin\b|\/signin\b/i.test(url.pathname);
  } catch {
    return false;
  }
}

export class GrinHttp {
  private readonly agents: { 'http:': http.Agent; 'https:': https.Agent };
  private readonly origin: string;

  constructor(
    baseUrl: string,
    private readonly tokens: AccessTokenSource,
    readonly timeouts: HttpTimeouts = DEFAULT_TIMEOUTS,
    private readonly onResponse?: (endpoint: string, status: number | 'error') => void,
  ) {
    this.origin = new URL(baseUrl).origin;
    const pool = { keepAlive: true, maxSockets: 32, scheduling: 'lifo' as const };
    this.agents = { 'http:': new http.Agent(pool), 'https:': new https.Agent(pool) };
  }

  /**
   * Sends one request and returns the response whose status is not a redirect, 401 or 403. The
   * caller must consume or dump the body. Throws GrinAuthError when the token is refused after one
   * refresh, GrinPermissionError on 403.
   */
  async send(req: GrinRequest): Promise<GrinResponse> {
    let token = await this.token(req.ctx, () => this.tokens.getAccessToken());
    let refreshed = false;
    let url = req.url;
    for (let redirects = 0; ;) {
      const sameOrigin = new URL(url).origin === this.origin;
      const headers: Record<string, string> = { ...req.headers };
      // The token only ever goes to GRIN's own origin.
      if (sameOrigin) headers.authorization = `Bearer ${token}`;
      let res: GrinResponse;
      try {
        res = await this.exchange(url, req.method, headers, req.signal);
      } catch (err) {
        this.onResponse?.(req.ctx.endpoint, 'error');
        throw err;
      }
      const status = res.statusCode;
      this.onResponse?.(req.ctx.endpoint, status);
      const location = headerValue(res.headers, 'location');
      const loginRedirect = status >= 300 && status < 400 && isLoginRedirect(location);
      if (status === 401 || loginRedirect) {
        await res.body.dump();
        if (refreshed) {
          throw new GrinAuthError(
            { ...req.ctx, status },
            'the access token was refused even after a refresh; check the credentials or run `grin-pipeline auth setup` again',
          );
        }
        const rejected = token;
        token = await this.token(req.ctx, () => this.tokens.refresh(rejected));
        refreshed = true;
        continue;
      }
      if (status === 403) {
        await res.body.dump();
        throw new GrinPermissionError({ ...req.ctx, status });
      }
      if ([301, 302, 303, 307, 308].includes(status)) {
        await res.body.dump();
        if (!location) throw new GrinHttpError({ ...req.ctx, status }, 'redirect without a Location header', { retryable: true });
        if (++redirects > MAX_REDIRECTS) {
          throw new GrinHttpError({ ...req.ctx, status }, `more than ${MAX_REDIRECTS} redirects`, { retryable: false });
        }
        url = new URL(location, url).toString();
        continue;
      }
      return res;
    }
  }

  /**
   * One request on the pooled connections, answered once the headers are in. Timeouts: connecting
   * (`connectMs`), and silence on the connection while waiting for the headers or between body
   * chunks (`requestMs`, idle, not total); either destroys the exchange with a transient ETIMEDOUT.
   * An abort destroys it with the signal's reason, so an aborted download says it was aborted.
   */
  private exchange(url: string, method: string, headers: Record<string, string>, signal?: AbortSignal): Promise<GrinResponse> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(abortReason(signal));
      const target = new URL(url);
      const agent = target.protocol === 'https:' ? this.agents['https:'] : this.agents['http:'];
      const send = target.protocol === 'https:' ? https.request : http.request;
      let response: http.IncomingMessage | undefined;
      let body: ResponseBody | undefined;
      let connectTimer: NodeJS.Timeout | undefined;
      const fail = (err: Error) => {
        clearTimeout(connectTimer);
        // The body's reader sees this error (not a generic "aborted"), and the request's caller too.
        if (body && !body.destroyed) body.destroy(err);
        if (!req.destroyed) req.destroy(err);
        reject(err);
      };
      const onAbort = () => fail(abortReason(signal!));
      const req = send(target, { method, headers, agent }, (res) => {
        response = res;
        clearTimeout(connectTimer);
        body = new ResponseBody(res);
        body.once('close', () => signal?.removeEventListener('abort', onAbort));
        resolve({ statusCode: res.statusCode ?? 0, headers: res.headers, body });
      });
      req.on('error', (err) => {
        signal?.removeEventListener('abort', onAbort);
        reject(err); // no effect once resolved: the body's reader gets the error
      });
      req.on('socket', (socket) => {
        if (!socket.connecting) return;
        connectTimer = setTimeout(
          () => fail(timeoutError(`could not connect within ${this.timeouts.connectMs} ms`)),
          this.timeouts.connectMs,
        );
        socket.once('connect', () => clearTimeout(connectTimer));
      });
      req.setTimeout(this.timeouts.requestMs, () =>
        fail(
          timeoutError(
            `no data from the server for ${this.timeouts.requestMs} ms (${response ? 'in the body' : 'waiting for the headers'})`,
          ),
        ),
      );
      signal?.addEventListener('abort', onAbort, { once: true });
      req.end();
    });
  }

  private async token(ctx: GrinErrorContext, get: () => Promise<string>): Promise<string> {
    try {
      return await get();
    } catch (err) {
      if (err instanceof GrinHttpError) throw err;
      if (isTransientError(err)) throw asGrinError(err, ctx);
      // Revoked or invalid grant, unreadable credentials, unreachable token endpoint: all transient.
      throw new GrinAuthError(ctx, `could not get an access token: ${(err as Error).message}`, err);
    }
  }

  async close(): Promise<void> {
    this.agents['http:'].destroy();
    this.agents['https:'].destroy();
  }
}

/** A network-level timeout, transient like any (ETIMEDOUT is among the codes errors.ts retries). */
function timeoutError(message: string): Error {
  return new ConnectionFault(message, 'ETIMEDOUT');
}

function abortReason(signal: AbortSignal): Error {
  if (signal.reason instanceof Error) return signal.reason;
  return new GrinAbortError();
}

export function headerValue(headers: GrinResponse['headers'], name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Reads a response body as text, failing (retryably) when fewer bytes arrive than Content-Length announced. */
export async function readBodyText(res: GrinResponse, ctx: GrinErrorContext): Promise<string> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of res.body) {
    const buf = chunk as Buffer;
    chunks.push(buf);
    bytes += buf.length;
  }
  checkLength(res, bytes, ctx);
  return Buffer.concat(chunks).toString('utf8');
}

/** Throws a retryable error when the body was shorter than its Content-Length. */
export function checkLength(res: GrinResponse, bytes: number, ctx: GrinErrorContext): void {
  const declared = headerValue(res.headers, 'content-length');
  if (declared !== undefined && /^\d+$/.test(declared) && Number(declared) !== bytes) {
    throw new GrinHttpError({ ...ctx, status: res.statusCode }, `body cut short: got ${bytes} of ${declared} bytes`, { retryable: true });
  }
}

/** Turns a non-success status into an error: 5xx, 429 and 408 transient (GRIN is struggling), others not. */
export function statusError(ctx: GrinErrorContext, status: number, detail?: string): GrinHttpError {
  const retryable = status >= 500 || status === 429 || status === 408;
  return new GrinHttpError({ ...ctx, status }, detail ?? `unexpected HTTP status ${status}`, {
    retryable,
    waitingFor: retryable ? WAITING_FOR_GRIN : undefined,
  });
}
