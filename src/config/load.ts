/**
 * Loading the configuration: YAML file (or none) + environment + explicit overrides, validated by
 * the schema, relative paths made absolute. Every problem becomes one line of a ConfigError that
 * names the dotted key, what was expected and what was found.
 *
 * Precedence, lowest first: built-in defaults < config file < TEMPORAL_ADDRESS/TEMPORAL_NAMESPACE
 * < `overrides` (command-line flags).
 */
import { PipelineError } from '../common/errors';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { PipelineConfigSchema, SECRET_REF_FIELDS } from './schema';
import { describeSecretRef } from './secrets';
import type { PipelineConfig, SecretRef } from './types';

/** Environment variable naming the config file when no `--config`/`file` is given. */
export const CONFIG_FILE_ENV = 'GRIN_PIPELINE_CONFIG';

export interface ConfigIssue {
  /** Dotted key, e.g. `grin.rateLimitPerSecond`; `line L, column C` for YAML syntax; '' for the file itself. */
  path: string;
  message: string;
}

/** A setting the operator must fix before anything can run: permanent (and exit code 2 in the CLI). */
export class ConfigError extends PipelineError {
  /** Process exit code for a configuration the operator must fix. */
  readonly exitCode = 2;
  constructor(
    readonly issues: ConfigIssue[],
    readonly file: string | undefined,
    header?: string,
  ) {
    super(formatConfigError(issues, file, header), { retryable: false });
  }
}

function formatConfigError(issues: ConfigIssue[], file: string | undefined, header?: string): string {
  const where = file ? `in ${file}` : '(built-in defaults and overrides; no config file)';
  const title = header ?? `Invalid configuration ${where}:`;
  const lines = issues.map((issue) => `  ${issue.path ? `${issue.path}: ` : ''}${issue.message}`);
  return [title, ...lines].join('\n');
}

export interface LoadConfigOptions {
  /** YAML file; when absent, `$GRIN_PIPELINE_CONFIG`, else built-in defaults only. */
  file?: string;
  /** Highest-precedence values, same shape as the file (e.g. from command-line flags). */
  overrides?: object;
  /** Environment to read (default `process.env`). */
  env?: NodeJS.ProcessEnv;
}

export function loadConfig(opts: LoadConfigOptions = {}): PipelineConfig {
  const env = opts.env ?? process.env;
  const fromEnv = !opts.file && Boolean(env[CONFIG_FILE_ENV]);
  const file = opts.file ?? (env[CONFIG_FILE_ENV] || undefined);
  const absoluteFile = file === undefined ? undefined : path.resolve(file);

  const fileData = absoluteFile === undefined ? {} : readConfigFile(absoluteFile, fromEnv);
  const envData = temporalFromEnv(env);
  const merged = deepMerge(deepMerge(fileData, envData), dropNulls(opts.overrides ?? {}));

  const result = PipelineConfigSchema.safeParse(merged, { reportInput: true });
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.flatMap((issue) => describeZodIssue(issue, merged)),
      absoluteFile,
    );
  }
  const baseDir = absoluteFile === undefined ? process.cwd() : path.dirname(absoluteFile);
  return resolveConfigPaths(result.data, baseDir);
}

function readConfigFile(file: string, fromEnv: boolean): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const origin = fromEnv ? ` (named by $${CONFIG_FILE_ENV})` : '';
    const reason = code === 'ENOENT' ? 'not found' : code === 'EISDIR' ? 'is a folder' : `cannot be read (${code})`;
    throw new ConfigError(
      [
        {
          path: '',
          message: 'Fix the path, or copy config.example.yaml to start one (the demo writes .demo/config.yaml).',
        },
      ],
      file,
      `Config file ${file}${origin} ${reason}.`,
    );
  }

  const doc = YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(doc.errors.map(yamlErrorIssue), file, `YAML syntax error in ${file}:`);
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    throw new ConfigError([{ path: '', message: (error as Error).message }], file, `Cannot read YAML in ${file}:`);
  }
  if (data === null || data === undefined) return {};
  if (!isPlainObject(data)) {
    throw new ConfigError([{ path: '', message: `expected a mapping of settings (key: value lines), got ${describeValue(data)}` }], file);
  }
  return dropNulls(data) as Record<string, unknown>;
}

function yamlErrorIssue(error: YAML.YAMLError): ConfigIssue {
  const [firstLine, ...rest] = error.message.split('\n');
  const summary = firstLine.replace(/ at line \d+, column \d+:?$/, '');
  const position = error.linePos?.[0];
  const snippet = rest.filter((line) => line.trim() !== '').map((line) => `      ${line}`);
  return {
    path: position ? `line ${position.line}, column ${position.col}` : '',
    message: [summary, ...snippet].join('\n'),
  };
}

function temporalFromEnv(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const temporal: Record<string, string> = {};
  if (env.TEMPORAL_ADDRESS) temporal.address = env.TEMPORAL_ADDRESS;
  if (env.TEMPORAL_NAMESPACE) temporal.namespace = env.TEMPORAL_NAMESPACE;
  return Object.keys(temporal).length > 0 ? { temporal } : {};
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !Buffer.isBuffer(value);
}

/** YAML `key:` with no value means "use the default", so empty values are removed before merging. */
function dropNulls(value: unknown): unknown {
  if (!isPlainObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    if (inner !== null && inner !== undefined) out[key] = dropNulls(inner);
  }
  return out;
}

/**
 * Mappings merge key by key; anything else is replaced. A mapping whose `kind` changes (local -> s3
 * storage) is replaced whole, since the other kind's keys would be unknown there.
 */
export function deepMerge(base: unknown, over: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(over)) return over === undefined ? base : over;
  if ('kind' in base && 'kind' in over && base.kind !== over.kind) return over;
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) out[key] = deepMerge(base[key], value);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Turning zod issues into `dotted.key: expected ..., got ...` lines.

function dotted(pathParts: readonly PropertyKey[]): string {
  return pathParts.map(String).join('.');
}

function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'an empty value';
  if (typeof value === 'string') {
    const shown = value.length > 60 ? `${value.slice(0, 57)}...` : value;
    return JSON.stringify(shown);
  }
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return typeof value;
}

function touchesSecret(pathParts: readonly PropertyKey[]): boolean {
  return pathParts.some((part) => SECRET_REF_FIELDS.includes(String(part)));
}

function valueAt(root: unknown, pathParts: readonly PropertyKey[]): unknown {
  let current = root;
  for (const part of pathParts) {
    if (!isPlainObject(current)) return undefined;
    current = current[String(part)];
  }
  return current;
}

function describeZodIssue(issue: z.core.$ZodIssue, input: unknown): ConfigIssue[] {
  if (issue.code === 'unrecognized_keys') {
    const allowed = allowedKeysAt(PipelineConfigSchema, issue.path, input) ?? [];
    return issue.keys.map((key) => {
      const suggestion = closestKey(key, allowed);
      const hint = suggestion ? ` (did you mean "${suggestion}"?)` : allowed.length > 0 ? ` (known keys here: ${allowed.join(', ')})` : '';
      return { path: dotted([...issue.path, key]), message: `unknown key${hint}` };
    });
  }
  const key = dotted(issue.path);
  const message = plainMessage(issue);
  // Never echo what was written in a secret's place: it may be the secret itself.
  if (touchesSecret(issue.path)) return [{ path: key, message }];

  const value = valueAt(input, issue.path);
  if (value === undefined) return [{ path: key, message: `missing; ${message}` }];
  return [{ path: key, message: `${message}, got ${describeValue(value)}` }];
}

const EXPECTED_WORDING: Record<string, string> = {
  object: 'expected a mapping (indented key: value lines)',
  string: 'expected a string',
  number: 'expected a number',
  boolean: 'expected true or false',
};

/** The schema words most messages itself; zod's generic ones (nested mappings) are reworded here. */
function plainMessage(issue: z.core.$ZodIssue): string {
  if (issue.message.startsWith('expected')) return issue.message;
  if (issue.code === 'invalid_type') return EXPECTED_WORDING[issue.expected] ?? `expected ${issue.expected}`;
  return issue.message;
}

/** The keys the schema allows at a path (following the storage `kind` actually written). */
function allowedKeysAt(schema: z.ZodType, pathParts: readonly PropertyKey[], value: unknown): string[] | undefined {
  let current: z.ZodType = schema;
  let remaining = [...pathParts];
  for (let guard = 0; guard < 50; guard += 1) {
    if (current instanceof z.ZodDefault || current instanceof z.ZodPrefault || current instanceof z.ZodOptional) {
      current = current.unwrap() as z.ZodType;
    } else if (current instanceof z.ZodDiscriminatedUnion) {
      const kind = isPlainObject(value) ? value.kind : undefined;
      const match = (current.options as z.ZodType[]).find(
        (option) => option instanceof z.ZodObject && literalValue(option.shape.kind) === kind,
      );
      if (!match) return undefined;
      current = match;
    } else if (current instanceof z.ZodObject) {
      if (remaining.length === 0) return Object.keys(current.shape);
      const [head, ...tail] = remaining;
      const next = (current.shape as Record<string, z.ZodType>)[String(head)];
      if (!next) return undefined;
      current = next;
      value = isPlainObject(value) ? value[String(head)] : undefined;
      remaining = tail;
    } else {
      return undefined;
    }
  }
  return undefined;
}

function literalValue(schema: unknown): unknown {
  return schema instanceof z.ZodLiteral ? schema.value : undefined;
}

function closestKey(key: string, allowed: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of allowed) {
    const distance = candidate.toLowerCase() === key.toLowerCase() ? 0 : editDistance(key, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  const tolerance = Math.max(key.length <= 4 ? 1 : 2, Math.floor(key.length / 4));
  return bestDistance <= tolerance ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i += 1) {
    const row = [i];
    for (let j = 1; j <= b.length; j += 1) {
      const substitution = previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1);
      row.push(Math.min(previous[j] + 1, row[j - 1] + 1, substitution));
    }
    previous = row;
  }
  return previous[b.length];
}

// ---------------------------------------------------------------------------------------------
// Paths

function resolvePath(baseDir: string, value: string): string {
  if (value === '~') return os.homedir();
  if (value.startsWith('~/')) return path.join(os.homedir(), value.slice(2));
  return path.resolve(baseDir, value);
}

function resolveSecretRef(baseDir: string, ref: SecretRef | undefined): SecretRef | undefined {
  if (!ref || ref.file === undefined) return ref;
  return { ...ref, file: resolvePath(baseDir, ref.file) };
}

/** Makes every filesystem path in the config absolute, relative ones taken from `baseDir`. */
export function resolveConfigPaths(config: PipelineConfig, baseDir: string): PipelineConfig {
  const grin = {
    ...config.grin,
    gpgPassphrase: resolveSecretRef(baseDir, config.grin.gpgPassphrase) as SecretRef,
    accessToken: resolveSecretRef(baseDir, config.grin.accessToken),
    credentialsFile: config.grin.credentialsFile && resolvePath(baseDir, config.grin.credentialsFile),
    clientSecretFile: config.grin.clientSecretFile && resolvePath(baseDir, config.grin.clientSecretFile),
  };
  const storage: PipelineConfig['storage'] =
    config.storage.kind === 'local'
      ? { ...config.storage, path: resolvePath(baseDir, config.storage.path) }
      : {
          ...config.storage,
          accessKeyId: resolveSecretRef(baseDir, config.storage.accessKeyId),
          secretAccessKey: resolveSecretRef(baseDir, config.storage.secretAccessKey),
        };
  const tls = config.temporal.tls;
  const temporal = {
    ...config.temporal,
    apiKey: resolveSecretRef(baseDir, config.temporal.apiKey),
    tls:
      typeof tls === 'object'
        ? withoutUndefined({
            ...tls,
            serverCaFile: tls.serverCaFile && resolvePath(baseDir, tls.serverCaFile),
            clientCertFile: tls.clientCertFile && resolvePath(baseDir, tls.clientCertFile),
            clientKeyFile: tls.clientKeyFile && resolvePath(baseDir, tls.clientKeyFile),
          })
        : tls,
  };
  return {
    ...config,
    temporal: withoutUndefined(temporal),
    grin: withoutUndefined(grin),
    storage: withoutUndefined(storage),
    pipelineDir: resolvePath(baseDir, config.pipelineDir),
    processingDir: resolvePath(baseDir, config.processingDir),
  };
}

function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, inner]) => inner !== undefined)) as T;
}

// ---------------------------------------------------------------------------------------------
// Summary

/** URL without any user:password part, for display. */
function displayUrl(value: string): string {
  try {
    const url = new URL(value);
    url.username = '';
    url.password = '';
    return url.toString().replace(/\/$/, '');
  } catch {
    return value;
  }
}

function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${Number.isInteger(value) ? value : value.toFixed(1)} ${units[unit]}`;
}

function describeTemporalSecurity(temporal: PipelineConfig['temporal']): string {
  const tls = temporal.tls;
  const on = tls === true || typeof tls === 'object' || (tls === undefined && temporal.apiKey !== undefined);
  if (!on) return 'plaintext (no TLS)';
  const parts = typeof tls === 'object' ? tls : {};
  const details = [
    parts.serverCaFile ? `CA ${parts.serverCaFile}` : 'system CAs',
    parts.clientCertFile ? `client certificate ${parts.clientCertFile} (key ${parts.clientKeyFile})` : undefined,
    parts.serverName ? `server name ${parts.serverName}` : undefined,
    temporal.apiKey ? `API key from ${describeSecretRef(temporal.apiKey)}` : undefined,
  ].filter(Boolean);
  return `TLS (${details.join(', ')})`;
}

/** A one-screen summary for people: no secrets, only where each one is read from. */
export function describeConfig(config: PipelineConfig): string {
  const { temporal, grin, storage, limits, concurrency, timeouts } = config;
  const auth = grin.accessToken
    ? `fixed access token from ${describeSecretRef(grin.accessToken)}`
    : grin.credentialsFile
      ? `OAuth credentials file ${grin.credentialsFile}${grin.clientSecretFile ? `, client secret file ${grin.clientSecretFile}` : ''}`
      : 'none configured (set grin.credentialsFile or grin.accessToken)';
  const storageLine =
    storage.kind === 'local'
      ? `local folder ${storage.path}`
      : `s3://${storage.bucket}/${storage.prefix} (region ${storage.region}` +
        `${storage.endpoint ? `, endpoint ${displayUrl(storage.endpoint)}` : ''}` +
        `${storage.forcePathStyle ? ', path-style' : ''}, checksums ${storage.checksums}, credentials ` +
        `${storage.accessKeyId ? `from ${describeSecretRef(storage.accessKeyId)} / ${describeSecretRef(storage.secretAccessKey)}` : 'from the usual AWS sources'})`;
  return [
    `Temporal     ${temporal.address}, namespace ${temporal.namespace}, ${describeTemporalSecurity(temporal)}`,
    `  queues     workflows ${temporal.workflowTaskQueue}, GRIN ${temporal.grinTaskQueue}, files ${temporal.fileTaskQueuePrefix}-<host>`,
    `GRIN         ${displayUrl(grin.baseUrl)}, directory ${grin.directory}`,
    `  auth       ${auth}`,
    `  passphrase GPG passphrase from ${describeSecretRef(grin.gpgPassphrase)}`,
    `  pace       ${grin.rateLimitPerSecond} requests/s, poll every ${grin.pollIntervalSeconds} s, timeouts ${grin.timeouts.requestSeconds} s request / ${grin.timeouts.connectSeconds} s connect, ` +
      `downloads ${grin.minDownloadRate.bytes > 0 ? `at least ${grin.minDownloadRate.bytes} bytes per ${grin.minDownloadRate.windowSeconds} s` : 'at any rate'}`,
    `  at GRIN    at most ${grin.pacing.maxRequestedNotDownloaded} books requested and not downloaded, ${grin.pacing.maxInGrinQueue} not converted yet`,
    `Board        ${config.pipelineDir}`,
    `Processing   ${config.processingDir} (keep finished books' files ${config.retentionDays} days)`,
    `Storage      ${storageLine}`,
    `Limits       ${formatBytes(limits.maxUnpackedBytes)} unpacked, ${limits.maxEntries} entries per archive, pause downloads above ${Math.round(limits.diskUsageThreshold * 100)}% disk use`,
    `Concurrency  ${concurrency.batchWindow} books in flight per batch, ${concurrency.grinActivities} GRIN / ${concurrency.fileActivities} file activities, at most ${concurrency.booksOnHost} books on a host, ${concurrency.uploadParts} upload parts, ${concurrency.cachedWorkflows} workflows cached`,
    `Timeouts     host presumed gone after ${timeouts.hostPickupSeconds} s without pickup or ${timeouts.heartbeatSeconds} s without heartbeat; ` +
      `file stages retried ${timeouts.fileStageMaxDays > 0 ? `for up to ${timeouts.fileStageMaxDays} days` : 'without limit'}; conversion awaited ${timeouts.conversionWaitDays} days; ` +
      `retries back off to ${timeouts.grinRetryMaxSeconds} s (GRIN) / ${timeouts.fileRetryMaxSeconds} s (files); batches reconcile every ${timeouts.batchReconcileSeconds} s`,
    `Logging      ${config.logging.level} and above, ${config.logging.format === 'auto' ? 'JSON lines unless on a terminal' : config.logging.format}${config.logging.perStageFiles ? `, per-stage files in ${config.pipelineDir}/logs` : ''}`,
    `Metrics      ${config.metrics.port > 0 ? `Prometheus on ${config.metrics.host}:${config.metrics.port}/metrics` : 'off (metrics.port: 0)'}`,
  ].join('\n');
}
