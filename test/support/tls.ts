/**
 * TLS material and a TLS terminator for tests: a CA, server and client certificates made with the
 * `openssl` CLI, and a node:tls server that requires a client certificate and pipes each accepted
 * connection to a plain TCP port (gRPC over HTTP/2 passes through a TCP-level terminator).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { connect as connectTcp, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createServer, type Server } from 'node:tls';

export const OPENSSL = '/usr/bin/openssl';

function openssl(dir: string, args: string[]): void {
  execFileSync(OPENSSL, args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

export interface Pki {
  caFile: string;
  serverCertFile: string;
  serverKeyFile: string;
  clientCertFile: string;
  clientKeyFile: string;
  /** A client certificate signed by another CA the server does not trust. */
  strangerCertFile: string;
  strangerKeyFile: string;
  /** That other CA (the server's certificate does not chain to it). */
  strangerCaFile: string;
}

function makeCa(dir: string, name: string): void {
  openssl(dir, [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    `/CN=${name}`,
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.pem`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
}

function makeLeaf(dir: string, name: string, ca: string, extensions: string[]): void {
  writeFileSync(
    join(dir, `${name}.ext`),
    [...extensions, 'basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment'].join('\n') + '\n',
  );
  openssl(dir, ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.csr`]);
  openssl(dir, [
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${ca}.pem`,
    '-CAkey',
    `${ca}.key`,
    '-CAcreateserial',
    '-days',
    '2',
    '-sha256',
    '-extfile',
    `${name}.ext`,
    '-out',
    `${name}.pem`,
  ]);
}

/** Makes the certificates in `dir`. Fails (never skips) when openssl is missing: the test must run. */
export function makePki(dir: string, serverName: string): Pki {
  if (!existsSync(OPENSSL)) {
    throw new Error(`${OPENSSL} is missing: the TLS tests make their certificates with the openssl CLI (apt-get install openssl)`);
  }
  makeCa(dir, 'ca');
  makeCa(dir, 'stranger-ca');
  makeLeaf(dir, 'server', 'ca', [`subjectAltName=DNS:${serverName},IP:127.0.0.1`, 'extendedKeyUsage=serverAuth']);
  makeLeaf(dir, 'client', 'ca', ['subjectAltName=DNS:grin-worker', 'extendedKeyUsage=clientAuth']);
  makeLeaf(dir, 'stranger', 'stranger-ca', ['subjectAltName=DNS:stranger', 'extendedKeyUsage=clientAuth']);
  const f = (name: string) => join(dir, name);
  return {
    caFile: f('ca.pem'),
    serverCertFile: f('server.pem'),
    serverKeyFile: f('server.key'),
    clientCertFile: f('client.pem'),
    clientKeyFile: f('client.key'),
    strangerCertFile: f('stranger.pem'),
    strangerKeyFile: f('stranger.key'),
    strangerCaFile: f('stranger-ca.pem'),
  };
}

export interface Terminator {
  address: string;
  /** TLS handshakes refused so far (no or untrusted client certificate). */
  refused: number;
  close(): Promise<void>;
}

/** A TLS server on 127.0.0.1 that demands a client certificate from `pki`'s CA and forwards to `target` (host:port). */
export async function startTlsTerminator(pki: Pki, target: string): Promise<Terminator> {
  const [host, port] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
  const state = { refused: 0 };
  const open = new Set<{ destroy(): void }>();
  const server: Server = createServer(
    {
      key: readFileSync(pki.serverKeyFile),
      cert: readFileSync(pki.serverCertFile),
      ca: [readFileSync(pki.caFile)],
      requestCert: true,
      rejectUnauthorized: true,
      ALPNProtocols: ['h2'],
    },
    (socket) => {
      const upstream = connectTcp(port, host);
      open.add(socket).add(upstream);
      socket.pipe(upstream).pipe(socket);
      socket.on('error', () => upstream.destroy());
      upstream.on('error', () => socket.destroy());
      socket.on('close', () => upstream.destroy());
      upstream.on('close', () => socket.destroy());
    },
  );
  server.on('tlsClientError', () => state.refused++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port: ownPort } = server.address() as AddressInfo;
  return {
    address: `127.0.0.1:${ownPort}`,
    get refused() {
      return state.refused;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of open) s.destroy();
      }),
  };
}
