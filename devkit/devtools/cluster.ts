/**
 * A real Temporal cluster on this machine, as a library runs one (issue 22): PostgreSQL 15 (Debian's
 * binaries) on a free port in a temp data directory, the Temporal server built from its Go module
 * at a pinned version (scripts/build-temporal-server.sh, cached outside the repository), schemas
 * set up with Temporal's SQL tool, and the frontend, history, matching and worker services as four
 * separate processes with their own ports. The namespace and the pipeline's search attributes are
 * registered with the `temporal` CLI, as an operator would. Each process can be killed and started
 * again, and PostgreSQL restarted, so the cluster test can do to it what happens to a real one.
 *
 * PostgreSQL refuses to run as root: as root, its commands run as the `postgres` user (runuser).
 * The test cluster trusts connections from 127.0.0.1 and runs with fsync off (a process crash, which
 * is what the test does, loses nothing; a power loss could): production settings are in docs/cluster.md.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { freePort, portOpen, temporalReady } from './servers';
import { ensureTemporalCli, toolsDir } from './tools';
import { SEARCH_ATTRIBUTES } from '../../src/workflows/search-attributes';

const run = promisify(execFile);

/** The server version the cluster test, the compose file and docs/cluster.md name. */
export const TEMPORAL_SERVER_VERSION = 'v1.32.2';
const PG_BIN = process.env.GRIN_PIPELINE_PG_BIN ?? '/usr/lib/postgresql/15/bin';
const DB_USER = 'temporal';
/** Generous: on a busy machine a service may take many times longer to start than on an idle one. */
const START_TIMEOUT_MS = 180_000;

export const SERVICES = ['history', 'matching', 'frontend', 'worker'] as const;
export type ServiceName = (typeof SERVICES)[number];

/**
 * The server and SQL tool binaries: built by scripts/build-temporal-server.sh into the tools cache on
 * first use (minutes, once), found there afterwards.
 */
export function ensureTemporalServer(opts: { log?: (line: string) => void } = {}): { server: string; sqlTool: string } {
  const dir = join(toolsDir(), `temporal-server-${TEMPORAL_SERVER_VERSION}`);
  const server = join(dir, 'temporal-server');
  const sqlTool = join(dir, 'temporal-sql-tool');
  if (!existsSync(server) || !existsSync(sqlTool)) {
    opts.log?.(`building Temporal server ${TEMPORAL_SERVER_VERSION} into ${dir} (first run only; several minutes)`);
    execFileSync(buildScript(), [], {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, TEMPORAL_SERVER_VERSION, GRIN_PIPELINE_TOOLS: toolsDir() },
    });
  }
  return { server, sqlTool };
}

function buildScript(): string {
  // From devkit/devtools (ts-node, jest) or dist/devkit/devtools (built): the repository's scripts folder.
  for (const up of ['../..', '../../..']) {
    const candidate = resolve(__dirname, up, 'scripts/build-temporal-server.sh');
    if (existsSync(candidate)) return candidate;
  }
  throw new Error('scripts/build-temporal-server.sh not found next to the source tree');
}

const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/** A PostgreSQL command, as the `postgres` user when this process is root (postgres refuses root). */
function pgCommand(bin: string, args: string[]): [string, string[]] {
  const path = join(PG_BIN, bin);
  return asRoot ? ['runuser', ['-u', 'postgres', '--', path, ...args]] : [path, args];
}

export interface PostgresServer {
  port: number;
  dataDir: string;
  /** `pg_ctl stop -m <mode>`: fast (clean), immediate (as a crash: WAL replay at the next start). */
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  start(): Promise<void>;
  /** One value from a query, run with psql as the database owner. */
  query(database: string, sql: string): Promise<string>;
  databaseBytes(database: string): Promise<number>;
  /**
   * CPU seconds of the PostgreSQL server so far: the postmaster, its live backends and the backends
   * that have exited (the postmaster's waited-for children), from /proc; 0 while it is stopped.
   */
  cpuSeconds(): number;
}

export async function startPostgres(opts: { dir: string; port?: number; logFile?: string }): Promise<PostgresServer> {
  if (!existsSync(join(PG_BIN, 'initdb'))) {
    throw new Error(`PostgreSQL 15 not found in ${PG_BIN}: install Debian's postgresql-15 package (or set GRIN_PIPELINE_PG_BIN)`);
  }
  mkdirSync(opts.dir, { recursive: true });
  if (asRoot) {
    // The postgres user must reach its folder: search permission (not listing) on the folders above
    // it that lack it, such as a mkdtemp folder (mode 700).
    for (let up = dirname(resolve(opts.dir)); up !== dirname(up); up = dirname(up)) {
      const mode = statSync(up).mode;
      if (!(mode & 0o001)) chmodSync(up, (mode & 0o7777) | 0o001);
    }
  }
  if (asRoot)
    chownSync(
      opts.dir,
      Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' })),
      Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' })),
    );
  const dataDir = join(opts.dir, 'data');
  const logFile = opts.logFile ?? join(opts.dir, 'postgres.log');
  const port = opts.port ?? (await freePort());
  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    const [cmd, args] = pgCommand('initdb', ['-D', dataDir, '-U', DB_USER, '--auth=trust', '-E', 'UTF8', '--no-sync']);
    await run(cmd, args);
  }
  const settings = [`-p ${port}`, `-k ${opts.dir}`, '-c listen_addresses=127.0.0.1', '-c fsync=off', '-c max_connections=200'].join(' ');
  const pgCtl = (args: string[]) => {
    const [cmd, full] = pgCommand('pg_ctl', ['-D', dataDir, ...args]);
    return run(cmd, full, { timeout: START_TIMEOUT_MS });
  };
  const server: PostgresServer = {
    port,
    dataDir,
    stop: async (mode = 'fast') => void (await pgCtl(['-m', mode, '-w', 'stop'])),
    start: async () => void (await pgCtl(['-o', settings, '-l', logFile, '-w', '-t', String(START_TIMEOUT_MS / 1000), 'start'])),
    query: async (database, sql) =>
      (await run(join(PG_BIN, 'psql'), ['-h', '127.0.0.1', '-p', String(port), '-U', DB_USER, '-d', database, '-Atc', sql])).stdout.trim(),
    cpuSeconds: () => {
      const pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), { encoding: 'utf8', flag: 'r' }).split('\n')[0]);
      const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
      return processCpuSeconds(pid, { withExitedChildren: true }) + children.reduce((sum, child) => sum + processCpuSeconds(child), 0);
    },
    databaseBytes: async (database) => Number(await server.query('postgres', `select pg_database_size('${database.replace(/'/g, "''")}')`)),
  };
  await server.start();
  return server;
}

export interface ClusterService {
  name: ServiceName;
  grpcPort: number;
  /** The running process's pid (undefined while stopped). */
  pid(): number | undefined;
  /** `kill -<signal>` of the process; resolves once it has exited. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts the process again; resolves once its gRPC port answers. */
  start(): Promise<void>;
}

export interface TemporalCluster {
  /** The frontend, host:port. */
  address: string;
  namespace: string;
  postgres: PostgresServer;
  services: Record<ServiceName, ClusterService>;
  /** CPU seconds (user + system) of the four services' processes so far, killed ones included. */
  cpuSeconds(): number;
  stop(): Promise<void>;
}

export interface ClusterOptions {
  /** Working folder (PostgreSQL data, config, logs); a new temp folder when absent, removed at stop. */
  dir?: string;
  namespace?: string;
  /** Namespace retention of closed workflows (the operator's `--retention`). */
  retention?: string;
  log?: (line: string) => void;
}

/** CPU seconds (utime + stime) of a live process, from /proc/<pid>/stat; 0 once it is gone. */
export function processCpuSeconds(pid: number, opts: { withExitedChildren?: boolean } = {}): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 (utime, stime) in clock ticks; after the name, they are the 12th and 13th;
    // 16 and 17 (cutime, cstime) are its children's that it waited for.
    const own = Number(fields[11]) + Number(fields[12]);
    return (own + (opts.withExitedChildren ? Number(fields[13]) + Number(fields[14]) : 0)) / clockTicks();
  } catch {
    return 0;
  }
}

let ticks: number | undefined;
function clockTicks(): number {
  if (ticks === undefined) {
    try {
      ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticks = 100;
    }
  }
  return ticks;
}

/**
 * A free port below 32768: Temporal's PostgreSQL schema keeps a service's membership port in a
 * SMALLINT (cluster_membership.rpc_port), so a port from the ephemeral range (32768 and up, what
 * the OS hands out for port 0) makes the service exit ("value out of range for type smallint").
 */
async function lowFreePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    if (await canListen(port)) return port;
  }
  throw new Error('no free port found between 20000 and 32000');
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

interface Ports {
  grpc: number;
  membership: number;
}

function serverConfig(pg: PostgresServer, ports: Record<ServiceName, Ports>, httpPort: number, dynamicConfig: string): string {
  const store = (database: string, conns: number) => `
      sql:
        pluginName: "postgres12"
        databaseName: "${database}"
        connectAddr: "127.0.0.1:${pg.port}"
        connectProtocol: "tcp"
        user: "${DB_USER}"
        password: "${DB_USER}"
        maxConns: ${conns}
        maxIdleConns: ${conns}
        maxConnLifetime: "1h"`;
  const service = (name: ServiceName) => `
  ${name}:
    rpc:
      grpcPort: ${ports[name].grpc}
      membershipPort: ${ports[name].membership}
      bindOnLocalHost: true${name === 'frontend' ? `\n      httpPort: ${httpPort}` : ''}`;
  return `# Written by devkit/devtools/cluster.ts for the cluster test (docs/cluster.md explains each part).
log:
  stdout: true
  level: warn
persistence:
  defaultStore: postgres-default
  visibilityStore: postgres-visibility
  numHistoryShards: 4
  datastores:
    postgres-default:${store('temporal', 20)}
    postgres-visibility:${store('temporal_visibility', 5)}
global:
  membership:
    maxJoinDuration: 30s
    broadcastAddress: "127.0.0.1"
services:${SERVICES.map(service).join('')}
clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: "active"
  currentClusterName: "active"
  clusterInformation:
    active:
      enabled: true
      initialFailoverVersion: 1
      rpcName: "frontend"
      rpcAddress: "127.0.0.1:${ports.frontend.grpc}"
dcRedirectionPolicy:
  policy: "noop"
dynamicConfigClient:
  filepath: "${dynamicConfig}"
  pollInterval: "10s"
`;
}

/** Dynamic config: what the dev server sets too (search attributes readable at once, long ids). */
const DYNAMIC_CONFIG = `limit.maxIDLength:
  - value: 255
system.forceSearchAttributesCacheRefreshOnRead:
  - value: true
`;

async function waitUntil(
  what: string,
  check: () => Promise<boolean>,
  opts: { child?: ChildProcess; logFile?: string; timeoutMs?: number } = {},
): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? START_TIMEOUT_MS);
  while (Date.now() < deadline) {
    if (opts.child && opts.child.exitCode !== null)
      throw new Error(`${what}: exited with code ${opts.child.exitCode}${opts.logFile ? `; see ${opts.logFile}` : ''}`);
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(
    `${what}: not ready within ${(opts.timeoutMs ?? START_TIMEOUT_MS) / 1000} s${opts.logFile ? `; see ${opts.logFile}` : ''}`,
  );
}

/** Retries an operator command until the cluster takes it (services still joining answer "unavailable"). */
async function operator(cli: string, args: string[], okIf: RegExp = /$^/): Promise<void> {
  let last = '';
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    try {
      await run(cli, args, { env: { ...process.env, TEMPORAL_CLI_AUTO_CONFIRM: '1' } });
      return;
    } catch (err) {
      last = `${(err as { stderr?: string }).stderr ?? ''}${(err as Error).message}`;
      if (okIf.test(last)) return;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  throw new Error(`temporal ${args.join(' ')} kept failing: ${last.slice(-500)}`);
}

export async function startTemporalCluster(opts: ClusterOptions = {}): Promise<TemporalCluster> {
  const log = opts.log ?? (() => undefined);
  const { server, sqlTool } = ensureTemporalServer({ log });
  const cli = ensureTemporalCli({ log });
  const ownDir = !opts.dir;
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'grin-cluster-'));
  mkdirSync(dir, { recursive: true });
  const namespace = opts.namespace ?? 'default';

  const postgres = await startPostgres({ dir: join(dir, 'postgres') }).catch((err: unknown) => {
    if (ownDir) rmSync(dir, { recursive: true, force: true });
    throw err;
  });
  log(`PostgreSQL 15 on 127.0.0.1:${postgres.port} (${postgres.dataDir})`);
  const sql = (database: string, args: string[]) =>
    run(sqlTool, [
      '--plugin',
      'postgres12',
      '--ep',
      '127.0.0.1',
      '-p',
      String(postgres.port),
      '-u',
      DB_USER,
      '--pw',
      DB_USER,
      '--db',
      database,
      ...args,
    ]);
  for (const [database, schema] of [
    ['temporal', 'postgresql/v12/temporal'],
    ['temporal_visibility', 'postgresql/v12/visibility'],
  ] as const) {
    await sql(database, ['create-database']);
    await sql(database, ['setup-schema', '-v', '0.0']);
    await sql(database, ['update-schema', '--schema-name', schema]);
  }

  const ports = {} as Record<ServiceName, Ports>;
  for (const name of SERVICES) ports[name] = { grpc: await lowFreePort(), membership: await lowFreePort() };
  const httpPort = await lowFreePort();
  const dynamicConfig = join(dir, 'dynamicconfig.yaml');
  writeFileSync(dynamicConfig, DYNAMIC_CONFIG);
  const configFile = join(dir, 'temporal.yaml');
  writeFileSync(configFile, serverConfig(postgres, ports, httpPort, dynamicConfig));
  const address = `127.0.0.1:${ports.frontend.grpc}`;

  let cpuOfEnded = 0;
  const services = {} as Record<ServiceName, ClusterService>;
  const children = new Map<ServiceName, ChildProcess>();
  for (const name of SERVICES) {
    const logFile = join(dir, `${name}.log`);
    const spawnService = () => {
      const out = openSync(logFile, 'a');
      const child = spawn(server, ['--config-file', configFile, '--allow-no-auth', 'start', '--service', name], {
        stdio: ['ignore', out, out],
      });
      children.set(name, child);
      return child;
    };
    const ready = (child: ChildProcess) =>
      waitUntil(
        `Temporal ${name} service`,
        async () => (name === 'frontend' ? temporalReady(address, 'temporal-system') : portOpen(ports[name].grpc)),
        { child, logFile },
      );
    services[name] = {
      name,
      grpcPort: ports[name].grpc,
      pid: () => children.get(name)?.pid,
      async kill(signal = 'SIGKILL') {
        const child = children.get(name);
        if (!child || child.exitCode !== null || child.signalCode !== null) return;
        cpuOfEnded += processCpuSeconds(child.pid!);
        const exited = new Promise((r) => child.once('exit', r));
        child.kill(signal);
        await exited;
        children.delete(name);
      },
      async start() {
        await ready(spawnService());
      },
    };
  }

  const stopAll = async () => {
    for (const name of [...SERVICES].reverse()) await services[name].kill('SIGTERM').catch(() => undefined);
    await postgres.stop('fast').catch(() => undefined);
    if (ownDir) rmSync(dir, { recursive: true, force: true });
  };
  try {
    // History first: the first service on a new database writes the cluster's metadata, and two
    // writing it at once make one exit ("failed to initialize current cluster metadata").
    await services.history.start();
    await Promise.all((['matching', 'frontend', 'worker'] as const).map((name) => services[name].start()));
    await waitUntil('Temporal frontend', () => temporalReady(address, 'temporal-system'), {
      child: children.get('frontend'),
      logFile: join(dir, 'frontend.log'),
    });
    log(`Temporal ${TEMPORAL_SERVER_VERSION}: frontend ${address}, history, matching and worker services (logs in ${dir})`);
    // As an operator registers them: the namespace with its retention, then the search attributes.
    const at = ['--address', address];
    await operator(
      cli,
      ['operator', 'namespace', 'create', '--namespace', namespace, '--retention', opts.retention ?? '72h', ...at],
      /already exists|AlreadyExists/i,
    );
    await waitUntil(`namespace ${namespace}`, () => temporalReady(address, namespace));
    for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES)) {
      await operator(
        cli,
        ['operator', 'search-attribute', 'create', '--namespace', namespace, '--name', name, '--type', type, ...at],
        /already exists|AlreadyExists/i,
      );
    }
  } catch (err) {
    await stopAll();
    throw err;
  }

  return {
    address,
    namespace,
    postgres,
    services,
    cpuSeconds: () => cpuOfEnded + SERVICES.reduce((sum, name) => sum + processCpuSeconds(children.get(name)?.pid ?? -1), 0),
    stop: stopAll,
  };
}
