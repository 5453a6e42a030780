/**
 * An HTTP proxy for fault tests that sits between the S3 SDK and a real S3 server (path-style
 * requests, plain HTTP) and damages what passes, as a faulty store, load balancer or middlebox
 * would: it flips one byte of PUT / UploadPart bodies, drops Content-MD5 and checksum headers (so
 * the server cannot notice), and lies in ETags and HEAD answers (it reports the MD5 of the bytes the
 * client sent, not of what the server stored), so a client that trusts metadata stores a corrupt
 * copy. Faults are switched at run time through `faults`; `stats` counts what was done.
 *
 * It buffers each request body (parts are a few MiB in tests); not for production traffic.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface S3Faults {
  /** Flip one byte in this many more object bodies (PutObject, UploadPart); 0 = none. */
  corruptBodies: number;
  /** Only bodies whose object key matches (e.g. /\.tar\.gz$/); all when absent. */
  corruptKeys?: RegExp;
  /** Remove Content-MD5 and x-amz-checksum-* headers from uploads, so the server cannot check them. */
  dropChecksums: boolean;
  /** Answer uploads and HEADs with the ETag of the bytes the client sent, whatever the server stored. */
  lieEtags: boolean;
}

export interface S3FaultStats {
  corrupted: { key: string; part?: number; offset: number }[];
  checksumHeadersDropped: number;
  etagsLied: number;
  requests: number;
}

export interface S3FaultProxy {
  url: string;
  port: number;
  faults: S3Faults;
  readonly stats: S3FaultStats;
  close(): Promise<void>;
}

const CHECKSUM_HEADERS = /^(content-md5|x-amz-checksum-.+|x-amz-sdk-checksum-algorithm)$/i;

export async function startS3FaultProxy(target: string, faults: Partial<S3Faults> = {}): Promise<S3FaultProxy> {
  const upstream = new URL(target);
  const state: S3Faults = { corruptBodies: 0, dropChecksums: false, lieEtags: false, ...faults };
  const stats: S3FaultStats = { corrupted: [], checksumHeadersDropped: 0, etagsLied: 0, requests: 0 };
  /** ETag the client expects per object path (MD5 of what it sent), for lying in HEAD answers. */
  const sentMd5 = new Map<string, string>();
  /** Per multipart upload id: lied part ETag (the MD5 sent) → the server's real one. */
  const partEtags = new Map<string, Map<string, string>>();

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', () => res.destroy());
    req.on('end', () => {
      stats.requests++;
      const url = new URL(req.url ?? '/', 'http://proxy');
      const objectPath = url.pathname; // /bucket/key (path-style)
      const isUpload = req.method === 'PUT' && !req.headers['x-amz-copy-source'] && objectPath.split('/').length > 2;
      const partNumber = url.searchParams.get('partNumber');
      let body = Buffer.concat(chunks);
      const headers = { ...req.headers };
      delete headers['transfer-encoding'];
      delete headers.expect; // the body is all here already
      const clientMd5 = isUpload ? createHash('md5').update(body).digest('hex') : undefined;
      if (isUpload && state.dropChecksums) {
        for (const name of Object.keys(headers)) {
          if (CHECKSUM_HEADERS.test(name)) {
            delete headers[name];
            stats.checksumHeadersDropped++;
          }
        }
      }
      const key = decodeURIComponent(objectPath.split('/').slice(2).join('/'));
      if (isUpload && body.length > 0 && state.corruptBodies > 0 && (!state.corruptKeys || state.corruptKeys.test(key))) {
        state.corruptBodies--;
        body = Buffer.from(body);
        const offset = Math.floor(body.length / 2);
        body[offset] ^= 0x01;
        stats.corrupted.push({ key, part: partNumber ? Number(partNumber) : undefined, offset });
      }
      // A client that believed a lied part ETag names it in CompleteMultipartUpload: say the real one
      // there, so the lie goes unnoticed (as behind a middlebox that rewrites both ways).
      const uploadId = url.searchParams.get('uploadId') ?? '';
      const lies = partEtags.get(uploadId);
      if (req.method === 'POST' && lies) {
        let xml = body.toString('utf8');
        for (const [lied, real] of lies) xml = xml.split(lied).join(real);
        body = Buffer.from(xml, 'utf8');
      }
      headers['content-length'] = String(body.length);
      // The Host header stays the client's: it is part of the request's signature (rclone checks it).
      const forward = http.request(
        { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers },
        (answer) => {
          const out = { ...answer.headers };
          const lie = (md5: string | undefined) => {
            if (!state.lieEtags || !md5 || !out.etag) return;
            out.etag = `"${md5}"`;
            stats.etagsLied++;
          };
          if (isUpload && answer.statusCode === 200) {
            if (!partNumber && clientMd5) sentMd5.set(objectPath, clientMd5);
            const real = typeof out.etag === 'string' ? out.etag.replace(/"/g, '') : undefined;
            if (partNumber && clientMd5 && real && state.lieEtags && real !== clientMd5) {
              if (!partEtags.has(uploadId)) partEtags.set(uploadId, new Map());
              partEtags.get(uploadId)!.set(clientMd5, real);
            } else if (partNumber && clientMd5) partEtags.get(uploadId)?.delete(clientMd5);
            lie(clientMd5);
          } else if (req.method === 'HEAD' && answer.statusCode === 200) {
            lie(sentMd5.get(objectPath));
          }
          res.writeHead(answer.statusCode ?? 502, out);
          answer.pipe(res);
        },
      );
      forward.on('error', () => res.destroy());
      forward.end(body);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    faults: state,
    stats,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
