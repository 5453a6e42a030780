/**
 * A real worker process for one host's file stages (its own queue, and the shared file queue where
 * a host takes a book by downloading it), for tests that kill it (`kill -9`, or the
 * GRIN_PIPELINE_KILL_AT switch): `node -r <ts hook> test/support/file-host-worker.ts
 * <config.json> <host-id>`. Prints `ready` once polling. With KILL_TEST_UPLOAD_LOG set, every archive
 * upload it starts is logged (JSON lines) with whether storage already held that very archive, so a
 * test can prove nothing is uploaded twice.
 */
import { appendFileSync, readFileSync, statSync } from 'node:fs';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createFileActivities, createFileHostActivities } from '../../src/activities';
import type { PipelineConfig } from '../../src/config/types';
import { storageFrom } from '../../src/service-clients';
import type { BookStorage } from '../../src/storage/types';
import { killSwitchFromEnv } from './kill-switch';
import { activityInterceptors, buildActivityDeps, hostQueueName, installQuietRuntime, sharedFileQueueName } from '../../src/worker';

export interface UploadLogLine {
  key: string;
  resumed: boolean;
  /** Storage already held an object with this GRIN ETag and size when the upload started. */
  alreadyStored: boolean;
}

function recordingUploads(storage: BookStorage, logFile: string): BookStorage {
  return {
    location: storage.location,
    identity: storage.identity,
    readDigest: (key, opts) => storage.readDigest(key, opts),
    delete: (key) => storage.delete(key),
    head: (key) => storage.head(key),
    putBytes: (data, key, opts) => storage.putBytes(data, key, opts),
    getBytes: (key) => storage.getBytes(key),
    abortUpload: (cp) => storage.abortUpload(cp),
    async putFile(path, key, opts = {}) {
      if (opts.metadata?.grin_etag !== undefined) {
        const existing = await storage.head(key);
        const line: UploadLogLine = {
          key,
          resumed: !!opts.resumeFrom,
          alreadyStored: !!existing && existing.metadata.grin_etag === opts.metadata.grin_etag && existing.size === statSync(path).size,
        };
        appendFileSync(logFile, `${JSON.stringify(line)}\n`);
      }
      return storage.putFile(path, key, opts);
    },
  };
}

async function main(): Promise<void> {
  const [configFile, hostId] = process.argv.slice(2);
  const config = JSON.parse(readFileSync(configFile, 'utf8')) as PipelineConfig;
  installQuietRuntime('ERROR');
  const hostQueue = hostQueueName(config, hostId);
  const logFile = process.env.KILL_TEST_UPLOAD_LOG;
  const storage = logFile ? recordingUploads(storageFrom(config, 'activities'), logFile) : undefined;
  const deps = await buildActivityDeps(config, hostQueue, { storage, crashPoint: killSwitchFromEnv() });
  const connection = await NativeConnection.connect({ address: config.temporal.address });
  // The test machine's real disk usage is not what these tests are about.
  const download = { diskUsage: async () => 0.1 };
  const interceptors = activityInterceptors(deps);
  const workers = await Promise.all([
    Worker.create({
      connection,
      namespace: config.temporal.namespace,
      interceptors,
      taskQueue: hostQueue,
      activities: createFileActivities(deps, { download }),
      maxConcurrentActivityTaskExecutions: config.concurrency.fileActivities,
    }),
    Worker.create({
      connection,
      namespace: config.temporal.namespace,
      interceptors,
      taskQueue: sharedFileQueueName(config),
      activities: createFileHostActivities(deps, { download }),
      maxConcurrentActivityTaskExecutions: config.concurrency.fileActivities,
    }),
  ]);
  process.once('SIGTERM', () => workers.forEach((w) => w.shutdown()));
  const running = Promise.all(workers.map((w) => w.run()));
  process.stdout.write('ready\n');
  await running;
  await connection.close();
}

main().catch((err: unknown) => {
  process.stderr.write(`file-host-worker: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
