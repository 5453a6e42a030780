/**
 * Reading secrets (GPG passphrase, access tokens, S3 keys) from the file or environment variable a
 * SecretRef names. Error messages say which secret and where it was looked for, and never contain
 * any part of the secret. Every value read is registered with the scrubber (common/secret-values.ts),
 * so it is replaced wherever it turns up later (an error page echoing it, a library's message).
 */
import * as fs from 'node:fs';
import { PipelineError } from '../common/errors';
import { registerSecret } from '../common/secret-values';
import type { SecretRef } from './types';

/**
 * A secret that cannot be read. Inside the pipeline it hits every book at once and an operator's fix
 * (the file, the variable) is read at the next attempt, so it is transient: books wait, they do not park.
 */
export class SecretError extends PipelineError {
  /** Same exit code as a configuration error: the operator has to fix a setting. */
  readonly exitCode = 2;
  constructor(message: string, what = 'secret') {
    super(message, { retryable: true, waitingFor: `the ${what} to be readable (fix its file or environment variable)` });
  }
}

/** Where a secret comes from, for summaries and messages: `file /etc/x` or `environment variable X`. */
export function describeSecretRef(ref: SecretRef | undefined): string {
  if (!ref) return 'not set';
  if (ref.file !== undefined) return `file ${ref.file}`;
  if (ref.env !== undefined) return `environment variable ${ref.env}`;
  return 'nowhere (neither file nor env given)';
}

/**
 * Returns the secret named by `ref`. `what` names it for messages, e.g. "GPG passphrase".
 * A file's trailing line breaks are dropped (editors add one); other whitespace is kept.
 */
export function readSecret(ref: SecretRef, what: string, env: NodeJS.ProcessEnv = process.env): string {
  const hasFile = ref.file !== undefined;
  const hasEnv = ref.env !== undefined;
  if (hasFile === hasEnv) {
    throw new SecretError(`The ${what} setting must name exactly one source: {file: <path>} or {env: <VARIABLE>}.`, what);
  }
  const secret = hasFile ? readSecretFile(ref.file as string, what) : readSecretEnv(ref.env as string, what, env);
  // Known by value from now on: every output of this process has it replaced (common/secret-values.ts).
  registerSecret(secret, what);
  return secret;
}

function readSecretFile(file: string, what: string): string {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT'
        ? 'it does not exist'
        : code === 'EACCES' || code === 'EPERM'
          ? 'permission denied'
          : code === 'EISDIR'
            ? 'it is a folder, not a file'
            : `error ${code ?? 'unknown'}`;
    throw new SecretError(
      `Cannot read the ${what} from file ${file}: ${reason}. Create the file (chmod 600) or change the setting to point at it.`,
      what,
    );
  }
  const secret = text.replace(/[\r\n]+$/, '');
  if (secret === '') throw new SecretError(`The ${what} file ${file} is empty.`, what);
  return secret;
}

function readSecretEnv(name: string, what: string, env: NodeJS.ProcessEnv): string {
  const value = env[name];
  if (value === undefined) {
    throw new SecretError(
      `The ${what} is expected in environment variable ${name}, which is not set. Set it, or use {file: <path>} instead.`,
      what,
    );
  }
  if (value === '') throw new SecretError(`Environment variable ${name} (the ${what}) is empty.`, what);
  return value;
}

/** The settings that can name secrets (a structural subset of PipelineConfig, to keep this module light). */
export interface ConfiguredSecrets {
  temporal?: { apiKey?: SecretRef };
  grin: { accessToken?: SecretRef; gpgPassphrase?: SecretRef; credentialsFile?: string; clientSecretFile?: string };
  storage: { kind: string; accessKeyId?: SecretRef; secretAccessKey?: SecretRef };
}

/**
 * Reads every secret the config names, only to register it with the scrubber, so a process (a CLI
 * command, a worker before its first decrypt) scrubs values it never uses itself: `status` prints
 * what Temporal recorded, a report quotes errors. Best effort and silent: a secret that cannot be
 * read is reported by whoever needs it, with its own message. AWS SDK credentials from the
 * environment count too when the config names no keys.
 */
export function registerConfiguredSecrets(config: ConfiguredSecrets, env: NodeJS.ProcessEnv = process.env): void {
  const refs: [SecretRef | undefined, string][] = [
    [config.temporal?.apiKey, 'Temporal API key'],
    [config.grin.accessToken, 'GRIN access token'],
    [config.grin.gpgPassphrase, 'GPG passphrase'],
    [config.storage.kind === 's3' ? config.storage.accessKeyId : undefined, 'S3 access key id'],
    [config.storage.kind === 's3' ? config.storage.secretAccessKey : undefined, 'S3 secret access key'],
  ];
  for (const [ref, what] of refs) {
    if (!ref) continue;
    try {
      readSecret(ref, what, env);
    } catch {
      // reported by the code that needs it
    }
  }
  if (config.storage.kind === 's3' && !config.storage.secretAccessKey) {
    registerSecret(env.AWS_ACCESS_KEY_ID, 'S3 access key id');
    registerSecret(env.AWS_SECRET_ACCESS_KEY, 'S3 secret access key');
    registerSecret(env.AWS_SESSION_TOKEN, 'S3 session token');
  }
  const clientFile = readJsonQuietly(config.grin.clientSecretFile) as
    { installed?: { client_secret?: unknown }; web?: { client_secret?: unknown } } | undefined;
  const clientSecret = clientFile?.installed?.client_secret ?? clientFile?.web?.client_secret;
  if (typeof clientSecret === 'string') registerSecret(clientSecret, 'OAuth client secret');
  const creds = readJsonQuietly(config.grin.credentialsFile) as { refresh_token?: unknown; access_token?: unknown } | undefined;
  if (typeof creds?.refresh_token === 'string') registerSecret(creds.refresh_token, 'OAuth refresh token');
  if (typeof creds?.access_token === 'string') registerSecret(creds.access_token, 'GRIN access token');
}

function readJsonQuietly(file: string | undefined): unknown {
  if (!file) return undefined;
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
  } catch {
    return undefined;
  }
}
