/**
 * One workflow per book, id `grin/<directory>/<barcode>`: a walk down a table of stages, each taking
 * the book from one bucket to the next (book-run.ts). A new run continues from the bucket its token
 * is in (after a terminate, or Temporal losing its data); a stage that fails for a reason retrying
 * cannot fix parks the book in `failed` until an operator's `retry` (which starts that stage over
 * from what is true now) or `cancel`. The shape is decided once, at the start: a book started
 * before `lean-book` keeps the legacy shape to its end. Deterministic code only; see
 * docs/workflow-changes.md before changing it.
 */
import { patched } from '@temporalio/workflow';
import { leanBook } from './book-lean';
import { legacyBook } from './book-legacy';
import type { BookInput, BookOutcome } from './contracts';

/**
 * Fewer history events and round trips per book (issue on per-book cost): the shape in
 * book-lean.ts. Patch ids (docs/workflow-changes.md) each name a behaviour change that old
 * histories replay without.
 */
const LEAN_BOOK = 'lean-book';
/**
 * The lean shape with every behaviour patch in book-run.ts applied from the first workflow task,
 * instead of each asked where it first matters (BookShape.patchesApplied says why). Asked first, so
 * a new book records this one marker and never `lean-book`; books that recorded `lean-book` keep
 * asking each patch where they did.
 */
const LEAN_BOOK_2 = 'lean-book-2';

export async function bookWorkflow(input: BookInput): Promise<BookOutcome> {
  if (patched(LEAN_BOOK_2)) return leanBook(input, { patchesApplied: true });
  return patched(LEAN_BOOK) ? leanBook(input) : legacyBook(input);
}
