/**
 * Compaction of reflink snapshots: why a cold restore on XFS was O(size), and what fixes it.
 *
 * XFS clones a file (FICLONE) in time proportional to the extents of its block map. A
 * PostgreSQL file that was cloned and then written is copied on write page by page, so
 * after a scattered 1% update (which dirties about half of a table's pages) the working
 * file is one extent per dirty run of pages, and a bookmark cloned from it is too. Measured
 * on this machine with the bench's 2.4 GB dataset: cloning such a bookmark took 5.0 to
 * 6.8 s; the same bytes rewritten contiguously cloned in 0.23 s, and the template (never
 * written after its build) in 0.37 s (docs/performance.md, "reflink (XFS)").
 *
 * So once a snapshot is taken, its large files that are scattered over the disk are copied
 * into new, contiguous files (plain reads and writes: `copy_file_range` would clone
 * them again), each renamed over the old one. A snapshot never changes after it is taken,
 * so the new file holds exactly the same bytes; a crash leaves either file whole, and the
 * temp copy in the pool's `tmp/` (emptied at every start). Every later clone of that
 * snapshot (a cold restore, a branch from a bookmark, a spare) is then cheap.
 *
 * The price is disk: a compacted file no longer shares blocks with the files it was
 * cloned from. Only files whose pieces average under FRAGMENT_BYTES are rewritten, and
 * those already held mostly blocks of their own (a scattered change leaves about half a
 * table's pages private to each copy); a clustered change leaves a few large extents, and
 * those files keep sharing. A file is skipped when the pool would be left with less than
 * RESERVE_BYTES free.
 *
 * What must not overlap a rewrite: a clone of the snapshot (it checks that every file it
 * opens is the inode it scanned, so a rename would fail it as "replaced") and its
 * deletion. Both call `hold`, which interrupts a rewrite of that snapshot and queues it
 * again once they are done.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { findSystemTool } from '../../common/executables';
import { faultPoint } from '../faults';
import { run, syncDir, tmpSuffix } from './util';

/** Files below this are cheap to clone however they lie. */
const MIN_FILE_BYTES = 8 * 1024 * 1024;
/** A file whose contiguous pieces average less than this is rewritten: a 1 GB segment
 *  then has over 1,024 pieces, which XFS clones in tens of milliseconds. */
const FRAGMENT_BYTES = 1024 * 1024;
/** Room a compaction never takes from the pool: what the databases need to go on writing. */
const RESERVE_BYTES = 512 * 1024 * 1024;
const COPY_CHUNK = 4 * 1024 * 1024;

export type CompactionLog = (message: string) => void;

class Interrupted extends Error {}

export class Compactor {
  private readonly queue: string[] = [];
  private readonly holds = new Map<string, number>();
  /** Snapshots whose compaction a hold cut short: they go on when the hold ends. */
  private readonly interrupted = new Set<string>();
  private current?: { snapshotId: string; abort: AbortController; job: Promise<unknown> };
  private draining = false;
  private readonly filefrag = findSystemTool('filefrag');

  constructor(private readonly dirOf: (snapshotId: string) => string, private readonly tmpDir: string,
    private readonly log: CompactionLog) {}

  /** Whether compaction can run here (it reads block maps with e2fsprogs' `filefrag`). */
  get available(): boolean {
    return this.filefrag !== undefined;
  }

  /** Snapshots queued or being compacted (engine status counts them as background jobs). */
  get pending(): number {
    return this.queue.length + (this.current ? 1 : 0);
  }

  schedule(snapshotId: string): void {
    if (!this.filefrag || this.queue.includes(snapshotId) || this.current?.snapshotId === snapshotId) return;
    this.queue.push(snapshotId);
    if (!this.draining) void this.drain();
  }

  /** Run `fn` while no file of the snapshot is replaced: a rewrite under way stops first,
   *  and goes on once the last hold ends. With `forget` the snapshot is being deleted and
   *  is not compacted again. */
  async hold<T>(snapshotId: string, fn: () => Promise<T>, forget = false): Promise<T> {
    this.holds.set(snapshotId, (this.holds.get(snapshotId) ?? 0) + 1);
    const queued = this.queue.indexOf(snapshotId);
    if (forget && queued >= 0) this.queue.splice(queued, 1);
    const running = this.current;
    if (running?.snapshotId === snapshotId) {
      running.abort.abort();
      await running.job.catch(() => undefined);
    }
    try {
      return await fn();
    } finally {
      const left = (this.holds.get(snapshotId) ?? 1) - 1;
      if (left > 0) this.holds.set(snapshotId, left);
      else this.holds.delete(snapshotId);
      if (forget) this.interrupted.delete(snapshotId);
      else if (left === 0 && this.interrupted.delete(snapshotId)) this.schedule(snapshotId);
    }
  }

  private async drain(): Promise<void> {
    this.draining = true;
    try {
      for (let snapshotId = this.queue.shift(); snapshotId; snapshotId = this.queue.shift()) {
        if (this.holds.has(snapshotId)) this.interrupted.add(snapshotId);
        else await this.run(snapshotId);
      }
    } finally {
      this.draining = false;
    }
  }

  private async run(snapshotId: string): Promise<void> {
    const abort = new AbortController();
    const job = this.compact(snapshotId, abort.signal);
    this.current = { snapshotId, abort, job };
    try {
      const done = await job;
      if (done.files > 0) {
        this.log(`snapshot ${snapshotId}: rewrote ${done.files} fragmented file(s) contiguously (${(done.bytes / 1048576).toFixed(0)} MiB), `
          + `so restores and branches from it clone few extents${done.skipped ? `; ${done.skipped} skipped: the pool is nearly full` : ''}`);
      }
    } catch (err) {
      if (err instanceof Interrupted) this.interrupted.add(snapshotId);
      // A snapshot deleted meanwhile is simply gone. Any other failure leaves it as it was:
      // correct, only slower to clone.
      else if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.log(`snapshot ${snapshotId}: not compacted (clones of it stay slower): ${(err as Error).message}`);
      }
    } finally {
      this.current = undefined;
    }
  }

  private async compact(snapshotId: string, signal: AbortSignal): Promise<{ files: number; bytes: number; skipped: number }> {
    const result = { files: 0, bytes: 0, skipped: 0 };
    for (const file of await largeFiles(this.dirOf(snapshotId))) {
      if (signal.aborted) throw new Interrupted();
      const size = Number((await fs.promises.lstat(file)).size);
      if (!(await this.fragmented(file, size))) continue;
      if (!(await roomFor(this.tmpDir, size))) {
        result.skipped++;
        continue;
      }
      await rewrite(file, this.tmpDir, signal);
      result.files++;
      result.bytes += size;
    }
    return result;
  }

  private async fragmented(file: string, size: number): Promise<boolean> {
    return contiguousPieces(await run(this.filefrag!, ['-v', file])) * FRAGMENT_BYTES > size;
  }
}

/**
 * Count the physically contiguous pieces of a file from `filefrag -v`. Its extent lines
 * ("  3:   6..  9:   30..   33:   4:   2621526: shared") split where the shared flag
 * changes too, which costs a clone nothing, so pieces are counted where the physical
 * block does not follow the last one.
 */
export function contiguousPieces(filefragOutput: string): number {
  let pieces = 0;
  let nextPhysical = -1;
  for (const line of filefragOutput.split('\n')) {
    const m = /^\s*\d+:\s*\d+\.\.\s*\d+:\s*(\d+)\.\.\s*(\d+):/.exec(line);
    if (!m) continue;
    if (Number(m[1]) !== nextPhysical) pieces++;
    nextPhysical = Number(m[2]) + 1;
  }
  return pieces;
}

/** Regular files of at least MIN_FILE_BYTES under `dir` (a snapshot: root's, never a tenant's). */
async function largeFiles(dir: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await fs.promises.readdir(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile() && (await fs.promises.lstat(p)).size >= MIN_FILE_BYTES) found.push(p);
    }
  };
  await walk(dir);
  return found;
}

async function roomFor(dir: string, bytes: number): Promise<boolean> {
  const st = await fs.promises.statfs(dir);
  return st.bavail * st.bsize >= bytes + RESERVE_BYTES;
}

/** Copy `file` into a new file in `tmpDir` with plain writes (new, contiguous blocks), then
 *  rename it over `file`. Same bytes, mode and owner; the rename is the only visible step. */
async function rewrite(file: string, tmpDir: string, signal: AbortSignal): Promise<void> {
  const tmp = path.join(tmpDir, `.compact-${tmpSuffix()}`);
  const src = await fs.promises.open(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    const st = await src.stat();
    const dst = await fs.promises.open(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
    try {
      await copyBytes(src, dst, st.size, signal, file);
      await dst.sync();
      await dst.chmod(st.mode & 0o7777);
      await dst.chown(st.uid, st.gid);
    } finally {
      await dst.close();
    }
    await faultPoint('compact:before-rename');
    if (signal.aborted) throw new Interrupted();
    await fs.promises.rename(tmp, file);
  } catch (err) {
    await fs.promises.rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  } finally {
    await src.close();
  }
  await syncDir(path.dirname(file));
}

async function copyBytes(src: fs.promises.FileHandle, dst: fs.promises.FileHandle, size: number, signal: AbortSignal,
  file: string): Promise<void> {
  const buf = Buffer.allocUnsafe(COPY_CHUNK);
  for (let at = 0; at < size;) {
    if (signal.aborted) throw new Interrupted();
    const { bytesRead } = await src.read(buf, 0, Math.min(COPY_CHUNK, size - at), at);
    if (bytesRead === 0) throw new Error(`${file} ended early while it was copied`);
    await dst.write(buf, 0, bytesRead, at);
    at += bytesRead;
  }
}
