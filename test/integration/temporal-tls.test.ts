/**
 * Temporal over mTLS for real: a TLS terminator (node:tls, client certificates required) in front of
 * the dev server, with a CA, server and client certificates made here by openssl. The pipeline's
 * own connection helpers (worker and CLI) store a book through it with the right settings; a
 * missing, untrusted or mismatched certificate gives one line that names the setting to fix.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBatch } from '../../src/cli/batch';
import { bookSettingsFrom, connectClient } from '../../src/cli/common';
import type { PipelineConfig, TemporalConfig } from '../../src/config/types';
import type { RunningSimulator } from '../../devkit/simulator';
import { connectTemporal, connectTemporalWorker, TemporalConnectError } from '../../src/temporal-connection';
import { startTestSimulator, startWorkers, temporalAddress, testEnv, type RunningWorkers, type TestEnv } from '../support/pipeline';
import { makePki, startTlsTerminator, type Pki, type Terminator } from '../support/tls';

jest.setTimeout(600_000);

const SERVER_NAME = 'temporal.test';
let dir: string;
let pki: Pki;
let terminator: Terminator;
let sim: RunningSimulator;
let env: TestEnv;
let workers: RunningWorkers | undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'grin-tls-'));
  pki = makePki(dir, SERVER_NAME);
  terminator = await startTlsTerminator(pki, temporalAddress());
  sim = await startTestSimulator('tls', {
    books: 2,
    seed: 21,
    initialState: 'all-available',
    conversionDelaySeconds: 1,
    pages: { min: 1, max: 2 },
    pageImageBytes: 4096,
  });
  writeFileSync(join(dir, 'api-key'), 'test-api-key-value\n', { mode: 0o600 });
  env = testEnv(sim, 'tls', {
    temporal: {
      address: terminator.address,
      tls: { serverCaFile: pki.caFile, clientCertFile: pki.clientCertFile, clientKeyFile: pki.clientKeyFile, serverName: SERVER_NAME },
      apiKey: { file: join(dir, 'api-key') },
    },
  });
});

afterAll(async () => {
  await workers?.stop();
  await sim?.close();
  await terminator?.close();
  env?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

function temporalWith(tls: TemporalConfig['tls'], extra: Partial<TemporalConfig> = {}): TemporalConfig {
  return { ...env.config.temporal, apiKey: undefined, tls, ...extra };
}

async function connectFailure(temporal: TemporalConfig, side: 'client' | 'worker'): Promise<TemporalConnectError> {
  const attempt = side === 'client' ? connectTemporal(temporal) : connectTemporalWorker(temporal);
  const result = await attempt.then(
    async (connection) => {
      await connection.close();
      return undefined;
    },
    (err: unknown) => err,
  );
  expect(result).toBeInstanceOf(TemporalConnectError);
  const error = result as TemporalConnectError;
  expect(error.message.split('\n')).toHaveLength(1);
  return error;
}

test('worker and CLI connect through mTLS with the right CA and client certificate, and a book is stored', async () => {
  const config: PipelineConfig = env.config;
  workers = await startWorkers(config);
  const client = await connectClient(config);
  try {
    const { namespaceInfo } = await client.workflowService.describeNamespace({ namespace: config.temporal.namespace });
    expect(namespaceInfo?.name).toBe('default');
    const batch = await startBatch(client, config, [sim.barcodes[0]], {
      batchId: 'over-tls',
      settings: bookSettingsFrom(config, { pollIntervalSeconds: 1 }),
    });
    expect(await batch.result()).toMatchObject({ total: 1, stored: 1 });
  } finally {
    await client.connection.close();
    await workers.stop();
    workers = undefined;
  }
});

test.each(['client', 'worker'] as const)('%s: no client certificate -> one line naming temporal.tls.clientCertFile', async (side) => {
  const refusedBefore = terminator.refused;
  const error = await connectFailure(temporalWith({ serverCaFile: pki.caFile, serverName: SERVER_NAME }), side);
  expect(error.message).toContain(`Cannot connect to Temporal at ${terminator.address} over TLS`);
  expect(error.message).toContain('temporal.tls.clientCertFile');
  expect(terminator.refused).toBeGreaterThan(refusedBefore);
});

test.each(['client', 'worker'] as const)(
  '%s: a client certificate from another CA -> one line naming temporal.tls.clientCertFile',
  async (side) => {
    const error = await connectFailure(
      temporalWith({
        serverCaFile: pki.caFile,
        serverName: SERVER_NAME,
        clientCertFile: pki.strangerCertFile,
        clientKeyFile: pki.strangerKeyFile,
      }),
      side,
    );
    expect(error.message).toContain('temporal.tls.clientCertFile');
    expect(error.message).not.toContain('PRIVATE KEY');
  },
);

test.each(['client', 'worker'] as const)(
  "%s: a CA that did not sign the server's certificate -> one line naming temporal.tls.serverCaFile",
  async (side) => {
    const error = await connectFailure(
      temporalWith({
        serverCaFile: pki.strangerCaFile,
        serverName: SERVER_NAME,
        clientCertFile: pki.clientCertFile,
        clientKeyFile: pki.clientKeyFile,
      }),
      side,
    );
    expect(error.message).toContain('temporal.tls.serverCaFile');
  },
);

test('worker: a server name the certificate was not issued for -> one line naming temporal.tls.serverName', async () => {
  const error = await connectFailure(
    temporalWith({
      serverCaFile: pki.caFile,
      serverName: 'not-the-server.test',
      clientCertFile: pki.clientCertFile,
      clientKeyFile: pki.clientKeyFile,
    }),
    'worker',
  );
  expect(error.message).toContain('temporal.tls.serverName');
});

test('plaintext to the TLS port fails with a hint to set temporal.tls', async () => {
  const error = await connectFailure(temporalWith(undefined), 'client');
  expect(error.message).toContain('without TLS');
  expect(error.message).toContain('set temporal.tls');
});

test('an unreadable certificate file is a setting error naming the key', async () => {
  await expect(connectTemporal(temporalWith({ clientCertFile: join(dir, 'nope.pem'), clientKeyFile: pki.clientKeyFile }))).rejects.toThrow(
    `temporal.tls.clientCertFile: cannot read ${join(dir, 'nope.pem')}: it does not exist.`,
  );
});
