/**
 * `check-config --connect` and the OAuth "Testing" trap: Google gives a client whose consent screen
 * is in "Testing" publishing status refresh tokens that expire after 7 days, and says how long one has
 * left in its token answer (`refresh_token_expires_in`). The simulator's token endpoint answers so for
 * a client given a refresh-token lifetime. A short-lived refresh token is a WARNING line (exit code
 * unchanged: nothing has failed yet); one without an expiry is ok; a fixed access token has none.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PipelineConfig } from '../../src/config/types';
import type { RunningSimulator } from '../../devkit/simulator';
import { S3Storage } from '../../src/storage/s3';
import { runCli, writeConfigFile } from '../support/cli';
import { startTestSimulator, testEnv, testS3Storage, type TestEnv } from '../support/pipeline';

jest.setTimeout(300_000);

const WEEK = 7 * 86_400;
const testing = {
  clientId: 'testing-client',
  clientSecret: 'testing-client-secret-value',
  refreshToken: 'testing-refresh-token-value',
  refreshTokenLifetimeSeconds: WEEK,
};
const production = {
  clientId: 'production-client',
  clientSecret: 'production-client-secret-value',
  refreshToken: 'production-refresh-token-value',
};
const bucket = `check-oauth-${randomBytes(4).toString('hex')}`;
let sim: RunningSimulator;
let env: TestEnv;

beforeAll(async () => {
  sim = await startTestSimulator('check-oauth', {
    books: 1,
    barcodes: ['OAU001'],
    pages: { min: 1, max: 1 },
    pageImageBytes: 1024,
    oauthClients: [testing, production],
  });
  env = testEnv(sim, 'check-oauth', { storage: testS3Storage({ bucket }) });
  const s3 = env.config.storage as Extract<PipelineConfig['storage'], { kind: 's3' }>;
  await new S3Storage({ ...s3, credentials: { accessKeyId: 'test', secretAccessKey: 'test' }, partsInFlight: 1 }).createBucketIfMissing();
});

afterAll(async () => {
  await sim?.close();
  env?.cleanup();
});

/** The test's config with OAuth files for `client` instead of the fixed access token. */
function oauthConfig(client: { clientId: string; clientSecret: string; refreshToken: string }): string {
  const clientSecretFile = join(env.dir, `${client.clientId}.client.json`);
  const credentialsFile = join(env.dir, `${client.clientId}.credentials.json`);
  writeFileSync(clientSecretFile, JSON.stringify({ installed: { client_id: client.clientId, client_secret: client.clientSecret } }), {
    mode: 0o600,
  });
  writeFileSync(credentialsFile, JSON.stringify({ refresh_token: client.refreshToken }), { mode: 0o600 });
  const config = structuredClone(env.config);
  delete config.grin.accessToken;
  config.grin = { ...config.grin, clientSecretFile, credentialsFile, tokenUri: sim.tokenUri };
  return writeConfigFile(env.dir, config, `${client.clientId}.yaml`);
}

function lineFor(stdout: string, part: string): string {
  const line = stdout.split('\n').find((l) => new RegExp(`^\\S+ +${part} {2,}`).test(l));
  if (!line) throw new Error(`no "${part}" line in:\n${stdout}`);
  return line;
}

test('a refresh token that expires within days is a warning naming the "Testing" trap and what to do; the exit code stays 0', async () => {
  const run = await runCli(['-c', oauthConfig(testing), 'check-config', '--connect']);
  expect(lineFor(run.stdout, 'GRIN')).toMatch(/^ok +GRIN +.*authenticated listing answered/);
  const line = lineFor(run.stdout, 'refresh token');
  expect(line).toMatch(
    /^WARNING +refresh token +the refresh token expires in (6\.9|7\.0) days \(\d{4}-\d\d-\d\dT\d\d:\d\dZ\); a client in "Testing" publishing status/,
  );
  expect(line).toContain('"In production"');
  expect(line).toContain('grin-pipeline auth setup');
  expect(run.exitCode).toBe(0);
  expect(run.stdout + run.stderr).not.toContain(testing.refreshToken);
});

test('a refresh token without an expiry is ok', async () => {
  const run = await runCli(['-c', oauthConfig(production), 'check-config', '--connect']);
  expect(lineFor(run.stdout, 'refresh token')).toMatch(/^ok +refresh token +the token endpoint gives the refresh token no expiry/);
  expect(run.exitCode).toBe(0);
});

test('with a fixed access token there is no refresh token to check', async () => {
  const config = writeConfigFile(env.dir, env.config, 'fixed.yaml');
  const run = await runCli(['-c', config, 'check-config', '--connect']);
  expect(lineFor(run.stdout, 'refresh token')).toMatch(/^skipped +refresh token +a fixed access token is configured/);
  expect(run.exitCode).toBe(0);
});
