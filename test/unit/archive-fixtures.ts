/** Builders for the archive tests: tar.gz via tar-stream or GNU tar, encryption via openpgp or gpg. */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import * as openpgp from 'openpgp';
import { pack } from 'tar-stream';

export const PASSPHRASE = 'apple banana cherry damson';

export interface TarEntrySpec {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'block-device' | 'fifo' | 'contiguous-file';
  data?: string | Buffer;
  linkname?: string;
}

/** A tar (uncompressed) made with tar-stream, entries as given (no sanitising). */
export async function makeTar(entries: TarEntrySpec[]): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of p as AsyncIterable<Buffer>) chunks.push(Buffer.from(c));
  })();
  for (const e of entries) {
    const data = e.data === undefined ? Buffer.alloc(0) : Buffer.from(e.data);
    const type = e.type ?? 'file';
    await new Promise<void>((resolve, reject) => {
      const hasData = type === 'file' || type === 'contiguous-file';
      const header = { name: e.name, type, linkname: e.linkname, size: hasData ? data.length : 0, mode: 0o644 };
      if (hasData) p.entry(header, data, (err) => (err ? reject(err) : resolve()));
      else p.entry(header, (err) => (err ? reject(err) : resolve()));
    });
  }
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

export async function makeTarGz(entries: TarEntrySpec[]): Promise<Buffer> {
  return gzipSync(await makeTar(entries));
}

/** Encrypts like `gpg --symmetric` would (SEIPD v1 + MDC) unless `aead` asks for SEIPD v2. */
export async function encryptWithOpenpgp(data: Buffer, opts: { aead?: boolean; armor?: boolean } = {}): Promise<Buffer> {
  const message = await openpgp.createMessage({ binary: data });
  const config = { aeadProtect: !!opts.aead, s2kIterationCountByte: 0 };
  if (opts.armor) {
    return Buffer.from(await openpgp.encrypt({ message, passwords: [PASSPHRASE], format: 'armored', config }));
  }
  return Buffer.from(await openpgp.encrypt({ message, passwords: [PASSPHRASE], format: 'binary', config }));
}

export function md5(data: string | Buffer): string {
  return createHash('md5').update(data).digest('hex');
}

export function tempDir(prefix = 'archive-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export const GPG = '/usr/bin/gpg';

let gnupgHome: string | null = null;

/** One throw-away GNUPGHOME per test file: gpg starts its agent there once, not per call. */
function gpgHome(): string {
  gnupgHome ??= tempDir('gnupg-');
  return gnupgHome;
}

/** Stops the gpg-agent of this test file's GNUPGHOME and removes it; call in afterAll. */
export function cleanupGpg(): void {
  if (!gnupgHome) return;
  try {
    execFileSync('/usr/bin/gpgconf', ['--kill', 'gpg-agent'], { env: { ...process.env, GNUPGHOME: gnupgHome }, stdio: 'ignore' });
  } catch {
    // no agent was started
  }
  removeDir(gnupgHome);
  gnupgHome = null;
}

/**
 * `gpg --symmetric`; `extra` adds e.g. `--cipher-algo CAST5`.
 * A low S2K count keeps the tests fast (the format is the same as gpg's default).
 */
export function gpgEncrypt(input: string, output: string, extra: string[] = [], passphrase = PASSPHRASE): void {
  const home = gpgHome();
  const passFile = join(home, 'pass.txt');
  writeFileSync(passFile, passphrase + '\n');
  execFileSync(
    GPG,
    [
      '--batch',
      '--quiet',
      '--yes',
      '--pinentry-mode',
      'loopback',
      '--no-symkey-cache',
      '--passphrase-file',
      passFile,
      '--s2k-count',
      '1024',
      ...extra,
      '--symmetric',
      '-o',
      output,
      input,
    ],
    { env: { ...process.env, GNUPGHOME: home }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
}

/** A minimal METS file wrapping a MARC21-slim record, with prefixes as most libraries write it. */
export const SAMPLE_METS = `<?xml version="1.0" encoding="UTF-8"?>
<!-- METS record for one volume -->
<mets:mets xmlns:mets="http://www.loc.gov/METS/" xmlns:marc="http://www.loc.gov/MARC21/slim">
  <mets:dmdSec ID="DMD1">
    <mets:mdWrap MDTYPE="MARC">
      <mets:xmlData>
        <marc:record>
          <marc:leader>00000cam a2200000 a 4500</marc:leader>
          <marc:controlfield tag="001">990012345</marc:controlfield>
          <marc:controlfield tag="008">850101s1885    enk           000 0 eng d</marc:controlfield>
          <marc:datafield tag="010" ind1=" " ind2=" "><marc:subfield code="a">   05012345 </marc:subfield></marc:datafield>
          <marc:datafield tag="020" ind1=" " ind2=" "><marc:subfield code="a">0123456789</marc:subfield></marc:datafield>
          <marc:datafield tag="020" ind1=" " ind2=" "><marc:subfield code="a">9780123456786</marc:subfield></marc:datafield>
          <marc:datafield tag="035" ind1=" " ind2=" "><marc:subfield code="a">(OCoLC)ocm00012345</marc:subfield></marc:datafield>
          <marc:datafield tag="035" ind1=" " ind2=" "><marc:subfield code="a">(NjP)990012345</marc:subfield></marc:datafield>
          <marc:datafield tag="050" ind1="0" ind2="0"><marc:subfield code="a">PR4034</marc:subfield><marc:subfield code="b">.P7 1885</marc:subfield></marc:datafield>
          <marc:datafield tag="100" ind1="1" ind2=" "><marc:subfield code="a">Austen, Jane,</marc:subfield><marc:subfield code="d">1775-1817.</marc:subfield></marc:datafield>
          <marc:datafield tag="110" ind1="2" ind2=" "><marc:subfield code="a">Royal Society &amp; Friends</marc:subfield></marc:datafield>
          <marc:datafield tag="111" ind1="2" ind2=" "><marc:subfield code="a">Congr&#232;s international</marc:subfield></marc:datafield>
          <marc:datafield tag="245" ind1="1" ind2="0"><marc:subfield code="a">Pride &amp; prejudice :</marc:subfield><marc:subfield code="b">a novel &lt;in three volumes&gt; /</marc:subfield></marc:datafield>
          <marc:datafield tag="500" ind1=" " ind2=" "><marc:subfield code="a">First note.</marc:subfield></marc:datafield>
          <marc:datafield tag="500" ind1=" " ind2=" "><marc:subfield code="a"><![CDATA[Second note <raw>.]]></marc:subfield></marc:datafield>
          <marc:datafield tag="650" ind1=" " ind2="0"><marc:subfield code="a">Courtship</marc:subfield><marc:subfield code="z">England.</marc:subfield></marc:datafield>
          <marc:datafield tag="650" ind1=" " ind2="0"><marc:subfield code="a">Sisters.</marc:subfield></marc:datafield>
          <marc:datafield tag="655" ind1=" " ind2="7"><marc:subfield code="a">Domestic fiction.</marc:subfield></marc:datafield>
          <marc:datafield tag="955" ind1=" " ind2=" "><marc:subfield code="a">32101012345678</marc:subfield></marc:datafield>
        </marc:record>
      </mets:xmlData>
    </mets:mdWrap>
  </mets:dmdSec>
</mets:mets>
`;

/** The flat book layout of PROTOCOL.md §6.2, with a correct checksum.md5. */
export function bookEntries(barcode: string, pages: string[], opts: { mets?: string | null } = {}): TarEntrySpec[] {
  const files: TarEntrySpec[] = [];
  pages.forEach((text, i) => {
    const n = String(i + 1).padStart(8, '0');
    files.push({ name: `${n}.jp2`, data: Buffer.from(`jp2 image of page ${i + 1}`) });
    files.push({ name: `${n}.txt`, data: text });
    files.push({ name: `${n}.html`, data: `<html><body>${text}</body></html>` });
  });
  if (opts.mets !== null) files.push({ name: `TEST_${barcode}.xml`, data: opts.mets ?? SAMPLE_METS });
  const sums = files.map((f) => `${md5(f.data ?? '')}  ${f.name}\n`).join('');
  files.push({ name: 'checksum.md5', data: sums });
  return files;
}
