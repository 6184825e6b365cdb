/**
 * Small file-system helpers shared by the volume drivers. Nothing here knows
 * about a particular driver's layout.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { findSystemTool } from '../../common/executables';
import { EngineError, volumeError } from '../errors';
import type { VolumeProgress } from './driver';

/** Volume and snapshot ids become file names, so they must not be able to
 *  climb out of the pool or hide as dot-files (dot names are our temp files). */
const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$/;

export function checkId(kind: 'volume' | 'snapshot', id: string): void {
  if (!ID_RE.test(id)) {
    throw new EngineError('InvalidArgument', `invalid ${kind} id ${JSON.stringify(id)}: use letters, digits, '.', '_' and '-', starting with a letter or digit`);
  }
}

/** Run `fn`, turning any non-EngineError into a volume error (ENOSPC -> NoSpace). */
export async function guard<T>(doing: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof EngineError) throw err;
    throw volumeError(err, doing);
  }
}

export function notFound(what: string): EngineError {
  return new EngineError('NotFound', `${what} does not exist in the volume pool`);
}

/** A unique suffix for temp names: crash leftovers never collide with a new attempt. */
export function tmpSuffix(): string {
  return `${process.pid}-${randomBytes(6).toString('hex')}`;
}

export async function exists(p: string): Promise<boolean> {
  try {
    await fs.promises.lstat(p);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** Run items through `fn` with at most `limit` in flight. After the first
 *  failure no new item starts; in-flight ones finish, then the error is thrown. */
export async function mapLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { err: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (!failure && next < items.length) {
      const item = items[next++];
      try {
        await fn(item);
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.err;
}

/** execFile with the tool's stderr in the error message. A tool that reports
 *  "No space left" gets errno code ENOSPC so volumeError() maps it to NoSpace. */
export function run(bin: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(bin, args, { maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      const detail = (stderr || err.message).trim();
      const e = new Error(`${path.basename(bin)} ${args[0] ?? ''} failed: ${detail}`) as NodeJS.ErrnoException;
      if (/no space left/i.test(detail)) e.code = 'ENOSPC';
      reject(e);
    });
  });
}

/** Create the pool and its sub-folders. The pool and `volumes/` are 0711 so
 *  the unprivileged PostgreSQL user can reach its own data directory without
 *  being able to list anything; everything else stays private (0700). */
export async function ensurePoolDirs(pool: string, subdirs: readonly string[]): Promise<void> {
  await fs.promises.mkdir(pool, { recursive: true, mode: 0o711 });
  for (const dir of subdirs) {
    await fs.promises.mkdir(path.join(pool, dir), { recursive: true, mode: dir === 'volumes' ? 0o711 : 0o700 });
  }
}

/** Make everything written so far on the pool's file system durable before we
 *  write a record that points at it (a manifest, a state file). One syncfs via
 *  coreutils `sync -f` is far cheaper than an fsync per chunk; where that is
 *  not available, fsync the given files. */
export async function makeDurable(pool: string, files: readonly string[]): Promise<void> {
  const sync = findSystemTool('sync');
  if (sync) {
    try {
      await run(sync, ['-f', pool]);
      return;
    } catch {
      // not GNU coreutils: fall through
    }
  }
  await mapLimit(files, 16, async (f) => {
    // No symlink or FIFO a tenant planted may redirect or block this.
    const fh = await fs.promises.open(f, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  });
}

/** Write a small file atomically: temp file in `tmpDir`, fsync, rename, so a
 *  crash leaves either the old file or the new one, never a torn one. With
 *  `sync: false`, no fsync: readers never see a torn file, but after a crash the
 *  file may be short or empty (for caches whose reader can tell). */
export async function writeFileAtomic(target: string, data: string | Buffer, tmpDir: string, { sync = true } = {}): Promise<void> {
  const tmp = path.join(tmpDir, `${path.basename(target)}.${tmpSuffix()}`);
  try {
    const fh = await fs.promises.open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(data);
      if (sync) await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.promises.rename(tmp, target);
  } catch (err) {
    await fs.promises.rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
  if (sync) await syncDir(path.dirname(target));
}

/** fsync a directory so a rename into it survives power loss (no-op where unsupported). */
export async function syncDir(dir: string): Promise<void> {
  let fh: fs.promises.FileHandle | undefined;
  try {
    fh = await fs.promises.open(dir, 'r');
    await fh.sync();
  } catch {
    // some platforms cannot fsync a directory; the rename is still atomic
  } finally {
    await fh?.close();
  }
}

/** Throttled byte progress: the first update is reported at once, then at
 *  most every 100 ms, and finish() always reports the end. A callback that
 *  throws aborts the operation (the engine uses that for cancellation). */
export class Progress {
  private done = 0;
  private lastReport = 0;

  constructor(private readonly cb: VolumeProgress | undefined, private total = 0) {}

  addTotal(bytes: number): void {
    this.total += bytes;
  }

  advance(bytes: number): void {
    this.done += bytes;
    const now = Date.now();
    if (this.cb && now - this.lastReport >= 100) {
      this.lastReport = now;
      this.cb(Math.min(this.done, this.total), this.total);
    }
  }

  finish(): void {
    this.cb?.(this.total, this.total);
  }
}

/**
 * A minimal readers-writer lock. Snapshots and restores share it; chunk
 * garbage collection takes it alone, so it can never delete a chunk that a
 * running snapshot has just found in the store and is about to reference.
 */
export class RwLock {
  /** >0: that many readers; -1: one writer. */
  private active = 0;
  private readonly waiting: Array<{ write: boolean; go: () => void }> = [];

  read<T>(fn: () => Promise<T>): Promise<T> {
    return this.with(false, fn);
  }

  write<T>(fn: () => Promise<T>): Promise<T> {
    return this.with(true, fn);
  }

  private async with<T>(write: boolean, fn: () => Promise<T>): Promise<T> {
    await this.acquire(write);
    try {
      return await fn();
    } finally {
      this.active = this.active === -1 ? 0 : this.active - 1;
      this.pump();
    }
  }

  private canGo(write: boolean): boolean {
    return write ? this.active === 0 : this.active >= 0;
  }

  private take(write: boolean): void {
    this.active = write ? -1 : this.active + 1;
  }

  /** FIFO: a waiting writer is not starved by a stream of new readers. */
  private acquire(write: boolean): Promise<void> {
    if (this.waiting.length === 0 && this.canGo(write)) {
      this.take(write);
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push({ write, go: () => { this.take(write); resolve(); } }));
  }

  private pump(): void {
    while (this.waiting.length > 0 && this.canGo(this.waiting[0].write)) this.waiting.shift()!.go();
  }
}
