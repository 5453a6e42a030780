/**
 * Looking for secrets where they must never be: any value, deep inside any structure (workflow
 * histories with their binary payloads decoded), the lines of a text file, or every file under a
 * folder. A literal value is looked for in every form the scrubber replaces (raw, URL- and
 * form-encoded, base64 at any alignment, JSON-escaped: common/secret-values.ts `encodedForms`).
 */
import { lstat, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { encodedForms } from '../../../src/common/secret-values';

export interface Secret {
  /** What it is, for the report (never the value). */
  name: string;
  /** The literal value, or a pattern every value of this kind matches (e.g. issued access tokens). */
  match: string | RegExp;
}

export interface SecretHit {
  secret: string;
  where: string;
}

const formsCache = new Map<string, string[]>();

function contains(text: string, secret: Secret): boolean {
  if (typeof secret.match !== 'string') return secret.match.test(text);
  let forms = formsCache.get(secret.match);
  if (!forms) formsCache.set(secret.match, (forms = encodedForms(secret.match)));
  return forms.some((form) => text.includes(form));
}

/** Every string inside `value`, with byte arrays (payloads) decoded as UTF-8 and as base64 of it. */
export function textOf(value: unknown, out: string[] = [], seen = new Set<unknown>()): string[] {
  if (value === null || value === undefined) return out;
  if (typeof value === 'string') {
    out.push(value);
  } else if (value instanceof Uint8Array) {
    out.push(Buffer.from(value).toString('utf8'));
  } else if (typeof value === 'object') {
    if (seen.has(value)) return out;
    seen.add(value);
    for (const v of Array.isArray(value) ? value : Object.values(value as object)) textOf(v, out, seen);
  } else if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') {
    // no secrets in numbers
  }
  return out;
}

export function scanValue(value: unknown, where: string, secrets: readonly Secret[]): SecretHit[] {
  const text = textOf(value).join('\n');
  return secrets.filter((s) => contains(text, s)).map((s) => ({ secret: s.name, where }));
}

/** Hits per line of a text file (a log), naming the file and line number. */
export async function scanFile(file: string, secrets: readonly Secret[]): Promise<{ lines: number; hits: SecretHit[] }> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const lines = text.split('\n');
  const hits: SecretHit[] = [];
  lines.forEach((line, i) => {
    for (const s of secrets) if (contains(line, s)) hits.push({ secret: s.name, where: `${file}:${i + 1}` });
  });
  return { lines: lines.length - 1, hits };
}

/** Files bigger than this are not scanned by `scanTree` (archives and pages, not text outputs). */
const TREE_SCAN_MAX_BYTES = 8 * 1024 * 1024;

/**
 * Hits in every regular file under `root` (tokens, per-stage logs, batch lists, reports), line by
 * line; symbolic links are not followed. Returns how many files were read.
 */
export async function scanTree(root: string, secrets: readonly Secret[]): Promise<{ files: number; hits: SecretHit[] }> {
  const hits: SecretHit[] = [];
  let files = 0;
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const full = join(dir, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (entry.isFile() && (await lstat(full)).size <= TREE_SCAN_MAX_BYTES) {
        files++;
        hits.push(...(await scanFile(full, secrets)).hits);
      }
    }
  };
  await walk(root);
  return { files, hits };
}
