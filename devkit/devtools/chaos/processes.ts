/**
 * The real processes of a chaos run, each with its output captured to a log file: the GRIN
 * simulator (its CLI, with the control endpoint on), worker processes that can be killed with
 * SIGKILL and started again, and a Temporal dev server that can be killed and restarted on the same
 * port and database file.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { freePort, portOpen, startTemporalDevServer, type RunningServer } from '../servers';
import type { SimulatorOptions } from '../../simulator';

/** Compiled entry points (this file runs from dist/devkit/devtools/chaos/). */
const SIMULATOR_CLI = join(__dirname, '..', '..', 'simulator', 'cli.js');
const CHAOS_WORKER = join(__dirname, 'worker.js');

function logTo(file: string): number {
  mkdirSync(dirname(file), { recursive: true });
  return openSync(file, 'a');
}

async function waitForPort(what: string, port: number, child: ChildProcess, log: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited with code ${child.exitCode} while starting; see ${log}`);
    if (await portOpen(port)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  child.kill('SIGKILL');
  throw new Error(`${what} did not listen on port ${port} within ${timeoutMs / 1000} s; see ${log}`);
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
  });
}

async function terminate(child: ChildProcess, graceMs = 15_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  child.kill('SIGTERM');
  await exited(child);
  clearTimeout(timer);
}

export interface SimulatorProcess {
  origin: string;
  baseUrl: string;
  tokenUri: string;
  pid: number;
  /** POST to the control endpoint: fault switches (null = off). */
  setFaults(faults: Record<string, unknown>): Promise<void>;
  control<T>(path: string): Promise<T>;
  stop(): Promise<void>;
}

/** The simulator as its own process: `node dist/devkit/simulator/cli.js --control ...`. */
export async function startSimulatorProcess(
  opts: SimulatorOptions & { dataDir: string; logFile: string; oauth: { clientId: string; clientSecret: string; refreshToken: string } },
): Promise<SimulatorProcess> {
  const port = await freePort();
  mkdirSync(opts.dataDir, { recursive: true });
  const file = (name: string, value: unknown) => {
    const path = join(opts.dataDir, name);
    writeFileSync(path, JSON.stringify(value));
    return `@${path}`;
  };
  const barcodesFile = join(opts.dataDir, 'barcodes.txt');
  writeFileSync(barcodesFile, (opts.barcodes ?? []).join('\n') + '\n');
  const passphraseFile = join(opts.dataDir, 'passphrase-in.txt');
  writeFileSync(passphraseFile, opts.passphrase ?? 'simulator-passphrase', { mode: 0o600 });
  const args = [
    SIMULATOR_CLI,
    '--control',
    '--port',
    String(port),
    '--directory',
    opts.directory ?? 'TEST',
    '--books',
    '0',
    '--barcodes',
    `@${barcodesFile}`,
    '--seed',
    String(opts.seed ?? 1),
    '--passphrase-file',
    passphraseFile,
    '--oauth-client',
    `${opts.oauth.clientId}:${opts.oauth.clientSecret}:${opts.oauth.refreshToken}`,
    '--token-lifetime',
    String(opts.tokenLifetimeSeconds ?? 3600),
    '--pages',
    `${opts.pages?.min ?? 8}-${opts.pages?.max ?? 24}`,
    '--book-pages',
    file('book-pages.json', opts.bookPages ?? {}),
    '--page-image-bytes',
    String(opts.pageImageBytes ?? 96 * 1024),
    '--initial-state',
    opts.initialState ?? 'all-available',
    '--initial-states',
    file('initial-states.json', opts.initialStates ?? {}),
    '--conversion-delay',
    String(opts.conversionDelaySeconds ?? 60),
    '--conversions-per-day',
    String(opts.conversionsPerDay ?? 5000),
    '--pool-cap',
    String(opts.poolCap ?? 5000),
    '--queue-cap',
    String(opts.queueCap ?? 50_000),
    '--clock-speed',
    String(opts.clockSpeed ?? 1),
    '--data-dir',
    opts.dataDir,
    '--faults',
    file('faults.json', opts.faults ?? {}),
    '--archive-concurrency',
    '2',
  ];
  const out = logTo(opts.logFile);
  const child = spawn(process.execPath, args, { stdio: ['ignore', out, out] });
  await waitForPort('GRIN simulator', port, child, opts.logFile);
  const origin = `http://127.0.0.1:${port}`;
  return {
    origin,
    baseUrl: `${origin}/libraries`,
    tokenUri: `${origin}/token`,
    pid: child.pid!,
    async setFaults(faults) {
      const res = await fetch(`${origin}/_simulator/faults`, { method: 'POST', body: JSON.stringify(faults) });
      if (!res.ok) throw new Error(`simulator refused fault switches ${JSON.stringify(faults)}: ${res.status} ${await res.text()}`);
    },
    async control<T>(path: string): Promise<T> {
      const res = await fetch(`${origin}/_simulator/${path}`);
      if (!res.ok) throw new Error(`simulator control ${path}: ${res.status} ${await res.text()}`);
      return (await res.json()) as T;
    },
    stop: () => terminate(child),
  };
}

export interface WorkerProcess {
  name: string;
  hostId: string;
  readonly pid: number | undefined;
  /** `pid@host` identities this worker has had (Temporal records them on activities). */
  readonly pids: number[];
  running(): boolean;
  start(): Promise<void>;
  /** kill -9: no clean-up, no goodbye to Temporal. */
  kill9(): Promise<void>;
  stop(): Promise<void>;
  /** Exits nobody asked for (crashes), with their codes. */
  readonly unexpectedExits: string[];
}

/** A worker process (`dist/devkit/devtools/chaos/worker.js`, i.e. the real workers plus a switchable disk-usage source). */
export function workerProcess(opts: {
  name: string;
  hostId: string;
  configFile: string;
  diskUsageFile: string;
  logFile: string;
  env: NodeJS.ProcessEnv;
  cwd: string;
  restartOnCrash: boolean;
  log: (line: string) => void;
}): WorkerProcess {
  let child: ChildProcess | undefined;
  let expectingExit = false;
  const pids: number[] = [];
  const unexpectedExits: string[] = [];
  const spawnOne = () => {
    const out = logTo(opts.logFile);
    expectingExit = false;
    const c = spawn(
      process.execPath,
      [CHAOS_WORKER, '--config', opts.configFile, '--host-id', opts.hostId, '--disk-usage-file', opts.diskUsageFile],
      {
        stdio: ['ignore', out, out],
        env: opts.env,
        cwd: opts.cwd,
      },
    );
    child = c;
    pids.push(c.pid!);
    c.once('exit', (code, signal) => {
      if (expectingExit || child !== c) return;
      const what = `${opts.name} (pid ${c.pid}) exited by itself: ${signal ?? `code ${code}`}`;
      unexpectedExits.push(what);
      opts.log(`!! ${what}; see ${opts.logFile}`);
      // A supervisor (systemd, Kubernetes) restarts a crashed worker; so does the harness.
      if (opts.restartOnCrash) setTimeout(spawnOne, 2000);
    });
  };
  return {
    name: opts.name,
    hostId: opts.hostId,
    get pid() {
      return child?.pid;
    },
    pids,
    unexpectedExits,
    running: () => !!child && child.exitCode === null && child.signalCode === null,
    async start() {
      spawnOne();
    },
    async kill9() {
      if (!child) return;
      expectingExit = true;
      const c = child;
      c.kill('SIGKILL');
      await exited(c);
    },
    async stop() {
      if (!child) return;
      expectingExit = true;
      await terminate(child);
    },
  };
}

export interface RestartableTemporal {
  address: string;
  pid(): number;
  kill9AndRestart(pauseMs: number): Promise<void>;
  stop(): Promise<void>;
}

/** The Temporal dev server on a fixed port with its state in `dbFile`, so a restart keeps every workflow. */
export async function startRestartableTemporal(opts: {
  dbFile: string;
  logFile: string;
  log: (line: string) => void;
}): Promise<RestartableTemporal> {
  const port = await freePort();
  const start = () => startTemporalDevServer({ port, headless: true, dbFile: opts.dbFile, logFile: opts.logFile, log: opts.log });
  let server: RunningServer = await start();
  return {
    address: server.address,
    pid: () => server.pid,
    async kill9AndRestart(pauseMs) {
      process.kill(server.pid, 'SIGKILL');
      await new Promise((r) => setTimeout(r, pauseMs));
      server = await start();
    },
    stop: () => server.stop(),
  };
}
