/**
 * `check-config`: is this config ready to run a migration? Offline, it reads every secret the
 * workers will need (the passphrase, GRIN credentials, Temporal TLS files and API key, S3 keys), so a missing file is found now and
 * not when the first book gets there. With `--connect` it also talks to each service once: Temporal
 * (connect, describe the namespace), GRIN (one authenticated listing), the storage (put, read back
 * and delete a probe object) and, given an archive, the passphrase (decrypt its first block).
 * One line per part; no line ever holds a secret.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { readSecret } from '../config/secrets';
import type { PipelineConfig } from '../config/types';
import { createTokenSource, OAuthTokenSource } from '../grin/auth';
import { grinClientFrom, storageFrom } from '../service-clients';
import { S3Storage } from '../storage/s3';
import { LocalStorage } from '../storage/local';
import { temporalConnectionOptions, tlsEnabled } from '../temporal-connection';
import { connectClient } from './common';

export interface CheckLine {
  part: string;
  /** A warning does not change the exit code: it names a problem that has not happened yet. */
  outcome: 'ok' | 'failed' | 'not checked' | 'warning';
  text: string;
}

/** Errors can carry several lines (a hint below the cause); a check line shows the first. */
function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0].trim();
}

async function check(part: string, run: () => Promise<string>): Promise<CheckLine> {
  try {
    return { part, outcome: 'ok', text: await run() };
  } catch (err) {
    return { part, outcome: err instanceof RefreshTokenWarning ? 'warning' : 'failed', text: firstLine(err) };
  }
}

/** Secrets the workers read: each must be readable now (exit code 2 when one is not). */
export async function checkSecrets(config: PipelineConfig): Promise<CheckLine[]> {
  const lines = [
    await check('passphrase', async () => {
      readSecret(config.grin.gpgPassphrase, 'GPG passphrase (grin.gpgPassphrase)');
      return 'GPG passphrase readable (not yet tried on an archive)';
    }),
    await check('GRIN credentials', async () => {
      // Reads the access token, or the OAuth client and credentials files, without calling Google.
      const tokens = await createTokenSource(config.grin);
      if (config.grin.accessToken) await tokens.getAccessToken();
      return config.grin.accessToken ? 'fixed access token readable' : 'OAuth client and credentials files readable';
    }),
  ];
  if (tlsEnabled(config.temporal)) {
    lines.push(
      await check('Temporal TLS', async () => {
        // Reads the CA, client certificate and key files and the API key, as connecting will.
        temporalConnectionOptions(config.temporal);
        return `TLS files${config.temporal.apiKey ? ' and API key' : ''} readable`;
      }),
    );
  }
  const storage = config.storage;
  if (storage.kind === 's3' && storage.accessKeyId && storage.secretAccessKey) {
    const { accessKeyId, secretAccessKey } = storage;
    lines.push(
      await check('S3 keys', async () => {
        readSecret(accessKeyId, 'S3 access key id (storage.accessKeyId)');
        readSecret(secretAccessKey, 'S3 secret access key (storage.secretAccessKey)');
        return 'access key id and secret readable';
      }),
    );
  }
  return lines;
}

/** A probe key no book can have (barcodes have no dots), unique per run so runs never collide. */
function probeKey(): string {
  return `_grin-pipeline-check/${hostname().replace(/[^A-Za-z0-9_-]/g, '_')}.${Date.now()}.${randomBytes(4).toString('hex')}.probe`;
}

async function checkStorage(config: PipelineConfig): Promise<string> {
  const storage = storageFrom(config, 'cli');
  const key = probeKey();
  const body = `grin-pipeline check-config probe ${new Date().toISOString()}`;
  await storage.putBytes(body, key);
  const back = (await storage.getBytes(key)).toString('utf8');
  if (storage instanceof S3Storage || storage instanceof LocalStorage) await storage.delete(key);
  if (back !== body) throw new Error(`${storage.location}: the probe object read back differs from what was written`);
  return `${storage.location}: probe object written, read back and deleted`;
}

async function checkTemporal(config: PipelineConfig): Promise<string> {
  const client = await connectClient(config);
  try {
    const { namespaceInfo } = await client.workflowService.describeNamespace({ namespace: config.temporal.namespace });
    return `${config.temporal.address}: connected, namespace ${namespaceInfo?.name ?? config.temporal.namespace} ${namespaceInfo?.state === 1 ? 'registered' : 'found'}`;
  } catch (err) {
    throw new Error(`${config.temporal.address}, namespace ${config.temporal.namespace}: ${firstLine(err)}`);
  } finally {
    await client.connection.close();
  }
}

async function checkGrin(config: PipelineConfig): Promise<string> {
  // No retries: a check says at once what is wrong.
  const grin = await grinClientFrom(config);
  const inProcess = await grin.listInProcess();
  return `${config.grin.baseUrl}, directory ${config.grin.directory}: authenticated listing answered (${inProcess.length} books in process)`;
}

/** Warn when the refresh token lives less than this: a migration runs for weeks. */
const REFRESH_TOKEN_WARN_DAYS = 30;

/**
 * The OAuth refresh token's own expiry, when Google's token answer gives one
 * (`refresh_token_expires_in`). A client whose consent screen is in "Testing" publishing status gets
 * refresh tokens that expire 7 days after `auth setup`: every GRIN call then fails, a week into a
 * migration of months (docs/operations.md, "GRIN credentials").
 */
async function checkRefreshToken(config: PipelineConfig): Promise<CheckLine> {
  const part = 'refresh token';
  if (config.grin.accessToken)
    return { part, outcome: 'not checked', text: 'a fixed access token is configured (grin.accessToken), no refresh token' };
  return check(part, async () => {
    const tokens = await createTokenSource(config.grin);
    if (!(tokens instanceof OAuthTokenSource)) return 'no refresh token';
    await tokens.refresh();
    const expiresAt = tokens.refreshTokenExpiresAt;
    if (expiresAt === undefined) return 'the token endpoint gives the refresh token no expiry';
    const days = (expiresAt - Date.now()) / 86_400_000;
    const when = `expires in ${days.toFixed(1)} days (${new Date(expiresAt).toISOString().slice(0, 16)}Z)`;
    if (days >= REFRESH_TOKEN_WARN_DAYS) return `the refresh token ${when}`;
    throw new RefreshTokenWarning(
      `the refresh token ${when}; a client in "Testing" publishing status gets 7-day refresh tokens: set the OAuth consent screen to "In production", then run \`grin-pipeline auth setup\` again`,
    );
  });
}

class RefreshTokenWarning extends Error {}

async function checkPassphraseOn(config: PipelineConfig, archive: string): Promise<string> {
  const { openDecryptedStream } = await import('../archive/decrypt');
  const passphrase = readSecret(config.grin.gpgPassphrase, 'GPG passphrase (grin.gpgPassphrase)');
  const decrypted = await openDecryptedStream(archive, passphrase, { thread: 'main' });
  // The first chunk of plaintext is proof enough; the rest of the archive is not read.
  await new Promise<void>((resolve, reject) => {
    decrypted.stream.once('data', () => resolve());
    decrypted.stream.once('end', () => resolve());
    decrypted.stream.once('error', reject);
  });
  decrypted.stream.destroy();
  return `the passphrase decrypts the first block of ${archive}`;
}

export interface ConnectOptions {
  /** An encrypted archive (BARCODE.tar.gz.gpg) to try the passphrase on. */
  archive?: string;
}

/** Each service once, in the order a book meets them. */
export async function checkConnections(config: PipelineConfig, opts: ConnectOptions = {}): Promise<CheckLine[]> {
  return [
    await check('Temporal', () => checkTemporal(config)),
    await check('GRIN', () => checkGrin(config)),
    await checkRefreshToken(config),
    await check('storage', () => checkStorage(config)),
    opts.archive === undefined
      ? { part: 'decryption', outcome: 'not checked', text: 'passphrase not tried on an archive (give one with --archive FILE)' }
      : await check('decryption', () => checkPassphraseOn(config, opts.archive!)),
  ];
}

export function formatCheckLine(line: CheckLine): string {
  const mark = { ok: 'ok', failed: 'FAILED', 'not checked': 'skipped', warning: 'WARNING' }[line.outcome];
  return `${mark.padEnd(8)}${line.part.padEnd(18)}${line.text}`;
}
