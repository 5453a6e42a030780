import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { OAuth2Client } from 'google-auth-library';
import { OAuthTokenSource, StaticTokenSource, createTokenSource } from '../../src/grin/auth';
import { buildConsentUrl, extractCode, runAuthSetup } from '../../src/grin/auth-setup';
import type { GrinConfig } from '../../src/config/types';

/** A minimal OAuth token endpoint (refresh_token and authorization_code grants). */
async function startTokenServer() {
  const requests: URLSearchParams[] = [];
  let counter = 0;
  let refuse = false;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const form = new URLSearchParams(body);
      requests.push(form);
      const json = (status: number, obj: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(obj));
      if (form.get('client_id') !== 'cid' || form.get('client_secret') !== 'csecret') return json(401, { error: 'invalid_client' });
      if (refuse) return json(400, { error: 'invalid_grant' });
      if (form.get('grant_type') === 'refresh_token' && form.get('refresh_token') === 'rt-1') {
        return json(200, { access_token: `at-${++counter}`, expires_in: 3600, token_type: 'Bearer' });
      }
      if (form.get('grant_type') === 'authorization_code' && form.get('code') === 'the-code' && form.get('code_verifier')) {
        return json(200, { access_token: 'at-new', refresh_token: 'rt-new', expires_in: 3600, token_type: 'Bearer', scope: 'openid' });
      }
      return json(400, { error: 'invalid_request' });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`;
  return {
    url,
    requests,
    refuse: (v: boolean) => (refuse = v),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe('OAuth token sources', () => {
  let dir: string;
  let tokenServer: Awaited<ReturnType<typeof startTokenServer>>;
  let clientFile: string;
  let credsFile: string;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grin-auth-'));
    tokenServer = await startTokenServer();
    clientFile = path.join(dir, 'client_secret.json');
    credsFile = path.join(dir, 'credentials.json');
    fs.writeFileSync(
      clientFile,
      JSON.stringify({ installed: { client_id: 'cid', client_secret: 'csecret', token_uri: 'https://oauth2.googleapis.com/token' } }),
    );
  });
  afterEach(async () => {
    await tokenServer.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('gets a token from the configured endpoint and writes it back with mode 0600', async () => {
    fs.writeFileSync(credsFile, JSON.stringify({ refresh_token: 'rt-1' }));
    const src = await OAuthTokenSource.fromFiles({ clientSecretFile: clientFile, credentialsFile: credsFile, tokenUri: tokenServer.url });
    expect(await src.getAccessToken()).toBe('at-1');
    expect(await src.getAccessToken()).toBe('at-1'); // cached, not expiring
    expect(tokenServer.requests).toHaveLength(1);
    const stored = JSON.parse(fs.readFileSync(credsFile, 'utf8'));
    expect(stored).toMatchObject({ refresh_token: 'rt-1', access_token: 'at-1', token_uri: tokenServer.url });
    expect(stored.expiry_date).toBeGreaterThan(Date.now() + 3_000_000);
    expect(fs.statSync(credsFile).mode & 0o777).toBe(0o600);
  });

  it('refreshes proactively shortly before expiry, not earlier', async () => {
    fs.writeFileSync(credsFile, JSON.stringify({ refresh_token: 'rt-1', access_token: 'old', expiry_date: Date.now() + 120_000 }));
    const fresh = await OAuthTokenSource.fromFiles({
      clientSecretFile: clientFile,
      credentialsFile: credsFile,
      tokenUri: tokenServer.url,
      refreshBeforeExpiryMs: 60_000,
    });
    expect(await fresh.getAccessToken()).toBe('old');
    expect(tokenServer.requests).toHaveLength(0);

    fs.writeFileSync(credsFile, JSON.stringify({ refresh_token: 'rt-1', access_token: 'old', expiry_date: Date.now() + 30_000 }));
    const expiring = await OAuthTokenSource.fromFiles({
      clientSecretFile: clientFile,
      credentialsFile: credsFile,
      tokenUri: tokenServer.url,
      refreshBeforeExpiryMs: 60_000,
    });
    expect(await expiring.getAccessToken()).toBe('at-1');
    expect(tokenServer.requests).toHaveLength(1);
  });

  it('refresh(rejected): concurrent callers share one refresh; a token already replaced is not refreshed again', async () => {
    fs.writeFileSync(credsFile, JSON.stringify({ refresh_token: 'rt-1', access_token: 'old', expiry_date: Date.now() + 3_600_000 }));
    const src = await OAuthTokenSource.fromFiles({ clientSecretFile: clientFile, credentialsFile: credsFile, tokenUri: tokenServer.url });
    const tokens = await Promise.all(Array.from({ length: 5 }, () => src.refresh('old')));
    expect(new Set(tokens)).toEqual(new Set(['at-1']));
    expect(await src.refresh('old')).toBe('at-1');
    expect(tokenServer.requests).toHaveLength(1);
    expect(await src.refresh()).toBe('at-2');
    expect(JSON.parse(fs.readFileSync(credsFile, 'utf8')).access_token).toBe('at-2');
  });

  it('a refused refresh token is an error', async () => {
    fs.writeFileSync(credsFile, JSON.stringify({ refresh_token: 'rt-1' }));
    tokenServer.refuse(true);
    const src = await OAuthTokenSource.fromFiles({ clientSecretFile: clientFile, credentialsFile: credsFile, tokenUri: tokenServer.url });
    await expect(src.getAccessToken()).rejects.toThrow(/invalid_grant/);
  });

  it('explains missing or broken files', async () => {
    await expect(OAuthTokenSource.fromFiles({ clientSecretFile: clientFile, credentialsFile: credsFile })).rejects.toThrow(
      /cannot read GRIN credentials file/,
    );
    fs.writeFileSync(credsFile, JSON.stringify({ access_token: 'x' }));
    await expect(OAuthTokenSource.fromFiles({ clientSecretFile: clientFile, credentialsFile: credsFile })).rejects.toThrow(
      /no refresh_token.*auth setup/,
    );
    fs.writeFileSync(clientFile, '{"web": {}}');
    fs.writeFileSync(credsFile, JSON.stringify({ refresh_token: 'rt-1' }));
    await expect(OAuthTokenSource.fromFiles({ clientSecretFile: clientFile, credentialsFile: credsFile })).rejects.toThrow(/Desktop app/);
  });

  it('createTokenSource: fixed token from a file (re-read on refresh), else OAuth, else a clear error', async () => {
    const tokenFile = path.join(dir, 'token');
    fs.writeFileSync(tokenFile, 'sim-token\n');
    const grin = { baseUrl: 'x', directory: 'T', tokenUri: tokenServer.url, accessToken: { file: tokenFile } } as GrinConfig;
    const fixed = await createTokenSource(grin);
    expect(fixed).toBeInstanceOf(StaticTokenSource);
    expect(await fixed.getAccessToken()).toBe('sim-token');
    fs.writeFileSync(tokenFile, 'rotated');
    expect(await fixed.refresh()).toBe('rotated');

    fs.writeFileSync(credsFile, JSON.stringify({ refresh_token: 'rt-1' }));
    const oauth = await createTokenSource({ ...grin, accessToken: undefined, clientSecretFile: clientFile, credentialsFile: credsFile });
    expect(await oauth.getAccessToken()).toBe('at-1');

    await expect(createTokenSource({ ...grin, accessToken: undefined })).rejects.toThrow(/credentialsFile and grin.clientSecretFile/);
  });

  describe('auth setup', () => {
    it('builds a consent URL for offline access with the GRIN scopes, PKCE and state', () => {
      const client = new OAuth2Client({ clientId: 'cid', clientSecret: 'csecret' });
      const url = new URL(buildConsentUrl(client, { redirectUri: 'http://127.0.0.1:5000/', state: 'st', codeChallenge: 'cc' }));
      expect(url.origin + url.pathname).toBe('https://accounts.google.com/o/oauth2/v2/auth');
      const q = url.searchParams;
      expect(q.get('scope')!.split(' ')).toEqual([
        'openid',
        'https://www.googleapis.com/auth/userinfo.email',
        'https://www.googleapis.com/auth/userinfo.profile',
      ]);
      expect(q.get('access_type')).toBe('offline');
      expect(q.get('prompt')).toBe('consent');
      expect(q.get('redirect_uri')).toBe('http://127.0.0.1:5000/');
      expect(q.get('state')).toBe('st');
      expect(q.get('code_challenge')).toBe('cc');
      expect(q.get('code_challenge_method')).toBe('S256');
      expect(q.get('client_id')).toBe('cid');
    });

    it('extractCode accepts a pasted address or a bare code and checks state', () => {
      expect(extractCode('http://127.0.0.1:8085/?state=s1&code=4/abc&scope=openid', 's1')).toBe('4/abc');
      expect(extractCode('  4/bare-code \n', 's1')).toBe('4/bare-code');
      expect(() => extractCode('http://127.0.0.1:8085/?state=other&code=x', 's1')).toThrow(/state mismatch/);
      expect(() => extractCode('http://127.0.0.1:8085/?error=access_denied', 's1')).toThrow(/access_denied/);
    });

    it('loopback mode: receives the redirect, exchanges the code and writes credentials (0600)', async () => {
      const output = new PassThrough();
      let printed = '';
      output.on('data', (c) => (printed += String(c)));
      const done = runAuthSetup({
        clientSecretFile: clientFile,
        credentialsFile: credsFile,
        tokenUri: tokenServer.url,
        mode: 'loopback',
        output,
        timeoutMs: 120_000,
      });
      while (!printed.includes('https://')) await new Promise((r) => setTimeout(r, 10));
      const consent = new URL(printed.match(/https:\/\/\S+/)![0]);
      const redirect = consent.searchParams.get('redirect_uri')!;
      const state = consent.searchParams.get('state')!;
      expect(redirect).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      const browser = await fetch(`${redirect}?state=${state}&code=the-code`);
      expect(browser.status).toBe(200);
      await done;
      const stored = JSON.parse(fs.readFileSync(credsFile, 'utf8'));
      expect(stored).toMatchObject({ refresh_token: 'rt-new', access_token: 'at-new', token_uri: tokenServer.url });
      expect(fs.statSync(credsFile).mode & 0o777).toBe(0o600);
      const exchange = tokenServer.requests.at(-1)!;
      expect(exchange.get('redirect_uri')).toBe(redirect);
    });

    it('paste mode: reads the pasted address from the input', async () => {
      const input = new PassThrough();
      const output = new PassThrough();
      let printed = '';
      output.on('data', (c) => (printed += String(c)));
      const done = runAuthSetup({
        clientSecretFile: clientFile,
        credentialsFile: credsFile,
        tokenUri: tokenServer.url,
        mode: 'paste',
        input,
        output,
      });
      while (!printed.includes('> ')) await new Promise((r) => setTimeout(r, 10));
      const state = new URL(printed.match(/https:\/\/\S+/)![0]).searchParams.get('state');
      input.write(`http://127.0.0.1:8085/?state=${state}&code=the-code\n`);
      await done;
      expect(JSON.parse(fs.readFileSync(credsFile, 'utf8')).refresh_token).toBe('rt-new');
    });
  });
});
