/**
 * Reading secrets (GPG passphrase, access tokens, S3 keys) from the file or environment variable a
 * SecretRef names. Error messages say which secret and where it was looked for, and never contain
 * any part of the secret.
 */
import * as fs from 'node:fs';
import { PipelineError } from '../common/errors';
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
    throw new SecretError(
      `The ${what} setting must name exactly one source: {file: <path>} or {env: <VARIABLE>}.`,
      what,
    );
  }
  return hasFile ? readSecretFile(ref.file as string, what) : readSecretEnv(ref.env as string, what, env);
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

/**
 * A warning when a secret file can be read by group or other users, or undefined when it is private
 * (or cannot be checked: missing files are `readSecret`'s to report; Windows has no such mode bits).
 */
export function secretFileModeWarning(file: string): string | undefined {
  if (process.platform === 'win32') return undefined;
  let mode: number;
  try {
    mode = fs.statSync(file).mode;
  } catch {
    return undefined;
  }
  if ((mode & 0o077) === 0) return undefined;
  const octal = (mode & 0o777).toString(8).padStart(4, '0');
  return `Secret file ${file} can be read by other users (mode ${octal}); restrict it with: chmod 600 ${file}`;
}
