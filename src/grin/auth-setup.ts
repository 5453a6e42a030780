/**
 * `auth setup`: the one-time Google consent flow that yields a refresh token for GRIN, through
 * google-auth-library. Two ways to receive the authorization code:
 *  - loopback: a server on 127.0.0.1 receives Google's redirect (a browser on this machine);
 *  - paste: for machines without a browser. The URL is opened elsewhere; after consent the browser
 *    fails to load the 127.0.0.1 redirect, and the operator pastes that address (or just the code).
 * PKCE and a random `state` protect the exchange. The credentials file is written with mode 0600.
 */
import * as http from 'node:http';
import { randomBytes } from 'node:crypto';
import * as readline from 'node:readline';
import type { AddressInfo } from 'node:net';
import { CodeChallengeMethod, OAuth2Client } from 'google-auth-library';
import { GrinAuthSetupError } from './errors';
import { GOOGLE_TOKEN_URI, readClientSecretFile, tokenEndpointError, writeCredentialsFile, type StoredCredentials } from './auth';

export const GRIN_SCOPES = ['openid', 'https://www.googleapis.com/auth/userinfo.email', 'https://www.googleapis.com/auth/userinfo.profile'];

export interface AuthSetupOptions {
  clientSecretFile: string;
  credentialsFile: string;
  /** Token endpoint; default from the client file, else Google's. */
  tokenUri?: string;
  /** Consent page; default from the client file, else Google's. */
  authUri?: string;
  mode: 'loopback' | 'paste';
  /** Loopback port (0 = any free port). Default 0. */
  port?: number;
  /** Where instructions go (default stderr) and where a pasted answer is read from (default stdin). */
  output?: NodeJS.WritableStream;
  input?: NodeJS.ReadableStream;
  /** Give up waiting for the redirect after this long. Default 5 minutes. */
  timeoutMs?: number;
}

/** The consent URL: offline access and forced consent so Google issues a refresh token. */
export function buildConsentUrl(client: OAuth2Client, opts: { redirectUri: string; state: string; codeChallenge: string }): string {
  return client.generateAuthUrl({
    scope: GRIN_SCOPES,
    access_type: 'offline',
    prompt: 'consent',
    redirect_uri: opts.redirectUri,
    state: opts.state,
    code_challenge: opts.codeChallenge,
    code_challenge_method: CodeChallengeMethod.S256,
  });
}

/**
 * The authorization code from what the operator pasted: the full redirect address
 * (`http://127.0.0.1:…/?state=…&code=…`) or the bare code. Checks `state` when the address has one.
 */
export function extractCode(pasted: string, expectedState: string): string {
  const text = pasted.trim();
  if (text === '') throw new GrinAuthSetupError('nothing was pasted; paste the address the browser ended on, or the code');
  if (!/^https?:\/\//i.test(text) && !text.includes('code=')) return text;
  const query = text.includes('?') ? text.slice(text.indexOf('?') + 1) : text;
  const params = new URLSearchParams(query.split('#')[0]);
  const error = params.get('error');
  if (error) throw new GrinAuthSetupError(`Google refused the consent: ${error}`);
  const state = params.get('state');
  if (state !== null && state !== expectedState)
    throw new GrinAuthSetupError('the pasted address belongs to another consent attempt (state mismatch); start again');
  const code = params.get('code');
  if (!code) throw new GrinAuthSetupError('the pasted address has no code= parameter');
  return code;
}

/** Runs the consent flow and writes the credentials file. Returns its path. */
export async function runAuthSetup(opts: AuthSetupOptions): Promise<string> {
  const info = await readClientSecretFile(opts.clientSecretFile);
  const out = opts.output ?? process.stderr;
  const tokenUri = opts.tokenUri ?? info.tokenUri ?? GOOGLE_TOKEN_URI;
  const client = new OAuth2Client({
    clientId: info.clientId,
    clientSecret: info.clientSecret,
    transporterOptions: { fetchImplementation: fetch },
    endpoints: {
      oauth2TokenUrl: tokenUri,
      ...((opts.authUri ?? info.authUri) ? { oauth2AuthBaseUrl: opts.authUri ?? info.authUri } : {}),
    },
  });
  const { codeVerifier, codeChallenge } = await client.generateCodeVerifierAsync();
  if (!codeChallenge) throw new GrinAuthSetupError('could not create a PKCE challenge');
  const state = randomBytes(16).toString('hex');

  let code: string;
  let redirectUri: string;
  if (opts.mode === 'loopback') {
    const receiver = await startLoopbackReceiver(opts.port ?? 0, state, opts.timeoutMs ?? 300_000);
    redirectUri = receiver.redirectUri;
    out.write(
      `Open this address in a browser on this machine and allow access:\n\n${buildConsentUrl(client, { redirectUri, state, codeChallenge })}\n\n`,
    );
    code = await receiver.code;
  } else {
    redirectUri = `http://127.0.0.1:${opts.port ?? 8085}/`;
    out.write(
      `Open this address in any browser and allow access:\n\n${buildConsentUrl(client, { redirectUri, state, codeChallenge })}\n\n` +
        "The browser then fails to load a 127.0.0.1 page: copy that page's address from the address bar and paste it here.\n> ",
    );
    code = extractCode(await readLine(opts.input ?? process.stdin), state);
  }

  // The endpoint's answer is described, never quoted: an error page may echo the client secret.
  const { tokens } = await client.getToken({ code, codeVerifier, redirect_uri: redirectUri }).catch((err: unknown) => {
    throw tokenEndpointError(tokenUri, err);
  });
  if (!tokens.refresh_token) {
    throw new GrinAuthSetupError(
      'Google issued no refresh token. Remove this app from https://myaccount.google.com/permissions and run auth setup again.',
    );
  }
  const creds: StoredCredentials = {
    refresh_token: tokens.refresh_token,
    ...(tokens.access_token ? { access_token: tokens.access_token } : {}),
    ...(tokens.expiry_date ? { expiry_date: tokens.expiry_date } : {}),
    token_uri: tokenUri,
    ...(tokens.scope ? { scope: tokens.scope } : {}),
  };
  await writeCredentialsFile(opts.credentialsFile, creds);
  out.write(`Credentials written to ${opts.credentialsFile} (mode 0600).\n`);
  return opts.credentialsFile;
}

interface LoopbackReceiver {
  redirectUri: string;
  code: Promise<string>;
}

/** A one-shot 127.0.0.1 server that waits for Google's redirect carrying the code. */
export async function startLoopbackReceiver(port: number, state: string, timeoutMs: number): Promise<LoopbackReceiver> {
  const server = http.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const { port: actual } = server.address() as AddressInfo;
  const redirectUri = `http://127.0.0.1:${actual}/`;
  const code = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => finish(new GrinAuthSetupError(`no answer from the browser within ${Math.round(timeoutMs / 1000)} s`)),
      timeoutMs,
    );
    const finish = (err: Error | null, value?: string) => {
      clearTimeout(timer);
      server.close();
      server.closeAllConnections();
      if (err) reject(err);
      else resolve(value!);
    };
    server.on('request', (req, res) => {
      const url = new URL(req.url ?? '/', redirectUri);
      if (!url.searchParams.has('code') && !url.searchParams.has('error')) {
        res.writeHead(404).end();
        return;
      }
      try {
        const value = extractCode(url.toString(), state);
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end('GRIN pipeline: access granted. You can close this tab.\n');
        finish(null, value);
      } catch (err) {
        res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' }).end(`GRIN pipeline: ${(err as Error).message}\n`);
        finish(err as Error);
      }
    });
  });
  return { redirectUri, code };
}

function readLine(input: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve, reject) => {
    const rl = readline.createInterface({ input, terminal: false });
    rl.once('line', (line) => {
      resolve(line);
      rl.close();
    });
    rl.once('close', () => reject(new GrinAuthSetupError('input ended before a code was pasted')));
  });
}
