/** The standalone simulator's command line: every flag documented, values parsed and checked. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSimulatorArgs, simulatorCommand } from '../../devkit/simulator/cli';
import { startSimulator } from '../../devkit/simulator';
import { grin, lines } from './simulator-helpers';

function quiet() {
  return simulatorCommand()
    .exitOverride()
    .configureOutput({ writeOut: () => undefined, writeErr: () => undefined });
}

describe('simulator CLI', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'grin-sim-cli-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('documents every flag in --help', () => {
    const help = simulatorCommand().helpInformation();
    for (const flag of [
      '--books',
      '--port',
      '--directory',
      '--clock-speed',
      '--queue-cap',
      '--conversions-per-day',
      '--pool-cap',
      '--faults',
      '--data-dir',
      '--token-lifetime',
      '--passphrase-file',
      '--filename-prefix',
      '--html-paging',
      '--all-books-layout',
    ]) {
      expect(help).toContain(flag);
    }
  });

  it('turns flags into simulator options and the simulator runs with them', async () => {
    writeFileSync(join(dir, 'pass.txt'), 'words of the library\n');
    writeFileSync(join(dir, 'faults.json'), JSON.stringify({ transient404: { times: 1 } }));
    const { options, logRequests } = parseSimulatorArgs(
      [
        '--books',
        '3',
        '--barcodes',
        'AB001,AB002',
        '--directory',
        'UOM',
        '--port',
        '0',
        '--passphrase-file',
        join(dir, 'pass.txt'),
        '--pages',
        '2',
        '--page-image-bytes',
        '4096',
        '--clock-speed',
        '1440',
        '--queue-cap',
        '20',
        '--faults',
        `@${join(dir, 'faults.json')}`,
        '--initial-state',
        'all-new',
        '--token',
        'tok-a',
        '--token',
        'tok-b',
        '--oauth-client',
        'id:secret:refresh',
        '--log-requests',
      ],
      quiet(),
    );
    expect(options).toMatchObject({
      books: 3,
      barcodes: ['AB001', 'AB002'],
      directory: 'UOM',
      passphrase: 'words of the library',
      pages: { min: 2, max: 2 },
      clockSpeed: 1440,
      queueCap: 20,
      faults: { transient404: { times: 1 } },
      accessTokens: ['tok-a', 'tok-b'],
      oauthClients: [{ clientId: 'id', clientSecret: 'secret', refreshToken: 'refresh' }],
    });
    expect(logRequests).toBe(true);
    const sim = await startSimulator(options);
    try {
      expect(lines((await grin(sim, '_all_books?format=text', { token: 'tok-b' })).text)).toHaveLength(5);
      expect(sim.passphrase).toBe('words of the library');
    } finally {
      await sim.close();
    }
  });

  it('names the flag of a bad value', () => {
    expect(() => parseSimulatorArgs(['--queue-cap', 'lots'], quiet())).toThrow(/--queue-cap needs an integer/);
    expect(() => parseSimulatorArgs(['--faults', '{"nope":1}'], quiet())).toThrow(/unknown fault "nope"/);
    expect(() => parseSimulatorArgs(['--initial-state', 'some'], quiet())).toThrow(/initial-state/);
  });
});
