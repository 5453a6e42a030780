/**
 * Temporal connection settings: TLS is on whenever any TLS setting or an API key is given, an API
 * key never goes without TLS, files are read at connect time, and nothing secret is ever echoed.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, describeConfig, loadConfig } from '../../src/config/load';
import { connectHint, temporalConnectionOptions, tlsEnabled } from '../../src/temporal-connection';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'grin-temporal-conn-'));
  writeFileSync(join(dir, 'api-key'), 'very-secret-api-key\n');
  writeFileSync(join(dir, 'ca.pem'), 'CA PEM');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const load = (temporal: Record<string, unknown>) => loadConfig({ env: {}, overrides: { temporal } });

test('old configs stay plaintext; any TLS setting or an API key turns TLS on', () => {
  expect(tlsEnabled(load({}).temporal)).toBe(false);
  expect(temporalConnectionOptions(load({}).temporal)).toEqual({ address: '127.0.0.1:7233' });
  expect(tlsEnabled(load({ tls: true }).temporal)).toBe(true);
  expect(tlsEnabled(load({ tls: { serverName: 'temporal.internal' } }).temporal)).toBe(true);
  const withKey = load({ apiKey: { file: join(dir, 'api-key') } }).temporal;
  expect(tlsEnabled(withKey)).toBe(true);
  expect(temporalConnectionOptions(withKey)).toEqual({ address: '127.0.0.1:7233', tls: {}, apiKey: 'very-secret-api-key' });
  const withCa = temporalConnectionOptions(load({ tls: { serverCaFile: join(dir, 'ca.pem'), serverName: 'temporal.internal' } }).temporal);
  expect(withCa.tls).toEqual({ serverRootCACertificate: Buffer.from('CA PEM'), serverNameOverride: 'temporal.internal' });
});

test('tls: false with an API key is refused by the config, without echoing the key source', () => {
  let error: unknown;
  try {
    load({ tls: false, apiKey: { env: 'TEMPORAL_API_KEY' } });
  } catch (err) {
    error = err;
  }
  expect(error).toBeInstanceOf(ConfigError);
  expect((error as ConfigError).message).toContain('temporal.tls: expected no "tls: false" with an apiKey');
});

test('a client certificate needs its key, and relative paths are resolved against the config file', () => {
  expect(() => load({ tls: { clientCertFile: 'client.pem' } })).toThrow(
    /temporal\.tls\.clientCertFile: expected both clientCertFile and clientKeyFile/,
  );
  const file = join(dir, 'config.yaml');
  writeFileSync(file, 'temporal:\n  tls:\n    clientCertFile: certs/c.pem\n    clientKeyFile: certs/c.key\n  apiKey: {file: api-key}\n');
  const config = loadConfig({ file, env: {} });
  expect(config.temporal.tls).toEqual({ clientCertFile: join(dir, 'certs/c.pem'), clientKeyFile: join(dir, 'certs/c.key') });
  expect(config.temporal.apiKey).toEqual({ file: join(dir, 'api-key') });
  const summary = describeConfig(config);
  expect(summary).toContain(`TLS (system CAs, client certificate ${join(dir, 'certs/c.pem')}`);
  expect(summary).toContain(`API key from file ${join(dir, 'api-key')}`);
  expect(summary).not.toContain('very-secret-api-key');
  expect(describeConfig(load({}))).toContain('plaintext (no TLS)');
});

test('connection hints name the setting to look at', () => {
  const mtls = load({ tls: { clientCertFile: 'c.pem', clientKeyFile: 'c.key', serverCaFile: 'ca.pem' } }).temporal;
  const caOnly = load({ tls: { serverCaFile: 'ca.pem' } }).temporal;
  expect(connectHint(caOnly, 'received fatal alert: CertificateRequired')).toContain('set temporal.tls.clientCertFile');
  expect(connectHint(mtls, 'received fatal alert: UnknownCA')).toContain('temporal.tls.clientCertFile');
  expect(connectHint(mtls, 'InvalidCertificate(UnknownIssuer)')).toContain('temporal.tls.serverCaFile');
  expect(connectHint(mtls, 'InvalidCertificate(NotValidForName)')).toContain('temporal.tls.serverName');
  expect(connectHint(load({ apiKey: { env: 'X' } }).temporal, '16 UNAUTHENTICATED: bad key')).toContain('temporal.apiKey');
  expect(connectHint(load({}).temporal, 'Failed to connect before the deadline')).toContain('set temporal.tls');
});
