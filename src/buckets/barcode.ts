/**
 * Barcodes become file names and URL parts, so each one is checked against a strict rule before it
 * touches either: 3 to 50 characters of A-Z, a-z, 0-9, `_` and `-` (no dots, slashes or spaces).
 */
import { PipelineError } from '../common/errors';
import { BARCODE_RULE, isValidBarcode } from '../common/identifiers';

export { BARCODE_RULE, isValidBarcode } from '../common/identifiers';

/** Bad input: permanent, and exit code 2 in the CLI. */
export class InvalidBarcodeError extends PipelineError {
  readonly exitCode = 2;
  constructor(readonly value: string) {
    super(`Invalid barcode ${quoteForMessage(value)}: a barcode must be ${BARCODE_RULE}.`, { retryable: false });
  }
}

/** JSON-quoted and cut short, so odd input (control characters, huge strings) prints safely. */
function quoteForMessage(value: string, max = 60): string {
  const text = String(value);
  return text.length > max ? `${JSON.stringify(text.slice(0, max))}... (${text.length} characters)` : JSON.stringify(text);
}

/** Returns the barcode unchanged when valid, else throws InvalidBarcodeError. */
export function validateBarcode(value: string): string {
  if (!isValidBarcode(value)) throw new InvalidBarcodeError(value);
  return value;
}

export interface BarcodeListProblem {
  /** 1-based line number in the source. */
  line: number;
  /** The offending text (trimmed, cut short). */
  text: string;
  reason: string;
}

export interface BarcodeList {
  /** Valid barcodes in first-seen order, without duplicates. */
  barcodes: string[];
  /** Lines that are not barcodes. */
  problems: BarcodeListProblem[];
  /** Lines that repeat an earlier barcode (the first occurrence is kept; the reason names its line). */
  duplicates: BarcodeListProblem[];
  /** Where the list came from (file name), for messages. */
  source: string;
}

/**
 * Parses a list of barcodes, one per line: blank lines and `#` comments are skipped, a TSV line
 * contributes its first column (so GRIN's `mode=all` listings work as input), and a first line whose
 * first column is the header `Barcode` is skipped. Bad and repeated lines are reported, not fatal:
 * the caller decides, but never loses sight of a line.
 */
export function parseBarcodeList(text: string, source: string): BarcodeList {
  const barcodes: string[] = [];
  const problems: BarcodeListProblem[] = [];
  /** Barcode -> the line it was first seen on. */
  const seen = new Map<string, number>();
  const duplicates: BarcodeListProblem[] = [];
  let sawData = false;

  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((raw, index) => {
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const candidate = trimmed.split('\t')[0].trim();
    const isFirstData = !sawData;
    sawData = true;
    if (isFirstData && candidate.toLowerCase() === 'barcode') return;
    const shown = trimmed.length > 80 ? `${trimmed.slice(0, 77)}...` : trimmed;
    if (!isValidBarcode(candidate)) {
      problems.push({
        line: index + 1,
        text: shown,
        reason: `${quoteForMessage(candidate)} is not a barcode (must be ${BARCODE_RULE})`,
      });
      return;
    }
    const firstLine = seen.get(candidate);
    if (firstLine !== undefined) {
      duplicates.push({ line: index + 1, text: shown, reason: `${candidate} repeats line ${firstLine} (counted once)` });
      return;
    }
    seen.set(candidate, index + 1);
    barcodes.push(candidate);
  });
  return { barcodes, problems, duplicates, source };
}

/** `file:line: reason` lines for showing a list's problems (or its duplicates) to a person. */
export function formatBarcodeListProblems(
  list: Pick<BarcodeList, 'problems' | 'source'>,
  which: BarcodeListProblem[] = list.problems,
): string[] {
  return which.map((problem) => `${list.source}:${problem.line}: ${problem.reason}`);
}
