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
 *   POOL/chunks/packs/           chunk store: one pack per capture (see blocks/chunkStore.ts)
 *   POOL/tmp/                    temp files and trash; emptied by init()
 *
 * Crash safety: a capture's chunks go to a pack of its own, fsynced, then indexed;
 * manifests and states are written tmp+rename. Order on snapshot: pack (made
 * durable) -> its index -> manifest -> state. Order on restore: data (made
 * durable) -> state. A crash before the state is saved leaves the old
 * state, whose stats no longer match the files we touched, so a re-run rehashes
 * those files and converges.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EngineError } from '../errors';
import { faultPoint } from '../faults';
import type { ListedEntry, SnapshotEntry, SnapshotReader } from './snapshotReader';
import type { DriverOptions, FileOwner, FillChunks, OnlineBackup, RestoreOptions, VolumeDriver, VolumeProgress } from './driver';
import { ChangedPages, formatLsn, isUnlogged, lsnValue, relationSegment, type ChangesSoFar } from '../postgres/walSummaries';
import { walTail, type WalTail } from '../postgres/walRecords';
import { BACKUP_LABEL, backupStart, CONTROL_FILE, CONTROL_HEAD, parseControlFile, type ControlFile } from '../postgres/walNeeded';
import { copiedDuringBackup, scanWal, segmentStart } from './onlineBackup';
import {
  CHUNK_SIZE, ChunkStore, chunkCount, chunkFile, chunkId, readFull, READ_SIZE, ZERO_CHUNK, type ChunkBatch, type ChunkReader, type ChunkStoreStats,
} from './blocks/chunkStore';
import {
  decodeManifest, encodeManifest, fileStateOf, newManifest, statMatches,
  type FileEntry, type FileState, type Manifest, type ManifestEntry, type VolumeState,
} from './blocks/manifest';
import { StateStore } from './blocks/stateStore';
import {
  checkId, ensurePoolDirs, exists, guard, makeDurable, mapLimit, notFound, Progress, RwLock, syncDir, writeFileAtomic,
} from './util';
import {
  allocatedBytes, checkCanCreate, clearDir, fixVolumeDir, prepareVolumeDir, removeTree, vanished, VolumeTree,
  type TreeEntry,
} from './volumeFiles';

const O = fs.constants;

/** What describing the files of one capture needs. */
interface Describe {
  tree: VolumeTree;
  /** The volume's state: what its files held at the last capture or restore. */
  state: Map<string, FileState>;
  /** The new state, filled in as files are described. */
  files: Map<string, FileState>;
  progress: Progress;
  online: boolean;
  /** Pages changed since the state's LSN, when the WAL summaries can say. */
  changes: ChangedPages | undefined;
  /** Every path the scan found (an `_init` fork marks an unlogged relation). */
  paths: Set<string>;
  tally: Tally;
  /** Big files become packs as they are (snapshotLast). */
  adopt: boolean;
  /** Where the capture's new chunks go. */
  batch: ChunkBatch;
}

type CaptureOptions = Pick<Describe, 'changes' | 'tally' | 'progress' | 'adopt' | 'batch'>;

/** Bytes a capture read: chunks of changed pages, and whole files (relations among them). */
interface Tally {
  pages: number;
  whole: number;
  relationsWhole: number;
  /** Of `whole`, the bytes of files taken into the store as they are. */
  adopted: number;
}

/** Files smaller than this are copied even by snapshotLast: taking one costs a process. */
const ADOPT_MIN = 8 * 1024 * 1024;

/** Files hashed or restored at once: enough to overlap I/O with hashing on
 *  the main thread, few enough to bound memory (1 MiB read buffer each). */
const FILE_CONCURRENCY = 8;
/** Chunks of one file written at once by a restore. */
const CHUNK_CONCURRENCY = 16;

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
  readonly copyOnWrite = false;
  readonly restoresInPlace = true;
  private readonly pool: string;
  private readonly tmp: string;
  private readonly store: ChunkStore;
  private readonly states: StateStore;
  private readonly lock = new RwLock();
  private readonly log: ((message: string) => void) | undefined;
  private counters: Counters = { filesHashed: 0, bytesHashed: 0, volumeBytesWritten: 0 };

  constructor(opts: DriverOptions) {
    this.pool = path.resolve(opts.pool);
    this.tmp = path.join(this.pool, 'tmp');
    this.store = new ChunkStore(path.join(this.pool, 'chunks'));
    this.states = new StateStore(path.join(this.pool, 'volstate'), this.tmp);
    this.log = opts.log;
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

  readonly readsFromBase = false;

  /** From the manifest and the chunk store, under the shared lock so no sweep runs meanwhile. */
  async readSnapshot<T>(snapshotId: string, fn: (reader: SnapshotReader) => Promise<T>): Promise<T> {
    const manifest = await guard(`reading snapshot ${snapshotId}`, () => this.readManifest(this.manifestPath(snapshotId), snapshotId));
    const chunks = new Map(manifest.entries.flatMap((e) => (e.type === 'file' ? [[e.path, e.chunks] as const] : [])));
    const sizes = new Map(manifest.entries.flatMap((e) => (e.type === 'file' ? [[e.path, e.size] as const] : [])));
    const entries = manifest.entries.map((e): SnapshotEntry => (e.type === 'file' ? { path: e.path, type: 'file', mode: e.mode, size: e.size } : e));
    return this.lock.read(async () => {
      const reader = this.store.reader();
      let readSoFar = 0;
      const counted = <C extends { raw: Buffer }>(c: C) => { readSoFar += c.raw.length; return c; };
      try {
        return await fn({
          entries,
          get bytesRead() { return readSoFar; },
          ids: (file) => chunks.get(file.path)!,
          chunks: async (file, each) => {
            const ids = chunks.get(file.path)!;
            for (let i = 0; i < ids.length; i++) {
              const length = Math.min(CHUNK_SIZE, file.size - i * CHUNK_SIZE);
              const pending = each(i, ids[i], () => reader.readStored(ids[i], length).then(counted));
              if (pending) await pending;
            }
          },
          readChunk: async (rel, index) => {
            const ids = chunks.get(rel);
            const size = sizes.get(rel);
            if (!ids || size === undefined || index >= ids.length) throw new Error(`${rel} has no chunk ${index} in snapshot ${snapshotId}`);
            return counted(await reader.readStored(ids[index], Math.min(CHUNK_SIZE, size - index * CHUNK_SIZE))).raw;
          },
        });
      } finally {
        await reader.close();
      }
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

  snapshot(volumeId: string, snapshotId: string, progress?: VolumeProgress, online?: OnlineBackup): Promise<void> {
    return this.take(volumeId, snapshotId, progress, online, false);
  }

  /** Big files are not copied: each becomes a pack as it is (ChunkStore.adopt). */
  snapshotLast(volumeId: string, snapshotId: string, progress?: VolumeProgress): Promise<void> {
    return this.take(volumeId, snapshotId, progress, undefined, true);
  }

  /**
   * A manifest straight from the list, and a pack of the chunks the store lacks, which `fill`
   * gets (from a remote). Its LSN is what a capture of the same files would record: where their
   * recovery starts (pg_control's redo point, or backup_label's start where earlier).
   */
  async importSnapshot(snapshotId: string, listed: readonly ListedEntry[], fill: FillChunks): Promise<void> {
    const file = this.manifestPath(snapshotId);
    await guard(`making snapshot ${snapshotId} from a list`, () => this.lock.read(async () => {
      if (await exists(file)) throw new EngineError('VolumeFailed', `snapshot ${snapshotId} already exists`);
      const lacking = new Set<string>();
      for (const e of listed) if (e.type === 'file') for (const id of e.chunks) if (!this.store.has(id)) lacking.add(id);
      const needed = lacking.size;
      const batch = this.store.batch();
      try {
        await fill([...lacking], (id, raw) => (lacking.delete(id) ? batch.put(id, raw) : Promise.resolve()));
        if (lacking.size) throw new EngineError('VolumeFailed', `${lacking.size} chunks of snapshot ${snapshotId} never came`);
        await batch.seal();
      } catch (err) {
        await batch.abandon();
        throw err;
      }
      const { entries, lsn } = await this.importedFiles(listed);
      await writeFileAtomic(file, encodeManifest(newManifest(entries, lsn)), this.tmp);
      this.log?.(`snapshot ${snapshotId} made from a list of ${listed.length} entries, with the ${needed} chunks the store lacked`);
    }));
  }

  /** The list as a capture of its files would describe them: without a stopped database's stale
   *  WAL, and with the LSN its recovery starts at. */
  private async importedFiles(listed: readonly ListedEntry[]): Promise<{ entries: ManifestEntry[]; lsn?: string }> {
    const reader = this.store.reader();
    const head = async (rel: string) => {
      const e = listed.find((x) => x.path === rel);
      return e?.type === 'file' && e.size > 0 ? reader.read(e.chunks[0], Math.min(e.size, CHUNK_SIZE)) : undefined;
    };
    try {
      const controlBytes = await head(CONTROL_FILE);
      const control = controlBytes && parseControlFile(controlBytes);
      const label = await head(BACKUP_LABEL);
      const start = label && backupStart(label.toString('latin1'));
      const entries = listed.filter((e) => !(control?.shutDown && e.type === 'file' && staleWal(e.path, e.size, control)));
      const lsn = control && (start !== undefined && start < control.redo ? start : control.redo);
      return { entries, lsn: lsn === undefined ? undefined : formatLsn(lsn) };
    } finally {
      await reader.close();
    }
  }

  private async take(volumeId: string, snapshotId: string, progress: VolumeProgress | undefined, online: OnlineBackup | undefined,
    adopt: boolean): Promise<void> {
    const vol = this.volumePath(volumeId);
    const file = this.manifestPath(snapshotId);
    await guard(`snapshotting volume ${volumeId}`, () => this.lock.read(async () => {
      if (!(await exists(vol))) throw notFound(`volume ${volumeId}`);
      if (await exists(file)) throw new EngineError('VolumeFailed', `snapshot ${snapshotId} already exists`);
      const state = await this.states.load(volumeId);
      const t = new Timings();
      let changes = online && state.lsn ? await this.changesSince(volumeId, online, state.lsn) : undefined;
      // A first capture still waits for the summarizer to reach the backup's start: the copy then
      // holds a summary that ends there, so the WAL before it is not copied (scanWal).
      if (online && !state.lsn) await online.changedSince(online.startLsn);
      t.lap('summaries');
      const tally: Tally = { pages: 0, whole: 0, relationsWhole: 0, adopted: 0 };
      let lsn = online?.startLsn;
      const batch = this.store.batch();
      let captured: Awaited<ReturnType<BlocksDriver['capture']>>;
      try {
        captured = await VolumeTree.with(vol, async (tree) => {
          let control: ControlFile | undefined;
          if (!online) {
            changes = await this.noted(tree, volumeId, state);
            // A stopped database's files are as its last checkpoint left them, and the summaries from
            // that checkpoint's redo on name every page changed after: the copy's LSN. Else the last one.
            control = await readControlFile(tree);
            lsn = control ? formatLsn(control.redo) : state.lsn;
          }
          return this.capture(tree, state.files, { changes, tally, progress: new Progress(progress), adopt, batch }, online ?? control);
        });
        t.lap('copy');
        await batch.seal();
        t.lap('sync');
      } catch (err) {
        await batch.abandon();
        throw err;
      }
      const { entries, files } = captured;
      const mib = (n: number) => (n / 1048576).toFixed(1);
      this.log?.(`snapshot ${snapshotId} of volume ${volumeId}: read ${mib(tally.pages + tally.whole)} MiB: `
        + (changes ? `${mib(tally.pages)} MiB for the ${changes.pageCount} changed pages the WAL ${online ? 'summaries name' : 'names'} since ${state.lsn}, ` : 'no WAL summaries to go by, ')
        + `${mib(tally.whole)} MiB of files read whole, of which ${mib(tally.relationsWhole)} MiB of relations`
        + (tally.adopted ? `; ${mib(tally.adopted)} MiB of files taken into the store as they are` : '') + `; ${t}`);
      await writeFileAtomic(file, encodeManifest(newManifest(entries, lsn)), this.tmp);
      // A stopped database's capture records its files exactly, from `lsn` on.
      await this.states.save(volumeId, { files, lsn });
    }));
  }

  /** The pages changed since the volume's last capture, or undefined (read changed files whole). */
  private async changesSince(volumeId: string, online: OnlineBackup, lsn: string): Promise<ChangedPages | undefined> {
    const changes = await online.changedSince(lsn);
    if (changes instanceof ChangedPages) return changes;
    this.log?.(`volume ${volumeId}: ${changes.reason}; files changed since the last capture are read whole`);
    return undefined;
  }

  /** Describe the volume. Files whose stat matches the state reuse their chunk ids; of
   *  the others, only the chunks the WAL summaries name are read, where they can vouch
   *  for the rest (`changes`), else the whole file, and their new chunks are stored. */
  private async capture(tree: VolumeTree, state: Map<string, FileState>, { changes, tally, progress, adopt, batch }: CaptureOptions,
    how: OnlineBackup | ControlFile | undefined): Promise<{ entries: ManifestEntry[]; files: Map<string, FileState> }> {
    const online = how && 'finish' in how ? how : undefined;
    const control = how && 'finish' in how ? undefined : how;
    // A file written while a running database is copied can change again within its
    // clock tick after we read it, and its stat would not show it: only stats from
    // before the copy began may vouch for content next time.
    const trustBefore = BigInt(Date.now() - 2000) * 1_000_000n;
    const scanned = await tree.scan();
    await faultPoint('volume:after-scan');
    const files = new Map<string, FileState>();
    const entries: ManifestEntry[] = [];
    const paths = new Set(scanned.map((e) => e.rel));
    const ctx: Describe = { tree, state, files, progress, online: online !== undefined, changes, paths, tally, adopt, batch };
    if (!online) {
      await this.describeAll(ctx, control?.shutDown ? withoutStaleWal(scanned, control) : scanned, entries);
    } else {
      await this.describeAll(ctx, copiedDuringBackup(scanned), entries);
      const end = await online.finish();
      await this.describeAll(ctx, await scanWal(tree, online.startLsn, end.stopLsn), entries);
      for (const [rel, data] of end.files) entries.push(await this.bufferEntry(batch, rel, data));
      for (const [rel, f] of files) {
        if (BigInt(f.ctimeNs) < trustBefore && BigInt(f.mtimeNs) < trustBefore) continue;
        // Its stat cannot vouch for it; for a logged relation the summaries from this
        // backup's start LSN on will say which pages to read again.
        if (relationSegment(rel) && !isUnlogged(rel, (p) => paths.has(p))) files.set(rel, { ...f, walOnly: true });
        else files.delete(rel);
      }
    }
    progress.finish();
    return { entries, files };
  }

  private async describeAll(ctx: Describe, list: TreeEntry[], entries: ManifestEntry[]): Promise<void> {
    for (const e of list) if (e.kind === 'file' && !this.unchanged(ctx.state, e)) ctx.progress.addTotal(Number(e.st.size));
    // Under root, a file not owned by the volume's owner was not made by its PostgreSQL.
    const ownerUid = process.getuid?.() === 0 ? Number(ctx.tree.rootStat.uid) : undefined;
    await mapLimit(list, FILE_CONCURRENCY, async (e) => {
      const entry = await this.describe(ctx, e, ownerUid).catch((err) => {
        if (ctx.online && vanished(err)) return undefined; // a running database removed or replaced it: WAL replay rebuilds it
        throw err;
      });
      if (entry) entries.push(entry);
    });
  }

  /** A file that exists only in the snapshot (a backup label), stored like any other. */
  private async bufferEntry(batch: ChunkBatch, rel: string, data: Buffer): Promise<ManifestEntry> {
    const chunks: string[] = [];
    for (let off = 0; off < data.length; off += CHUNK_SIZE) {
      const part = data.subarray(off, off + CHUNK_SIZE);
      const id = chunkId(part);
      await batch.put(id, part);
      chunks.push(id);
    }
    return { path: rel, type: 'file', mode: 0o600, size: data.length, chunks };
  }

  private unchanged(state: Map<string, FileState>, e: TreeEntry): boolean {
    const s = state.get(e.rel);
    return s !== undefined && statMatches(s, e.st);
  }

  private async describe(ctx: Describe, e: TreeEntry, ownerUid: number | undefined): Promise<ManifestEntry | undefined> {
    const { tree, state, files, progress } = ctx;
    const mode = Number(e.st.mode) & 0o7777;
    if (e.kind === 'dir') return { path: e.rel, type: 'dir', mode };
    if (e.kind === 'symlink') return { path: e.rel, type: 'symlink', mode, target: await tree.readlink(e.rel) };
    if (e.kind !== 'file') return undefined; // sockets, FIFOs: PostgreSQL recreates its own
    const known = state.get(e.rel);
    if (known && this.unchanged(state, e)) {
      files.set(e.rel, known);
      return { path: e.rel, type: 'file', mode, size: known.size, chunks: known.chunks };
    }
    // The state keeps the stat taken before reading: if the file changes while
    // we read it, its stat will differ next time and it is read again.
    const stale = known && staleChunks(ctx.changes, ctx.paths, e, known);
    const adopt = !stale && ctx.adopt && Number(e.st.size) >= ADOPT_MIN;
    const { size, chunks, read } = stale ? await this.rehash(ctx, e, known, stale, ownerUid)
      : adopt ? await this.adoptFile(ctx, e, ownerUid) : await this.hash(tree, e, ctx.batch, ownerUid);
    if (stale && read < size) ctx.tally.pages += read;
    else {
      ctx.tally.whole += read;
      if (relationSegment(e.rel)) ctx.tally.relationsWhole += read;
    }
    progress.advance(Number(e.st.size));
    files.set(e.rel, fileStateOf(e.st, chunks));
    return { path: e.rel, type: 'file', mode, size, chunks };
  }

  /** The chunk ids of a file from the known ones, reading only the stale chunks (and
   *  storing them). A file shorter than its scan (a running database truncated it) is
   *  read whole instead. */
  private async rehash({ tree, batch }: Describe, e: TreeEntry, known: FileState, stale: Set<number>, ownerUid?: number):
    Promise<{ size: number; chunks: string[]; read: number }> {
    const size = Number(e.st.size);
    const chunks = known.chunks.slice(0, chunkCount(size));
    let read = 0;
    const fh = await tree.readFile(e, ownerUid);
    try {
      const buf = Buffer.allocUnsafe(READ_SIZE);
      for (const run of chunkRuns(stale, chunkCount(size), READ_SIZE / CHUNK_SIZE)) {
        const from = run.first * CHUNK_SIZE;
        const length = Math.min(run.count * CHUNK_SIZE, size - from);
        const data = buf.subarray(0, length);
        if ((await readFull(fh, data, from)) < length) return this.hash(tree, e, batch, ownerUid);
        for (let off = 0; off < length; off += CHUNK_SIZE) {
          const chunk = data.subarray(off, Math.min(off + CHUNK_SIZE, length));
          const i = run.first + off / CHUNK_SIZE;
          chunks[i] = chunkId(chunk);
          await batch.put(chunks[i], chunk);
        }
        read += length;
      }
      this.counters.filesHashed++;
      this.counters.bytesHashed += read;
      return { size, chunks, read };
    } finally {
      await fh.close();
    }
  }

  /** Chunk the file the scan saw and make it a pack as it is; store its chunks if it cannot be. */
  private async adoptFile({ tree, tally, batch }: Describe, e: TreeEntry, ownerUid?: number):
    Promise<{ size: number; chunks: string[]; read: number }> {
    const fh = await tree.readFile(e, ownerUid);
    try {
      let out = await chunkFile(fh);
      if (await this.store.adopt(fh, out.chunks, out.size)) tally.adopted += out.size;
      else out = await chunkFile(fh, (id, data) => batch.put(id, data));
      this.counters.filesHashed++;
      this.counters.bytesHashed += out.size;
      return { ...out, read: out.size };
    } finally {
      await fh.close();
    }
  }

  /** Chunk the file the scan saw; with a batch, save its new chunks in it. */
  private async hash(tree: VolumeTree, e: TreeEntry, batch: ChunkBatch | undefined, ownerUid?: number):
    Promise<{ size: number; chunks: string[]; read: number }> {
    const fh = await tree.readFile(e, ownerUid);
    try {
      const out = await chunkFile(fh, batch ? (id, data) => batch.put(id, data) : undefined);
      this.counters.filesHashed++;
      this.counters.bytesHashed += out.size;
      return { ...out, read: out.size };
    } finally {
      await fh.close();
    }
  }

  // ------------------------------------------------------------ restore

  async lastCaptureLsn(volumeId: string): Promise<string | undefined> {
    this.volumePath(volumeId);
    return guard(`reading the state of volume ${volumeId}`, async () => (await this.states.load(volumeId)).lsn);
  }

  async restore(volumeId: string, snapshotId: string, { owner, progress, changes }: RestoreOptions = {}): Promise<void> {
    const vol = this.volumePath(volumeId);
    const file = this.manifestPath(snapshotId);
    await guard(`restoring volume ${volumeId} from snapshot ${snapshotId}`, () => this.lock.read(async () => {
      const manifest = await this.readManifest(file, snapshotId);
      // Restoring into a missing volume is how a clone is made.
      if (!(await exists(vol))) await prepareVolumeDir(vol, owner);
      const state = await this.states.load(volumeId);
      const t = new Timings();
      const before = { ...this.counters };
      const files = await VolumeTree.with(vol, async (tree) => {
        const changed = changes && changes.since === state.lsn ? await this.changedInPlace(tree, volumeId, changes) : undefined;
        t.lap('WAL');
        return this.apply(tree, manifest, state.files, owner, new Progress(progress), changed);
      });
      t.lap('compare and write');
      await fixVolumeDir(vol, owner);
      // The state must never claim content that a power loss could undo.
      await makeDurable(this.pool, [...files.keys()].map((p) => path.join(vol, p)));
      t.lap('sync');
      // The volume's history is the snapshot's now: changed pages count from its LSN (none
      // for a stopped database's snapshot), never from this volume's own earlier captures.
      await this.states.save(volumeId, { files, lsn: manifest.lsn });
      t.lap('state');
      const mib = (n: number) => (n / 1048576).toFixed(1);
      this.log?.(`restore of volume ${volumeId} from snapshot ${snapshotId}: rehashed ${mib(this.counters.bytesHashed - before.bytesHashed)} MiB `
        + `of changed files, wrote ${mib(this.counters.volumeBytesWritten - before.volumeBytesWritten)} MiB; ${t}`);
    }));
  }

  /** The pages changed in a stopped volume since its state's LSN: what its database said before
   *  it stopped, and the WAL after that (walRecords.ts), which ends at `end`. Undefined (logged,
   *  with `fallback`): compare or read changed files whole. */
  private async walAfterStop(tree: VolumeTree, volumeId: string, changes: ChangesSoFar, fallback: string):
    Promise<{ pages: ChangedPages; end: bigint; skipped: number } | undefined> {
    const tail = await readWalTail(tree, lsnValue(changes.walFrom), changes.timeline, changes.walSegmentSize);
    // The WAL read must reach at least what the server said it had written: ending sooner
    // would mean a record this reader did not understand, and pages it did not name.
    const short = !('reason' in tail) && tail.end < lsnValue(changes.flushed)
      ? `the WAL read ends at ${formatLsn(tail.end)}, before ${changes.flushed} that the server had written` : undefined;
    if ('reason' in tail || short) {
      this.log?.(`volume ${volumeId}: ${'reason' in tail ? tail.reason : short}; ${fallback}`);
      return undefined;
    }
    return { pages: changes.pages.plus(tail.rows), end: tail.end, skipped: tail.skipped };
  }

  private async changedInPlace(tree: VolumeTree, volumeId: string, changes: ChangesSoFar): Promise<ChangedPages | undefined> {
    const found = await this.walAfterStop(tree, volumeId, changes, 'files changed since the last capture are compared whole');
    if (!found) return undefined;
    this.log?.(`volume ${volumeId}: restoring in place: ${found.pages.pageCount} pages changed since ${changes.since} `
      + `(the WAL summaries up to ${changes.walFrom}, then ${((Number(found.end - lsnValue(changes.walFrom)) - found.skipped) / 1048576).toFixed(1)} MiB of WAL)`);
    return found.pages;
  }

  // ------------------------------------------------------------ noted changes

  /**
   * After the volume's database stopped at once (a switch left its branch), before anything else
   * runs on it: note in its state which pages changed since the state's LSN, from what the
   * server said before the stop (`changes`) and the WAL after it. A later capture of the stopped
   * volume (ahead, or a dehydration) then reads only those pages, not every changed file whole.
   */
  async noteStopped(volumeId: string, changes: ChangesSoFar): Promise<void> {
    const vol = this.volumePath(volumeId);
    await guard(`noting the changed pages of volume ${volumeId}`, () => this.lock.read(async () => {
      const state = await this.states.load(volumeId);
      if (!state.lsn || changes.since !== state.lsn) return;
      const found = await VolumeTree.with(vol, (tree) => this.walAfterStop(tree, volumeId, changes, 'nothing noted'));
      if (!found) return;
      const { timeline, walSegmentSize } = changes;
      await this.states.save(volumeId, { ...state, noted: { upTo: formatLsn(found.end), timeline, walSegmentSize, pages: found.pages.toJSON() } });
      this.log?.(`volume ${volumeId}: noted ${found.pages.pageCount} pages changed since ${state.lsn}, up to ${formatLsn(found.end)}`);
    }));
  }

  /**
   * The pages noted when the stopped volume's database stopped, and those its WAL names after
   * that (the background checkpoint's recovery; a start since, whose stop noted nothing). The
   * WAL must still hold everything from the note on: it must reach past the last checkpoint that
   * pg_control names, else the database ran and its WAL was recycled since, and this says
   * undefined (read changed files whole).
   */
  private async noted(tree: VolumeTree, volumeId: string, state: VolumeState): Promise<ChangedPages | undefined> {
    const n = state.noted;
    if (!n) return undefined;
    const why = (reason: string) => {
      this.log?.(`volume ${volumeId}: ${reason}; files changed since the last capture are read whole`);
      return undefined;
    };
    const control = await readControlFile(tree);
    if (!control) return why('it has no pg_control to check its noted pages against');
    const tail = await readWalTail(tree, lsnValue(n.upTo), n.timeline, n.walSegmentSize);
    if ('reason' in tail) return why(tail.reason);
    if (tail.end <= control.checkPoint) return why(`its WAL from the noted ${n.upTo} ends at ${formatLsn(tail.end)}, before its last checkpoint`);
    return ChangedPages.fromJSON(n.pages)?.plus(tail.rows);
  }

  private async readManifest(file: string, snapshotId: string): Promise<Manifest> {
    try {
      return decodeManifest(await fs.promises.readFile(file, 'utf8'), snapshotId);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(`snapshot ${snapshotId}`);
      throw err;
    }
  }

  /** Make the tree match the manifest; returns the new file states. `changes` (an in-place
   *  restore) says which pages of the files differ from the state without reading them. */
  private async apply(tree: VolumeTree, manifest: Manifest, state: Map<string, FileState>, owner: FileOwner | undefined,
    progress: Progress, changes?: ChangedPages): Promise<Map<string, FileState>> {
    const target = new Map(manifest.entries.map((e) => [e.path, e]));
    await removeControlFile(tree);
    const current = await this.removeExtras(tree, target);
    const paths = new Set(current.keys());
    await faultPoint('volume:before-write');
    const dirs = manifest.entries.filter((e) => e.type === 'dir');
    for (const d of dirs) {
      if (!current.has(d.path)) await tree.mkdir(d.path, 0o700);
    }
    const leaves = manifest.entries.filter((e) => e.type !== 'dir');
    for (const e of leaves) if (e.type === 'file') progress.addTotal(e.size);
    const files = new Map<string, FileState>();
    const reader = this.store.reader();
    const one = async (e: ManifestEntry) => {
      if (e.type === 'symlink') return this.applySymlink(tree, e, current.get(e.path), owner);
      if (e.type !== 'file') return;
      const have = await this.currentChunks(tree, current.get(e.path), state.get(e.path), changes, paths);
      files.set(e.path, await this.applyFile(tree, e, current.get(e.path), have, { owner, reader }));
      progress.advance(e.size);
    };
    try {
      await mapLimit(leaves.filter((e) => e.path !== CONTROL_FILE), FILE_CONCURRENCY, one);
      for (const e of leaves) if (e.path === CONTROL_FILE) await one(e);
    } finally {
      await reader.close();
    }
    // Modes last and children first, so a read-only directory never blocks
    // the writes into it.
    for (const d of [...dirs].reverse()) {
      const st = current.get(d.path)?.st;
      if (!st || needsFix(st, d.mode, owner)) await tree.fixDir(d.path, d.mode, owner);
    }
    progress.finish();
    return files;
  }

  /** Delete whatever the target does not have as the same kind (a symlink
   *  counts as the same only with the same target). Returns what is kept. */
  private async removeExtras(tree: VolumeTree, target: Map<string, ManifestEntry>): Promise<Map<string, TreeEntry>> {
    const kept = new Map<string, TreeEntry>();
    const doomed: TreeEntry[] = [];
    for (const e of await tree.scan()) {
      if (await this.keeps(tree, e, target.get(e.rel))) kept.set(e.rel, e);
      else doomed.push(e);
    }
    // Reverse pre-order: contents before their directory.
    for (const e of doomed.reverse()) await tree.remove(e.rel);
    return kept;
  }

  private async keeps(tree: VolumeTree, e: TreeEntry, t: ManifestEntry | undefined): Promise<boolean> {
    if (!t) return false;
    if (e.kind === 'dir' || e.kind === 'file') return t.type === e.kind;
    if (e.kind === 'symlink' && t.type === 'symlink') return (await tree.readlink(e.rel)) === t.target;
    return false;
  }

  private async applySymlink(tree: VolumeTree, e: Extract<ManifestEntry, { type: 'symlink' }>, cur: TreeEntry | undefined,
    owner: FileOwner | undefined): Promise<void> {
    if (!cur) return tree.symlink(e.target, e.path, owner);
    if (owner && (Number(cur.st.uid) !== owner.uid || Number(cur.st.gid) !== owner.gid)) await tree.lchown(e.path, owner);
  }

  /**
   * What a file of the volume holds, as chunk ids: from the state when its stat matches;
   * from the state less the chunks of the pages changed since, when the WAL can say
   * (UNKNOWN for those); else from rehashing it (the state refresh).
   */
  private async currentChunks(tree: VolumeTree, cur: TreeEntry | undefined, known: FileState | undefined,
    changes: ChangedPages | undefined, paths: ReadonlySet<string>): Promise<string[]> {
    if (!cur) return [];
    if (known && statMatches(known, cur.st)) return known.chunks;
    const stale = known && staleChunks(changes, paths, cur, known);
    if (!stale || !known) return (await this.hash(tree, cur, undefined)).chunks;
    const have = Array.from({ length: chunkCount(Number(cur.st.size)) }, (_, i) => known.chunks[i] ?? UNKNOWN);
    for (const i of stale) if (i < have.length) have[i] = UNKNOWN;
    return have;
  }

  /**
   * Bring one file to the target content: only chunks that differ from `have`
   * are written, at their offset. Mode and owner are set through the open handle.
   */
  private async applyFile(tree: VolumeTree, t: FileEntry, cur: TreeEntry | undefined, have: string[],
    { owner, reader }: { owner: FileOwner | undefined; reader: ChunkReader }): Promise<FileState> {
    const unchanged = cur !== undefined && Number(cur.st.size) === t.size && sameIds(have, t.chunks);
    if (cur && unchanged && !needsFix(cur.st, t.mode, owner)) return fileStateOf(cur.st, t.chunks);
    const fh = await this.openForWrite(tree, t.path, cur, unchanged);
    try {
      if (!unchanged) await this.writeDelta(fh, t, have, cur ? Number(cur.st.size) : 0, reader);
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

  /** The file the scan saw (for reading only, when just its mode or owner changes), or a new one. */
  private async openForWrite(tree: VolumeTree, rel: string, cur: TreeEntry | undefined, readOnly: boolean):
    Promise<fs.promises.FileHandle> {
    if (!cur) return tree.openFile(rel, O.O_WRONLY | O.O_CREAT | O.O_EXCL, 0o600);
    if (readOnly) return tree.readFile(cur);
    // A read-only file must be made writable first when the engine is not root.
    if ((Number(cur.st.mode) & 0o200) === 0 && process.getuid?.() !== 0) {
      const ro = await tree.readFile(cur);
      try {
        await ro.chmod((Number(cur.st.mode) & 0o7777) | 0o200);
      } finally {
        await ro.close();
      }
    }
    return tree.openFile(rel, O.O_RDWR, 0, { expect: cur.st });
  }

  /**
   * Truncate to the target size first: a shrink then writes nothing past the
   * end, and a grow leaves zeros, so target zero chunks there cost nothing.
   * After that, chunk i holds `have[i]` (or zeros beyond the old end); a
   * partial old last chunk has a different hash than any full chunk, so it is
   * rewritten whenever it must be.
   */
  private async writeDelta(fh: fs.promises.FileHandle, t: FileEntry, have: string[], oldSize: number, reader: ChunkReader): Promise<void> {
    if (oldSize !== t.size) await fh.truncate(t.size);
    const differ = t.chunks.flatMap((want, i) => (want === (have[i] ?? ZERO_CHUNK) ? [] : [i]));
    // Chunks are read and written CHUNK_CONCURRENCY at a time: one after another, each paid
    // its read's and its write's trips through the thread pool (~0.4 ms a chunk).
    await mapLimit(differ, CHUNK_CONCURRENCY, async (i) => {
      const offset = i * CHUNK_SIZE;
      const length = Math.min(CHUNK_SIZE, t.size - offset);
      const data = await reader.read(t.chunks[i], length);
      let done = 0;
      while (done < length) done += (await fh.write(data, done, length - done, offset + done)).bytesWritten;
      this.counters.volumeBytesWritten += length;
    });
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
    await this.store.sweep(live);
    delete this.counters.gcSkipped;
  }
}

/** Where a restore's time went, for the engine log. */
class Timings {
  private last = performance.now();
  private readonly laps: string[] = [];

  lap(what: string): void {
    const now = performance.now();
    this.laps.push(`${what} ${Math.round(now - this.last)} ms`);
    this.last = now;
  }

  toString(): string {
    return this.laps.join(', ');
  }
}

/** The stale chunks below `count`, in order, as runs of consecutive chunks of at most
 *  `most`: one read each, not one per chunk. */
export function chunkRuns(stale: ReadonlySet<number>, count: number, most: number): { first: number; count: number }[] {
  const runs: { first: number; count: number }[] = [];
  for (const i of [...stale].filter((n) => n < count).sort((a, b) => a - b)) {
    const last = runs[runs.length - 1];
    if (last && last.first + last.count === i && last.count < most) last.count++;
    else runs.push({ first: i, count: 1 });
  }
  return runs;
}

/** A chunk whose content is not known: it never matches, so it is always written. */
const UNKNOWN = '?';

/**
 * The chunks of a file known from the last capture that may differ now: those the WAL
 * names, and any past the last full chunk it had. Undefined when the WAL cannot vouch
 * for the rest: no changes known, not a logged relation's main fork, a relation created,
 * dropped or truncated since, or another file under the same name.
 */
function staleChunks(changes: ChangedPages | undefined, paths: ReadonlySet<string>, e: TreeEntry, known: FileState): Set<number> | undefined {
  if (!changes || e.st.ino.toString() !== known.ino || isUnlogged(e.rel, (p) => paths.has(p))) return undefined;
  const stale = changes.chunksOf(e.rel, CHUNK_SIZE);
  const size = Number(e.st.size);
  if (!stale || size < known.size) return undefined;
  for (let i = Math.floor(known.size / CHUNK_SIZE); i < chunkCount(size); i++) stale.add(i);
  return stale;
}

/**
 * pg_control goes first and comes back last (apply): a volume left half-written by a crash
 * or a failure cannot start as if it were whole (recovery finishes the restore). Only a real
 * `global` directory is entered, through its handle; anything else there is removeExtras'.
 */
async function removeControlFile(tree: VolumeTree): Promise<void> {
  const absent = (err: unknown) => { if (vanished(err)) return undefined; throw err; };
  const global = await (await tree.dir('')).lstat('global').catch(absent);
  if (!global?.isDirectory()) return;
  const dir = await tree.dir('global');
  if (!(await dir.lstat('pg_control').catch(absent))) return;
  await tree.remove(CONTROL_FILE);
  await dir.sync();
}

/** From the volume's pg_control; undefined when there is none, or it does not make sense. */
async function readControlFile(tree: VolumeTree): Promise<ControlFile | undefined> {
  let fh: fs.promises.FileHandle;
  try {
    fh = await tree.openFile(CONTROL_FILE, O.O_RDONLY | O.O_NONBLOCK);
  } catch (err) {
    if (vanished(err)) return undefined;
    throw err;
  }
  try {
    const buf = Buffer.alloc(CONTROL_HEAD);
    return (await readFull(fh, buf, 0)) < CONTROL_HEAD ? undefined : parseControlFile(buf);
  } finally {
    await fh.close();
  }
}

/**
 * A cleanly stopped volume's files without the WAL segments it does not need: starting it
 * reads only the one holding its shutdown checkpoint, the last record (and the next one,
 * should the record cross into it). PostgreSQL keeps up to max_wal_size of recycled
 * segments after it (old ones renamed for reuse, full of stale WAL: 928 MiB after loading
 * 1.2 GB) and, with summarize_wal, those its summarizer has not read, which a capture would
 * read and store whole and a restore write back. The copy's summarizer starts from the
 * oldest segment it finds, or the newest summary's end if later (GetOldestUnsummarizedLSN),
 * so it summarises everything from the checkpoint on: what the copy's captures ask for.
 */
function withoutStaleWal(scanned: TreeEntry[], control: ControlFile): TreeEntry[] {
  return scanned.filter((e) => e.kind !== 'file' || !staleWal(e.rel, Number(e.st.size), control));
}

/** A WAL segment that a cleanly stopped database's start does not read (withoutStaleWal). */
function staleWal(rel: string, size: number, control: ControlFile): boolean {
  const start = segmentStart(rel, size);
  return start !== undefined && (start + BigInt(size) <= control.redo || start > control.checkPoint + BigInt(XLOG_BLCKSZ));
}

/** PostgreSQL's WAL page size. */
const XLOG_BLCKSZ = 8192;

/** The pages the volume's WAL names from `from` on (walRecords.ts), or why not. */
function readWalTail(tree: VolumeTree, from: bigint, tli: number, segmentSize: number): Promise<WalTail | { reason: string }> {
  return walTail((name, position, length) => readWalSegment(tree, name, position, length), from, tli, segmentSize)
    .catch((err: Error) => ({ reason: `its WAL could not be read (${err.message})` }));
}

/** Part of a WAL segment file of the volume; undefined when there is none. */
async function readWalSegment(tree: VolumeTree, name: string, position: number, length: number): Promise<Buffer | undefined> {
  let fh: fs.promises.FileHandle;
  try {
    // O_NONBLOCK: a FIFO a tenant put there must not hold the restore (openFile then refuses it).
    fh = await tree.openFile(`pg_wal/${name}`, O.O_RDONLY | O.O_NONBLOCK);
  } catch (err) {
    if (vanished(err)) return undefined;
    throw err;
  }
  try {
    const buf = Buffer.allocUnsafe(length);
    return buf.subarray(0, await readFull(fh, buf, position));
  } finally {
    await fh.close();
  }
}

/** chmod/chown only what differs: each one bumps ctime. */
function needsFix(st: fs.BigIntStats, mode: number, owner: FileOwner | undefined): boolean {
  if ((Number(st.mode) & 0o7777) !== mode) return true;
  return owner !== undefined && (Number(st.uid) !== owner.uid || Number(st.gid) !== owner.gid);
}

function sameIds(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
