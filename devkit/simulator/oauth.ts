/**
 * Who may call the simulated GRIN: static bearer tokens, and access tokens issued by a token
 * endpoint that speaks Google's refresh-token grant (`POST /token`, form-encoded, JSON answer).
 * Issued tokens expire after a configurable lifetime of wall time (real time plus manual
 * advances), so clients' proactive and reactive refresh paths both get exercised.
 */
import { randomBytes } from 'node:crypto';

export interface OAuthClientConfig {
  clientId: string;
  clientSecret: string;
  refreshToken: string;
  /** Tokens issued to this client are valid but not allowed on the directory (403). */
  forbidden?: boolean;
  /**
   * The refresh token's lifetime from the simulator's start, as Google limits it for a client in
   * "Testing" publishing status (7 days): the token answer then says `refresh_token_expires_in`
   * (seconds left), and once it has passed the grant is refused as expired (invalid_grant).
   */
  refreshTokenLifetimeSeconds?: number;
}

export type TokenVerdict = 'ok' | 'forbidden' | 'invalid';

export interface TokenResponse {
  status: number;
  body: Record<string, string | number>;
}

const ISSUED_PREFIX = 'sim-at-';
const SCOPES = 'openid https://www.googleapis.com/auth/userinfo.email https://www.googleapis.com/auth/userinfo.profile';

export class TokenAuthority {
  private readonly issued = new Map<string, { expiresAt: number; forbidden: boolean }>();
  private issuedCount = 0;
  private readonly startedAt: number;

  constructor(
    private readonly staticTokens: readonly string[],
    private readonly forbiddenTokens: readonly string[],
    private readonly clients: readonly OAuthClientConfig[],
    private readonly lifetimeSeconds: number,
    private readonly wallNow: () => number,
  ) {
    if (!(lifetimeSeconds > 0)) throw new Error(`tokenLifetimeSeconds must be positive, got ${lifetimeSeconds}`);
    this.startedAt = wallNow();
  }

  /** Decides what a bearer token may do. */
  check(token: string | undefined): TokenVerdict {
    if (!token) return 'invalid';
    if (this.forbiddenTokens.includes(token)) return 'forbidden';
    if (this.staticTokens.includes(token)) return 'ok';
    const grant = this.issued.get(token);
    if (!grant) return 'invalid';
    if (grant.expiresAt <= this.wallNow()) {
      this.issued.delete(token);
      return 'invalid';
    }
    return grant.forbidden ? 'forbidden' : 'ok';
  }

  /** True for an access token this endpoint issued (not a static one), expired or not. */
  isIssued(token: string | undefined): boolean {
    return token !== undefined && token.startsWith(ISSUED_PREFIX);
  }

  /** The answer to any refresh while the grant is revoked (Google's code and wording). */
  static revoked(): TokenResponse {
    return { status: 400, body: { error: 'invalid_grant', error_description: 'Token has been expired or revoked.' } };
  }

  /** Access tokens issued so far. */
  get tokensIssued(): number {
    return this.issuedCount;
  }

  /**
   * The refresh-token grant. Client credentials come in the form (Google's default) or in an
   * HTTP Basic header. Errors use Google's codes: `invalid_client` (401), `invalid_grant` (400).
   */
  exchange(form: URLSearchParams, authorization: string | undefined): TokenResponse {
    let clientId = form.get('client_id') ?? undefined;
    let clientSecret = form.get('client_secret') ?? undefined;
    const basic = /^Basic\s+(.+)$/i.exec(authorization ?? '');
    if (basic) {
      const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon > 0) {
        clientId = decodeURIComponent(decoded.slice(0, colon));
        clientSecret = decodeURIComponent(decoded.slice(colon + 1));
      }
    }
    const grantType = form.get('grant_type');
    if (grantType !== 'refresh_token') {
      return {
        status: 400,
        body: { error: 'unsupported_grant_type', error_description: `grant_type must be refresh_token, got ${grantType ?? 'nothing'}` },
      };
    }
    const client = this.clients.find((c) => c.clientId === clientId);
    if (!client || client.clientSecret !== clientSecret) {
      return {
        status: 401,
        body: { error: 'invalid_client', error_description: 'The OAuth client was not found or its secret is wrong.' },
      };
    }
    if (form.get('refresh_token') !== client.refreshToken) return TokenAuthority.revoked();
    const refreshLeft =
      client.refreshTokenLifetimeSeconds === undefined
        ? undefined
        : Math.floor((this.startedAt + client.refreshTokenLifetimeSeconds * 1000 - this.wallNow()) / 1000);
    if (refreshLeft !== undefined && refreshLeft <= 0) return TokenAuthority.revoked();
    const accessToken = `${ISSUED_PREFIX}${randomBytes(18).toString('base64url')}`;
    this.issued.set(accessToken, { expiresAt: this.wallNow() + this.lifetimeSeconds * 1000, forbidden: client.forbidden ?? false });
    this.issuedCount += 1;
    this.forgetExpired();
    const body: Record<string, string | number> = {
      access_token: accessToken,
      expires_in: this.lifetimeSeconds,
      token_type: 'Bearer',
      scope: SCOPES,
    };
    if (refreshLeft !== undefined) body.refresh_token_expires_in = refreshLeft;
    return { status: 200, body };
  }

  private forgetExpired(): void {
    if (this.issued.size < 1000) return;
    const now = this.wallNow();
    for (const [token, grant] of this.issued) if (grant.expiresAt <= now) this.issued.delete(token);
  }
}
