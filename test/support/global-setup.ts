/**
 * Starts the real servers the integration tests need (Temporal dev server, moto S3) once per run and
 * publishes their addresses through environment variables. Runs that select only unit tests
 * (`jest test/unit`) skip this.
 */
import { startS3Server, startTemporalDevServer, type RunningServer } from '../../devkit/devtools/servers';
import { ensureTemporalTestServer } from '../../devkit/devtools/tools';

declare global {
  var __GRIN_TEST_SERVERS__: RunningServer[] | undefined;
}

export default async function globalSetup(globalConfig: { testPathPattern?: string }): Promise<void> {
  // The project runs on Node 20 by choice; the AWS SDK's notice about its future Node 22 floor would
  // otherwise repeat in every test file's output (README notes it once).
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const pattern = globalConfig.testPathPattern ?? '';
  // jest joins the paths given on its command line with '|': skip only when every one is a unit test path.
  const onlyUnit = pattern !== '' && pattern.split('|').every((p) => /(^|\/)test\/unit/.test(p));
  if (process.env.GRIN_TEST_NO_SERVERS === '1' || onlyUnit) return;
  const log = (line: string) => process.stderr.write(`[test setup] ${line}\n`);
  const logDir = `${process.cwd()}/tmp/test-servers`;
  // The time-skipping test server (test/workflow/book-decisions.test.ts): fetched here on a fresh
  // machine, so that no test's own time limit includes the download. Without Java or Maven only
  // that file fails (it asks again and reports why); the rest of the suite runs.
  try {
    ensureTemporalTestServer({ log });
  } catch (err) {
    log(`the time-skipping test server is not available: ${err instanceof Error ? err.message : String(err)}`);
  }
  const [temporal, s3] = await Promise.all([
    startTemporalDevServer({ headless: true, log, logFile: `${logDir}/temporal.log` }),
    startS3Server({ log, logFile: `${logDir}/s3.log` }),
  ]);
  process.env.GRIN_TEST_TEMPORAL_ADDRESS = temporal.address;
  process.env.GRIN_TEST_S3_ENDPOINT = s3.address;
  globalThis.__GRIN_TEST_SERVERS__ = [temporal, s3];
}
