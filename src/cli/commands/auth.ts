/**
 * `auth setup`: the Google consent flow for GRIN, once, storing a refresh token.
 */
import type { Command } from 'commander';
import { positiveInt, UsageError } from '../common';
import type { CliContext } from '../context';

export function register(program: Command, context: CliContext): void {
  const auth = program.command('auth').description('GRIN credentials (Google OAuth).');
  auth
    .command('setup')
    .description('Run the Google consent flow once and store a refresh token (file mode 0600).')
    .option('--paste', 'no browser on this machine: print the URL and paste the code back')
    .option('--port <n>', 'loopback port for the browser redirect', positiveInt('--port'), 58432)
    .action(async (opts: { paste?: boolean; port: number }) => {
      const config = context.config();
      if (!config.grin.clientSecretFile || !config.grin.credentialsFile) {
        throw new UsageError(
          'Set grin.clientSecretFile (the OAuth "Desktop app" client JSON from Google Cloud) and grin.credentialsFile (where the token is stored) in the config first.',
        );
      }
      const { runAuthSetup } = await import('../../grin/auth-setup');
      await runAuthSetup({
        clientSecretFile: config.grin.clientSecretFile,
        credentialsFile: config.grin.credentialsFile,
        tokenUri: config.grin.tokenUri,
        mode: opts.paste ? 'paste' : 'loopback',
        port: opts.port,
      });
    });
}
