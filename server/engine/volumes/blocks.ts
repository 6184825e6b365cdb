/**
 * blocks driver: copy-on-write without file-system support, so ext4 (and
 * NTFS under WSL) laptops are first-class. Data lives in a content-addressed
 * chunk store with dedup; a snapshot is a manifest of chunk ids; a volume is
 * a plain directory that restore() rewrites chunk by chunk, only where the
 * target differs, so cost follows the delta, not the database size.
 *
 * Pool layout:
 *   POOL/volumes/<id>            working directories (PostgreSQL data directories)
 *   POOL/volstate/<id>.json      per-volume state: stat + chunk ids of every file
 *   POOL/snapshots/<id>.manifest snapshots
 *   POOL/chunks/ab/<sha256>      chunk store (see blocks/chunkStore.ts)
 *   POOL/tmp/                    temp files and trash; emptied by init()
 *
 * Crash safety: chunks, manifests and states are written tmp+rename. Order on
 * snapshot: chunks (made durable) -> manifest -> state. Order on restore: data
 * (made durable) -> state. A crash before the state is saved leaves the old
 * state, whose stats no longer match the files we touched, so a re-run rehashes
 * those files and converges.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EngineError } from '../errors';
import type { DriverOptions, FileOwner, RestoreOptions, VolumeDriver, VolumeProgress } from './driver';
import { CHUNK_SIZE, ChunkStore, chunkFile, ZERO_CHUNK, type ChunkStoreStats } from './blocks/chunkStore';
import {
  decodeManifest, encodeManifest, fileStateOf, newManifest, statMatches,
  type FileEntry, type FileState, type Manifest, type ManifestEntry,
} from './blocks/manifest';
import { StateStore } from './blocks/stateStore';
import {
  allocatedBytes, applyOwner, checkCanCreate, checkId, clearDir, ensurePoolDirs, exists, fixVolumeDir, guard,
  makeDurable, mapLimit, notFound, prepareVolumeDir, Progress, removeTree, RwLock, scanTree, syncDir,
  writeFileAtomic, type TreeEntry,
} from './util';

/** Files hashed or restored at once: enough to overlap I/O with hashing on
 *  the main thread, few enough to bound memory (1 MiB read buffer each). */
const FILE_CONCURRENCY = 8;

export interface BlocksStats extends ChunkStoreStats {
  /** Files and bytes read from volumes to (re)hash them. */
  filesHashed: number;
  bytesHashed: number;
  /** Bytes restore() wrote into volume files. */
  volumeBytesWritten: number;
  /** Why the last garbage collection did not sweep, if it did not. */
  gcSkipped?: string;
}

type Counters = Omit<BlocksStats, keyof ChunkStoreStats>;

export class BlocksDriver implements VolumeDriver {
  readonly name = 'blocks' as const;
  readonly atomicSnapshot = false;
  private readonly pool: string;
  private readonly tmp: string;
  private readonly store: ChunkStore;
  private readonly states: StateStore;
  private readonly lock = new RwLock();
  private counters: Counters = { filesHashed: 0, bytesHashed: 0, volumeBytesWritten: 0 };

  constructor(opts: DriverOptions) {
    this.pool = path.resolve(opts.pool);
    this.tmp = path.join(this.pool, 'tmp');
    this.store = new ChunkStore(path.join(this.pool, 'chunks'), this.tmp);
    this.states = new StateStore(path.join(this.pool, 'volstate'), this.tmp);
  }

  /** Work counters since the driver was made (or resetStats()); tests use them to prove O(delta). */
  get stats(): BlocksStats {
    return { ...this.store.stats, ...this.counters };
  }

  resetStats(): void {
    for (const k of Object.keys(this.store.stats) as Array<keyof ChunkStoreStats>) this.store.stats[k] = 0;
    this.counters = { filesHashed: 0, bytesHashed: 0, volumeBytesWritten: 0 };
  }

  async init(): Promise<void> {
    await guard('preparing the blocks pool', async () => {
      await ensurePoolDirs(this.pool, ['volumes', 'volstate', 'snapshots', 'chunks', 'tmp']);
      await clearDir(this.tmp);
      await this.store.init();
    });
  }

  volumePath(volumeId: string): string {
    checkId('volume', volumeId);
    return path.join(this.pool, 'volumes', volumeId);
  }

  private manifestPath(snapshotId: string): string {
    checkId('snapshot', snapshotId);
    return path.join(this.pool, 'snapshots', `${snapshotId}.manifest`);
  }

  async createVolume(volumeId: string, owner?: FileOwner): Promise<void> {
    const vol = this.volumePath(volumeId);
    await guard(`creating volume ${volumeId}`, async () => {
      if (await checkCanCreate(vol, volumeId)) await fixVolumeDir(vol, owner);
      else await prepareVolumeDir(vol, owner);
      await this.states.remove(volumeId); // a stale one from a crashed delete means nothing now
    });
  }

  async deleteVolume(volumeId: string): Promise<void> {
    const vol = this.volumePath(volumeId);
    await guard(`deleting volume ${volumeId}`, async () => {
      await removeTree(vol, this.tmp);
      await this.states.remove(volumeId);
      await this.lock.write(() => this.collectGarbage());
    });
  }

  async deleteSnapshot(snapshotId: string): Promise<void> {
    const file = this.manifestPath(snapshotId);
    await guard(`deleting snapshot ${snapshotId}`, async () => {
      await fs.promises.rm(file, { force: true });
      await syncDir(path.dirname(file));
      await this.lock.write(() => this.collectGarbage());
    });
  }

  async hasSnapshot(snapshotId: string): Promise<boolean> {
    const file = this.manifestPath(snapshotId);
    return guard(`looking up snapshot ${snapshotId}`, () => exists(file));
  }

  /** No file-system sharing here: chunks are stored once, so plain allocated
   *  bytes of the pool are exact. */
  async diskUsage(): Promise<number> {
    return guard('measuring the blocks pool', () => allocatedBytes(this.pool));
  }

  // ------------------------------------------------------------ snapshot

  async snapshot(volumeId: string, snapshotId: string, progress?: VolumeProgress): Promise<void> {
    const vol = this.volumePath(volumeId);
    const file = this.manifestPath(snapshotId);
    await guard(`snapshotting volume ${volumeId}`, () => this.lock.read(async () => {
      if (!(await exists(vol))) throw notFound(`volume ${volumeId}`);
      if (await exists(file)) throw new EngineError('VolumeFailed', `snapshot ${snapshotId} already exists`);
      const { entries, files } = await this.capture(vol, await this.states.load(volumeId), new Progress(progress));
      await makeDurable(this.pool, this.store.takeWritten());
      await writeFileAtomic(file, encodeManifest(newManifest(entries)), this.tmp);
      await this.states.save(volumeId, files);
    }));
  }

  /** Describe the volume. Files whose stat matches the state reuse their
   *  chunk ids; only the others are read, and their new chunks stored. */
  private async capture(vol: string, state: Map<string, FileState>, progress: Progress):
    Promise<{ entries: ManifestEntry[]; files: Map<string, FileState> }> {
    const tree = await scanTree(vol);
    const changed = tree.filter((e) => e.kind === 'file' && !this.unchanged(state, e));
    for (const e of changed) progress.addTotal(Number(e.st.size));
    const files = new Map<string, FileState>();
    const entries: ManifestEntry[] = [];
    await mapLimit(tree, FILE_CONCURRENCY, async (e) => {
      const entry = await this.describe(vol, e, state, files, progress);
      if (entry) entries.push(entry);
    });
    progress.finish();
    return { entries, files };
  }

  private unchanged(state: Map<string, FileState>, e: TreeEntry): boolean {
    const s = state.get(e.rel);
    return s !== undefined && statMatches(s, e.st);
  }

  private async describe(vol: string, e: TreeEntry, state: Map<string, FileState>, files: Map<string, FileState>,
    progress: Progress): Promise<ManifestEntry | undefined> {
    const mode = Number(e.st.mode) & 0o7777;
    if (e.kind === 'dir') return { path: e.rel, type: 'dir', mode };
    if (e.kind === 'symlink') return { path: e.rel, type: 'symlink', mode, target: await fs.promises.readlink(path.join(vol, e.rel)) };
    if (e.kind !== 'file') return undefined; // sockets, FIFOs: PostgreSQL recreates its own
    const known = state.get(e.rel);
    if (known && this.unchanged(state, e)) {
      files.set(e.rel, known);
      return { path: e.rel, type: 'file', mode, size: known.size, chunks: known.chunks };
    }
    // The state keeps the stat taken before reading: if the file changes while
    // we read it, its stat will differ next time and it is read again.
    const { size, chunks } = await this.hash(path.join(vol, e.rel), true);
    progress.advance(size);
    files.set(e.rel, fileStateOf(e.st, chunks));
    return { path: e.rel, type: 'file', mode, size, chunks };
  }

  /** Chunk a file; with `store`, save its new chunks in the chunk store. */
  private async hash(file: string, store: boolean): Promise<{ size: number; chunks: string[] }> {
    const out = await chunkFile(file, store ? (id, data) => this.store.put(id, data) : undefined);
    this.counters.filesHashed++;
    this.counters.bytesHashed += out.size;
    return out;
  }

  // ------------------------------------------------------------ restore

  async restore(volumeId: string, snapshotId: string, { owner, progress }: RestoreOptions = {}): Promise<void> {
    const vol = this.volumePath(volumeId);
    const file = this.manifestPath(snapshotId);
    await guard(`restoring volume ${volumeId} from snapshot ${snapshotId}`, () => this.lock.read(async () => {
      const manifest = await this.readManifest(file, snapshotId);
      // Restoring into a missing volume is how a clone is made.
      if (!(await exists(vol))) await prepareVolumeDir(vol, owner);
      const state = await this.states.load(volumeId);
      const files = await this.apply(vol, manifest, state, owner, new Progress(progress));
      await fixVolumeDir(vol, owner);
      // The state must never claim content that a power loss could undo.
      await makeDurable(this.pool, [...files.keys()].map((p) => path.join(vol, p)));
      await this.states.save(volumeId, files);
    }));
  }

  private async readManifest(file: string, snapshotId: string): Promise<Manifest> {
    try {
      return decodeManifest(await fs.promises.readFile(file, 'utf8'), snapshotId);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(`snapshot ${snapshotId}`);
      throw err;
    }
  }

  /** Make the tree at `vol` match the manifest; returns the new file states. */
  private async apply(vol: string, manifest: Manifest, state: Map<string, FileState>, owner: FileOwner | undefined,
    progress: Progress):
    Promise<Map<string, FileState>> {
    const target = new Map(manifest.entries.map((e) => [e.path, e]));
    const current = await this.removeExtras(vol, target);
    const dirs = manifest.entries.filter((e) => e.type === 'dir');
    for (const d of dirs) {
      if (!current.has(d.path)) await fs.promises.mkdir(path.join(vol, d.path), { mode: 0o700 });
    }
    const leaves = manifest.entries.filter((e) => e.type !== 'dir');
    for (const e of leaves) if (e.type === 'file') progress.addTotal(e.size);
    const files = new Map<string, FileState>();
    await mapLimit(leaves, FILE_CONCURRENCY, async (e) => {
      if (e.type === 'symlink') return this.applySymlink(vol, e, current.get(e.path), owner);
      if (e.type !== 'file') return;
      files.set(e.path, await this.applyFile(vol, e, current.get(e.path), state.get(e.path), owner));
      progress.advance(e.size);
    });
    // Modes last and children first, so a read-only directory never blocks
    // the writes into it.
    for (const d of [...dirs].reverse()) await this.fixMode(path.join(vol, d.path), d.mode, current.get(d.path)?.st, owner);
    progress.finish();
    return files;
  }

  /** Delete whatever the target does not have as the same kind (a symlink
   *  counts as the same only with the same target). Returns what is kept. */
  private async removeExtras(vol: string, target: Map<string, ManifestEntry>): Promise<Map<string, TreeEntry>> {
    const kept = new Map<string, TreeEntry>();
    const doomed: TreeEntry[] = [];
    for (const e of await scanTree(vol)) {
      if (await this.keeps(vol, e, target.get(e.rel))) kept.set(e.rel, e);
      else doomed.push(e);
    }
    // Reverse pre-order: contents before their directory.
    for (const e of doomed.reverse()) await fs.promises.rm(path.join(vol, e.rel), { recursive: true, force: true });
    return kept;
  }

  private async keeps(vol: string, e: TreeEntry, t: ManifestEntry | undefined): Promise<boolean> {
    if (!t) return false;
    if (e.kind === 'dir' || e.kind === 'file') return t.type === e.kind;
    if (e.kind === 'symlink' && t.type === 'symlink') return (await fs.promises.readlink(path.join(vol, e.rel))) === t.target;
    return false;
  }

  private async applySymlink(vol: string, e: Extract<ManifestEntry, { type: 'symlink' }>, cur: TreeEntry | undefined,
    owner: FileOwner | undefined): Promise<void> {
    const p = path.join(vol, e.path);
    if (!cur) await fs.promises.symlink(e.target, p);
    await applyOwner(p, owner, cur?.st);
  }

  /** chmod/chown only what differs (each one bumps ctime); true if anything changed. */
  private async fixMode(p: string, mode: number, st: fs.BigIntStats | undefined, owner: FileOwner | undefined): Promise<boolean> {
    const chmod = !st || (Number(st.mode) & 0o7777) !== mode;
    const chown = owner !== undefined && (!st || Number(st.uid) !== owner.uid || Number(st.gid) !== owner.gid);
    if (chmod) await fs.promises.chmod(p, mode);
    if (chown) await applyOwner(p, owner);
    return chmod || chown;
  }

  /**
   * Bring one file to the target content. Its current chunk ids come from the
   * state when its stat matches, else from rehashing it (the state refresh);
   * then only chunks that differ are written, at their offset.
   */
  private async applyFile(vol: string, t: FileEntry, cur: TreeEntry | undefined, known: FileState | undefined,
    owner: FileOwner | undefined): Promise<FileState> {
    const p = path.join(vol, t.path);
    let have: string[] = [];
    if (cur) have = known && statMatches(known, cur.st) ? known.chunks : (await this.hash(p, false)).chunks;
    if (cur && Number(cur.st.size) === t.size && sameIds(have, t.chunks)) {
      const changed = await this.fixMode(p, t.mode, cur.st, owner);
      return fileStateOf(changed ? await fs.promises.lstat(p, { bigint: true }) : cur.st, t.chunks);
    }
    // A read-only file must be opened for writing (the engine may not be root).
    if (cur && (Number(cur.st.mode) & 0o200) === 0) await fs.promises.chmod(p, (Number(cur.st.mode) & 0o7777) | 0o200);
    const fh = await fs.promises.open(p, cur ? 'r+' : 'wx', 0o600);
    try {
      await this.writeDelta(fh, t, have, cur ? Number(cur.st.size) : 0);
      const before = await fh.stat({ bigint: true });
      if ((Number(before.mode) & 0o7777) !== t.mode) await fh.chmod(t.mode);
      if (owner && (Number(before.uid) !== owner.uid || Number(before.gid) !== owner.gid)) {
        await fh.chown(owner.uid, owner.gid);
      }
      return fileStateOf(await fh.stat({ bigint: true }), t.chunks);
    } finally {
      await fh.close();
    }
  }

  /**
   * Truncate to the target size first: a shrink then writes nothing past the
   * end, and a grow leaves zeros, so target zero chunks there cost nothing.
   * After that, chunk i holds `have[i]` (or zeros beyond the old end); a
   * partial old last chunk has a different hash than any full chunk, so it is
   * rewritten whenever it must be.
   */
  private async writeDelta(fh: fs.promises.FileHandle, t: FileEntry, have: string[], oldSize: number): Promise<void> {
    if (oldSize !== t.size) await fh.truncate(t.size);
    for (let i = 0; i < t.chunks.length; i++) {
      const want = t.chunks[i];
      if (want === (have[i] ?? ZERO_CHUNK)) continue;
      const offset = i * CHUNK_SIZE;
      const length = Math.min(CHUNK_SIZE, t.size - offset);
      const data = await this.store.read(want, length);
      let done = 0;
      while (done < length) done += (await fh.write(data, done, length - done, offset + done)).bytesWritten;
      this.counters.volumeBytesWritten += length;
    }
  }

  // ------------------------------------------------------------ garbage collection

  /**
   * Mark and sweep: keep every chunk referenced by a manifest or a volume
   * state, delete the rest (including orphans of crashed snapshots). Runs
   * under the exclusive lock. If any manifest cannot be read, nothing is
   * swept: a leak is better than deleting chunks a snapshot needs.
   */
  private async collectGarbage(): Promise<void> {
    const live = new Set<string>();
    const dir = path.join(this.pool, 'snapshots');
    for (const name of await fs.promises.readdir(dir)) {
      if (!name.endsWith('.manifest')) continue;
      const id = name.slice(0, -'.manifest'.length);
      try {
        const m = decodeManifest(await fs.promises.readFile(path.join(dir, name), 'utf8'), id);
        for (const e of m.entries) if (e.type === 'file') for (const c of e.chunks) live.add(c);
      } catch (err) {
        this.counters.gcSkipped = `snapshot ${id}: ${(err as Error).message}`;
        return;
      }
    }
    await this.states.referencedChunks(live);
    for (const id of await this.store.list()) if (!live.has(id)) await this.store.remove(id);
    this.store.forget();
    delete this.counters.gcSkipped;
  }
}

function sameIds(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
