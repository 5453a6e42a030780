/**
 * Looking for secrets where they must never be: any value, deep inside any structure (workflow
 * histories with their binary payloads decoded), or the lines of a text file.
 */
import { readFile } from 'node:fs/promises';

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

function contains(text: string, secret: Secret): boolean {
  return typeof secret.match === 'string' ? text.includes(secret.match) : secret.match.test(text);
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
