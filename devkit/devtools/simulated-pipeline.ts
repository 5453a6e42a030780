/**
 * Config overrides for running the pipeline against the GRIN simulator with everything in one data
 * folder: the simulator's token and passphrase written to files (only their paths go in the config,
 * as in production), the board, processing space and local storage beside them. Used by the demo,
 * the benchmarks and the integration tests.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface SimulatorEndpoint {
  baseUrl: string;
  directory: string;
  passphrase: string;
}

export function simulatedPipelineOverrides(sim: SimulatorEndpoint, dataDir: string, accessToken: string) {
  const secrets = join(dataDir, 'secrets');
  mkdirSync(secrets, { recursive: true, mode: 0o700 });
  writeFileSync(join(secrets, 'gpg-passphrase.txt'), sim.passphrase, { mode: 0o600 });
  writeFileSync(join(secrets, 'grin-token.txt'), accessToken, { mode: 0o600 });
  return {
    grin: {
      baseUrl: sim.baseUrl,
      directory: sim.directory,
      accessToken: { file: join(secrets, 'grin-token.txt') },
      gpgPassphrase: { file: join(secrets, 'gpg-passphrase.txt') },
    },
    pipelineDir: join(dataDir, 'pipeline'),
    processingDir: join(dataDir, 'processing'),
    storage: { kind: 'local' as const, path: join(dataDir, 'storage') },
  };
}
