/**
 * Starts the real servers the demo and the tests run against, as child processes on 127.0.0.1:
 * the Temporal CLI dev server, moto's S3-compatible server and `rclone serve s3` (a second S3
 * dialect, stricter about uploads). Each waits until it answers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, Socket } from 'node:net';
import { mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { ensureMotoServer, ensureRclone, ensureTemporalCli, type ToolOptions } from './tools';
import { SEARCH_ATTRIBUTES } from '../../src/workflows/search-attributes';

export interface RunningServer {
  /** host:port (Temporal) or http URL (S3). */
  address: string;
  pid: number;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

export function portOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.connect(port, host, () => done(true));
  });
}

/** Generous: on a busy machine a server may take many times longer to start than on an idle one. */
const START_TIMEOUT_MS = 180_000;

export class ExitedWhileStarting extends Error {}

async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  child: ChildProcess,
  timeoutMs: number,
  logFile?: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new ExitedWhileStarting(`${what} exited with code ${child.exitCode} while starting${logFile ? `; see ${logFile}` : ''}`);
    }
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  child.kill('SIGKILL');
  throw new Error(`${what} did not answer within ${timeoutMs / 1000}s${logFile ? `; see ${logFile}` : ''}`);
}

/**
 * Starts a server on `port`, or else on a free port picked here. Another process may take a picked
 * port before the server binds it (the server then exits while starting): pick another and try again.
 */
async function onPort<T>(port: number | undefined, start: (port: number) => Promise<T>): Promise<T> {
  if (port !== undefined) return start(port);
  for (let attempt = 1; ; attempt++) {
    try {
      return await start(await freePort());
    } catch (err) {
      if (!(err instanceof ExitedWhileStarting) || attempt === 3) throw err;
    }
  }
}

function stopper(child: ChildProcess): () => Promise<void> {
  return () =>
    new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      child.kill('SIGTERM');
    });
}

function outputTo(logFile: string | undefined): 'ignore' | number {
  if (!logFile) return 'ignore';
  mkdirSync(dirname(logFile), { recursive: true });
  return openSync(logFile, 'a');
}

export interface TemporalServerOptions extends ToolOptions {
  port?: number;
  uiPort?: number;
  /** Keep state in this SQLite file so runs survive a restart; in memory when absent. */
  dbFile?: string;
  headless?: boolean;
  logFile?: string;
  namespace?: string;
  /** Serve the server's own Prometheus metrics on this port (benches read its time per request). */
  metricsPort?: number;
}

/** `temporal server start-dev` with the pipeline's search attributes registered. */
export async function startTemporalDevServer(opts: TemporalServerOptions = {}): Promise<RunningServer & { uiUrl?: string }> {
  const cli = ensureTemporalCli(opts);
  return onPort(opts.port, (port) => startTemporalOn(cli, port, opts));
}

async function startTemporalOn(cli: string, port: number, opts: TemporalServerOptions): Promise<RunningServer & { uiUrl?: string }> {
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--log-level', 'warn'];
  for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES)) args.push('--search-attribute', `${name}=${type}`);
  if (opts.namespace && opts.namespace !== 'default') args.push('--namespace', opts.namespace);
  if (opts.metricsPort !== undefined) args.push('--metrics-port', String(opts.metricsPort));
  if (opts.dbFile) {
    mkdirSync(dirname(opts.dbFile), { recursive: true });
    args.push('--db-filename', opts.dbFile);
  }
  let uiUrl: string | undefined;
  if (opts.headless) args.push('--headless');
  else {
    const uiPort = opts.uiPort ?? port + 1000;
    args.push('--ui-port', String(uiPort), '--ui-disable-news-fetch');
    uiUrl = `http://127.0.0.1:${uiPort}`;
  }
  const out = outputTo(opts.logFile);
  const child = spawn(cli, args, { stdio: ['ignore', out, out], detached: false });
  const address = `127.0.0.1:${port}`;
  await waitFor('Temporal dev server', () => temporalReady(address, opts.namespace ?? 'default'), child, START_TIMEOUT_MS, opts.logFile);
  return { address, pid: child.pid!, uiUrl, stop: stopper(child) };
}

/** True once the frontend accepts connections and the namespace exists. */
export async function temporalReady(address: string, namespace = 'default'): Promise<boolean> {
  const port = Number(address.split(':').pop());
  if (!(await portOpen(port, address.split(':')[0]))) return false;
  const { Connection } = await import('@temporalio/client');
  try {
    const connection = await Connection.connect({ address, connectTimeout: 2000 });
    try {
      await connection.workflowService.describeNamespace({ namespace });
      return true;
    } finally {
      await connection.close();
    }
  } catch {
    return false;
  }
}

/**
 * True when a Temporal Web UI answers on this port (its settings endpoint returns its JSON). It says
 * a UI is there, not which Temporal server it shows.
 */
export async function temporalWebUiAt(port: number, host = '127.0.0.1'): Promise<boolean> {
  try {
    const response = await fetch(`http://${host}:${port}/api/v1/settings`, { signal: AbortSignal.timeout(2000) });
    if (!response.ok) return false;
    const settings = (await response.json()) as { Auth?: unknown; Version?: unknown };
    return typeof settings === 'object' && settings !== null && 'Auth' in settings && typeof settings.Version === 'string';
  } catch {
    return false;
  }
}

/**
 * The Web UI address of a dev server this process did not start: the port given, else the dev
 * server's default (frontend port + 1000), if a Temporal Web UI answers there; else undefined (the
 * server may be headless or have its UI elsewhere, and guessing would print a dead link).
 */
export async function findWebUi(frontendPort: number, uiPort?: number): Promise<string | undefined> {
  const port = uiPort ?? frontendPort + 1000;
  return (await temporalWebUiAt(port)) ? `http://127.0.0.1:${port}` : undefined;
}

export interface S3ServerOptions extends ToolOptions {
  port?: number;
  logFile?: string;
}

/** moto's S3-compatible server; any access key is accepted. */
export async function startS3Server(opts: S3ServerOptions = {}): Promise<RunningServer> {
  const bin = ensureMotoServer(opts);
  return onPort(opts.port, async (port) => {
    const out = outputTo(opts.logFile);
    const child = spawn(bin, ['-H', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', out, out] });
    await waitFor('S3 server (moto)', () => portOpen(port), child, START_TIMEOUT_MS, opts.logFile);
    return { address: `http://127.0.0.1:${port}`, pid: child.pid!, stop: stopper(child) };
  });
}

export interface RcloneS3Options extends S3ServerOptions {
  /** Folder whose subfolders are the buckets. */
  dataDir: string;
  accessKeyId: string;
  secretAccessKey: string;
}

/**
 * `rclone serve s3` over a local folder: a real S3 server of another lineage than moto (it refuses
 * streamed uploads without a Content-Length, as some S3-compatible services libraries run do).
 * Unlike moto it checks the signature, so it takes one key pair.
 */
export async function startRcloneS3Server(opts: RcloneS3Options): Promise<RunningServer> {
  const bin = ensureRclone(opts);
  mkdirSync(opts.dataDir, { recursive: true });
  return onPort(opts.port, async (port) => {
    const out = outputTo(opts.logFile);
    // The key pair goes through rclone's environment (its flags can all be set so), not argv, which
    // `ps` shows. A list flag from the environment is read as CSV: the quotes keep the pair one item.
    const env = { ...process.env, RCLONE_AUTH_KEY: `"${opts.accessKeyId},${opts.secretAccessKey}"`, RCLONE_CONFIG: '/dev/null' };
    const args = ['serve', 's3', '--addr', `127.0.0.1:${port}`, '--force-path-style=true', '--etag-hash', 'MD5', opts.dataDir];
    const child = spawn(bin, args, { stdio: ['ignore', out, out], env });
    await waitFor('S3 server (rclone serve s3)', () => portOpen(port), child, START_TIMEOUT_MS, opts.logFile);
    return { address: `http://127.0.0.1:${port}`, pid: child.pid!, stop: stopper(child) };
  });
}
