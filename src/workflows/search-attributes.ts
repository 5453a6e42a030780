/**
 * Typed search attributes set on every book workflow so the Temporal Web UI can filter by them,
 * e.g. `GrinStage = "failed" AND GrinDirectory = "PRNC"`. Names and types are registered by the dev
 * server at start (`src/devtools/servers.ts`) and by `grin-pipeline setup` on other clusters.
 */
export const SEARCH_ATTRIBUTES = {
  GrinBarcode: 'Keyword',
  GrinDirectory: 'Keyword',
  GrinStage: 'Keyword',
  GrinBatch: 'Keyword',
} as const;
