/**
 * `enrich`: GRIN's detailed metadata for books, one file per book (the look-ups: ../enrich.ts).
 */
import { join } from 'node:path';
import type { Command } from 'commander';
import { BUCKETS } from '../../buckets/token';
import { UsageError } from '../common';
import type { CliContext } from '../context';
import { EXIT } from '../exit-codes';

export function register(program: Command, context: CliContext): void {
  program
    .command('enrich')
    .description("Fetch GRIN's detailed metadata (_barcode_search) for books and write it per book as <out>/<barcode>.grin.json.")
    .argument('[barcodes...]', 'barcodes to look up')
    .option('--barcodes-file <file>', "one barcode per line ('-' reads standard input)")
    .option('--board', 'every book on the board')
    .option('--out <dir>', 'output folder (default: <pipelineDir>/metadata)')
    .option('--json', 'machine-readable summary on stdout (docs/cli.md)')
    .addHelpText('after', '\nExit code 2 if GRIN does not know one of the barcodes (each is named; the others are written).')
    .action(async (args: string[], opts: { barcodesFile?: string; board?: boolean; out?: string; json?: boolean }) => {
      const config = context.config();
      const log = (s: string) => process.stderr.write(`${s}\n`);
      let barcodes: string[];
      if (opts.board) {
        const board = await context.board();
        barcodes = (await Promise.all(BUCKETS.map((b) => board.listBarcodes(b)))).flat();
        if (barcodes.length === 0) throw new UsageError(`The board at ${config.pipelineDir} is empty.`);
      } else {
        const { selectBarcodes } = await import('../batch');
        barcodes = await selectBarcodes(config, { barcodesFile: opts.barcodesFile, barcodes: args }, () => context.grin(), log);
      }
      const out = opts.out ?? join(config.pipelineDir, 'metadata');
      const [{ unknownBarcodesLine, writeEnrichment }, { retrying }] = await Promise.all([import('../enrich'), import('../retry')]);
      const grin = await context.grin();
      // Retried chunk by chunk (1,000 barcodes), not as a whole: a fault late in a long list must not redo the lookups before it.
      const lookups = {
        barcodeSearch: (chunk: string[]) =>
          retrying(`GRIN _barcode_search of ${chunk.length} barcode(s)`, () => grin.barcodeSearch(chunk), { log }),
      };
      const result = await writeEnrichment(lookups, config.grin.directory, barcodes, out, (done) => {
        if (done % 1000 === 0) log(`${done}/${barcodes.length} looked up`);
      });
      if (opts.json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
      log(`${result.found} found, ${result.missing} unknown to GRIN; written to ${out}`);
      if (result.unknown.length > 0) {
        // The known ones are written; the unknown ones are bad input, named so they can be fixed.
        log(`error: ${unknownBarcodesLine(result.unknown, out)}`);
        process.exitCode = EXIT.badInput;
      }
    });
}
