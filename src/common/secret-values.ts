/**
 * Secrets by value. Redacting fields named like secrets does not stop a secret that arrives inside
 * a message (a token endpoint's error page echoing the request, a server quoting a header), so every
 * secret the process knows is registered here by value as it is read or minted, and every output
 * that leaves the process (board tokens, logs, Temporal failures, status, metrics, reports) goes
 * through `scrubText` / `scrubDeep`, which replace each value, raw or encoded, with a placeholder.
 *
 * Forms replaced: raw, URL-encoded (encodeURIComponent, and form-encoding with `+` for spaces),
 * base64 and base64url (also inside a longer base64 string, e.g. `Basic <id:secret>`), and
 * JSON-escaped. A value shorter than MIN_ENCODED_LENGTH is replaced only raw and only where it
 * stands alone (not inside a longer word): a 5-letter passphrase must not blank every word holding
 * those letters, nor its base64 every base64 string that happens to contain four letters of it.
 */

/** What replaces a secret: names its kind, never any part of the value. */
export function placeholderFor(what: string): string {
  return `[redacted ${what}]`;
}

/** Below this many characters a value is only scrubbed raw, as a whole word. */
export const MIN_ENCODED_LENGTH = 8;

interface Registered {
  what: string;
  /** Literal forms, longest first. */
  forms: string[];
  /** For short values: the raw value as a whole word. */
  word?: RegExp;
}

const registry = new Map<string, Registered>();
/** Values that are replaced in time (access tokens minted hourly), oldest first. */
const rotating: string[] = [];
/** Minted tokens kept by value: weeks of hourly refreshes must not grow the pattern without end. */
export const MAX_ROTATING_SECRETS = 64;
/** One regular expression over every form of every value, rebuilt when a value is added. */
let combined: RegExp | undefined;
let placeholders = new Map<string, string>();

/**
 * Remembers `value` (e.g. a passphrase, an access token just minted) so every later output has it
 * replaced. `what` names it in the placeholder ("GPG passphrase"). Empty values are ignored.
 * `rotating`: a value replaced in time (a minted access token); only the last MAX_ROTATING_SECRETS
 * of those are kept (older ones have expired long before).
 */
export function registerSecret(value: string | undefined | null, what = 'secret', opts: { rotating?: boolean } = {}): void {
  if (!value || registry.has(value)) return;
  if (opts.rotating) {
    rotating.push(value);
    while (rotating.length > MAX_ROTATING_SECRETS) registry.delete(rotating.shift()!);
  }
  if (value.length < MIN_ENCODED_LENGTH) {
    registry.set(value, { what, forms: [], word: new RegExp(`(?<![A-Za-z0-9_])${escapeRegExp(value)}(?![A-Za-z0-9_])`, 'g') });
  } else {
    registry.set(value, { what, forms: encodedForms(value) });
  }
  combined = undefined;
}

/** Forgets every registered value (tests). */
export function clearSecrets(): void {
  registry.clear();
  rotating.length = 0;
  combined = undefined;
  placeholders = new Map();
}

/** How many values are registered (for a start-up line and tests; never the values). */
export function registeredSecretCount(): number {
  return registry.size;
}

/** `text` with every registered secret, in every form, replaced by its placeholder. */
export function scrubText(text: string): string {
  if (registry.size === 0 || text.length === 0) return text;
  const pattern = combinedPattern();
  let out = pattern ? text.replace(pattern, (match) => placeholders.get(match) ?? placeholderFor('secret')) : text;
  for (const entry of registry.values()) {
    if (entry.word) out = out.replace(entry.word, placeholderFor(entry.what));
  }
  return out;
}

/**
 * A copy of `value` with every string inside it scrubbed (objects and arrays copied, other values
 * kept). Errors become plain objects with their name, message and stack scrubbed.
 */
export function scrubDeep<T>(value: T): T {
  return deep(value, 0) as T;
}

function deep(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return scrubText(value);
  if (value === null || typeof value !== 'object' || registry.size === 0) return value;
  if (depth > 20) return value;
  if (value instanceof Date || value instanceof Uint8Array) return value;
  if (value instanceof Error) return scrubError(value);
  if (Array.isArray(value)) return value.map((v) => deep(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = deep(v, depth + 1);
  return out;
}

/**
 * `err` with its message and stack scrubbed in place (and its cause chain's), returned for chaining.
 * In place, so the error keeps its class (and what `instanceof` says about it).
 */
export function scrubError<E extends Error>(err: E, depth = 0): E {
  if (registry.size === 0) return err;
  try {
    err.message = scrubText(err.message);
    if (err.stack) err.stack = scrubText(err.stack);
  } catch {
    // a frozen error: callers that copy fields still scrub them
  }
  const cause = (err as { cause?: unknown }).cause;
  if (cause instanceof Error && depth < 8) scrubError(cause, depth + 1);
  return err;
}

/** Text bytes scrubbed; bytes that are not UTF-8 text (binary output) are left as they are. */
function scrubBytes(chunk: Uint8Array): Uint8Array {
  const bytes = Buffer.from(chunk);
  const text = bytes.toString('utf8');
  if (!Buffer.from(text, 'utf8').equals(bytes)) return chunk;
  const scrubbed = scrubText(text);
  return scrubbed === text ? chunk : Buffer.from(scrubbed, 'utf8');
}

function combinedPattern(): RegExp | undefined {
  if (combined) return combined;
  const all: string[] = [];
  placeholders = new Map();
  for (const entry of registry.values()) {
    for (const form of entry.forms) {
      if (!placeholders.has(form)) placeholders.set(form, placeholderFor(entry.what));
      all.push(form);
    }
  }
  if (all.length === 0) return undefined;
  // Longest first, so a value that contains another is replaced whole.
  all.sort((a, b) => b.length - a.length);
  combined = new RegExp([...new Set(all)].map(escapeRegExp).join('|'), 'g');
  return combined;
}

/** Every form of `value` that may appear in an output. */
export function encodedForms(value: string): string[] {
  const forms = new Set<string>([value]);
  forms.add(encodeURIComponent(value));
  forms.add(new URLSearchParams({ v: value }).toString().slice(2)); // form-encoding: spaces as +
  forms.add(JSON.stringify(value).slice(1, -1));
  forms.add(JSON.stringify(JSON.stringify(value)).slice(2, -2)); // JSON inside JSON (a logged body)
  for (const b of base64Cores(value)) forms.add(b);
  return [...forms].filter((f) => f.length >= MIN_ENCODED_LENGTH / 2);
}

/**
 * The part of the base64 (and base64url) of `value` that is the same wherever `value` sits in a
 * longer string: for each of the three byte alignments, the characters that depend only on the
 * value's own bytes.
 */
function base64Cores(value: string): string[] {
  const bytes = Buffer.from(value, 'utf8');
  const out: string[] = [];
  for (let shift = 0; shift < 3; shift++) {
    const padded = Buffer.concat([Buffer.alloc(shift), bytes]);
    const full = padded.toString('base64');
    // Leading characters mixed with the unknown bytes before; trailing ones with those after.
    const skip = shift === 0 ? 0 : shift === 1 ? 2 : 3;
    const usableBytes = Math.floor(padded.length / 3) * 3;
    const end = (usableBytes / 3) * 4;
    const core = full.slice(skip, end);
    if (core.length >= MIN_ENCODED_LENGTH) {
      out.push(core);
      out.push(core.replace(/\+/g, '-').replace(/\//g, '_'));
    }
    // The whole encoding, padding included, when the value is encoded alone.
    if (shift === 0) {
      out.push(full);
      out.push(bytes.toString('base64url'));
    }
  }
  return out;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Scrubs everything this process writes to standard output and error (a CLI's status and report
 * text, error messages, a library printing on its own). Writes are scrubbed one call at a time:
 * callers write whole lines, so a value is never split between two calls.
 */
export function scrubStandardStreams(): void {
  for (const stream of [process.stdout, process.stderr]) {
    const marked = stream as NodeJS.WriteStream & { secretsScrubbed?: boolean };
    if (marked.secretsScrubbed) continue;
    marked.secretsScrubbed = true;
    const write = stream.write.bind(stream) as (chunk: unknown, ...rest: unknown[]) => boolean;
    stream.write = ((chunk: unknown, ...rest: unknown[]) => {
      if (registry.size > 0) {
        if (typeof chunk === 'string') chunk = scrubText(chunk);
        else if (chunk instanceof Uint8Array) chunk = scrubBytes(chunk);
      }
      return write(chunk, ...rest);
    }) as typeof stream.write;
  }
}
