/** The Kanban board: bucket vocabulary, barcode rules, and the folder-backed board itself. */
export * from './token';
export * from './barcode';
export * from './board';
