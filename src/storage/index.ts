/** Builds the configured storage (local folder or S3-compatible bucket). */
import type { StorageConfig } from '../config/types';
import { readSecret } from '../config/secrets';
import { LocalStorage } from './local';
import { S3Storage, type S3Credentials } from './s3';
import type { BookStorage } from './types';
import { StorageConfigError } from './errors';

export { LocalStorage } from './local';
export { S3Storage, S3StorageError, isRetryableStorageError, type S3StorageOptions } from './s3';
export { storageKey, assertSafeKey, type ArtifactKind } from './layout';
export { choosePartSize, MULTIPART_THRESHOLD } from './part-size';
export type { BookStorage, StoredObject, UploadCheckpoint, PutOptions } from './types';

export const DEFAULT_PARTS_IN_FLIGHT = 4;

export function createStorage(
  config: StorageConfig,
  opts: { partsInFlight?: number; env?: NodeJS.ProcessEnv; sdkRetries?: boolean } = {},
): BookStorage {
  if (config.kind === 'local') return new LocalStorage(config.path);
  return new S3Storage({
    bucket: config.bucket,
    prefix: config.prefix,
    region: config.region,
    endpoint: config.endpoint,
    forcePathStyle: config.forcePathStyle,
    checksums: config.checksums,
    credentials: explicitCredentials(config, opts.env ?? process.env),
    partsInFlight: opts.partsInFlight ?? DEFAULT_PARTS_IN_FLIGHT,
    sdkRetries: opts.sdkRetries,
  });
}

/** Both keys, or neither (then the AWS SDK's default provider chain: env, profile, instance role...). */
function explicitCredentials(config: Extract<StorageConfig, { kind: 's3' }>, env: NodeJS.ProcessEnv): S3Credentials | undefined {
  const { accessKeyId, secretAccessKey } = config;
  if (!accessKeyId && !secretAccessKey) return undefined;
  if (!accessKeyId || !secretAccessKey) {
    throw new StorageConfigError(
      `storage.${accessKeyId ? 'secretAccessKey' : 'accessKeyId'} is missing: set both S3 keys, or neither to use the AWS SDK's default credentials`,
    );
  }
  return {
    accessKeyId: readSecret(accessKeyId, 'S3 access key id', env),
    secretAccessKey: readSecret(secretAccessKey, 'S3 secret access key', env),
  };
}
