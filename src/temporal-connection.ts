/**
 * The one place that turns `temporal.*` settings into a connection: the CLI's client Connection and
 * the worker's NativeConnection are both made here, from the same options (address, TLS, mTLS
 * client certificate, API key). TLS is on whenever any TLS setting or an API key is given, so no
 * setting can send credentials over plaintext by accident. Failures become one line that names the
 * setting to look at; no certificate, key or API key ever appears in a message.
 */
import * as fs from 'node:fs';
import { Connection, type TLSConfig } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import { PipelineError } from './common/errors';
import { readSecret } from './config/secrets';
import type { TemporalConfig } from './config/types';

/** A Temporal setting the operator must fix (a file that cannot be read): exit code 2. */
export class TemporalSettingError extends PipelineError {
  readonly exitCode = 2;
  constructor(message: string) {
    super(message, { retryable: false });
  }
}

/** The Temporal frontend did not accept the connection: exit code 1 (the setting may be right and the server down). */
export class TemporalConnectError extends PipelineError {
  readonly exitCode = 1;
  constructor(message: string) {
    super(message, { retryable: true, waitingFor: 'the Temporal server to accept our connection' });
  }
}

export interface TemporalConnectionOptions {
  address: string;
  /** Undefined: plaintext. */
  tls?: TLSConfig;
  apiKey?: string;
}

export function tlsEnabled(temporal: TemporalConfig): boolean {
  return temporal.tls === true || typeof temporal.tls === 'object' || (temporal.tls === undefined && temporal.apiKey !== undefined);
}

function readPem(file: string, setting: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'it does not exist' : code === 'EACCES' ? 'permission denied' : `error ${code ?? 'unknown'}`;
    throw new TemporalSettingError(`temporal.tls.${setting}: cannot read ${file}: ${reason}.`);
  }
}

/** Connection options from the config: files and the API key are read here, at connect time. */
export function temporalConnectionOptions(temporal: TemporalConfig): TemporalConnectionOptions {
  if (temporal.tls === false && temporal.apiKey !== undefined) {
    // The schema refuses this too; a config built in code must not get past it either.
    throw new TemporalSettingError('temporal.tls is false but temporal.apiKey is set: an API key is never sent without TLS.');
  }
  const apiKey = temporal.apiKey ? readSecret(temporal.apiKey, 'Temporal API key (temporal.apiKey)') : undefined;
  if (!tlsEnabled(temporal)) return { address: temporal.address };
  const settings = typeof temporal.tls === 'object' ? temporal.tls : {};
  const tls: TLSConfig = {};
  if (settings.serverCaFile) tls.serverRootCACertificate = readPem(settings.serverCaFile, 'serverCaFile');
  if (settings.clientCertFile && settings.clientKeyFile) {
    tls.clientCertPair = { crt: readPem(settings.clientCertFile, 'clientCertFile'), key: readPem(settings.clientKeyFile, 'clientKeyFile') };
  }
  if (settings.serverName) tls.serverNameOverride = settings.serverName;
  return { address: temporal.address, tls, ...(apiKey !== undefined ? { apiKey } : {}) };
}

/** What to look at when a connection fails, from what the error says and what is configured. */
export function connectHint(temporal: TemporalConfig, detail: string): string {
  const settings = typeof temporal.tls === 'object' ? temporal.tls : {};
  const tls = tlsEnabled(temporal);
  if (!tls) {
    return (
      'is the server up and temporal.address (or TEMPORAL_ADDRESS) right? `npm run demo` or `temporal server start-dev` starts one here; ' +
      'if the server expects TLS, set temporal.tls (true, or serverCaFile / clientCertFile / clientKeyFile)'
    );
  }
  const clientCertHint = settings.clientCertFile
    ? 'the server did not accept the client certificate in temporal.tls.clientCertFile (is it signed by a CA the server trusts, and temporal.tls.clientKeyFile its key?)'
    : 'the server requires a client certificate (mTLS): set temporal.tls.clientCertFile and temporal.tls.clientKeyFile';
  // The server's alert about our certificate (rustls / OpenSSL wording).
  if (/CertificateRequired|certificate required|BadCertificate|bad certificate|UnknownCA|unknown ca|alert/i.test(detail))
    return clientCertHint;
  // Our side refusing the server's certificate.
  if (/NotValidForName|altnames|hostname/i.test(detail)) {
    return "the server's certificate is not for this host name: set temporal.tls.serverName to the name it was issued for";
  }
  if (/UnknownIssuer|InvalidCertificate|self.signed|unable to verify|certificate verify|issuer/i.test(detail)) {
    return settings.serverCaFile
      ? "the server's certificate is not signed by the CA in temporal.tls.serverCaFile"
      : "the server's certificate is not trusted: set temporal.tls.serverCaFile to its CA";
  }
  if (/unauthenticated|api key|unauthorized|permission denied/i.test(detail)) {
    return temporal.apiKey
      ? 'the server refused the key in temporal.apiKey'
      : 'the server wants credentials: set temporal.apiKey, or a client certificate (temporal.tls.clientCertFile)';
  }
  if (!settings.clientCertFile) {
    return 'the TLS connection was dropped; if the server requires client certificates (mTLS), set temporal.tls.clientCertFile and temporal.tls.clientKeyFile';
  }
  return 'the TLS connection was dropped: does the server accept the certificate in temporal.tls.clientCertFile (and is temporal.tls.serverCaFile its CA)?';
}

function connectError(temporal: TemporalConfig, err: unknown): TemporalConnectError {
  const detail = (err instanceof Error ? err.message : String(err)).split('\n')[0].trim();
  const how = tlsEnabled(temporal) ? 'over TLS' : 'without TLS';
  return new TemporalConnectError(
    `Cannot connect to Temporal at ${temporal.address} ${how} (${detail}): ${connectHint(temporal, detail)}.`,
  );
}

/**
 * A client connection (CLI, demo, tests), checked by one call so a TLS or credentials problem shows
 * here and not at the first real request.
 */
export async function connectTemporal(temporal: TemporalConfig, opts: { connectTimeoutMs?: number } = {}): Promise<Connection> {
  const options = temporalConnectionOptions(temporal);
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ ...options, connectTimeout: opts.connectTimeoutMs ?? 5000 });
    await connection.workflowService.getSystemInfo({});
    return connection;
  } catch (err) {
    await connection?.close().catch(() => undefined);
    throw connectError(temporal, err);
  }
}

/** The worker's native connection, from the same options. */
export async function connectTemporalWorker(temporal: TemporalConfig): Promise<NativeConnection> {
  const options = temporalConnectionOptions(temporal);
  // Loaded here: the worker package brings the native runtime, which CLI commands do not need.
  const { NativeConnection } = await import('@temporalio/worker');
  try {
    return await NativeConnection.connect(options);
  } catch (err) {
    throw connectError(temporal, err);
  }
}
