/** The configuration module: types, schema, loading, secrets. */
export * from './types';
export * from './schema';
export * from './load';
export * from './secrets';
