/**
 * `npm run simulator -- --books 1000 --port 8085 ...`: runs the GRIN simulator on its own until
 * Ctrl-C, and prints what a pipeline config needs to talk to it.
 */
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { FAULT_SWITCHES, startSimulator, validateFaultConfig, type SimulatorOptions } from './index';
import { DEFAULT_OAUTH_CLIENT } from './options';
import type { OAuthClientConfig } from './oauth';
import type { BookState } from './inventory';

function integer(flag: string, min: number) {
  return (text: string): number => {
    const value = Number(text);
    if (!Number.isInteger(value) || value < min) throw new InvalidArgumentError(`${flag} needs an integer >= ${min}, got "${text}"`);
    return value;
  };
}

function decimal(flag: string, min: number, max = Infinity) {
  return (text: string): number => {
    const value = Number(text);
    if (!Number.isFinite(value) || value < min || value > max)
      throw new InvalidArgumentError(`${flag} needs a number from ${min}${max < Infinity ? ` to ${max}` : ''}, got "${text}"`);
    return value;
  };
}

/** A value given inline or, with a leading `@`, read from that file. */
function inlineOrFile(text: string): string {
  return text.startsWith('@') ? readFileSync(text.slice(1), 'utf8') : text;
}

function barcodeList(text: string, previous: string[] = []): string[] {
  return [
    ...previous,
    ...inlineOrFile(text)
      .split(/[\s,]+/)
      .filter(Boolean),
  ];
}

function repeatable(text: string, previous: string[] = []): string[] {
  return [...previous, text];
}

function pageRange(text: string): { min: number; max: number } {
  const match = /^(\d+)(?:-(\d+))?$/.exec(text);
  if (!match) throw new InvalidArgumentError(`--pages needs N or MIN-MAX, got "${text}"`);
  return { min: Number(match[1]), max: Number(match[2] ?? match[1]) };
}

function oauthClient(text: string, previous: OAuthClientConfig[] = []): OAuthClientConfig[] {
  const parts = text.split(':');
  if (parts.length !== 3 || parts.some((p) => !p))
    throw new InvalidArgumentError('--oauth-client needs CLIENT_ID:CLIENT_SECRET:REFRESH_TOKEN');
  return [...previous, { clientId: parts[0], clientSecret: parts[1], refreshToken: parts[2] }];
}

function initialStates(text: string): Record<string, BookState> {
  try {
    return JSON.parse(inlineOrFile(text)) as Record<string, BookState>;
  } catch (error) {
    throw new InvalidArgumentError(`--initial-states needs a JSON object {"BARCODE": "STATE"}: ${(error as Error).message}`);
  }
}

function bookPages(text: string): Record<string, number> {
  try {
    return JSON.parse(inlineOrFile(text)) as Record<string, number>;
  } catch (error) {
    throw new InvalidArgumentError(`--book-pages needs a JSON object {"BARCODE": PAGES}: ${(error as Error).message}`);
  }
}

function faults(text: string): SimulatorOptions['faults'] {
  try {
    return validateFaultConfig(JSON.parse(inlineOrFile(text)));
  } catch (error) {
    throw new InvalidArgumentError(`--faults: ${(error as Error).message}`);
  }
}

export function simulatorCommand(): Command {
  return new Command('simulator')
    .description('Run the GRIN simulator: a fake Google Return INterface library directory over HTTP, until Ctrl-C.')
    .option('--directory <name>', 'library directory (case-sensitive)', 'TEST')
    .option('--books <n>', 'generated books (39999 + 9 digits); default 100, or 0 with --barcodes', integer('--books', 0))
    .option(
      '--barcodes <list|@file>',
      'explicit barcodes, comma/space/newline separated, added after the generated ones (repeatable)',
      barcodeList,
    )
    .option('--seed <n>', 'seed for every generated fact', integer('--seed', 0), 1)
    .option('--port <n>', 'TCP port (0 = any free port)', integer('--port', 0), 8085)
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .option('--passphrase-file <path>', 'read the GPG passphrase from this file (default passphrase: simulator-passphrase)')
    .option('--token <token>', 'accepted static bearer token (repeatable; default sim-token)', repeatable)
    .option('--forbidden-token <token>', 'bearer token that is valid but gets 403 on the directory (repeatable)', repeatable)
    .option(
      '--oauth-client <id:secret:refresh>',
      `client of the /token endpoint (repeatable; default ${DEFAULT_OAUTH_CLIENT.clientId}:${DEFAULT_OAUTH_CLIENT.clientSecret}:${DEFAULT_OAUTH_CLIENT.refreshToken})`,
      oauthClient,
    )
    .option('--token-lifetime <seconds>', 'lifetime of issued access tokens (wall seconds)', decimal('--token-lifetime', 0.001), 3600)
    .addOption(new Option('--pages <n|min-max>', 'pages per book').argParser(pageRange).default({ min: 8, max: 24 }, '8-24'))
    .option('--book-pages <json|@file>', 'page counts of particular barcodes, e.g. {"39999000000001":400}', bookPages)
    .option('--page-image-bytes <n>', 'size of each page image (jp2)', integer('--page-image-bytes', 1), 96 * 1024)
    .addOption(
      new Option(
        '--initial-state <mix>',
        'starting states: all-available (NEW, PREVIOUSLY_DOWNLOADED, CONVERTED), mixed (real distribution), all-new',
      )
        .choices(['all-available', 'mixed', 'all-new'])
        .default('all-available'),
    )
    .option('--initial-states <json|@file>', 'starting states of particular barcodes, e.g. {"39999000000001":"CHECKED_IN"}', initialStates)
    .option('--conversion-delay <seconds>', 'simulated seconds from _process to CONVERTED', decimal('--conversion-delay', 0), 60)
    .option(
      '--conversion-failure-rate <0..1>',
      'share of conversions that fail (listed in _failed)',
      decimal('--conversion-failure-rate', 0, 1),
      0,
    )
    .option('--fail-conversion <list|@file>', 'barcodes whose conversions fail', barcodeList)
    .option('--queue-cap <n>', 'conversion queue size at which _process answers 429', integer('--queue-cap', 1), 50_000)
    .option('--conversions-per-day <n>', 'conversions completed per simulated day', integer('--conversions-per-day', 1), 5_000)
    .option('--pool-cap <n>', 'converted packages kept; the oldest is evicted beyond this', integer('--pool-cap', 1), 5_000)
    .option('--clock-speed <x>', 'simulated seconds per real second (1440 = a day per minute)', decimal('--clock-speed', 0.001), 1)
    .option('--data-dir <path>', 'where generated archives and passphrase.txt go (default: a temp dir, removed on exit)')
    .option('--filename-prefix', 'list converted files as <DIR>_<BARCODE>.tar.gz.gpg', false)
    .option('--html-page-size <n>', 'HTML listing rows when a request gives no result_count', integer('--html-page-size', 1), 100)
    .addOption(
      new Option('--html-paging <style>', 'HTML "Next" links page by first= offsets or opaque ctoken= tokens')
        .choices(['first', 'ctoken'])
        .default('first'),
    )
    .addOption(
      new Option('--next-href <style>', 'HTML "Next" hrefs relative to the directory or absolute paths')
        .choices(['relative', 'absolute-path'])
        .default('relative'),
    )
    .addOption(
      new Option('--all-books-layout <layout>', '_all_books?format=text&mode=all columns: pul7 or gt9')
        .choices(['pul7', 'gt9'])
        .default('pul7'),
    )
    .option(
      '--faults <json|@file>',
      `fault injection, e.g. {"serverError":0.05,"transient404":{"barcodes":["B"],"times":1},"slowBody":0.1,"slowBodyBytesPerSecond":100000}; switches: ${FAULT_SWITCHES.join(', ')}; settings: serverErrorStatus, slowBodyBytesPerSecond, truncateBodyFraction`,
      faults,
    )
    .option('--archive-concurrency <n>', 'archives generated at once', integer('--archive-concurrency', 1), 2)
    .option(
      '--control',
      'serve the control endpoint /_simulator/ (POST faults at run time, GET books/<barcode>, GET stats); see devkit/simulator/control.ts',
      false,
    )
    .option('--log-requests', 'print one line per request', false);
}

export interface CliSettings {
  options: SimulatorOptions;
  logRequests: boolean;
}

/** Parses command-line arguments (without node and script) into simulator options. */
export function parseSimulatorArgs(args: string[], command = simulatorCommand()): CliSettings {
  command.parse(args, { from: 'user' });
  const o = command.opts<Record<string, unknown>>();
  const passphraseFile = o.passphraseFile as string | undefined;
  const passphrase = passphraseFile ? readFileSync(passphraseFile, 'utf8').replace(/\r?\n$/, '') : undefined;
  return {
    logRequests: o.logRequests as boolean,
    options: {
      directory: o.directory as string,
      books: o.books as number | undefined,
      barcodes: o.barcodes as string[] | undefined,
      seed: o.seed as number,
      port: o.port as number,
      host: o.host as string,
      passphrase,
      accessTokens: o.token as string[] | undefined,
      forbiddenTokens: o.forbiddenToken as string[] | undefined,
      oauthClients: o.oauthClient as OAuthClientConfig[] | undefined,
      tokenLifetimeSeconds: o.tokenLifetime as number,
      pages: o.pages as { min: number; max: number },
      bookPages: o.bookPages as Record<string, number> | undefined,
      pageImageBytes: o.pageImageBytes as number,
      initialState: o.initialState as SimulatorOptions['initialState'],
      initialStates: o.initialStates as Record<string, BookState> | undefined,
      conversionDelaySeconds: o.conversionDelay as number,
      conversionFailureRate: o.conversionFailureRate as number,
      failConversion: o.failConversion as string[] | undefined,
      queueCap: o.queueCap as number,
      conversionsPerDay: o.conversionsPerDay as number,
      poolCap: o.poolCap as number,
      clockSpeed: o.clockSpeed as number,
      dataDir: o.dataDir as string | undefined,
      filenamePrefix: o.filenamePrefix as boolean,
      htmlPageSize: o.htmlPageSize as number,
      htmlPaging: o.htmlPaging as SimulatorOptions['htmlPaging'],
      nextHref: o.nextHref as SimulatorOptions['nextHref'],
      allBooksTextLayout: o.allBooksLayout as SimulatorOptions['allBooksTextLayout'],
      faults: o.faults as SimulatorOptions['faults'],
      archiveConcurrency: o.archiveConcurrency as number,
      control: o.control as boolean,
    },
  };
}

async function main(): Promise<void> {
  const { options, logRequests } = parseSimulatorArgs(process.argv.slice(2));
  const sim = await startSimulator(options);
  const client = sim.oauthClients[0];
  const out = (line: string) => process.stdout.write(`${line}\n`);
  out(`GRIN simulator: directory ${sim.directory}, ${sim.barcodes.length} books`);
  out(`  base URL        ${sim.baseUrl}   (requests go to ${sim.baseUrl}/${sim.directory}/...)`);
  out(`  bearer token    ${sim.accessTokens.join(', ')}`);
  out(
    `  token endpoint  ${sim.tokenUri}${client ? `   (client id ${client.clientId}; its secret and refresh token are the --oauth-client values)` : ''}`,
  );
  out(`  passphrase file ${sim.passphraseFile}`);
  out(`  data dir        ${sim.dataDir}`);
  out('Ctrl-C stops it.');
  if (logRequests) {
    let printed = 0;
    setInterval(() => {
      printed = Math.min(printed, sim.requestLog.length); // the log drops its oldest entries when full
      for (const e of sim.requestLog.slice(printed)) {
        out(
          `${new Date(e.time).toISOString()} ${e.method} ${e.path}${e.query ? `?${e.query}` : ''} -> ${e.status} ${e.bytesSent}B${e.fault ? ` [${e.fault}]` : ''}`,
        );
      }
      printed = sim.requestLog.length;
    }, 500).unref();
  }
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    out('stopping the simulator');
    sim.close().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`simulator did not stop cleanly: ${String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (require.main === module) {
  main().catch((error: unknown) => {
    process.stderr.write(`simulator: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(2);
  });
}
