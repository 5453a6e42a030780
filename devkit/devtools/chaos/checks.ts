/**
 * The verdict of a chaos run: each check with its figure and, when it fails, exactly which book,
 * bucket, object or file is wrong and why.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { GetObjectCommand, HeadObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import type { Client } from '@temporalio/client';
import type { Board } from '../../../src/buckets/board';
import { BUCKETS, type Bucket, type BookToken } from '../../../src/buckets/token';
import type { StorageLayout } from '../../../src/config/types';
import { storageKey } from '../../../src/storage/layout';
import { digestFile, manifestKeyFor, parseManifest } from '../../../src/storage/fixity';
import { writeBookTarGz } from '../../simulator/book-content';
import type { BatchSummary } from '../../../src/workflows/batch';
import { EXPECTED_REASON, PAGE_IMAGE_BYTES, type ChaosPlan } from './plan';
import type { LivenessObservations } from './liveness';
import type { SimulatorProcess } from './processes';
import { scanFile, scanTree, scanValue, type Secret, type SecretHit } from './secrets';

export interface ChaosCheck {
  name: string;
  ok: boolean;
  /** The figure behind the verdict, e.g. "148/148". */
  figure: string;
  problems: string[];
}

export interface CheckContext {
  plan: ChaosPlan;
  board: Board;
  pipelineDir: string;
  processingDirs: string[];
  /** Processing folders of hosts killed for good: what they left is reported, not a failure (nobody can clean a dead disk). */
  deadHostDirs: string[];
  /** Worker processes the run killed with SIGKILL: a board temp file named with one of these pids is a write they never finished. */
  killedWorkerPids: number[];
  /** Folders the workers may not write to at all (their cwd and TMPDIR). */
  mustStayEmpty: string[];
  s3: S3Client;
  bucket: string;
  layout: StorageLayout;
  motoLog: string;
  client: Client;
  batch: { summary?: BatchSummary; error?: string };
  sim: SimulatorProcess;
  secrets: Secret[];
  logFiles: string[];
  scratchDir: string;
  /** What the stall detector saw during and after the run (liveness.ts), and the longest starvation allowed. */
  liveness?: { seen: LivenessObservations; queueLimitMs: number };
}

function check(name: string, figure: string, problems: string[], ok = problems.length === 0): ChaosCheck {
  return { name, ok, figure, problems };
}

async function md5OfStream(stream: Readable): Promise<{ md5: string; bytes: number }> {
  const hash = createHash('md5');
  let bytes = 0;
  stream.on('data', (chunk: Buffer) => (bytes += chunk.length));
  await pipeline(stream, hash);
  return { md5: hash.digest('hex'), bytes };
}

/** The pid in a board temp file's name (`.<barcode>.json.<pid>.<random>.tmp`, see src/common/atomic-file.ts). */
const TEMP_PID = /^\.[A-Za-z0-9_-]{3,50}\.json\.(\d+)\.[0-9a-f]{12}\.tmp$/;
/** The same for the request sequence's writes in meta/ (`.grin-request-seq.<pid>.<random>.tmp`). */
const META_TEMP_PID = /^\.grin-request-seq\.(\d+)\.[0-9a-f]{12}\.tmp$/;

async function tokensOnBoard(
  pipelineDir: string,
  killedPids: readonly number[],
): Promise<{ byBarcode: Map<string, { bucket: Bucket; token?: BookToken }[]>; strays: string[]; interrupted: string[] }> {
  const byBarcode = new Map<string, { bucket: Bucket; token?: BookToken }[]>();
  const strays: string[] = [];
  const interrupted: string[] = [];
  for (const bucket of BUCKETS) {
    const entries = await readdir(join(pipelineDir, bucket)).catch(() => [] as string[]);
    for (const name of entries) {
      const match = /^([A-Za-z0-9_-]{3,50})\.json$/.exec(name);
      if (!match) {
        // A temp file of a token write that a kill -9 cut short is not a token; `reconcile` removes it.
        const pid = TEMP_PID.exec(name);
        if (pid && killedPids.includes(Number(pid[1]))) interrupted.push(`${bucket}/${name}`);
        else strays.push(`${bucket}/${name}`);
        continue;
      }
      const token = await readFile(join(pipelineDir, bucket, name), 'utf8').then(
        (t) => JSON.parse(t) as BookToken,
        () => undefined,
      );
      byBarcode.set(match[1], [...(byBarcode.get(match[1]) ?? []), { bucket, token }]);
    }
  }
  return { byBarcode, strays, interrupted };
}

async function listKeys(s3: S3Client, bucket: string): Promise<Map<string, number>> {
  const keys = new Map<string, number>();
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
    for (const o of page.Contents ?? []) keys.set(o.Key!, o.Size ?? 0);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return keys;
}

/** Completed full uploads (PutObject without a part number, CompleteMultipartUpload) and multipart starts per key, from moto's request log. */
export function uploadsPerKey(motoLog: string, bucket: string): { completed: Map<string, number>; multipartStarts: Map<string, number> } {
  const completed = new Map<string, number>();
  const multipartStarts = new Map<string, number>();
  const bump = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
  for (const match of motoLog.matchAll(/"(PUT|POST) (\S+) HTTP\/[\d.]+" (\d{3})/g)) {
    const [, method, target, status] = match;
    const url = new URL(target, 'http://moto.invalid');
    const prefix = `/${bucket}/`;
    if (!url.pathname.startsWith(prefix)) continue;
    const key = decodeURIComponent(url.pathname.slice(prefix.length));
    const q = url.searchParams;
    if (method === 'POST' && q.has('uploads')) bump(multipartStarts, key);
    if (status !== '200') continue;
    if ((method === 'PUT' && !q.has('partNumber')) || (method === 'POST' && q.has('uploadId'))) bump(completed, key);
  }
  return { completed, multipartStarts };
}

/**
 * No queue of the pipeline went longer than `limitMs` with tasks waiting and no worker polling it,
 * as the stall detector read it during and after the run; books it found stalled are listed too.
 */
export function livenessCheck(seen: LivenessObservations, limitMs: number): ChaosCheck {
  const problems: string[] = [];
  const longest = [...seen.longestStarved.values()].sort((a, b) => b.stall.starvedMs - a.stall.starvedMs);
  for (const { stall, seenAtMs } of longest) {
    if (stall.starvedMs <= limitMs) continue;
    problems.push(
      `${stall.role} queue ${stall.queue}: ${stall.backlog} ${stall.kind} task(s) waited ${Math.round(stall.starvedMs / 1000)} s with no worker polling ` +
        `(limit ${limitMs / 1000} s; seen ${Math.round(seenAtMs / 1000)} s into the run${stall.lastPollMs ? `, last poll ${new Date(stall.lastPollMs).toISOString()}` : ', no poller remembered'})`,
    );
  }
  for (const b of seen.stalledBooks.values()) problems.push(`book ${b.barcode} stalled in ${b.bucket}: ${b.why}`);
  if (seen.samples === 0) problems.push(`the stall detector never read Temporal (${seen.failedSamples} failed readings): liveness unknown`);
  const worst = longest[0];
  return check(
    'no pipeline queue starved and no book stalled (stall detector, during and after the run)',
    `${seen.samples} readings (${seen.failedSamples} failed); longest starvation ${worst ? `${Math.round(worst.stall.starvedMs / 1000)} s (${worst.stall.role} queue ${worst.stall.queue})` : '0 s'}, limit ${limitMs / 1000} s; ${seen.stalledBooks.size} stalled books`,
    problems,
  );
}

export async function runChecks(ctx: CheckContext, log: (line: string) => void): Promise<ChaosCheck[]> {
  const { plan } = ctx;
  const checks: ChaosCheck[] = [];
  const add = (c: ChaosCheck) => {
    checks.push(c);
    log(
      `${c.ok ? 'PASS' : 'FAIL'}  ${c.name}: ${c.figure}${c.problems.length ? `\n        ${c.problems.slice(0, 25).join('\n        ')}${c.problems.length > 25 ? `\n        ... and ${c.problems.length - 25} more` : ''}` : ''}`,
    );
  };
  const { byBarcode, strays, interrupted } = await tokensOnBoard(ctx.pipelineDir, ctx.killedWorkerPids);
  const where = (b: string) => {
    const copies = byBarcode.get(b) ?? [];
    if (copies.length === 0) return 'no token';
    return copies
      .map(
        ({ bucket, token }) =>
          `${bucket}${token?.status ? ` (${token.status})` : ''}${token?.lastError ? ` last error [${token.lastError.stage}] ${token.lastError.type ?? ''}: ${token.lastError.message}` : ''}`,
      )
      .join(' + ');
  };

  // 1. Good books stored.
  const notStored = plan.good.filter((b) => !(byBarcode.get(b) ?? []).some((c) => c.bucket === '07_stored'));
  add(
    check(
      'every good book in 07_stored',
      `${plan.good.length - notStored.length}/${plan.good.length}`,
      notStored.map((b) => `${b}: ${where(b)}`),
    ),
  );

  // 1b. Every book settled: stored, parked or cancelled; none left on its way.
  const unsettled = plan.barcodes.filter(
    (b) => !(byBarcode.get(b) ?? []).some((c) => ['07_stored', 'failed', 'cancelled'].includes(c.bucket)),
  );
  add(
    check(
      'every book settled',
      `${plan.barcodes.length - unsettled.length}/${plan.barcodes.length}`,
      unsettled.map((b) => `${b}: ${where(b)}`),
    ),
  );

  // 1c. Liveness during and after the run: no pipeline queue with tasks waiting and no poll past the limit.
  if (ctx.liveness) add(livenessCheck(ctx.liveness.seen, ctx.liveness.queueLimitMs));

  // 2. Bad books parked with the right reason.
  const badProblems: string[] = [];
  for (const [barcode, kind] of plan.bad) {
    const copy = (byBarcode.get(barcode) ?? []).find((c) => c.bucket === 'failed');
    const reason = `${copy?.token?.lastError?.type ?? ''} ${copy?.token?.lastError?.message ?? ''}`;
    if (!copy) badProblems.push(`${barcode} (${kind}): not in failed but ${where(barcode)}`);
    else if (!EXPECTED_REASON[kind].test(reason)) badProblems.push(`${barcode} (${kind}): parked for the wrong reason: ${reason.trim()}`);
  }
  add(check('every bad book in failed with the right reason', `${plan.bad.size - badProblems.length}/${plan.bad.size}`, badProblems));

  // 3. Exactly one token per book, none for anything else.
  const tokenProblems: string[] = [];
  for (const b of plan.barcodes)
    if ((byBarcode.get(b) ?? []).length !== 1) tokenProblems.push(`${b}: ${(byBarcode.get(b) ?? []).length} tokens: ${where(b)}`);
  for (const b of byBarcode.keys()) if (!plan.barcodes.includes(b)) tokenProblems.push(`${b}: a token for a book not in the batch`);
  for (const s of strays) tokenProblems.push(`stray file on the board: ${s}`);
  const single = plan.barcodes.filter((b) => (byBarcode.get(b) ?? []).length === 1).length;
  // Interrupted writes must be what `grin-pipeline reconcile` clears: run the board's own reconcile on them.
  const swept = interrupted.length ? (await ctx.board.reconcile({ tempMaxAgeMs: 0 })).tempFilesRemoved : [];
  for (const t of interrupted)
    if (!swept.includes(t)) tokenProblems.push(`temp file of a killed writer that reconcile did not remove: ${t}`);
  add(
    check(
      'exactly one token per book',
      `${single}/${plan.barcodes.length} books with one token, ${strays.length} stray files, ${interrupted.length} temp files of writes cut by kill -9 (removed by reconcile)`,
      tokenProblems,
    ),
  );

  // 4. Objects present with the right size and checksum (against the simulator's own archive bytes).
  const keys = await listKeys(ctx.s3, ctx.bucket);
  const objectProblems: string[] = [];
  let objectsOk = 0;
  const metadataSeen: { key: string; metadata: Record<string, string> }[] = [];
  const storedGood = plan.good.filter((b) => !notStored.includes(b));
  for (const barcode of storedGood) {
    const archiveKey = storageKey(ctx.layout, 'archive', barcode);
    for (const kind of ['ocr', 'marc', 'token'] as const) {
      const key = storageKey(ctx.layout, kind, barcode);
      if (!keys.has(key)) objectProblems.push(`${barcode}: ${kind} object ${key} is missing`);
      else if (keys.get(key) === 0) objectProblems.push(`${barcode}: ${kind} object ${key} is empty`);
    }
    if (!keys.has(archiveKey)) {
      objectProblems.push(`${barcode}: archive ${archiveKey} is missing`);
      continue;
    }
    const book = await ctx.sim.control<{ pages: number; title: string }>(`books/${barcode}`);
    const expectedFile = join(ctx.scratchDir, `${barcode}.expected.tar.gz`);
    await writeBookTarGz(
      {
        directory: plan.directory,
        barcode,
        seed: plan.seed,
        pages: book.pages,
        pageImageBytes: PAGE_IMAGE_BYTES,
        title: book.title || undefined,
      },
      expectedFile,
    );
    const expected = await md5OfStream(createReadStream(expectedFile));
    const expectedSha256 = (await digestFile(expectedFile)).sha256;
    await rm(expectedFile, { force: true });
    // The book's fixity manifest records GRIN's archive (decrypted) by its SHA-256.
    const manifestKey = manifestKeyFor(storageKey(ctx.layout, 'token', barcode));
    if (!keys.has(manifestKey)) objectProblems.push(`${barcode}: fixity manifest ${manifestKey} is missing`);
    else {
      const text = await (await ctx.s3.send(new GetObjectCommand({ Bucket: ctx.bucket, Key: manifestKey }))).Body!.transformToString();
      const recorded = parseManifest(text, manifestKey).objects.find((o) => o.artifact === 'archive')?.sha256;
      if (recorded !== expectedSha256)
        objectProblems.push(
          `${barcode}: manifest ${manifestKey} records archive SHA-256 ${recorded}; GRIN's archive decrypts to ${expectedSha256}`,
        );
    }
    const got = await ctx.s3.send(new GetObjectCommand({ Bucket: ctx.bucket, Key: archiveKey }));
    const stored = await md5OfStream(got.Body as Readable);
    if (stored.bytes !== expected.bytes || stored.md5 !== expected.md5) {
      objectProblems.push(
        `${barcode}: archive ${archiveKey} has ${stored.bytes} bytes md5 ${stored.md5}; GRIN's archive decrypts to ${expected.bytes} bytes md5 ${expected.md5}`,
      );
    } else objectsOk++;
  }
  for (const key of keys.keys()) {
    const head = await ctx.s3.send(new HeadObjectCommand({ Bucket: ctx.bucket, Key: key }));
    metadataSeen.push({ key, metadata: head.Metadata ?? {} });
    const owner = plan.barcodes.find(
      (b) =>
        (['archive', 'ocr', 'marc', 'token'] as const).some((k) => storageKey(ctx.layout, k, b) === key) ||
        manifestKeyFor(storageKey(ctx.layout, 'token', b)) === key,
    );
    // A finished batch writes its report beside the books (src/report).
    const batchReport = /(^|\/)meta\/reports\/batch-[^/]+$/.test(key);
    if (!owner && !batchReport) objectProblems.push(`object ${key} belongs to no book of the batch (or not to the layout)`);
  }
  add(
    check(
      'every object present with the right size and checksum',
      `${objectsOk}/${storedGood.length} stored books' archives byte-identical, ${keys.size} objects`,
      objectProblems,
    ),
  );

  // 5. Each archive uploaded once: after it is stored, the ETag match skips any further upload.
  const motoLog = await readFile(ctx.motoLog, 'utf8').catch(() => '');
  const { completed, multipartStarts } = uploadsPerKey(motoLog, ctx.bucket);
  const uploadProblems: string[] = [];
  let once = 0;
  let reconverted = 0;
  for (const barcode of storedGood) {
    const key = storageKey(ctx.layout, 'archive', barcode);
    const n = completed.get(key) ?? 0;
    // Each GRIN conversion is a new package with a new ETag, which rightly replaces the stored one.
    const { conversions } = await ctx.sim.control<{ conversions: number }>(`books/${barcode}`);
    if (n >= 1 && n <= Math.max(1, conversions)) {
      once++;
      if (n > 1) reconverted++;
    } else {
      uploadProblems.push(
        `${barcode}: archive ${key} completed ${n} full uploads for ${conversions} GRIN conversion(s)${multipartStarts.has(key) ? ` (${multipartStarts.get(key)} multipart starts)` : ''}`,
      );
    }
  }
  const restarts = [...multipartStarts].filter(([, n]) => n > 1).map(([k, n]) => `${k}: ${n} multipart uploads started`);
  const multipartKeys = multipartStarts.size;
  if (completed.size === 0 && storedGood.length > 0)
    uploadProblems.unshift(`no uploads found in moto's request log ${ctx.motoLog}: cannot count them`);
  add(
    check(
      'each archive uploaded once (no second full upload)',
      `${once}/${storedGood.length} once per package (${reconverted} re-converted by GRIN, uploaded again); ${multipartKeys} multipart; ${restarts.length} restarted multipart${restarts.length ? ` (${restarts.join('; ')})` : ''}`,
      uploadProblems,
    ),
  );

  // 6. The batch completed with the right counts.
  const s = ctx.batch.summary;
  const batchProblems: string[] = [];
  if (!s) batchProblems.push(`the batch workflow did not complete: ${ctx.batch.error ?? 'no result'}`);
  else {
    if (s.stored !== plan.good.length) batchProblems.push(`batch counted ${s.stored} stored, expected ${plan.good.length}`);
    if (s.failed !== plan.bad.size) batchProblems.push(`batch counted ${s.failed} failed, expected ${plan.bad.size}`);
    if (s.cancelled !== 0) batchProblems.push(`batch counted ${s.cancelled} cancelled, expected 0`);
    if (s.started + s.alreadyKnown !== plan.barcodes.length)
      batchProblems.push(`batch started ${s.started} + already known ${s.alreadyKnown}, expected ${plan.barcodes.length}`);
  }
  add(
    check(
      'batch workflow completed with the right counts',
      s ? `stored ${s.stored}, failed ${s.failed}, cancelled ${s.cancelled}, started ${s.started}` : 'not completed',
      batchProblems,
    ),
  );

  // 7. Nothing left half-done: partial files, temp files, files of stored books, open multipart uploads.
  const leftovers: string[] = [];
  const parked = new Set(plan.barcodes.filter((b) => (byBarcode.get(b) ?? []).some((c) => c.bucket === 'failed')));
  for (const dir of ctx.processingDirs) {
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      const owner = /^([A-Za-z0-9_-]{3,50}?)(\.tar\.gz(\.gpg)?(\.part)?|_extracted|_unpacked\.json|_derivatives)$/.exec(name)?.[1];
      // A parked book keeps its files (a partial download too) for its retry; temp files never stay.
      if (name.endsWith('.tmp')) leftovers.push(`${dir}/${name}: temporary file`);
      else if (!owner) leftovers.push(`${dir}/${name}: not a book file`);
      else if (!parked.has(owner)) leftovers.push(`${dir}/${name}: file of ${owner}, which is ${where(owner)}`);
    }
  }
  let onDeadHosts = 0;
  for (const dir of ctx.deadHostDirs) onDeadHosts += (await readdir(dir).catch(() => [] as string[])).length;
  const uploads = await ctx.s3.send(new ListMultipartUploadsCommand({ Bucket: ctx.bucket }));
  for (const u of uploads.Uploads ?? []) leftovers.push(`multipart upload left open: ${u.Key} (${u.UploadId})`);
  add(
    check(
      'no leftover partial files or multipart uploads',
      `${leftovers.length} leftovers, ${(uploads.Uploads ?? []).length} open multipart uploads (${onDeadHosts} files on the dead host's disk, not counted)`,
      leftovers,
    ),
  );

  // 8. No file written outside the configured folders.
  const outside: string[] = [];
  for (const dir of ctx.mustStayEmpty) for (const name of await readdir(dir).catch(() => [] as string[])) outside.push(`${dir}/${name}`);
  const boardTop = await readdir(ctx.pipelineDir);
  for (const name of boardTop)
    if (!(BUCKETS as readonly string[]).includes(name) && !['batches', 'cache', 'meta'].includes(name))
      outside.push(`${ctx.pipelineDir}/${name}: unexpected`);
  // meta/ holds the GRIN request sequence (grin-pacing.ts) and the board's id (board-identity.ts), nothing else,
  // but for the temp file of a sequence write that a kill -9 cut short, which `reconcile` must clear.
  const metaEntries = await readdir(join(ctx.pipelineDir, 'meta')).catch(() => [] as string[]);
  const cutShort = metaEntries.filter((name) => {
    const pid = META_TEMP_PID.exec(name);
    return pid !== null && ctx.killedWorkerPids.includes(Number(pid[1]));
  });
  const sweptMeta = cutShort.length ? (await ctx.board.reconcile({ tempMaxAgeMs: 0 })).tempFilesRemoved : [];
  for (const name of metaEntries) {
    if (name === 'grin-request-seq' || name === 'board-id') continue;
    if (cutShort.includes(name) && sweptMeta.includes(`meta/${name}`)) continue;
    outside.push(
      `${ctx.pipelineDir}/meta/${name}: ${cutShort.includes(name) ? 'temp file of a killed writer that reconcile did not remove' : 'unexpected'}`,
    );
  }
  add(
    check(
      'no file written outside the configured folders',
      `${outside.length} unexpected files (workers' cwd and TMPDIR empty, board holds buckets, batches and the request sequence only)`,
      outside,
    ),
  );

  // 9. No secret in any history, log line, token or object metadata.
  const hits: SecretHit[] = [];
  let histories = 0;
  for await (const wf of ctx.client.workflow.list()) {
    const history = await ctx.client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
    hits.push(...scanValue(history, `history of ${wf.workflowId} (${wf.runId})`, ctx.secrets));
    histories++;
  }
  let logLines = 0;
  for (const file of ctx.logFiles) {
    const { lines, hits: h } = await scanFile(file, ctx.secrets);
    logLines += lines;
    hits.push(...h);
  }
  // Everything else the pipeline wrote: per-stage logs, batch lists, reports, the board's files.
  const { files: boardFiles, hits: boardHits } = await scanTree(ctx.pipelineDir, ctx.secrets);
  hits.push(...boardHits);
  let tokens = 0;
  for (const [barcode, copies] of byBarcode)
    for (const c of copies) {
      tokens++;
      hits.push(...scanValue(c.token, `token ${c.bucket}/${barcode}.json`, ctx.secrets));
    }
  for (const { key, metadata } of metadataSeen) hits.push(...scanValue(metadata, `metadata of ${key}`, ctx.secrets));
  for (const barcode of plan.good) {
    const key = storageKey(ctx.layout, 'token', barcode);
    if (!keys.has(key)) continue;
    const body = await ctx.s3.send(new GetObjectCommand({ Bucket: ctx.bucket, Key: key }));
    hits.push(...scanValue(await body.Body!.transformToString(), `stored token ${key}`, ctx.secrets));
  }
  add(
    check(
      'zero secrets (raw or encoded) in histories, logs, tokens, pipeline files and object metadata',
      `${hits.length} hits in ${histories} histories, ${logLines} log lines, ${tokens} tokens, ${boardFiles} files under the pipeline folder, ${metadataSeen.length} objects (${ctx.secrets.map((x) => x.name).join(', ')})`,
      hits.map((h) => `${h.secret} in ${h.where}`),
    ),
  );
  return checks;
}
