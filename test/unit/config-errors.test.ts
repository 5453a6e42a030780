import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError, loadConfig } from '../../src/config';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'config-errors-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Loads `text` as a config file and returns the ConfigError it must raise. */
function errorFor(text: string): ConfigError {
  const file = path.join(dir, 'config.yaml');
  fs.writeFileSync(file, text);
  try {
    loadConfig({ file, env: {} });
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected loadConfig to fail');
}

test('a wrong type names the dotted key, what is expected and what was found, with the file name', () => {
  const error = errorFor('grin:\n  rateLimitPerSecond: fast\n');
  expect(error.exitCode).toBe(2);
  expect(error.message).toContain(path.join(dir, 'config.yaml'));
  expect(error.message).toContain('grin.rateLimitPerSecond: expected a positive number, got "fast"');
  expect(error.issues).toEqual([{ path: 'grin.rateLimitPerSecond', message: 'expected a positive number, got "fast"' }]);
});

test('unknown keys are errors, with a suggestion when one is close', () => {
  const error = errorFor('storage:\n  kind: s3\n  bucket: b\n  bukcet: c\ntemporl: {}\n');
  expect(error.message).toContain('storage.bukcet: unknown key (did you mean "bucket"?)');
  expect(error.message).toContain('temporl: unknown key (did you mean "temporal"?)');
  const far = errorFor('limits:\n  zzz: 1\n');
  expect(far.message).toContain(
    'limits.zzz: unknown key (known keys here: maxUnpackedBytes, maxEntries, maxExpansionRatio, expansionCheckAfterBytes, diskUsageThreshold, archiveBytesEstimate)',
  );
});

test('every problem gets its own line', () => {
  const error = errorFor(
    ['concurrency:', '  batchWindow: -3', '  uploadParts: 1.5', 'limits:', '  diskUsageThreshold: 1.5', 'retentionDays: -1'].join('\n'),
  );
  expect(error.issues.map((issue) => issue.path).sort()).toEqual(
    ['concurrency.batchWindow', 'concurrency.uploadParts', 'limits.diskUsageThreshold', 'retentionDays'].sort(),
  );
  expect(error.message.split('\n')).toHaveLength(1 + 4);
  expect(error.message).toContain('concurrency.batchWindow: expected a positive whole number, got -3');
  expect(error.message).toContain('limits.diskUsageThreshold: expected a fraction in (0, 1], e.g. 0.9, got 1.5');
});

test('bad ranges and formats: directory, URLs, zero threshold, storage kind, layout template', () => {
  const error = errorFor(
    [
      'grin:',
      '  directory: ../etc',
      '  baseUrl: ftp://example.org',
      '  tokenUri: not a url',
      'limits:',
      '  diskUsageThreshold: 0',
      'storage:',
      '  kind: local',
      '  layout: {archive: raw/book.tar.gz}',
    ].join('\n'),
  );
  const paths = error.issues.map((issue) => issue.path);
  expect(paths).toEqual(
    expect.arrayContaining(['grin.directory', 'grin.baseUrl', 'grin.tokenUri', 'limits.diskUsageThreshold', 'storage.layout.archive']),
  );
  expect(errorFor('storage:\n  kind: ftp\n').message).toContain('storage.kind: expected kind "local" or "s3", got "ftp"');
});

test('a missing required value names the key', () => {
  const error = errorFor('storage:\n  kind: s3\n');
  expect(error.message).toContain('storage.bucket: missing; expected the S3 bucket name');
});

test('bad secret references are refused without echoing what was written', () => {
  const both = errorFor('grin:\n  gpgPassphrase: {file: a, env: B}\n');
  expect(both.message).toContain('grin.gpgPassphrase: expected exactly one of "file" or "env"');

  const neither = errorFor('grin:\n  gpgPassphrase: {}\n');
  expect(neither.issues[0].path).toBe('grin.gpgPassphrase');

  const inline = errorFor('grin:\n  gpgPassphrase: correct-horse-battery\n');
  expect(inline.issues[0].path).toBe('grin.gpgPassphrase');
  expect(inline.message).toContain('never the secret itself');
  expect(inline.message).not.toContain('correct-horse-battery');

  const typo = errorFor('grin:\n  accessToken: {envv: TOKEN_SECRET_VALUE}\n');
  expect(typo.message).toContain('grin.accessToken.envv: unknown key (did you mean "env"?)');

  const half = errorFor('storage:\n  kind: s3\n  bucket: b\n  accessKeyId: {env: KEY}\n');
  expect(half.message).toContain('storage.accessKeyId: expected both accessKeyId and secretAccessKey');
});

test('a YAML syntax error names the file, line and column', () => {
  const error = errorFor('grin:\n  directory: PRNC\nlimits: [1, 2\nconcurrency: {}\n');
  expect(error.message).toContain(`YAML syntax error in ${path.join(dir, 'config.yaml')}`);
  expect(error.issues[0].path).toMatch(/^line \d+, column \d+$/);
  expect(error.exitCode).toBe(2);

  const duplicate = errorFor('grin:\n  directory: A\ngrin:\n  directory: B\n');
  expect(duplicate.issues[0]).toMatchObject({ path: 'line 3, column 1' });
  expect(duplicate.issues[0].message).toMatch(/unique/);
});

test('a file that is not a mapping is refused', () => {
  expect(errorFor('- a\n- b\n').message).toContain('expected a mapping of settings');
});

test('a missing config file gives a clear message, also when named by GRIN_PIPELINE_CONFIG', () => {
  const missing = path.join(dir, 'nope.yaml');
  expect(() => loadConfig({ file: missing, env: {} })).toThrow(`Config file ${missing} not found.`);
  expect(() => loadConfig({ env: { GRIN_PIPELINE_CONFIG: missing } })).toThrow('(named by $GRIN_PIPELINE_CONFIG)');
});

test('invalid overrides are reported like file values', () => {
  expect(() => loadConfig({ env: {}, overrides: { concurrency: { batchWindow: 'many' } } })).toThrow(
    'concurrency.batchWindow: expected a positive whole number, got "many"',
  );
});

test('a scalar where a section belongs is named in plain words', () => {
  expect(errorFor('grin: 5\n').message).toContain('grin: expected a mapping (indented key: value lines), got 5');
  expect(errorFor('grin:\n  timeouts: soon\n').message).toContain(
    'grin.timeouts: expected a mapping (indented key: value lines), got "soon"',
  );
});
