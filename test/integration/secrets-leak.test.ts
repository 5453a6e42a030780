/**
 * Issue 21: no secret value leaves the process. Each secret is planted where an error path can pick
 * it up: the OAuth token endpoint answers its first requests with an error page echoing the request
 * (client secret, refresh token), GRIN answers `_process` with a page echoing the Authorization
 * header (a minted access token), and S3 answers uploads with an error echoing the request's
 * Authorization header (access key id) and the secret key. Then every output is searched, for every
 * value in every encoding: the board's files (tokens, per-stage logs such as logs/request.log, batch
 * lists), the worker's log, every Temporal history of the run, `status` and `report` output and
 * the metrics text. The run also leaves its processing files (retention) for a check of file modes.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { startBatch } from '../../src/cli/batch';
import { bookSettingsFrom } from '../../src/cli/common';
import { scanTree, scanValue, type Secret } from '../../devkit/devtools/chaos/secrets';
import { createLogger } from '../../src/logging/logger';
import { createStorage } from '../../src/storage';
import type { RunningSimulator } from '../../devkit/simulator';
import { installPipelineRuntime } from '../../src/worker';
import { runCli, writeConfigFile } from '../support/cli';
import {
  s3Endpoint,
  startTestSimulator,
  startWorkers,
  temporalClient,
  testEnv,
  testS3Storage,
  type RunningWorkers,
  type TestEnv,
} from '../support/pipeline';
import { TEST_PATIENCE_MS } from '../support/wait';

jest.setTimeout(TEST_PATIENCE_MS);

const BOOKS = 3;
const planted = (what: string) => `${what}-${randomBytes(12).toString('base64url')}`;
const values = {
  passphrase: planted('leak-passphrase'),
  clientSecret: planted('leak-client-secret'),
  refreshToken: planted('leak-refresh-token'),
  s3KeyId: `LEAKKEY${randomBytes(8).toString('hex').toUpperCase()}`,
  s3Secret: planted('leak-s3-secret'),
};
/** Access tokens the token endpoint issued during the run (recorded by its proxy). */
const minted: string[] = [];

interface Echo {
  status: number;
  type: string;
  body: string;
}

/**
 * An HTTP server in front of `target` that forwards every request, except those `echo` answers
 * itself (an error page quoting the request). `seen` gets every forwarded response body.
 */
async function startProxy(
  target: string,
  echo: (req: http.IncomingMessage, body: Buffer) => Echo | undefined,
  seen?: (path: string, body: Buffer) => void,
) {
  const echoed: string[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const answer = echo(req, body);
      if (answer) {
        echoed.push(`${req.method} ${req.url}`);
        res.writeHead(answer.status, { 'content-type': answer.type }).end(answer.body);
        return;
      }
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) {
        if (
          typeof v === 'string' &&
          !['host', 'connection', 'keep-alive', 'expect', 'transfer-encoding', 'content-length', 'accept-encoding'].includes(k)
        )
          headers[k] = v;
      }
      const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
      fetch(new URL(req.url ?? '/', target), { method: req.method, headers, body: hasBody ? body : undefined, redirect: 'manual' })
        .then(async (r) => {
          const out = Buffer.from(await r.arrayBuffer());
          seen?.(req.url ?? '/', out);
          const headersOut: Record<string, string> = {};
          r.headers.forEach((v, k) => {
            if (!['transfer-encoding', 'content-encoding', 'connection', 'keep-alive'].includes(k)) headersOut[k] = v;
          });
          if (req.method !== 'HEAD') headersOut['content-length'] = String(out.length);
          res.writeHead(r.status, headersOut).end(req.method === 'HEAD' ? undefined : out);
        })
        .catch(() => res.destroy());
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    echoed,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

let sim: RunningSimulator;
let env: TestEnv;
let workers: RunningWorkers;
let proxies: Awaited<ReturnType<typeof startProxy>>[] = [];
let tokenProxy: Awaited<ReturnType<typeof startProxy>>;
let grinProxy: Awaited<ReturnType<typeof startProxy>>;
let s3Proxy: Awaited<ReturnType<typeof startProxy>>;
let metricsPort: number;
let workerLog = '';
const startedAt = new Date(Date.now() - 1000);

beforeAll(async () => {
  sim = await startTestSimulator('leak', {
    books: BOOKS,
    seed: 21,
    initialState: 'all-available',
    conversionDelaySeconds: 1,
    pages: { min: 2, max: 3 },
    pageImageBytes: 16 * 1024,
    passphrase: values.passphrase,
    oauthClients: [{ clientId: 'leak-client', clientSecret: values.clientSecret, refreshToken: values.refreshToken }],
  });
  const echoPage = (req: http.IncomingMessage, body: Buffer) =>
    `<html><body><h1>Error</h1><p>Your request:</p><pre>${req.method} ${req.url}\n${Object.entries(req.headers)
      .map(([k, v]) => `${k}: ${String(v)}`)
      .join('\n')}\n\n${body.toString('utf8')}\n${decodeURIComponent(body.toString('utf8'))}</pre></body></html>`;
  let tokenRequests = 0;
  tokenProxy = await startProxy(
    sim.tokenUri,
    (req, body) => (++tokenRequests <= 2 ? { status: 400, type: 'text/html; charset=utf-8', body: echoPage(req, body) } : undefined),
    (_path, body) => {
      const token = (JSON.parse(body.toString('utf8')) as { access_token?: string }).access_token;
      if (token) minted.push(token);
    },
  );
  let processRequests = 0;
  grinProxy = await startProxy(sim.baseUrl, (req) =>
    req.url?.includes('/_process') && ++processRequests <= 2
      ? { status: 200, type: 'text/plain', body: `Authorization: ${String(req.headers.authorization)}\nplease try again\n` }
      : undefined,
  );
  let puts = 0;
  s3Proxy = await startProxy(s3Endpoint(), (req) =>
    req.method === 'PUT' && !/[?&]x-id=CreateBucket/.test(req.url ?? '') && (req.url ?? '').split('/').length > 2 && ++puts <= 2
      ? {
          status: 500,
          type: 'application/xml',
          body: `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>We could not handle ${String(req.headers.authorization)} (key ${values.s3KeyId}, secret ${values.s3Secret})</Message><RequestId>leak</RequestId></Error>`,
        }
      : undefined,
  );
  proxies = [tokenProxy, grinProxy, s3Proxy];

  process.env.LEAK_TEST_S3_KEY_ID = values.s3KeyId;
  process.env.LEAK_TEST_S3_SECRET = values.s3Secret;
  env = testEnv(sim, 'leak', {
    grin: { baseUrl: `${grinProxy.url}/libraries` },
    storage: {
      ...testS3Storage({ bucket: `books-leak-${Date.now()}`, endpoint: s3Proxy.url }),
      accessKeyId: { env: 'LEAK_TEST_S3_KEY_ID' },
      secretAccessKey: { env: 'LEAK_TEST_S3_SECRET' },
    },
    // Local files kept after storing: their modes are checked too.
    retentionDays: 1,
    logging: { perStageFiles: true },
  });
  // OAuth through the echoing token endpoint instead of the fixed test token.
  const secretsDir = join(env.dir, 'secrets');
  const clientSecretFile = join(secretsDir, 'client_secret.json');
  const credentialsFile = join(secretsDir, 'credentials.json');
  fs.writeFileSync(clientSecretFile, JSON.stringify({ installed: { client_id: 'leak-client', client_secret: values.clientSecret } }), {
    mode: 0o600,
  });
  fs.writeFileSync(credentialsFile, JSON.stringify({ refresh_token: values.refreshToken }), { mode: 0o600 });
  const grin = env.config.grin as { accessToken?: unknown; credentialsFile?: string; clientSecretFile?: string; tokenUri?: string };
  delete grin.accessToken;
  Object.assign(grin, { credentialsFile, clientSecretFile, tokenUri: `${tokenProxy.url}/token` });

  // The worker's log: JSON lines, every level, per-stage files under the board (logs/request.log ...).
  metricsPort = await freePort();
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      workerLog += chunk.toString('utf8');
      done();
    },
  });
  const logger = createLogger({ level: 'debug', format: 'json', stream, perStageDir: join(env.config.pipelineDir, 'logs') });
  expect(installPipelineRuntime({ logger, metrics: { port: metricsPort, host: '127.0.0.1' } })).toBe(true);
  const storage = createStorage(env.config.storage) as unknown as { createBucketIfMissing(): Promise<void> };
  await storage.createBucketIfMissing();
  workers = await startWorkers(env.config, { logger });
});

afterAll(async () => {
  await workers?.stop();
  for (const p of proxies) await p.close();
  await sim?.close();
  env?.cleanup();
});

/** Every file and folder under `dir` whose mode lets the group or others in. */
function widerThanOwner(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const entry of fs.readdirSync(d, { withFileTypes: true })) {
      const full = join(d, entry.name);
      const mode = fs.lstatSync(full).mode & 0o777;
      if (mode & 0o077) out.push(`${full} ${mode.toString(8)}`);
      if (entry.isDirectory()) walk(full);
    }
  };
  if (fs.existsSync(dir)) {
    const mode = fs.statSync(dir).mode & 0o777;
    if (mode & 0o077) out.push(`${dir} ${mode.toString(8)}`);
    walk(dir);
  }
  return out;
}

test('secrets planted in error pages reach no output: board files, logs, Temporal histories, status, report, metrics', async () => {
  const client = await temporalClient();
  const handle = await startBatch(client, env.config, sim.barcodes, {
    batchId: 'leak',
    window: BOOKS,
    settings: bookSettingsFrom(env.config, { pollIntervalSeconds: 1 }),
  });
  const summary = await handle.result();
  expect(summary).toMatchObject({ stored: BOOKS, failed: 0 });

  // Every planted error path fired.
  expect(tokenProxy.echoed).toHaveLength(2);
  expect(grinProxy.echoed).toHaveLength(2);
  expect(s3Proxy.echoed).toHaveLength(2);
  expect(minted.length).toBeGreaterThan(0);

  const secrets: Secret[] = [
    { name: 'GPG passphrase', match: values.passphrase },
    { name: 'OAuth client secret', match: values.clientSecret },
    { name: 'OAuth refresh token', match: values.refreshToken },
    { name: 'S3 access key id', match: values.s3KeyId },
    { name: 'S3 secret key', match: values.s3Secret },
    ...minted.map((token, i) => ({ name: `access token #${i + 1}`, match: token })),
  ];
  const hits: string[] = [];
  const record = (found: { secret: string; where: string }[]) => hits.push(...found.map((h) => `${h.secret} in ${h.where}`));

  // The board's files: tokens, per-stage logs (logs/request.log ...), batch lists.
  const board = await scanTree(env.config.pipelineDir, secrets);
  record(board.hits);
  expect(fs.existsSync(join(env.config.pipelineDir, 'logs', 'request.log'))).toBe(true);
  // The worker's log.
  record(scanValue(workerLog, 'worker log', secrets));
  // Every Temporal history of this run (books, batch, conversion watcher; every run of each).
  let histories = 0;
  let historyText = '';
  for await (const wf of client.workflow.list({ query: `StartTime > "${startedAt.toISOString()}"` })) {
    if (!wf.workflowId.includes(sim.directory)) continue;
    const history = await client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
    historyText += JSON.stringify(history, (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('utf8') : v));
    record(scanValue(history, `history of ${wf.workflowId} (${wf.runId})`, secrets));
    histories++;
  }
  expect(histories).toBeGreaterThanOrEqual(BOOKS + 1);
  // The CLI: status of every book (text and JSON) and the report.
  const configFile = writeConfigFile(env.dir, env.config);
  for (const barcode of sim.barcodes) {
    for (const args of [
      ['status', barcode],
      ['status', barcode, '--json'],
    ]) {
      const run = await runCli(['-c', configFile, ...args]);
      record(scanValue([run.stdout, run.stderr], `grin-pipeline ${args.join(' ')}`, secrets));
    }
  }
  const report = await runCli(['-c', configFile, 'report', '--format', 'json']);
  expect(report.exitCode).toBe(0);
  record(scanValue([report.stdout, report.stderr], 'grin-pipeline report', secrets));
  // The metrics text.
  const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  expect(metrics).toContain('grin_books_entered');
  record(scanValue(metrics, 'metrics', secrets));

  expect(hits).toEqual([]);
  // The errors did reach the outputs, with the secrets replaced: the echoed Authorization header
  // in the _process failure, and the token endpoint's answer described, not quoted.
  expect(historyText).toContain('Authorization: Bearer [redacted GRIN access token]');
  expect(workerLog).toMatch(/the OAuth token endpoint http:\/\/127\.0\.0\.1:\d+\/token answered HTTP 400 \(text\/html\)/);

  // What the run left is the owner's only: the board (tokens, logs, batch lists) and the processing
  // folder (kept downloads, decrypted archives, extracted pages, derivatives).
  expect(fs.readdirSync(join(env.config.processingDir, 'processed')).length).toBeGreaterThan(0);
  expect([...widerThanOwner(env.config.pipelineDir), ...widerThanOwner(env.config.processingDir)]).toEqual([]);
});
