/**
 * A worker whose GPG passphrase file cannot be read refuses to start, as `check-config` refuses the
 * same config: it exits non-zero with a line naming the setting and the file, and it never polls
 * (every book it took would only wait for the secret).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadConfig } from '../../src/config/load';
import { writeTsHook } from '../support/child-worker';
import { writeConfigFile } from '../support/cli';
import { temporalAddress, temporalClient } from '../support/pipeline';
import { TEST_PATIENCE_MS } from '../support/wait';

jest.setTimeout(TEST_PATIENCE_MS);

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'grin-worker-secrets-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function runWorker(configFile: string | undefined, cwd = resolve(__dirname, '../..')): Promise<{ code: number | null; stderr: string }> {
  const root = resolve(__dirname, '../..');
  const configArgs = configFile === undefined ? [] : ['-c', configFile];
  const child = spawn(process.execPath, ['-r', writeTsHook(dir), join(root, 'src/worker.ts'), ...configArgs, '--host-id', 'secret-check'], {
    cwd,
    env: { ...process.env, GRIN_PIPELINE_CONFIG: '', GRIN_TEST_NO_TOKEN_NEEDED: 'sim-token' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  // A worker that starts anyway (the fault this guards against) is stopped, so the test fails rather than hangs.
  const stop = setTimeout(() => child.kill('SIGKILL'), 120_000);
  return new Promise((done) =>
    child.once('exit', (code) => {
      clearTimeout(stop);
      done({ code, stderr });
    }),
  );
}

test('a worker with an unreadable passphrase file exits with a line naming it, and never polls', async () => {
  const missing = join(dir, 'no-such-passphrase.txt');
  const queue = `wf-secret-check-${Date.now().toString(36)}`;
  const config = loadConfig({
    env: {},
    overrides: {
      pipelineDir: join(dir, 'pipeline'),
      processingDir: join(dir, 'processing'),
      temporal: {
        address: temporalAddress(),
        workflowTaskQueue: queue,
        grinTaskQueue: `${queue}-grin`,
        fileTaskQueuePrefix: `${queue}-files`,
      },
      grin: { directory: 'SECRETS', gpgPassphrase: { file: missing }, accessToken: { env: 'GRIN_TEST_NO_TOKEN_NEEDED' } },
      storage: { kind: 'local', path: join(dir, 'storage') },
    },
  });
  const run = await runWorker(writeConfigFile(dir, config));
  expect(run.code).toBe(2);
  expect(run.stderr).toContain(
    `grin-pipeline worker: not starting: passphrase: Cannot read the GPG passphrase (grin.gpgPassphrase) from file ${missing}: it does not exist.`,
  );
  expect(run.stderr).toMatch(/check-config/);

  // It never polled: Temporal has seen no poller on any of its queues.
  const client = await temporalClient();
  for (const name of [queue, `${queue}-grin`]) {
    const described = await client.workflowService.describeTaskQueue({ namespace: 'default', taskQueue: { name }, taskQueueType: 1 });
    expect(described.pollers ?? []).toEqual([]);
    const activities = await client.workflowService.describeTaskQueue({ namespace: 'default', taskQueue: { name }, taskQueueType: 2 });
    expect(activities.pollers ?? []).toEqual([]);
  }
});

test('a worker given no config refuses with one error line and creates no board', async () => {
  const cwd = mkdtempSync(join(dir, 'no-config-'));
  const run = await runWorker(undefined, cwd);
  expect(run.code).toBe(2);
  expect(run.stderr.trim().split('\n')).toEqual([
    expect.stringMatching(/^error: no config: no -c FILE given and \$GRIN_PIPELINE_CONFIG is not set/),
  ]);
  expect(readdirSync(cwd)).toEqual([]);
});
