/**
 * The board across hosts (issue 22, board-identity.ts), with a real Temporal server and real worker
 * processes: two workers of one pipeline (the same task queues) on two different board folders.
 * The second is refused at start with one `error:` line naming the first host and both boards; a
 * worker on the first one's board folder starts beside it.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { NativeConnection } from '@temporalio/worker';
import { pollersOf } from '../../src/host-identity';
import { installQuietRuntime } from '../../src/worker';
import type { RunningSimulator } from '../../devkit/simulator';
import { superviseFileHostWorker, type SupervisedWorker } from '../support/child-worker';
import { startTestSimulator, startWorkers, temporalAddress, testEnv, workflowBundle, type TestEnv } from '../support/pipeline';
import { PATIENCE_MS, TEST_PATIENCE_MS, waitUntil } from '../support/wait';

jest.setTimeout(TEST_PATIENCE_MS);

const CHILD_SCRIPT = resolve(__dirname, '../support/pipeline-worker-child.ts');
let sim: RunningSimulator;
let env: TestEnv;
let first: SupervisedWorker | undefined;

beforeAll(async () => {
  sim = await startTestSimulator('boards', { books: 1, seed: 22, initialState: 'all-available' });
  env = testEnv(sim, 'boards');
});
afterAll(async () => {
  await first?.stop();
  await sim?.close();
  env?.cleanup();
});

test("a worker whose board folder is not the other live workers' is refused; one on the same board starts", async () => {
  const dir = join(env.dir, 'child');
  mkdirSync(dir, { recursive: true });
  const bundleFile = join(dir, 'workflows.js');
  writeFileSync(bundleFile, (await workflowBundle()).code);
  first = superviseFileHostWorker({ config: env.config, hostId: 'host-a', dir, script: CHILD_SCRIPT, args: [bundleFile] });
  installQuietRuntime('ERROR'); // before the first native connection installs the default runtime
  const connection = await NativeConnection.connect({ address: temporalAddress() });
  try {
    // Host A polls the workflow queue with its board's id.
    let identityA = '';
    await waitUntil(
      async () => {
        const pollers = await pollersOf(connection, env.config.temporal.namespace, [
          { name: env.config.temporal.workflowTaskQueue, type: 'workflow', host: false },
        ]);
        identityA = pollers.find((p) => p.identity.startsWith('grin-pipeline host=host-a '))?.identity ?? '';
        return identityA !== '';
      },
      PATIENCE_MS,
      'host A polling the workflow queue',
    );
    const boardA = readFileSync(join(env.config.pipelineDir, 'meta/board-id'), 'utf8').trim();
    expect(identityA).toContain(` board=${boardA}`);

    // Host B: the same pipeline (queues), but its own board folder (as when the shared mount is missing).
    const boardDirB = join(env.dir, 'board-b');
    const configB = join(dir, 'config-b.json');
    writeFileSync(configB, JSON.stringify({ ...env.config, pipelineDir: boardDirB, processingDir: join(env.dir, 'processing-b') }));
    const second = spawn(process.execPath, ['-r', join(dir, 'ts-hook.cjs'), CHILD_SCRIPT, configB, 'host-b', bundleFile], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    second.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    second.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((done) => second.once('exit', done));
    expect(stdout).not.toContain('ready');
    expect(code).toBe(2);
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    const boardB = readFileSync(join(boardDirB, 'meta/board-id'), 'utf8').trim();
    expect(boardB).not.toBe(boardA);
    expect(lines[0]).toMatch(/^error: /);
    expect(lines[0]).toContain(`board ${boardDirB} (id ${boardB})`);
    expect(lines[0]).toContain(`host "host-a" (id ${boardA}`);

    // Host C mounts host A's board (the same folder, its own processing folder): it starts.
    const hostC = await startWorkers({ ...env.config, processingDir: join(env.dir, 'processing-c') }, { hostId: 'host-c', connection });
    await hostC.stop();
  } finally {
    await connection.close();
  }
});
