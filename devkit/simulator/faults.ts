/**
 * Fault injection. Each switch says which requests misbehave: a rate (0..1, decided by a seeded
 * RNG), a list of barcodes, and/or `times` (only the first N matching requests, so a "transient"
 * fault clears). A bare number is a rate, a bare array is a barcode list, `{}` matches everything.
 */
import { seededRandom, deriveSeed, type Random } from './random';

export interface FaultRule {
  /** Probability that a candidate request is hit (default 1). */
  rate?: number;
  /** Only requests about these barcodes are candidates (default: every request). */
  barcodes?: string[];
  /** Stop after this many hits. */
  times?: number;
}

export type FaultSwitch = FaultRule | number | string[];

/** Switches that decide per request whether a fault fires. */
export const FAULT_SWITCHES = [
  'serverError', // any request: 5xx (status `serverErrorStatus`, default 500)
  'rateLimitArchive', // HEAD/GET archive: 429
  'slowBody', // GET archive: body sent at `slowBodyBytesPerSecond`
  'truncateBody', // GET archive: part of the body, then the connection is destroyed
  'missingEtag', // HEAD/GET archive: no ETag header
  'transient404', // HEAD/GET archive: 404 although the package is in the pool
  'loginRedirect', // any GRIN request: 302 to the Google login page although the token is good
  'requestUnavailable', // HTML listings: GRIN's "Your request is unavailable" page
  'deepHtml', // HTML listings: a page with elements nested `deepHtmlLevels` deep (a hostile or broken page)
  'connectionClose', // any request: answered with `Connection: close`, the server closing the connection after it
  // While on: the token endpoint answers 400 invalid_grant (the refresh token was revoked) and access
  // tokens it issued earlier are refused (login redirect); static bearer tokens keep working.
  'revokedCredentials',
  // Decided once per generated archive (barcode, conversion):
  'badPassphrase', // encrypted with another passphrase
  'corruptArchive', // bytes flipped in the encrypted file
  'checksumMismatch',
  'notGzip',
  'truncatedTar',
  'noMarc',
  'missingListedFile',
  'missingPageText',
  'hostileArchive', // a tar whose first entry is `../<barcode>-escape.txt`
  'decompressionBomb', // a ~4 MB tar.gz that unpacks to 4 GiB of zeros
] as const;

export type FaultName = (typeof FAULT_SWITCHES)[number];

export type FaultConfig = { [K in FaultName]?: FaultSwitch } & {
  /** HTTP status for `serverError` (default 500). */
  serverErrorStatus?: number;
  /** Body speed for `slowBody`; when set without a `slowBody` switch, every archive GET is slow. */
  slowBodyBytesPerSecond?: number;
  /** Share of the archive sent before `truncateBody` cuts the connection (default 0.5). */
  truncateBodyFraction?: number;
  /** How deep `deepHtml` nests its elements (default 10,000). */
  deepHtmlLevels?: number;
};

const SETTINGS = ['serverErrorStatus', 'slowBodyBytesPerSecond', 'truncateBodyFraction', 'deepHtmlLevels'] as const;

function normaliseSwitch(name: string, value: FaultSwitch): FaultRule {
  const rule: FaultRule = typeof value === 'number' ? { rate: value } : Array.isArray(value) ? { barcodes: value } : { ...value };
  if (rule.rate !== undefined && !(rule.rate >= 0 && rule.rate <= 1)) {
    throw new Error(`fault "${name}": rate must be between 0 and 1, got ${String(rule.rate)}`);
  }
  if (rule.times !== undefined && !(Number.isInteger(rule.times) && rule.times >= 0)) {
    throw new Error(`fault "${name}": times must be a non-negative integer, got ${String(rule.times)}`);
  }
  if (rule.barcodes !== undefined && !(Array.isArray(rule.barcodes) && rule.barcodes.every((b) => typeof b === 'string'))) {
    throw new Error(`fault "${name}": barcodes must be a list of strings`);
  }
  for (const key of Object.keys(rule)) {
    if (!['rate', 'barcodes', 'times'].includes(key))
      throw new Error(`fault "${name}": unknown field "${key}" (expected rate, barcodes, times)`);
  }
  return rule;
}

/** Checks a fault configuration (e.g. parsed from the CLI's JSON) and names the first bad key. */
export function validateFaultConfig(config: unknown): FaultConfig {
  if (config === null || typeof config !== 'object' || Array.isArray(config)) throw new Error('faults must be a JSON object of switches');
  for (const [key, value] of Object.entries(config)) {
    if ((SETTINGS as readonly string[]).includes(key)) {
      if (typeof value !== 'number' || !(value >= 0)) throw new Error(`fault setting "${key}" must be a non-negative number`);
      continue;
    }
    if (!(FAULT_SWITCHES as readonly string[]).includes(key)) {
      throw new Error(`unknown fault "${key}"; known: ${[...FAULT_SWITCHES, ...SETTINGS].join(', ')}`);
    }
    if (value !== undefined) normaliseSwitch(key, value as FaultSwitch);
  }
  return config as FaultConfig;
}

export class FaultInjector {
  private readonly random: Random;
  private readonly rules = new Map<FaultName, { rule: FaultRule; hits: number }>();
  private settings: Pick<FaultConfig, (typeof SETTINGS)[number]> = {};

  constructor(seed: number, config: FaultConfig = {}) {
    this.random = seededRandom(deriveSeed(seed, 'faults'));
    this.set(config);
  }

  /** Replaces the named switches (their hit counts restart); `undefined` turns a switch off. */
  set(config: Partial<FaultConfig>): void {
    validateFaultConfig(config);
    for (const [key, value] of Object.entries(config)) {
      if ((SETTINGS as readonly string[]).includes(key)) {
        this.settings = { ...this.settings, [key]: value as number | undefined };
      } else if (value === undefined) {
        this.rules.delete(key as FaultName);
      } else {
        this.rules.set(key as FaultName, { rule: normaliseSwitch(key, value as FaultSwitch), hits: 0 });
      }
    }
  }

  /** Decides (and counts) whether `name` fires for a request about these barcodes. */
  fires(name: FaultName, barcodes: readonly string[] = []): boolean {
    const entry = this.rules.get(name);
    if (!entry) return false;
    const { rule } = entry;
    if (rule.times !== undefined && entry.hits >= rule.times) return false;
    if (rule.barcodes && !barcodes.some((b) => rule.barcodes!.includes(b))) return false;
    if (rule.rate !== undefined && rule.rate < 1 && !(this.random() < rule.rate)) return false;
    entry.hits += 1;
    return true;
  }

  /** True when a switch is configured at all (whether or not it would fire). */
  has(name: FaultName): boolean {
    return this.rules.has(name);
  }

  get serverErrorStatus(): number {
    return this.settings.serverErrorStatus ?? 500;
  }

  get slowBodyBytesPerSecond(): number | undefined {
    return this.settings.slowBodyBytesPerSecond;
  }

  get deepHtmlLevels(): number {
    return this.settings.deepHtmlLevels ?? 10_000;
  }

  get truncateBodyFraction(): number {
    return Math.min(Math.max(this.settings.truncateBodyFraction ?? 0.5, 0), 0.99);
  }
}
