/** Stops the servers `global-setup.ts` started. */
export default async function globalTeardown(): Promise<void> {
  await Promise.all((globalThis.__GRIN_TEST_SERVERS__ ?? []).map((s) => s.stop()));
}
