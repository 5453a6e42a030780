/** One retry layer for S3: the worker's storage makes one attempt per request (Temporal retries); the CLI's keeps the SDK's. */
import { loadConfig } from '../../src/config/load';
import { storageFrom } from '../../src/service-clients';
import { S3Storage } from '../../src/storage';

const config = loadConfig({
  env: {},
  overrides: { storage: { kind: 's3', bucket: 'b', region: 'us-east-1', endpoint: 'http://127.0.0.1:1' } },
});

async function attempts(storage: unknown): Promise<{ client: number; transfers: number }> {
  expect(storage).toBeInstanceOf(S3Storage);
  const s3 = storage as S3Storage;
  return { client: await s3.client.config.maxAttempts(), transfers: await s3.transferClient.config.maxAttempts() };
}

test('storage for activities: every S3 request is one attempt', async () => {
  expect(await attempts(storageFrom(config, 'activities'))).toEqual({ client: 1, transfers: 1 });
});

test('storage for a CLI command: the SDK retries requests without a streamed body (its default 3 attempts)', async () => {
  expect(await attempts(storageFrom(config, 'cli'))).toEqual({ client: 3, transfers: 1 });
});
