/**
 * The Temporal Web UI's workflow list set up for books: columns that show each book's stage and, for
 * a parked one, why (search attributes GrinStage and GrinParkReason), and a saved view "Parked books"
 * (`GrinStage="failed"`). The UI (2.54, as the dev server ships it) keeps both in the browser's local
 * storage, not on the server: an operator sets them once per browser (README, "In the Temporal Web
 * UI"); the view can be saved by opening PARKED_VIEW's link, the columns by "Configure Columns".
 * scripts/screenshots.sh seeds the same settings into its headless browser.
 */

/** The list's columns, in order: the UI's own labels, and search attributes by name (the reason early: a narrow window still shows its start). */
export const BOOK_LIST_COLUMNS = ['Workflow ID', 'GrinStage', 'GrinParkReason', 'GrinBatch', 'Start', 'Status'] as const;

/** The saved view of every parked book. */
export const PARKED_VIEW = { name: 'Parked books', query: 'GrinStage="failed"' } as const;

/** Local-storage entries (key → JSON text) the Web UI reads the list's columns from, for one namespace. */
export function bookListStorage(namespace: string): Record<string, string> {
  return { 'namespace-workflow-table-columns': JSON.stringify({ [namespace]: BOOK_LIST_COLUMNS.map((label) => ({ label })) }) };
}

/**
 * The workflow list filtered to parked books. With `save`, the UI also saves the filter as the view
 * PARKED_VIEW.name in the browser that opens it (`savedQuery`; each opening adds one, so open it once).
 */
export function parkedViewUrl(uiUrl: string, namespace: string, save = false): string {
  const url = new URL(`${uiUrl.replace(/\/$/, '')}/namespaces/${encodeURIComponent(namespace)}/workflows`);
  url.searchParams.set('query', PARKED_VIEW.query);
  if (save) url.searchParams.set('savedQuery', PARKED_VIEW.name);
  return url.toString();
}

if (require.main === module) {
  // `node dist/devkit/devtools/web-ui-list.js NAMESPACE`: the local-storage entries as one JSON object (for page-screenshot --local-storage).
  process.stdout.write(`${JSON.stringify(bookListStorage(process.argv[2] ?? 'default'))}\n`);
}
