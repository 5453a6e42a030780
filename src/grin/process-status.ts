/**
 * `_process` answers: a `Barcode\tStatus` TSV. Each status string becomes an explicit outcome.
 * Unlike grin-transfer (PROTOCOL.md §11.1), "Already being converted" means "wait for it".
 */
import { GrinAnswerError } from './errors';
import type { ConversionOutcome } from './types';
import { parseTsvWithHeader } from './parse-text';

/** Maps one GRIN status string (case-insensitive, whitespace-trimmed) to an outcome. */
export function mapConversionStatus(raw: string): ConversionOutcome {
  const text = raw.trim();
  const s = text.toLowerCase().replace(/\s+/g, ' ');
  if (s === 'success' || s === 'succeeded' || s === 'ok') return { kind: 'requested' };
  if (s.startsWith('already')) {
    // Check "converting" before "converted": "already being converted" contains both words.
    if (/being converted|in process|in progress|process|queued|in queue|converting/.test(s)) {
      return { kind: 'already_converting' };
    }
    if (/available|already converted/.test(s)) return { kind: 'already_available' };
  }
  if (s.includes('not allowed')) return { kind: 'not_allowed', text };
  if (s === 'other error') return { kind: 'other_error', text };
  return { kind: 'unknown', text };
}

/**
 * Parses a `_process` response into barcode → outcome. Columns are found by header name
 * (`Barcode`, `Status`); a body without that header but with tab-separated pairs is read by position.
 * Throws (with a description) when the body is not a status table at all.
 */
export function parseProcessResponse(body: string): Map<string, ConversionOutcome> {
  const lines = body.split(/\r?\n/).filter((l) => l.trim() !== '');
  const out = new Map<string, ConversionOutcome>();
  if (lines.length === 0) return out;
  if (lines[0]!.trimStart().startsWith('<')) {
    throw new GrinAnswerError('expected a Barcode<TAB>Status table but got HTML');
  }
  const firstFields = lines[0]!.split('\t').map((f) => f.trim().toLowerCase());
  if (firstFields.includes('barcode')) {
    const table = parseTsvWithHeader(lines.join('\n'));
    const barcodeKey = table.header.find((h) => h.trim().toLowerCase() === 'barcode')!;
    const statusKey = table.header.find((h) => h.trim().toLowerCase() === 'status');
    if (!statusKey) throw new GrinAnswerError(`no Status column in the header (${table.header.join(', ')})`);
    for (const row of table.rows) {
      const barcode = (row[barcodeKey] ?? '').trim();
      if (barcode) out.set(barcode, mapConversionStatus(row[statusKey] ?? ''));
    }
    return out;
  }
  for (const line of lines) {
    const fields = line.split('\t');
    if (fields.length < 2)
      throw new GrinAnswerError(`expected Barcode<TAB>Status, got a line without a tab: ${JSON.stringify(line.slice(0, 80))}`);
    out.set(fields[0]!.trim(), mapConversionStatus(fields[1]!));
  }
  return out;
}
