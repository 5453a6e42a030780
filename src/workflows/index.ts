/** Workflow entry points registered with the worker. */
export { bookWorkflow } from './book';
export { batchWorkflow } from './batch';
export { conversionWatchWorkflow } from './conversion-watcher';
