/**
 * A decompression bomb for the 'decompressionBomb' fault and the tests: a `.tar.gz` of one file of
 * zeros that unpacks to GiBs from a few MB. It is built cheaply from gzip members (a gzip file may
 * be several gzip streams one after another, and gunzip joins them): the tar header, then the
 * same compressed MiB of zeros repeated, then the tar end blocks; nothing is deflated at full size.
 */
import { writeFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { pack as tarPack } from 'tar-stream';

const MIB = 1024 * 1024;
const TAR_END = 1024; // two zero blocks

/** The 512-byte tar header tar-stream writes for a regular file `name` of `size` bytes. */
async function tarHeader(name: string, size: number): Promise<Buffer> {
  const pack = tarPack();
  const entry = pack.entry({ name, size, type: 'file', mode: 0o644, mtime: new Date(Date.UTC(2015, 0, 1)) });
  const first = await new Promise<Buffer>((resolve, reject) => {
    pack.once('data', (chunk: unknown) => resolve(Buffer.from(chunk as Uint8Array)));
    pack.once('error', reject);
  });
  entry.destroy();
  pack.destroy();
  return first.subarray(0, 512);
}

/** The bomb's bytes: `name` holding `mebibytes` MiB of zeros. */
export async function bombTarGz(name: string, mebibytes: number): Promise<Buffer> {
  const zeros = gzipSync(Buffer.alloc(MIB), { level: 9 });
  const members = [gzipSync(await tarHeader(name, mebibytes * MIB))];
  for (let i = 0; i < mebibytes; i++) members.push(zeros);
  members.push(gzipSync(Buffer.alloc(TAR_END)));
  return Buffer.concat(members);
}

export async function writeBombTarGz(outPath: string, name: string, mebibytes: number): Promise<{ bytes: number }> {
  const bytes = await bombTarGz(name, mebibytes);
  await writeFile(outPath, bytes);
  return { bytes: bytes.length };
}
