/**
 * Secrets by value: the scrubber replaces every registered value in every form an output may hold,
 * and each way out of the process (board tokens, logs and per-stage log files, Temporal failures,
 * reports, metrics labels) goes through it. A token endpoint's error page that echoes the request is
 * described by status and content type, never quoted.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { defaultFailureConverter, defaultPayloadConverter } from '@temporalio/common';
import { toFailure } from '../../src/activities/failures';
import { Board } from '../../src/buckets/board';
import { PipelineError } from '../../src/common/errors';
import {
  clearSecrets,
  encodedForms,
  MAX_ROTATING_SECRETS,
  registerSecret,
  scrubDeep,
  scrubStandardStreams,
  scrubText,
} from '../../src/common/secret-values';
import { readSecret, registerConfiguredSecrets } from '../../src/config/secrets';
import { OAuthTokenSource } from '../../src/grin/auth';
import { GrinAuthError } from '../../src/grin/errors';
import { GrinHttp } from '../../src/grin/http';
import { createLogger } from '../../src/logging/logger';
import { buildReport } from '../../src/report/build';

const PASSPHRASE = 'correct horse battery staple/+=?&"\\';
const CLIENT_SECRET = 'GOCSPX-planted-client-secret-Zq9';
const REFRESH_TOKEN = '1//0planted-refresh-token_with/slash+plus';

/** True when `text` holds `value` in any form the scrubber knows (the test's own view of a leak). */
function leaks(text: string, value: string): boolean {
  return encodedForms(value).some((form) => text.includes(form));
}

afterEach(() => clearSecrets());

describe('scrubText', () => {
  beforeEach(() => registerSecret(PASSPHRASE, 'GPG passphrase'));

  test.each([
    ['raw', (v: string) => `wrong passphrase: ${v}!`],
    ['URL-encoded', (v: string) => `GET /x?p=${encodeURIComponent(v)}&a=1`],
    ['form-encoded', (v: string) => `body ${new URLSearchParams({ passphrase: v, x: 'y' }).toString()}`],
    ['JSON-escaped', (v: string) => `{"config":${JSON.stringify({ passphrase: v })}}`],
    ['JSON inside JSON', (v: string) => JSON.stringify({ body: JSON.stringify({ passphrase: v }) })],
    ['base64 alone', (v: string) => `header ${Buffer.from(v).toString('base64')} end`],
    ['base64url alone', (v: string) => `header ${Buffer.from(v).toString('base64url')} end`],
  ])('replaces the value %s', (_form, embed) => {
    const text = embed(PASSPHRASE);
    const out = scrubText(text);
    expect(leaks(out, PASSPHRASE)).toBe(false);
    expect(out).toContain('[redacted GPG passphrase]');
  });

  test.each([0, 1, 2, 3, 4, 5])('replaces it inside a longer base64 string (Basic auth with a %i-character user)', (n) => {
    const header = `Authorization: Basic ${Buffer.from(`${'u'.repeat(n)}:${PASSPHRASE}:tail`).toString('base64')}`;
    const out = scrubText(header);
    // Decoding what is left must not give the passphrase back, nor most of it.
    const decoded = Buffer.from(out.replace(/^Authorization: Basic /, '').replace(/\[redacted [^\]]+\]/g, ''), 'base64').toString('latin1');
    expect(decoded).not.toContain(PASSPHRASE.slice(3, -3));
    expect(out).toContain('[redacted GPG passphrase]');
  });

  test('a short value (under 8 characters) is replaced only where it stands alone', () => {
    registerSecret('abc12', 'S3 access key id');
    expect(scrubText('key abc12 used; xabc12y and abc123 are other words')).toBe(
      'key [redacted S3 access key id] used; xabc12y and abc123 are other words',
    );
  });

  test('scrubDeep copies structures with every string scrubbed; numbers and dates kept', () => {
    const when = new Date();
    const out = scrubDeep({ a: [`x ${PASSPHRASE}`, 3], b: { c: PASSPHRASE, when } });
    expect(out).toEqual({ a: ['x [redacted GPG passphrase]', 3], b: { c: '[redacted GPG passphrase]', when } });
  });

  test('readSecret registers what it reads; registerConfiguredSecrets reads every configured secret, OAuth files included', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grin-secret-values-'));
    try {
      expect(readSecret({ env: 'X_TOKEN' }, 'GRIN access token', { X_TOKEN: 'static-token-from-env-1' })).toBe('static-token-from-env-1');
      expect(scrubText('Bearer static-token-from-env-1')).toBe('Bearer [redacted GRIN access token]');
      const clientSecretFile = path.join(dir, 'client.json');
      const credentialsFile = path.join(dir, 'creds.json');
      fs.writeFileSync(clientSecretFile, JSON.stringify({ installed: { client_id: 'id', client_secret: CLIENT_SECRET } }));
      fs.writeFileSync(credentialsFile, JSON.stringify({ refresh_token: REFRESH_TOKEN }));
      fs.writeFileSync(path.join(dir, 'key'), 'AKIAPLANTEDKEYID0001\n');
      registerConfiguredSecrets(
        {
          grin: { clientSecretFile, credentialsFile },
          storage: { kind: 's3', accessKeyId: { file: path.join(dir, 'key') }, secretAccessKey: { env: 'S3_SECRET' } },
        },
        { S3_SECRET: 's3-secret-value-planted' },
      );
      const out = scrubText(`${CLIENT_SECRET} ${REFRESH_TOKEN} AKIAPLANTEDKEYID0001 s3-secret-value-planted`);
      expect(out).toBe(
        '[redacted OAuth client secret] [redacted OAuth refresh token] [redacted S3 access key id] [redacted S3 secret access key]',
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('every way out', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grin-secret-outputs-'));
    registerSecret(PASSPHRASE, 'GPG passphrase');
    registerSecret(REFRESH_TOKEN, 'OAuth refresh token');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('Temporal failures: message, stack, details and the whole cause chain, as the SDK encodes them', () => {
    const root = new Error(`openpgp: could not decrypt with passphrase ${PASSPHRASE}`);
    const middle = new Error(`token endpoint said refresh_token=${encodeURIComponent(REFRESH_TOKEN)}`, { cause: root });
    const pipelineError = new PipelineError(`decrypt failed (${PASSPHRASE})`, {
      retryable: false,
      waitingFor: `a passphrase other than ${PASSPHRASE}`,
      cause: middle,
    });
    for (const err of [pipelineError, middle]) {
      const encoded = defaultFailureConverter.errorToFailure(toFailure(err), defaultPayloadConverter);
      const json = JSON.stringify(encoded, (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('utf8') : v));
      expect(leaks(json, PASSPHRASE)).toBe(false);
      expect(leaks(json, REFRESH_TOKEN)).toBe(false);
      expect(json).toContain('[redacted');
    }
  });

  test('logs: the entry on the stream and in the per-stage file (readable by the owner only)', async () => {
    let written = '';
    const stream = new Writable({ write: (chunk: Buffer, _e, done) => ((written += chunk.toString()), done()) });
    const logsDir = path.join(dir, 'logs');
    const logger = createLogger({ format: 'json', stream, perStageDir: logsDir });
    logger.warn(`attempt failed: ${PASSPHRASE}`, {
      stage: 'request',
      error: new Error(`echo ${JSON.stringify({ r: REFRESH_TOKEN })}`),
      body: `refresh_token=${encodeURIComponent(REFRESH_TOKEN)}`,
    });
    await new Promise((r) => setTimeout(r, 200));
    const file = path.join(logsDir, 'request.log');
    const fileText = fs.readFileSync(file, 'utf8');
    for (const text of [written, fileText]) {
      expect(text).toContain('attempt failed: [redacted GPG passphrase]');
      expect(leaks(text, PASSPHRASE)).toBe(false);
      expect(leaks(text, REFRESH_TOKEN)).toBe(false);
    }
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.statSync(logsDir).mode & 0o777).toBe(0o700);
  });

  test('board tokens: the error a token quotes is scrubbed, and token files and buckets are private', async () => {
    const board = await Board.open(path.join(dir, 'pipeline'));
    await board.create({ barcode: 'AAA111', directory: 'TEST' });
    await board.move('AAA111', 'failed', {
      lastError: { stage: 'decrypt', type: 'DecryptError', message: `bad passphrase ${PASSPHRASE}` } as never,
    });
    const file = board.tokenPath('failed', 'AAA111');
    const text = fs.readFileSync(file, 'utf8');
    expect(text).toContain('[redacted GPG passphrase]');
    expect(leaks(text, PASSPHRASE)).toBe(false);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.statSync(board.bucketDir('failed')).mode & 0o777).toBe(0o700);

    const report = buildReport(
      [JSON.parse(text) as never, { ...(JSON.parse(text) as object), barcode: 'BBB222', lastError: { message: REFRESH_TOKEN } } as never],
      new Date(),
    );
    expect(leaks(JSON.stringify(report), REFRESH_TOKEN)).toBe(false);
  });
});

describe('a token endpoint whose error page echoes the request', () => {
  let server: http.Server;
  let url: string;
  let answers = 0;
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        answers++;
        const echo = `<html><body><h1>Bad Request</h1><pre>${req.method} ${req.url}\n${JSON.stringify(req.headers)}\n${body}\n${decodeURIComponent(body)}</pre></body></html>`;
        if (req.url?.endsWith('/json')) {
          res
            .writeHead(400, { 'content-type': 'application/json' })
            .end(JSON.stringify({ error: 'invalid_grant', error_description: `${decodeURIComponent(body)}` }));
        } else {
          res.writeHead(400, { 'content-type': 'text/html; charset=utf-8' }).end(echo);
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  test.each([
    ['an HTML page', '/token', /answered HTTP 400 \(text\/html\)$/],
    ['a JSON error', '/token/json', /answered HTTP 400 \(application\/json\), OAuth error invalid_grant$/],
  ])('%s: the error says status and content type, quotes nothing, and nothing leaks into Temporal', async (_what, tokenPath, expected) => {
    const source = new OAuthTokenSource({
      client: { clientId: 'client-id', clientSecret: CLIENT_SECRET },
      credentials: { refresh_token: REFRESH_TOKEN },
      tokenUri: `${url}${tokenPath}`,
    });
    clearSecrets(); // the message itself must not quote the body, scrubber or not
    const before = answers;
    const err = (await source.refresh().catch((e: unknown) => e)) as Error;
    expect(answers).toBe(before + 1);
    expect(err.message).toMatch(expected);
    expect(leaks(err.message, CLIENT_SECRET)).toBe(false);
    expect(leaks(err.message, REFRESH_TOKEN)).toBe(false);

    // Through the GRIN client, as an activity meets it, and on to Temporal.
    registerSecret(CLIENT_SECRET, 'OAuth client secret');
    registerSecret(REFRESH_TOKEN, 'OAuth refresh token');
    const grin = new GrinHttp(`${url}/libraries`, source);
    const failure = await grin
      .send({ method: 'GET', url: `${url}/libraries/X/_converted`, ctx: { endpoint: 'GET /X/_converted' } })
      .catch((e: unknown) => e);
    await grin.close();
    expect(failure).toBeInstanceOf(GrinAuthError);
    const encoded = defaultFailureConverter.errorToFailure(toFailure(failure), defaultPayloadConverter);
    const json = JSON.stringify(encoded);
    expect(json).toMatch(
      /could not get an access token: the OAuth token endpoint http:\/\/127\.0\.0\.1:\d+\/token(\/json)? answered HTTP 400/,
    );
    expect(leaks(json, CLIENT_SECRET)).toBe(false);
    expect(leaks(json, REFRESH_TOKEN)).toBe(false);
  });
});

describe('registry bounds and standard streams', () => {
  test('minted access tokens are kept by value up to a bound; fixed secrets stay', () => {
    registerSecret(PASSPHRASE, 'GPG passphrase');
    const tokens = Array.from({ length: MAX_ROTATING_SECRETS + 5 }, (_, i) => `minted-access-token-${String(i).padStart(4, '0')}`);
    for (const t of tokens) registerSecret(t, 'GRIN access token', { rotating: true });
    expect(scrubText(tokens[tokens.length - 1])).toBe('[redacted GRIN access token]');
    expect(scrubText(tokens[tokens.length - MAX_ROTATING_SECRETS])).toBe('[redacted GRIN access token]');
    expect(scrubText(tokens[0])).toBe(tokens[0]);
    expect(scrubText(PASSPHRASE)).toBe('[redacted GPG passphrase]');
  });

  test('scrubStandardStreams: text written to stdout is scrubbed, binary bytes pass unchanged', () => {
    registerSecret(REFRESH_TOKEN, 'OAuth refresh token');
    const written: unknown[] = [];
    const original = process.stdout.write;
    // Stands in for the terminal under the wrapper that scrubStandardStreams puts around it.
    process.stdout.write = ((chunk: unknown) => (written.push(chunk), true)) as typeof process.stdout.write;
    (process.stdout as { secretsScrubbed?: boolean }).secretsScrubbed = false;
    try {
      scrubStandardStreams();
      const binary = Buffer.from([0xff, 0xfe, ...Buffer.from(REFRESH_TOKEN)]);
      process.stdout.write(`status: ${REFRESH_TOKEN}\n`);
      process.stdout.write(Buffer.from(`bytes ${REFRESH_TOKEN}`));
      process.stdout.write(binary);
      expect(written[0]).toBe('status: [redacted OAuth refresh token]\n');
      expect(Buffer.from(written[1] as Uint8Array).toString()).toBe('bytes [redacted OAuth refresh token]');
      expect(Buffer.from(written[2] as Uint8Array).equals(binary)).toBe(true);
    } finally {
      process.stdout.write = original;
    }
  });
});
