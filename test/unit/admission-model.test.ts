/**
 * A model test of admission and host bookkeeping (issue 20): thousands of random sequences of
 * admissions, download progress and failures, file stages, parking and operator retries, integrity
 * re-downloads, worker crashes (a new HostBooks seeded from what is on disk, then checked against
 * the tokens, as the worker does at start), restarts and periodic reconciles, on one or two hosts.
 *
 * Real parts: HostBooks, the shared queue's slot supplier (`admissionSlots`), DiskBudget and the
 * rule for what on disk makes a book held (`heldBarcodesIn`). Modelled: the board (one token per
 * book), the disks (file names and sizes), Temporal's queues, and the activities' calls into the
 * bookkeeping at the points the code makes them (a download `admit`s once its archive is complete
 * and its slot goes back when the attempt ends; clean-up and discard `release`; a run continuing
 * a book from its files `admit`s it).
 *
 * After every step, on every host that is up:
 *  - no slot held by nothing: slots granted = downloads running there;
 *  - books held (other than those a retry continued from their files) + slots ≤ the limit;
 *  - a slot granted while the host had books on it left the disk room for all of them at their peak;
 *  - no book is left unable to run: if a download waits on the shared queue, some host up polls
 *    (has room), or something under way will free a place (a download running, a held book's next
 *    stage, a held book that the next reconcile lets go of).
 * At the end of each sequence the faults stop, every host comes up, parked books are retried, and
 * the model runs what is runnable: every book must reach 07_stored.
 * The seed of a failing sequence is printed; ADMISSION_MODEL_SEED=<n> replays one.
 */
import { DiskBudget, PEAK_ARCHIVE_SIZES } from '../../src/activities/disk-space';
import { heldBarcodesIn, HostBooks } from '../../src/activities/host-books';
import type { BookToken } from '../../src/buckets/token';
import { admissionSlots } from '../../src/worker';
import { seededRandom } from '../../devkit/simulator/random';

const SEQUENCES = Number(process.env.ADMISSION_MODEL_SEQUENCES ?? 3000);
const STEPS = 80;
const UNIT = 1024 * 1024;

type Bucket = '02_converted' | '03_downloaded' | '04_decrypted' | '06_processed' | '07_stored' | 'failed';
interface Token {
  bucket: Bucket;
  fileQueue?: string;
  /** The bucket a parked book goes back to on retry. */
  parkedFrom?: Bucket;
}
type FetchStage = 'claimed' | 'partial' | 'renamed';
interface Fetch {
  barcode: string;
  permit: unknown;
  stage: FetchStage;
}
interface Host {
  name: string;
  up: boolean;
  books: HostBooks;
  disk: DiskBudget;
  /** File name → size in bytes (what is under the processing folder). */
  files: Map<string, number>;
  fetches: Map<string, Fetch>;
  /** Books a retry continued here from their files (admitted without a slot: may pass the limit). */
  continued: Set<string>;
  largestSeen: number;
}

const ON_HOST: readonly Bucket[] = ['03_downloaded', '04_decrypted', '06_processed'];
const NEXT: Partial<Record<Bucket, Bucket>> = {
  '03_downloaded': '04_decrypted',
  '04_decrypted': '06_processed',
  '06_processed': '07_stored',
};

class Model {
  readonly tokens = new Map<string, Token>();
  readonly sizes = new Map<string, number>();
  readonly hosts: Host[] = [];
  now = 1_000_000;
  readonly graceMs = 60_000;
  readonly limit: number;
  readonly capacity: number;

  constructor(
    readonly rand: () => number,
    readonly log: string[],
  ) {
    const hostCount = rand() < 0.5 ? 1 : 2;
    this.limit = 1 + Math.floor(rand() * 4);
    // A large disk (the limit decides) or a small one (the disk decides), in MiB.
    this.capacity = (rand() < 0.5 ? 1000 : 12 + Math.floor(rand() * 30)) * UNIT;
    const books = 3 + Math.floor(rand() * 8);
    for (let i = 0; i < books; i++) {
      const b = `B${i}`;
      this.tokens.set(b, { bucket: '02_converted' });
      this.sizes.set(b, (1 + Math.floor(rand() * 3)) * UNIT);
    }
    for (let i = 0; i < hostCount; i++) this.hosts.push(this.newHost(`files-h${i}`));
  }

  private newHost(name: string): Host {
    const files = new Map<string, number>();
    const host = { name, up: true, files, fetches: new Map(), continued: new Set<string>(), largestSeen: 0 } as unknown as Host;
    this.bootHost(host);
    return host;
  }

  /** A worker process starting: HostBooks seeded from the disk, as buildActivityDeps does. */
  private bootHost(host: Host): void {
    host.disk = new DiskBudget('/processing', 1, 3 * UNIT, async () => ({
      total: this.capacity,
      available: this.capacity - this.used(host),
    }));
    // The disk estimate starts over too, from the archives found on disk.
    host.largestSeen = 0;
    host.books = new HostBooks(this.limit, host.disk).seed(heldBarcodesIn([...host.files.keys()]));
    host.up = true;
    host.fetches.clear();
  }

  used(host: Host): number {
    let sum = 0;
    for (const size of host.files.values()) sum += size;
    return sum;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.rand() * items.length)];
  }

  lookup = async (barcode: string): Promise<BookToken | null> => {
    const t = this.tokens.get(barcode);
    return t ? ({ barcode, bucket: t.bucket, fileQueue: t.fileQueue } as BookToken) : null;
  };

  inFlight(barcode: string): boolean {
    return this.hosts.some((h) => h.fetches.has(barcode));
  }

  /** Books whose next task is a download waiting on the shared queue. */
  backlog(): string[] {
    return [...this.tokens].filter(([b, t]) => t.bucket === '02_converted' && !this.inFlight(b)).map(([b]) => b);
  }

  /** Books whose next task is a file stage on `host`'s own queue. */
  hostTasks(host: Host): string[] {
    return [...this.tokens].filter(([, t]) => ON_HOST.includes(t.bucket) && t.fileQueue === host.name).map(([b]) => b);
  }

  async poll(host: Host): Promise<void> {
    await host.disk.refresh();
    const supplier = admissionSlots(host.books);
    const before = host.books.count + host.books.reserved;
    const permit = supplier.tryReserveSlot({} as never);
    if (!permit) return;
    if (before > 0) {
      // Independent of DiskBudget's arithmetic: the room measured here carries every book on the host at the estimated peak.
      const peak = PEAK_ARCHIVE_SIZES * (host.largestSeen || 3 * UNIT);
      const room = this.capacity - this.used(host);
      if (room < (before + 1) * peak)
        throw new Error(`${host.name} granted a slot with ${before} books on it and room for fewer: ${room} < ${before + 1} × ${peak}`);
    }
    const waiting = this.backlog();
    if (waiting.length === 0) {
      supplier.releaseSlot({ permit } as never); // the poll came back empty
      return;
    }
    const barcode = this.pick(waiting);
    supplier.markSlotUsed({ permit, slotInfo: { activityType: 'fetchArchive' } } as never);
    this.tokens.get(barcode)!.fileQueue = host.name; // recordFileHost
    // A finished file whose token did not move becomes the partial again (download.ts).
    const enc = `${barcode}.tar.gz.gpg`;
    if (host.files.has(enc)) {
      host.files.delete(enc);
      host.files.set(`${enc}.part`, this.sizes.get(barcode)!);
    }
    host.fetches.set(barcode, { barcode, permit, stage: 'claimed' });
    this.log.push(`poll ${host.name} → fetch ${barcode}`);
  }

  fetchStep(host: Host, f: Fetch): void {
    const size = this.sizes.get(f.barcode)!;
    const part = `${f.barcode}.tar.gz.gpg.part`;
    if (f.stage === 'claimed') {
      host.files.set(part, Math.max(host.files.get(part) ?? 0, Math.ceil(size / 2)));
      f.stage = 'partial';
    } else if (f.stage === 'partial') {
      host.files.delete(part);
      host.files.set(`${f.barcode}.tar.gz.gpg`, size);
      f.stage = 'renamed';
    } else {
      // The token moves, the book is held here (holdHere), and the attempt ends: its slot goes back.
      this.tokens.set(f.barcode, { bucket: '03_downloaded', fileQueue: host.name });
      host.books.admit(f.barcode, this.now);
      host.books.disk?.noteArchive(size);
      host.largestSeen = Math.max(host.largestSeen, size);
      this.endFetch(host, f);
    }
    this.log.push(`fetch ${host.name} ${f.barcode} → ${f.stage}`);
  }

  /** The attempt fails (a 429 burst, disk full): the slot goes back, the partial file stays, the retry waits on the shared queue. */
  fetchFail(host: Host, f: Fetch): void {
    this.endFetch(host, f);
    this.log.push(`fetch ${host.name} ${f.barcode} fails`);
  }

  private endFetch(host: Host, f: Fetch): void {
    host.fetches.delete(f.barcode);
    admissionSlots(host.books).releaseSlot({ permit: f.permit } as never);
  }

  fileStage(host: Host, barcode: string): void {
    const t = this.tokens.get(barcode)!;
    const size = this.sizes.get(barcode)!;
    if (t.bucket === '03_downloaded') {
      host.files.set(`${barcode}.tar.gz`, size);
      host.files.set(`${barcode}_extracted`, size);
      host.files.set(`${barcode}_unpacked.json`, 0);
      host.files.delete(`${barcode}.tar.gz.gpg`);
    } else if (t.bucket === '04_decrypted') {
      host.files.set(`${barcode}_derivatives`, 1);
    } else {
      for (const name of [...host.files.keys()])
        if (name.startsWith(`${barcode}.`) || name.startsWith(`${barcode}_`)) host.files.delete(name);
      host.books.release(barcode);
      host.continued.delete(barcode);
    }
    t.bucket = NEXT[t.bucket]!;
    this.log.push(`stage ${host.name} ${barcode} → ${t.bucket}`);
  }

  park(barcode: string): void {
    const t = this.tokens.get(barcode)!;
    this.tokens.set(barcode, { bucket: 'failed', fileQueue: t.fileQueue, parkedFrom: t.bucket });
    this.log.push(`park ${barcode}`);
  }

  /** An integrity failure: discardLocalFiles, then a fresh download from the shared queue. */
  redownload(host: Host, barcode: string): void {
    this.removeFiles(host, barcode);
    host.books.release(barcode);
    host.continued.delete(barcode);
    this.tokens.set(barcode, { bucket: '02_converted' });
    this.log.push(`redownload ${barcode}`);
  }

  private removeFiles(host: Host, barcode: string): void {
    for (const name of [...host.files.keys()])
      if (name.startsWith(`${barcode}.`) || name.startsWith(`${barcode}_`)) host.files.delete(name);
  }

  /** The operator's retry: continueFrom finds the files on the host (findLocalProgress admits) or downloads again. */
  retry(barcode: string): void {
    const t = this.tokens.get(barcode)!;
    const host = this.hosts.find((h) => h.name === t.fileQueue);
    const back = t.parkedFrom!;
    const hasFiles = host && host.up && [...host.files.keys()].some((n) => heldBarcodesIn([n]).includes(barcode));
    if (host && hasFiles && ON_HOST.includes(back)) {
      this.tokens.set(barcode, { bucket: back, fileQueue: host.name });
      if (!host.books.has(barcode)) host.continued.add(barcode);
      host.books.admit(barcode, this.now);
    } else {
      this.tokens.set(barcode, { bucket: '02_converted' });
    }
    this.log.push(`retry ${barcode} → ${this.tokens.get(barcode)!.bucket}`);
  }

  crash(host: Host): void {
    host.up = false;
    host.fetches.clear(); // the attempts are lost; Temporal runs them again (on the shared queue)
    this.log.push(`crash ${host.name}`);
  }

  async restart(host: Host): Promise<void> {
    this.bootHost(host);
    for (const b of [...host.continued]) if (!host.books.has(b)) host.continued.delete(b);
    await host.books.reconcile(this.lookup, host.name, { now: this.now, graceMs: this.graceMs });
    this.log.push(`restart ${host.name} holding [${host.books.barcodes().join(' ')}]`);
  }

  async reconcile(host: Host): Promise<void> {
    const gone = await host.books.reconcile(this.lookup, host.name, { now: this.now, graceMs: this.graceMs });
    for (const b of gone) host.continued.delete(b);
    this.log.push(`reconcile ${host.name} let go [${gone.join(' ')}]`);
  }

  check(): void {
    for (const h of this.hosts.filter((x) => x.up)) {
      // No slot held by nothing.
      if (h.books.reserved !== h.fetches.size)
        throw new Error(`${h.name}: ${h.books.reserved} slots granted, ${h.fetches.size} downloads running`);
      const continued = [...h.continued].filter((b) => h.books.has(b)).length;
      if (h.books.count - continued + h.books.reserved > this.limit) {
        throw new Error(
          `${h.name}: ${h.books.count} books held (${continued} continued by a retry) + ${h.books.reserved} slots > limit ${this.limit}`,
        );
      }
    }
    const up = this.hosts.filter((x) => x.up);
    if (up.length === 0 || this.backlog().length === 0) return;
    const someonePolls = up.some((h) => h.books.hasRoom);
    const downloading = up.some((h) => h.fetches.size > 0);
    const stageToRun = up.some((h) => h.books.barcodes().some((b) => this.hostTasks(h).includes(b)));
    const letGoNext = up.some((h) =>
      h.books.barcodes().some((b) => {
        const t = this.tokens.get(b);
        return !t || t.fileQueue !== h.name || !ON_HOST.includes(t.bucket);
      }),
    );
    if (!(someonePolls || downloading || stageToRun || letGoNext)) {
      throw new Error(
        `wedged: downloads ${this.backlog().join(' ')} wait on the shared queue and no host up will ever poll; ` +
          up.map((h) => `${h.name} holds [${h.books.barcodes().join(' ')}] slots ${h.books.reserved}`).join('; '),
      );
    }
  }

  async step(): Promise<void> {
    this.now += Math.floor(this.rand() * 20_000);
    const up = this.hosts.filter((h) => h.up);
    const down = this.hosts.filter((h) => !h.up);
    const r = this.rand();
    const host = up.length > 0 ? this.pick(up) : undefined;
    if (!host) return this.restart(this.pick(down));
    const fetches = [...host.fetches.values()];
    const tasks = this.hostTasks(host);
    if (r < 0.25) return this.poll(host);
    if (r < 0.45 && fetches.length > 0) return this.fetchStep(host, this.pick(fetches));
    if (r < 0.55 && fetches.length > 0) {
      const f = this.pick(fetches);
      if (f.stage !== 'renamed') return this.fetchFail(host, f);
    }
    if (r < 0.75 && tasks.length > 0) return this.fileStage(host, this.pick(tasks));
    if (r < 0.78 && tasks.length > 0) return this.park(this.pick(tasks));
    if (r < 0.8 && tasks.length > 0) {
      const b = this.pick(tasks);
      if (this.tokens.get(b)!.bucket !== '06_processed') return this.redownload(host, b);
    }
    if (r < 0.84) {
      const parked = [...this.tokens].filter(([, t]) => t.bucket === 'failed').map(([b]) => b);
      if (parked.length > 0) return this.retry(this.pick(parked));
    }
    if (r < 0.9) return this.reconcile(host);
    if (r < 0.95) return this.crash(host);
    if (down.length > 0) return this.restart(this.pick(down));
  }

  /** Faults stop: every host up, parked books retried, then whatever is runnable runs. */
  async drain(): Promise<void> {
    for (const h of this.hosts) if (!h.up) await this.restart(h);
    for (const [b, t] of this.tokens) if (t.bucket === 'failed') this.retry(b);
    for (let i = 0; i < 5000; i++) {
      if ([...this.tokens.values()].every((t) => t.bucket === '07_stored')) return;
      this.check();
      this.now += 1000;
      const h = this.pick(this.hosts);
      const fetches = [...h.fetches.values()];
      const tasks = this.hostTasks(h);
      if (fetches.length > 0) this.fetchStep(h, fetches[0]);
      else if (tasks.length > 0) this.fileStage(h, tasks[0]);
      else if (this.backlog().length > 0 && h.books.hasRoom) await this.poll(h);
      else {
        this.now += this.graceMs;
        await this.reconcile(h);
      }
    }
    const left = [...this.tokens]
      .filter(([, t]) => t.bucket !== '07_stored')
      .map(([b, t]) => `${b} in ${t.bucket}${t.fileQueue ? ` on ${t.fileQueue}` : ''}`);
    throw new Error(
      `not every book reached 07_stored once the faults stopped: ${left.join(', ')}; ` +
        this.hosts.map((h) => `${h.name} holds [${h.books.barcodes().join(' ')}] slots ${h.books.reserved}`).join('; '),
    );
  }
}

test(`admission never wedges: ${SEQUENCES} random sequences of admit, fail, crash, restart, reconcile and clean-up on one and two hosts`, async () => {
  const only = process.env.ADMISSION_MODEL_SEED;
  const seeds = only ? [Number(only)] : Array.from({ length: SEQUENCES }, (_, i) => 20261207 + i);
  let stored = 0;
  for (const seed of seeds) {
    const log: string[] = [];
    const model = new Model(seededRandom(seed), log);
    try {
      for (let i = 0; i < STEPS; i++) {
        await model.step();
        model.check();
      }
      await model.drain();
      stored += model.tokens.size;
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      throw new Error(
        `admission model, seed ${seed} (replay: ADMISSION_MODEL_SEED=${seed}): ${message}\nlast steps:\n  ${log.slice(-25).join('\n  ')}`,
      );
    }
  }
  expect(stored).toBeGreaterThan(seeds.length * 3 - 1);
});
