/**
 * Jest for `npm run test:cluster` (issue 22): the tests under test/cluster, which start their own
 * Temporal cluster (PostgreSQL, four server processes) instead of the dev server, so no global setup.
 * Not part of `npm test`; `.ci/run` runs both.
 */
const base = require('./jest.config');

module.exports = {
  testEnvironment: base.testEnvironment,
  transform: base.transform,
  setupFiles: base.setupFiles,
  roots: ['<rootDir>/test/cluster'],
  testMatch: ['**/*.test.ts'],
  // A cold machine builds the Temporal server first (minutes); then the batch waits for events.
  testTimeout: 45 * 60_000,
  forceExit: true,
};
