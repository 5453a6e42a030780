/**
 * Where GRIN bearer tokens come from: a fixed token (simulator, tests) or Google OAuth2 with a stored
 * refresh token, through google-auth-library's OAuth2Client. Refreshed tokens are written back to
 * the credentials file (mode 0600). Token values never appear in errors or logs: every client secret,
 * refresh token and access token (also those minted at run time) is registered with the scrubber
 * (common/secret-values.ts), and a token endpoint's answer is described by its status and content
 * type, never quoted (an error page may echo the request, secrets included).
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { OAuth2Client, type Credentials } from 'google-auth-library';
import type { GrinConfig } from '../config/types';
import { readSecret, SecretError } from '../config/secrets';
import { writeFileAtomic } from '../common/atomic-file';
import { GrinCredentialsError, TokenEndpointError } from './errors';

export { TokenEndpointError };
import { registerSecret } from '../common/secret-values';

export interface AccessTokenSource {
  /** A token believed valid now (refreshing first when it is about to expire). */
  getAccessToken(): Promise<string>;
  /**
   * Forces a new token. `rejected` is the token GRIN just refused: when another caller has already
   * replaced it, the current token is returned without a second refresh.
   */
  refresh(rejected?: string): Promise<string>;
}

export const GOOGLE_TOKEN_URI = 'https://oauth2.googleapis.com/token';
/** A refreshed token is used at least this long before the next proactive refresh. */
const MIN_TOKEN_USE_MS = 1_000;

/** A fixed token; `refresh()` re-reads it through the loader, when given (a rotated token file). */
export class StaticTokenSource implements AccessTokenSource {
  private current: Promise<string>;
  constructor(
    token: string,
    private readonly loader?: () => Promise<string>,
  ) {
    registerSecret(token, 'GRIN access token');
    this.current = Promise.resolve(token);
  }
  static async fromLoader(loader: () => Promise<string>): Promise<StaticTokenSource> {
    return new StaticTokenSource(await loader(), loader);
  }
  getAccessToken(): Promise<string> {
    return this.current;
  }
  refresh(): Promise<string> {
    if (this.loader) this.current = this.loader();
    return this.current;
  }
}

/** Installed-app client JSON as downloaded from the Google Cloud console. */
export interface ClientSecretFile {
  installed?: { client_id?: string; client_secret?: string; token_uri?: string; auth_uri?: string; redirect_uris?: string[] };
  web?: { client_id?: string; client_secret?: string; token_uri?: string; auth_uri?: string; redirect_uris?: string[] };
}

/** What we store: the refresh token plus the last access token and its expiry. */
export interface StoredCredentials {
  refresh_token: string;
  access_token?: string;
  /** Milliseconds since the epoch. */
  expiry_date?: number;
  token_uri?: string;
  scope?: string;
  token_type?: string;
}

export interface OAuthClientInfo {
  clientId: string;
  clientSecret: string;
  tokenUri?: string;
  authUri?: string;
}

export async function readClientSecretFile(file: string): Promise<OAuthClientInfo> {
  const json = await readJsonFile<ClientSecretFile>(file, 'OAuth client secret file');
  const c = json.installed ?? json.web;
  if (!c?.client_id || !c.client_secret) {
    throw new GrinCredentialsError(
      `OAuth client secret file ${file} has no installed.client_id/client_secret; download the "Desktop app" client JSON from the Google Cloud console`,
    );
  }
  registerSecret(c.client_secret, 'OAuth client secret');
  return { clientId: c.client_id, clientSecret: c.client_secret, tokenUri: c.token_uri, authUri: c.auth_uri };
}

export async function readCredentialsFile(file: string): Promise<StoredCredentials> {
  const json = await readJsonFile<Partial<StoredCredentials>>(file, 'GRIN credentials file');
  if (!json.refresh_token) {
    throw new GrinCredentialsError(`GRIN credentials file ${file} has no refresh_token; run \`grin-pipeline auth setup\` to create it`);
  }
  registerSecret(json.refresh_token, 'OAuth refresh token');
  registerSecret(json.access_token, 'GRIN access token');
  return json as StoredCredentials;
}

async function readJsonFile<T>(file: string, what: string): Promise<T> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    throw new GrinCredentialsError(`cannot read ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, err);
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new GrinCredentialsError(`${what} ${file} is not valid JSON`);
  }
}

/** Writes the credentials atomically (unique temp file + rename) with mode 0600. */
export async function writeCredentialsFile(file: string, creds: StoredCredentials): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  await writeFileAtomic(file, JSON.stringify(creds, null, 2) + '\n', { mode: 0o600 });
}

export interface OAuthTokenSourceOptions {
  client: OAuthClientInfo;
  credentials: StoredCredentials;
  /** Where refreshed credentials are written back; omit to keep them in memory only. */
  credentialsFile?: string;
  /** Token endpoint; wins over the one in the files. Default Google's. */
  tokenUri?: string;
  /** Refresh this long before the access token expires. Default 60 s. */
  refreshBeforeExpiryMs?: number;
}

/**
 * Google OAuth2 (refresh-token grant) through google-auth-library. Refresh is single-flight: however
 * many callers find the token expiring (or refused) at once, one request goes to the token endpoint
 * and all of them get its answer.
 */
export class OAuthTokenSource implements AccessTokenSource {
  readonly oauth: OAuth2Client;
  readonly tokenUri: string;
  private readonly credentialsFile?: string;
  private readonly refreshToken: string;
  private readonly refreshBeforeExpiryMs: number;
  /** Lifetime of the last token issued: a token is used for at least MIN_TOKEN_USE_MS of it. */
  private lifetimeMs?: number;
  private refreshing?: Promise<string>;
  private persisted?: string;
  /**
   * When the refresh token itself stops working, if the token endpoint said so (Google's
   * `refresh_token_expires_in`, e.g. for a client left in "Testing" publishing status: 7 days);
   * milliseconds since the epoch. `check-config --connect` warns about it.
   */
  refreshTokenExpiresAt?: number;

  constructor(opts: OAuthTokenSourceOptions) {
    this.tokenUri = opts.tokenUri ?? opts.credentials.token_uri ?? opts.client.tokenUri ?? GOOGLE_TOKEN_URI;
    registerSecret(opts.client.clientSecret, 'OAuth client secret');
    registerSecret(opts.credentials.refresh_token, 'OAuth refresh token');
    registerSecret(opts.credentials.access_token, 'GRIN access token');
    this.credentialsFile = opts.credentialsFile;
    this.refreshToken = opts.credentials.refresh_token;
    this.refreshBeforeExpiryMs = opts.refreshBeforeExpiryMs ?? 60_000;
    this.oauth = new OAuth2Client({
      clientId: opts.client.clientId,
      clientSecret: opts.client.clientSecret,
      endpoints: { oauth2TokenUrl: this.tokenUri },
      // Node's own fetch: gaxios would otherwise load node-fetch through a dynamic ESM import.
      transporterOptions: { fetchImplementation: fetch },
    });
    this.oauth.setCredentials({
      refresh_token: opts.credentials.refresh_token,
      access_token: opts.credentials.access_token,
      expiry_date: opts.credentials.expiry_date,
    });
    this.persisted = opts.credentials.access_token;
  }

  /** From the installed-app client JSON and the stored credentials JSON. */
  static async fromFiles(opts: {
    clientSecretFile: string;
    credentialsFile: string;
    tokenUri?: string;
    refreshBeforeExpiryMs?: number;
  }): Promise<OAuthTokenSource> {
    const [client, credentials] = await Promise.all([
      readClientSecretFile(opts.clientSecretFile),
      readCredentialsFile(opts.credentialsFile),
    ]);
    return new OAuthTokenSource({ ...opts, client, credentials });
  }

  async getAccessToken(): Promise<string> {
    if (this.refreshing) return this.refreshing;
    const { access_token: token, expiry_date: expiry } = this.oauth.credentials;
    if (token && !this.expiresSoon(expiry)) return token;
    return this.refresh();
  }

  refresh(rejected?: string): Promise<string> {
    if (this.refreshing) return this.refreshing;
    const current = this.oauth.credentials.access_token;
    if (rejected !== undefined && current && current !== rejected) return Promise.resolve(current);
    const refreshing = (async () => {
      try {
        const requestedAt = Date.now();
        const { credentials } = await this.oauth.refreshAccessToken().catch((err: unknown) => {
          throw tokenEndpointError(this.tokenUri, err);
        });
        if (!credentials.access_token) throw new GrinCredentialsError('the OAuth token endpoint returned no access token');
        registerSecret(credentials.access_token, 'GRIN access token', { rotating: true });
        registerSecret(credentials.refresh_token, 'OAuth refresh token');
        if (credentials.expiry_date) this.lifetimeMs = credentials.expiry_date - requestedAt;
        const refreshLeft = (credentials as { refresh_token_expires_in?: unknown }).refresh_token_expires_in;
        if (typeof refreshLeft === 'number' && refreshLeft >= 0) this.refreshTokenExpiresAt = requestedAt + refreshLeft * 1000;
        await this.persist();
        return credentials.access_token;
      } finally {
        this.refreshing = undefined;
      }
    })();
    this.refreshing = refreshing;
    return refreshing;
  }

  /**
   * True when the token should be replaced now: within `refreshBeforeExpiryMs` of its expiry, but
   * never before it has been used for MIN_TOKEN_USE_MS (a margin as long as the token's life would
   * otherwise refresh it at every call).
   */
  private expiresSoon(expiry: number | null | undefined): boolean {
    if (!expiry) return false; // unknown: use it until GRIN refuses it
    const margin = Math.min(this.refreshBeforeExpiryMs, (this.lifetimeMs ?? Infinity) - MIN_TOKEN_USE_MS);
    return expiry - Date.now() <= margin;
  }

  /** Writes the credentials back when the access token changed since the last write. */
  private async persist(): Promise<void> {
    const c: Credentials = this.oauth.credentials;
    if (!this.credentialsFile || !c.access_token || c.access_token === this.persisted) return;
    this.persisted = c.access_token;
    await writeCredentialsFile(this.credentialsFile, {
      refresh_token: c.refresh_token ?? this.refreshToken,
      access_token: c.access_token,
      expiry_date: c.expiry_date ?? undefined,
      token_uri: this.tokenUri,
      ...(c.scope ? { scope: c.scope } : {}),
      ...(c.token_type ? { token_type: c.token_type } : {}),
    });
  }
}

/** OAuth's error codes (RFC 6749 5.2): the only part of a token endpoint's answer an error repeats. */
const OAUTH_ERROR_CODES = new Set([
  'invalid_request',
  'invalid_client',
  'invalid_grant',
  'unauthorized_client',
  'unsupported_grant_type',
  'invalid_scope',
]);

export function tokenEndpointError(tokenUri: string, err: unknown): TokenEndpointError {
  const e = err as { response?: { status?: number; headers?: unknown; data?: unknown }; code?: unknown; cause?: { code?: unknown } };
  const endpoint = endpointName(tokenUri);
  const status = e?.response?.status;
  if (typeof status === 'number') {
    const type = headerOf(e.response?.headers, 'content-type')?.split(';')[0].trim() || 'no content type';
    const data = e.response?.data as { error?: unknown } | undefined;
    const code =
      typeof data === 'object' && data !== null && typeof data.error === 'string' && OAUTH_ERROR_CODES.has(data.error)
        ? data.error
        : undefined;
    return new TokenEndpointError(
      `the OAuth token endpoint ${endpoint} answered HTTP ${status} (${type})${code ? `, OAuth error ${code}` : ''}`,
      status,
      code,
    );
  }
  const network = [e?.code, e?.cause?.code].find((c): c is string => typeof c === 'string' && /^[A-Z][A-Z0-9_]+$/.test(c));
  return new TokenEndpointError(
    `the OAuth token endpoint ${endpoint} could not be reached${network ? ` (${network})` : ''}`,
    undefined,
    network,
  );
}

/** Origin and path of the token endpoint, without a query or user info. */
function endpointName(uri: string): string {
  try {
    const u = new URL(uri);
    return `${u.origin}${u.pathname}`;
  } catch {
    return '(unparseable token URI)';
  }
}

function headerOf(headers: unknown, name: string): string | undefined {
  if (!headers) return undefined;
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  const v = (headers as Record<string, unknown>)[name];
  return typeof v === 'string' ? v : Array.isArray(v) && typeof v[0] === 'string' ? v[0] : undefined;
}

/** The token source a GRIN config asks for: a fixed `accessToken`, else OAuth from the two files. */
export async function createTokenSource(grin: GrinConfig): Promise<AccessTokenSource> {
  if (grin.accessToken) {
    const ref = grin.accessToken;
    return StaticTokenSource.fromLoader(async () => readSecret(ref, 'GRIN access token (grin.accessToken)'));
  }
  if (grin.credentialsFile && grin.clientSecretFile) {
    return OAuthTokenSource.fromFiles({
      clientSecretFile: grin.clientSecretFile,
      credentialsFile: grin.credentialsFile,
      tokenUri: grin.tokenUri,
    });
  }
  // A setting to fix (exit 2 in the CLI), not a bug: one line, no stack.
  throw new SecretError(
    'GRIN credentials missing: set grin.credentialsFile and grin.clientSecretFile (run `grin-pipeline auth setup`), or grin.accessToken',
    'GRIN credentials',
  );
}
