/** GrinClient authentication over real HTTP: OAuth refresh through the simulator's /token, login redirects, 403. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startSimulator, type RunningSimulator } from '../../devkit/simulator';
import { GrinClient } from '../../src/grin/client';
import { OAuthTokenSource, StaticTokenSource } from '../../src/grin/auth';
import { GrinAuthError, GrinPermissionError } from '../../src/grin/errors';
import { clientFor, logged, retried } from './grin-client-helpers';

describe('GrinClient auth against the simulator', () => {
  let sim: RunningSimulator;
  let dir: string;
  let credsFile: string;
  let clientSecretFile: string;

  beforeEach(async () => {
    // Tokens live a minute: long enough that none expires by itself while a busy machine runs a test.
    sim = await startSimulator({ books: 3, tokenLifetimeSeconds: 60, forbiddenTokens: ['not-on-acl'] });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grin-client-auth-'));
    const oauth = sim.oauthClients[0]!;
    clientSecretFile = path.join(dir, 'client_secret.json');
    credsFile = path.join(dir, 'credentials.json');
    fs.writeFileSync(clientSecretFile, JSON.stringify({ installed: { client_id: oauth.clientId, client_secret: oauth.clientSecret } }));
    fs.writeFileSync(credsFile, JSON.stringify({ refresh_token: oauth.refreshToken }), { mode: 0o600 });
  });
  afterEach(async () => {
    await sim.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function oauthClient(refreshBeforeExpiryMs = 500) {
    const tokens = await OAuthTokenSource.fromFiles({
      clientSecretFile,
      credentialsFile: credsFile,
      tokenUri: sim.tokenUri,
      refreshBeforeExpiryMs,
    });
    return new GrinClient({ baseUrl: sim.baseUrl, directory: sim.directory, tokens });
  }

  it('gets a token from the simulator /token, refreshes it proactively before expiry, and stores it (0600)', async () => {
    // Refresh once the token is a second old (59 s before its 60 s expiry).
    const client = await oauthClient(59_000);
    try {
      await client.listConverted();
      expect(sim.stats().tokensIssued).toBe(1);
      const first = JSON.parse(fs.readFileSync(credsFile, 'utf8'));
      expect(first.access_token).toBeTruthy();
      expect(fs.statSync(credsFile).mode & 0o777).toBe(0o600);
      await new Promise((r) => setTimeout(r, 1_100)); // now within 59 s of the expiry
      await client.listConverted();
      expect(sim.stats().tokensIssued).toBe(2);
      expect(JSON.parse(fs.readFileSync(credsFile, 'utf8')).access_token).not.toBe(first.access_token);
      // No request was refused along the way: the refresh happened before expiry.
      expect(sim.requestLog.filter((e) => e.status === 302)).toHaveLength(0);
    } finally {
      await client.close();
    }
  });

  it('a token the server considers expired gets a login redirect, one refresh and a successful retry', async () => {
    const client = await oauthClient(0);
    try {
      await client.listConverted();
      sim.advance(3_600); // the simulator's clock (and token expiry) moves; ours does not know
      await client.listConverted();
      const calls = logged(sim, '_converted');
      expect(calls.map((c) => c.status)).toEqual([200, 302, 200]);
      expect(sim.stats().tokensIssued).toBe(2);
    } finally {
      await client.close();
    }
  });

  it('a login redirect that persists after a refresh is a GrinAuthError, without looping', async () => {
    const client = await oauthClient(0);
    try {
      sim.setFaults({ loginRedirect: 1 });
      const err = await client.listConverted().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(GrinAuthError);
      expect((err as GrinAuthError).status).toBe(302);
      expect((err as Error).message).toMatch(/auth setup/);
      expect(logged(sim, '_converted')).toHaveLength(2);
      expect(sim.stats().tokensIssued).toBe(2); // initial + one forced refresh
    } finally {
      await client.close();
    }
  });

  it('20 concurrent callers share one token refresh: exactly one POST /token each time', async () => {
    const tokens = await OAuthTokenSource.fromFiles({
      clientSecretFile,
      credentialsFile: credsFile,
      tokenUri: sim.tokenUri,
      refreshBeforeExpiryMs: 59_000,
    });
    const client = new GrinClient({ baseUrl: sim.baseUrl, directory: sim.directory, tokens });
    const tokenPosts = () => sim.requestLog.filter((e) => e.path === '/token' && e.method === 'POST').length;
    try {
      // No token yet: twenty first calls at once.
      await Promise.all(Array.from({ length: 20 }, () => client.checkAccess()));
      expect(tokenPosts()).toBe(1);
      // The token comes within 59 s of its expiry (60 s life): twenty calls find it expiring at once.
      await new Promise((r) => setTimeout(r, 1_100));
      await Promise.all(Array.from({ length: 20 }, () => client.checkAccess()));
      expect(tokenPosts()).toBe(2);
      // GRIN refuses it before we expect (its clock moved): twenty login redirects, one refresh.
      sim.advance(3_600);
      await Promise.all(Array.from({ length: 20 }, () => client.checkAccess()));
      expect(tokenPosts()).toBe(3);
      expect(fs.statSync(credsFile).mode & 0o777).toBe(0o600);
      expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    } finally {
      await client.close();
    }
  });

  it('revoked credentials (invalid_grant) are a transient GrinAuthError that names what to fix', async () => {
    const client = await oauthClient(0);
    try {
      sim.setFaults({ revokedCredentials: {} });
      const err = (await client.listConverted().catch((e: unknown) => e)) as GrinAuthError;
      expect(err).toBeInstanceOf(GrinAuthError);
      expect(err.retryable).toBe(true);
      expect(err.waitingFor).toMatch(/credentials/);
      expect(err.message).toMatch(/access token/);
      expect(err.message).not.toContain(sim.oauthClients[0]!.refreshToken);
      sim.setFaults({ revokedCredentials: undefined });
      await expect(client.listConverted()).resolves.toBeDefined();
    } finally {
      await client.close();
    }
  });

  it('a static token GRIN refuses is a GrinAuthError (no secret in the message)', async () => {
    const client = new GrinClient({ baseUrl: sim.baseUrl, directory: sim.directory, tokens: new StaticTokenSource('wrong-token') });
    try {
      const before = sim.requestLog.length;
      const err = (await retried(() => client.headArchive(`${sim.barcodes[0]}.tar.gz.gpg`)).catch((e: unknown) => e)) as Error;
      expect(err).toBeInstanceOf(GrinAuthError);
      // One refresh (none for a static token) and no retry: only the operator can fix the token.
      expect(sim.requestLog.slice(before).filter((e) => e.path.endsWith('.tar.gz.gpg'))).toHaveLength(2);
      expect(err.message).not.toContain('wrong-token');
      expect(err.message).toContain(`HEAD /${sim.directory}/${sim.barcodes[0]}.tar.gz.gpg`);
      await expect(client.checkAccess()).rejects.toBeInstanceOf(GrinAuthError);
    } finally {
      await client.close();
    }
  });

  it("403 is a GrinPermissionError explaining the ACL delay, not retried by the CLI's retry helper", async () => {
    const forbidden = new GrinClient({ baseUrl: sim.baseUrl, directory: sim.directory, tokens: new StaticTokenSource('not-on-acl') });
    const otherDir = clientFor(sim, { directory: 'OTHER' });
    try {
      const lines: string[] = [];
      const err = await retried(() => forbidden.listConverted(), lines).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(GrinPermissionError);
      expect(lines).toEqual([]);
      expect((err as Error).message).toMatch(/12 hours/);
      expect((err as GrinPermissionError).status).toBe(403);
      expect(logged(sim, '_converted')).toHaveLength(1);
      await expect(otherDir.listInProcess()).rejects.toBeInstanceOf(GrinPermissionError);
    } finally {
      await forbidden.close();
      await otherDir.close();
    }
  });

  it('checkAccess passes with a good token', async () => {
    const client = clientFor(sim);
    try {
      await expect(client.checkAccess()).resolves.toBeUndefined();
    } finally {
      await client.close();
    }
  });
});
