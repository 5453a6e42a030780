/** Jest: TypeScript through swc (type checking is done by `tsc --noEmit` in `npm run lint`). */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // The cluster tests start their own Temporal cluster: `npm run test:cluster` (jest.cluster.config.js).
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/cluster/'],
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }] },
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  // Decryption threads run from source (no compiled decrypt-worker.js): test/support/decrypt-thread-under-test.ts.
  setupFiles: ['<rootDir>/test/support/jest-setup.ts'],
  testSequencer: '<rootDir>/test/support/sequencer.js',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  // Generous: on a busy machine a test may take many times longer than on an idle one. Tests wait
  // for conditions; this only bounds a test that hangs.
  testTimeout: 300_000,
  // A test that fails half-way can leave an in-process worker polling a server the teardown has
  // stopped; exit when the run is over instead of waiting for it (seen once: a hung CI run).
  forceExit: true,
};
