import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readSecret, SecretError } from '../../src/config';

const SECRET = 'pa55-w0rd with spaces ';
let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'config-secrets-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function thrown(action: () => unknown): SecretError {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(SecretError);
    return error as SecretError;
  }
  throw new Error('expected a SecretError');
}

test('reads a secret from a file, dropping only the trailing line break', () => {
  const file = path.join(dir, 'passphrase');
  fs.writeFileSync(file, `${SECRET}\r\n`, { mode: 0o600 });
  expect(readSecret({ file }, 'GPG passphrase')).toBe(SECRET);
  fs.writeFileSync(file, SECRET);
  expect(readSecret({ file }, 'GPG passphrase')).toBe(SECRET);
});

test('reads a secret from an environment variable', () => {
  expect(readSecret({ env: 'MY_PASS' }, 'GPG passphrase', { MY_PASS: SECRET })).toBe(SECRET);
});

test('a missing file names the file and the secret', () => {
  const file = path.join(dir, 'absent');
  const error = thrown(() => readSecret({ file }, 'GPG passphrase'));
  expect(error.message).toContain(file);
  expect(error.message).toContain('GPG passphrase');
  expect(error.message).toContain('does not exist');
  expect(error.exitCode).toBe(2);
});

test('an empty file or variable is refused; a folder is not a secret file', () => {
  const file = path.join(dir, 'empty');
  fs.writeFileSync(file, '\n');
  expect(thrown(() => readSecret({ file }, 'access token')).message).toContain(`access token file ${file} is empty`);
  expect(thrown(() => readSecret({ env: 'E' }, 'access token', { E: '' })).message).toContain('E (the access token) is empty');
  expect(thrown(() => readSecret({ file: dir }, 'access token')).message).toContain('is a folder');
});

test('an unset variable names the variable and the secret', () => {
  const error = thrown(() => readSecret({ env: 'GRIN_GPG_PASSPHRASE' }, 'GPG passphrase', {}));
  expect(error.message).toContain('GRIN_GPG_PASSPHRASE');
  expect(error.message).toContain('GPG passphrase');
  expect(error.message).toContain('not set');
});

test('a reference with both or neither source is refused', () => {
  expect(thrown(() => readSecret({ file: 'a', env: 'B' }, 'S3 secret key', {})).message).toContain('exactly one');
  expect(thrown(() => readSecret({}, 'S3 secret key', {})).message).toContain('S3 secret key');
});

test('error messages never contain the secret text', () => {
  // A variable holding the secret under another name than the one asked for must not leak either.
  const env = { OTHER: SECRET, EMPTY: '' };
  const file = path.join(dir, 'blank');
  fs.writeFileSync(file, '');
  for (const action of [
    () => readSecret({ env: 'MISSING' }, 'GPG passphrase', env),
    () => readSecret({ env: 'EMPTY' }, 'GPG passphrase', env),
    () => readSecret({ file }, 'GPG passphrase', env),
    () => readSecret({ file: path.join(dir, 'nope') }, 'GPG passphrase', env),
  ]) {
    expect(thrown(action).message).not.toContain(SECRET.trim());
  }
});
