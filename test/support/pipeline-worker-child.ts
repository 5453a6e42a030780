/**
 * The pipeline's whole worker set (`createPipelineWorkers`, as `npm run worker` runs it) as a real
 * child process, for tests that kill it with SIGKILL (GRIN_PIPELINE_KILL_AT) or start a second one:
 * `node -r <ts hook> test/support/pipeline-worker-child.ts <config.json> <host-id> <workflow-bundle.js>`.
 * The workflow bundle is built once by the test and read from a file (bundling at every restart
 * would take longer than the test). Prints `ready` once polling; a refusal to start is printed as
 * one `error: ` line on stderr and exits with the error's exit code, as `src/worker.ts` does.
 */
import { readFileSync } from 'node:fs';
import type { PipelineConfig } from '../../src/config/types';
import { createPipelineWorkers, installQuietRuntime } from '../../src/worker';
import { killSwitchFromEnv } from './kill-switch';

async function main(): Promise<void> {
  const [configFile, hostId, bundleFile] = process.argv.slice(2);
  const config = JSON.parse(readFileSync(configFile, 'utf8')) as PipelineConfig;
  installQuietRuntime('ERROR');
  const workers = await createPipelineWorkers(config, {
    hostId,
    workflowBundle: { code: readFileSync(bundleFile, 'utf8') },
    batchNotices: { delayMs: 0 },
    // The test machine's real disk usage is not what these tests are about.
    download: { diskUsage: async () => 0.1 },
    crashPoint: killSwitchFromEnv(),
  });
  process.once('SIGTERM', () => workers.shutdown());
  const running = workers.run();
  process.stdout.write('ready\n');
  await running;
}

main().catch((err: unknown) => {
  process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit((err as { exitCode?: number }).exitCode ?? 1);
});
