/** Bearer-token checks (302 to the Google login page, 403) and the OAuth refresh-token endpoint. */
import { OAuth2Client } from 'google-auth-library';
import { request } from 'undici';
import { startSimulator, type RunningSimulator } from '../../devkit/simulator';
import { PATIENCE_MS, waitUntil } from '../support/wait';
import { TINY, call, grin } from './simulator-helpers';

async function tokenRequest(sim: RunningSimulator, form: Record<string, string>, headers: Record<string, string> = {}) {
  const res = await request(sim.tokenUri, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(form).toString(),
  });
  return { status: res.statusCode, json: (await res.body.json()) as Record<string, unknown> };
}

const CLIENT = { clientId: 'app-1', clientSecret: 'secret-1', refreshToken: 'refresh-1' };
const REFRESH = {
  grant_type: 'refresh_token',
  client_id: CLIENT.clientId,
  client_secret: CLIENT.clientSecret,
  refresh_token: CLIENT.refreshToken,
};

describe('simulator auth', () => {
  let sim: RunningSimulator;
  beforeEach(async () => {
    sim = await startSimulator({
      books: 2,
      accessTokens: ['good-token'],
      forbiddenTokens: ['other-library-token'],
      oauthClients: [CLIENT, { clientId: 'app-2', clientSecret: 'secret-2', refreshToken: 'refresh-2', forbidden: true }],
      tokenLifetimeSeconds: 600,
      ...TINY,
    });
  });
  afterEach(() => sim.close());

  it('redirects a request without a token, or with an unknown one, to the Google login page', async () => {
    for (const token of [null, 'wrong-token']) {
      const answer = await grin(sim, '_all_books?format=text', { token });
      expect(answer.status).toBe(302);
      const location = new URL(String(answer.headers.location));
      expect(`${location.origin}${location.pathname}`).toBe('https://accounts.google.com/ServiceLogin');
      expect(location.searchParams.get('continue')).toMatch(/\/libraries\/TEST\/_all_books\?format=text$/);
    }
    expect((await grin(sim, '_all_books?format=text', { token: 'good-token' })).status).toBe(200);
  });

  it('answers 403 for a token not allowed on the directory and for another directory', async () => {
    const denied = await grin(sim, '_all_books?format=text', { token: 'other-library-token' });
    expect(denied.status).toBe(403);
    expect(denied.text).toContain('TEST');
    expect((await call(`${sim.baseUrl}/OTHER/_all_books?format=text`, { token: 'good-token' })).status).toBe(403);
  });

  it('answers 403 on a forbidden directory even for good tokens', async () => {
    const closed = await startSimulator({ books: 1, directory: 'LOCKED', forbiddenDirectories: ['LOCKED'], ...TINY });
    try {
      expect((await grin(closed, '?format=text&result_count=1')).status).toBe(403);
    } finally {
      await closed.close();
    }
  });

  it('issues Google-style access tokens for a refresh token; they work until they expire', async () => {
    const answer = await tokenRequest(sim, REFRESH);
    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({ expires_in: 600, token_type: 'Bearer' });
    expect(String(answer.json.scope)).toContain('https://www.googleapis.com/auth/userinfo.email');
    const token = String(answer.json.access_token);
    expect((await grin(sim, '_in_process?format=text', { token })).status).toBe(200);
    sim.advance(599);
    expect((await grin(sim, '_in_process?format=text', { token })).status).toBe(200);
    sim.advance(1);
    expect((await grin(sim, '_in_process?format=text', { token })).status).toBe(302);
    const fresh = String((await tokenRequest(sim, REFRESH)).json.access_token);
    expect(fresh).not.toBe(token);
    expect((await grin(sim, '_in_process?format=text', { token: fresh })).status).toBe(200);
    expect(sim.stats().tokensIssued).toBe(2);
  });

  it('lets issued tokens expire in real time with a short lifetime', async () => {
    const LIFETIME_SECONDS = 3; // long enough for the first request even on a busy machine
    const quick = await startSimulator({ books: 1, tokenLifetimeSeconds: LIFETIME_SECONDS, ...TINY });
    try {
      const [client] = quick.oauthClients;
      const askedAt = Date.now();
      const answer = await tokenRequest(quick, {
        grant_type: 'refresh_token',
        client_id: client.clientId,
        client_secret: client.clientSecret,
        refresh_token: client.refreshToken,
      });
      const token = String(answer.json.access_token);
      expect((await grin(quick, '_in_process?format=text', { token })).status).toBe(200);
      // Refused from some moment on, never before its lifetime has passed.
      await waitUntil(
        async () => (await grin(quick, '_in_process?format=text', { token })).status === 302,
        PATIENCE_MS,
        'the token expired',
      );
      expect(Date.now() - askedAt).toBeGreaterThanOrEqual(LIFETIME_SECONDS * 1000);
    } finally {
      await quick.close();
    }
  });

  it("refuses bad refresh tokens, bad clients and other grants with Google's error codes", async () => {
    const badGrant = await tokenRequest(sim, { ...REFRESH, refresh_token: 'stolen' });
    expect(badGrant).toEqual({ status: 400, json: expect.objectContaining({ error: 'invalid_grant' }) });
    const badSecret = await tokenRequest(sim, { ...REFRESH, client_secret: 'guess' });
    expect(badSecret).toEqual({ status: 401, json: expect.objectContaining({ error: 'invalid_client' }) });
    const otherGrant = await tokenRequest(sim, { ...REFRESH, grant_type: 'password' });
    expect(otherGrant).toEqual({ status: 400, json: expect.objectContaining({ error: 'unsupported_grant_type' }) });
    expect(JSON.stringify([badGrant, badSecret])).not.toContain('secret-1');
    expect((await call(sim.tokenUri, { token: null })).status).toBe(405);
  });

  it('accepts client credentials in an HTTP Basic header', async () => {
    const basic = Buffer.from(`${CLIENT.clientId}:${CLIENT.clientSecret}`).toString('base64');
    const answer = await tokenRequest(
      sim,
      { grant_type: 'refresh_token', refresh_token: CLIENT.refreshToken },
      { authorization: `Basic ${basic}` },
    );
    expect(answer.status).toBe(200);
  });

  it('gives tokens of a client not allowed on the directory that answer 403', async () => {
    const answer = await tokenRequest(sim, {
      grant_type: 'refresh_token',
      client_id: 'app-2',
      client_secret: 'secret-2',
      refresh_token: 'refresh-2',
    });
    expect((await grin(sim, '_in_process?format=text', { token: String(answer.json.access_token) })).status).toBe(403);
  });

  it("works with google-auth-library's refresh flow", async () => {
    const client = new OAuth2Client({
      clientId: CLIENT.clientId,
      clientSecret: CLIENT.clientSecret,
      endpoints: { oauth2TokenUrl: sim.tokenUri },
      transporterOptions: { fetchImplementation: fetch }, // gaxios would otherwise import node-fetch dynamically, which jest cannot
    });
    client.setCredentials({ refresh_token: CLIENT.refreshToken });
    const { token } = await client.getAccessToken();
    expect(token).toMatch(/^sim-at-/);
    expect(client.credentials.expiry_date).toBeGreaterThan(Date.now() + 500_000);
    expect((await grin(sim, '_in_process?format=text', { token: token! })).status).toBe(200);
  });
});
