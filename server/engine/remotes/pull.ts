/**
 * One file list down into a new snapshot. Where the driver makes a snapshot from a list (blocks),
 * it asks only for the chunks its pool lacks, and no file is written (importFiles). Otherwise
 * the list goes into a new volume: directories, symlinks and files made through handles
 * that never follow a link; then every chunk a local snapshot already holds copied from it (the
 * snapshots this engine pushed to or pulled from the remote: their file lists say which chunk is
 * where); then the rest fetched from the remote's packs in byte ranges. Every chunk is checked
 * against its hash before it is written. Only the chunks no local snapshot holds cross the network.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { EngineError } from '../errors';
import { CHUNK_SIZE } from '../volumes/blocks/chunkStore';
import type { FileOwner, VolumeDriver } from '../volumes/driver';
import { VolumeTree } from '../volumes/volumeFiles';
import { packKey, ZERO_CHUNK, type Files, type FilesEntry } from './format';
import { decodeChunk, type Located } from './packs';
import type { RemoteClient } from './s3';
import type { Tally } from './transfer';

/** Ranges of a pack read in one GET: chunks at most GAP apart, up to RANGE bytes. */
const GAP = 256 * 1024;
const RANGE = 8 * 1024 * 1024;
const RANGES_IN_FLIGHT = 4;

/** Where a chunk goes: a file of the list, and the chunk's index in it. */
type Spot = { path: string; index: number; length: number };

/** A local snapshot, and the file list the remote holds for it. */
export interface LocalSource { snapshotId: string; files: Files }

/** Where a pull's chunks come from (the remote's packs, found through its index) and what it
 *  reports to. */
export interface PullFrom {
  driver: VolumeDriver;
  client: RemoteClient;
  chunks: ReadonlyMap<string, Located>;
  tally: Tally;
  what: string;
  signal: AbortSignal;
}

export interface PullInto extends PullFrom {
  volumeId: string;
  owner: FileOwner | undefined;
  /** Local snapshots whose contents the remote describes (the same template version or bookmark). */
  local: readonly LocalSource[];
}

/**
 * Make snapshot `snapshotId` hold exactly `files` where the driver makes one from a list
 * (importSnapshot): only the chunks its pool lacks are fetched, and no file is written.
 */
export async function importFiles(files: Files, from: PullFrom, snapshotId: string): Promise<void> {
  if (!from.driver.importSnapshot) throw new Error(`the ${from.driver.name} driver makes snapshots only from volumes`);
  for (const e of files.entries) if (e.type === 'file') for (const id of e.chunks) if (id !== ZERO_CHUNK) from.tally.chunks++;
  await from.driver.importSnapshot(snapshotId, files.entries, (ids, put) => fetchMissing(from, ids, put));
}

/**
 * Make volume `into.volumeId` hold exactly `files`. When a local source shares most of its
 * chunks, in the same places, the volume starts as a restore of that snapshot (a clone on btrfs
 * and reflink) and only what differs is written; otherwise it starts empty.
 */
export async function pullFiles(files: Files, into: PullInto): Promise<void> {
  const base = likeliestBase(files, into.local);
  if (base) into.tally.say(into.what, 'starting from a snapshot this engine holds');
  if (base) await into.driver.restore(into.volumeId, base.snapshotId, { owner: into.owner });
  else await into.driver.createVolume(into.volumeId, into.owner);
  const baseFiles = new Map(base?.files.entries.flatMap((e) => (e.type === 'file' ? [[e.path, e.chunks] as const] : [])) ?? []);
  const wanted = new Map<string, Spot[]>();
  const zeros: Spot[] = [];
  for (const e of files.entries) {
    if (e.type !== 'file') continue;
    const had = baseFiles.get(e.path) ?? [];
    e.chunks.forEach((id, index) => {
      if (id !== ZERO_CHUNK) into.tally.chunks++;
      const was = had[index] ?? ZERO_CHUNK; // past the base's end the file reads as zeros
      if (id === was) return;
      const spot = { path: e.path, index, length: Math.min(CHUNK_SIZE, e.size - index * CHUNK_SIZE) };
      if (id === ZERO_CHUNK) { zeros.push(spot); return; }
      const spots = wanted.get(id) ?? [];
      spots.push(spot);
      wanted.set(id, spots);
    });
  }
  await VolumeTree.with(into.driver.volumePath(into.volumeId), async (tree) => {
    const writer = new ChunkWriter(tree);
    try {
      if (base) await reconcile(tree, base.files, files, into.owner);
      else await makeEntries(tree, files, into.owner);
      await copyFromLocal(into, wanted, writer);
      await fetchMissing(into, wanted.keys(), async (id, raw) => { for (const s of wanted.get(id)!) await writer.write(s, raw); });
      for (const s of zeros) await writer.write(s, Buffer.alloc(s.length));
    } finally {
      await writer.close();
    }
    await tree.syncDirs();
  });
}

/** The local source that already has the most of the list's chunks in their places, if it has
 *  at least a quarter of them (below that, restoring it first would copy more than it saves). */
function likeliestBase(files: Files, local: readonly LocalSource[]): LocalSource | undefined {
  const target = files.entries.filter((e) => e.type === 'file');
  const total = target.reduce((n, e) => n + e.chunks.filter((c) => c !== ZERO_CHUNK).length, 0);
  let best: { source: LocalSource; same: number } | undefined;
  for (const source of local) {
    const there = new Map(source.files.entries.flatMap((e) => (e.type === 'file' ? [[e.path, e.chunks] as const] : [])));
    let same = 0;
    for (const e of target) {
      const had = there.get(e.path);
      if (had) e.chunks.forEach((c, i) => { if (c !== ZERO_CHUNK && had[i] === c) same++; });
    }
    if (!best || same > best.same) best = { source, same };
  }
  return best && best.same * 4 >= total && best.same > 0 ? best.source : undefined;
}

/**
 * Turn a volume restored from `base` into the shape of `target`: remove what the target lacks or
 * holds as something else, make what is new, and set modes and sizes. Chunks come after.
 */
async function reconcile(tree: VolumeTree, base: Files, target: Files, owner: FileOwner | undefined): Promise<void> {
  await removeUnlisted(tree, base);
  const wants = new Map(target.entries.map((e) => [e.path, e]));
  const removed = new Set<string>();
  const gone = (p: string) => { for (let i = p.lastIndexOf('/'); i > 0; i = p.lastIndexOf('/', i - 1)) if (removed.has(p.slice(0, i))) return true; return removed.has(p); };
  const kept = new Map<string, FilesEntry>();
  for (const e of base.entries) {
    if (gone(e.path)) continue;
    const t = wants.get(e.path);
    if (!t || t.type !== e.type || (e.type === 'symlink' && t.type === 'symlink' && t.target !== e.target)) {
      await tree.remove(e.path);
      removed.add(e.path);
    } else {
      kept.set(e.path, e);
    }
  }
  for (const t of target.entries) {
    const b = kept.get(t.path);
    if (!b) { await makeEntry(tree, t, owner); continue; }
    if (t.type === 'dir' && b.mode !== t.mode) await tree.fixDir(t.path, t.mode, owner);
    if (t.type !== 'file' || b.type !== 'file' || (b.size === t.size && b.mode === t.mode)) continue;
    const fh = await tree.openFile(t.path, fs.constants.O_WRONLY);
    try {
      if (b.size !== t.size) await fh.truncate(t.size);
      if (b.mode !== t.mode) await fh.chmod(t.mode);
    } finally {
      await fh.close();
    }
  }
}

/**
 * A snapshot's folder can hold files its list leaves out: a push leaves out the WAL no copy reads
 * again (postgres/walNeeded.ts). Whatever they hold, the list does not say, so they go first;
 * what is left is what base's list says.
 */
async function removeUnlisted(tree: VolumeTree, base: Files): Promise<void> {
  const listed = new Set(base.entries.map((e) => e.path));
  for (const e of await tree.scan()) {
    // A list names every directory it holds a path in: one whose parent is unlisted went with it.
    const parent = e.rel.slice(0, Math.max(0, e.rel.lastIndexOf('/')));
    if (listed.has(e.rel) || (parent && !listed.has(parent))) continue;
    await tree.remove(e.rel);
  }
}

async function makeEntries(tree: VolumeTree, files: Files, owner: FileOwner | undefined): Promise<void> {
  for (const e of files.entries) await makeEntry(tree, e, owner);
}

async function makeEntry(tree: VolumeTree, e: FilesEntry, owner: FileOwner | undefined): Promise<void> {
  if (e.type === 'dir') {
    await tree.mkdir(e.path, e.mode);
    await tree.fixDir(e.path, e.mode, owner);
  } else if (e.type === 'symlink') {
    await tree.symlink(e.target, e.path, owner);
  } else {
    const fh = await tree.openFile(e.path, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, e.mode);
    try {
      await fh.truncate(e.size);
      await fh.chmod(e.mode);
      if (owner) await fh.chown(owner.uid, owner.gid);
    } finally {
      await fh.close();
    }
  }
}

/** Every wanted chunk a local snapshot holds, read from it (no network), and no longer wanted.
 *  A local chunk that does not match its id is left to the remote. */
async function copyFromLocal(into: PullInto, wanted: Map<string, Spot[]>, writer: ChunkWriter): Promise<void> {
  for (const source of into.local) {
    const here: { id: string; path: string; index: number }[] = [];
    const seen = new Set<string>();
    for (const e of source.files.entries) {
      if (e.type !== 'file') continue;
      e.chunks.forEach((id, index) => {
        if (wanted.has(id) && !seen.has(id)) { seen.add(id); here.push({ id, path: e.path, index }); }
      });
    }
    if (here.length === 0) continue;
    into.tally.say(into.what, `copying ${here.length} chunks this engine holds`);
    await into.driver.readSnapshot(source.snapshotId, async (reader) => {
      for (const c of here) {
        if (into.signal.aborted) throw cancelled();
        const raw = await reader.readChunk(c.path, c.index).catch(() => undefined);
        if (!raw || createHash('sha256').update(raw).digest('hex') !== c.id) continue;
        for (const s of wanted.get(c.id)!) await writer.write(s, raw);
        wanted.delete(c.id);
      }
      into.tally.bytesRead += reader.bytesRead;
    });
  }
}

/** Chunks from the remote, pack by pack, in ranges; each checked against its id before it is
 *  delivered. */
async function fetchMissing(into: PullFrom, wanted: Iterable<string>, deliver: (id: string, raw: Buffer) => Promise<void>): Promise<void> {
  const ranges = planRanges(into, wanted);
  const total = ranges.reduce((n, r) => n + (r.end - r.start), 0);
  let done = 0;
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (next < ranges.length && !failed) {
      const r = ranges[next++];
      if (into.signal.aborted) throw cancelled();
      const bytes = await into.client.get(packKey(r.pack), { start: r.start, end: r.end });
      if (!bytes || bytes.length !== r.end - r.start) throw damagedPack(r.pack, 'it is shorter than its index says');
      for (const c of r.chunks) {
        const raw = decodeChunk(c, bytes.subarray(c.offset - r.start, c.offset - r.start + c.length), into.client.sealer,
          (b) => createHash('sha256').update(b).digest('hex') === c.wanted);
        if (!raw) throw damagedPack(r.pack, `chunk ${c.wanted.slice(0, 12)} does not match its hash`);
        await deliver(c.wanted, raw);
        into.tally.chunksMoved++;
      }
      into.tally.bytesMoved += bytes.length;
      done += bytes.length;
      into.tally.report(into.what, done, total);
    }
  };
  // Every worker ends before this returns or throws: one still delivering after a failure would
  // write into what the caller is dropping (a pack, a volume).
  const ends = await Promise.allSettled(Array.from({ length: Math.min(RANGES_IN_FLIGHT, ranges.length) },
    () => worker().catch((err: unknown) => { failed = true; throw err; })));
  for (const end of ends) if (end.status === 'rejected') throw end.reason;
}

/** `wanted`: the chunk's id (its sha256); `id` is its name on the remote. */
type Wanted = Located & { wanted: string };
interface Range { pack: string; start: number; end: number; chunks: Wanted[] }

function planRanges(into: PullFrom, wanted: Iterable<string>): Range[] {
  const byPack = new Map<string, Wanted[]>();
  for (const id of wanted) {
    const found = into.chunks.get(into.client.sealer.name(id));
    const at = found && { ...found, wanted: id };
    if (!at) {
      throw new EngineError('RemoteFailed', `the remote lacks chunk ${id.slice(0, 12)} that the bookmark needs (a pack was deleted, or a push never finished its packs); nothing was changed here. Push the bookmark again from the engine that made it.`);
    }
    byPack.set(at.pack, [...(byPack.get(at.pack) ?? []), at]);
  }
  const ranges: Range[] = [];
  for (const [pack, list] of byPack) {
    list.sort((a, b) => a.offset - b.offset);
    let cur: Range | undefined;
    for (const c of list) {
      if (cur && c.offset - cur.end <= GAP && c.offset + c.length - cur.start <= RANGE) {
        cur.end = Math.max(cur.end, c.offset + c.length);
        cur.chunks.push(c);
      } else {
        cur = { pack, start: c.offset, end: c.offset + c.length, chunks: [c] };
        ranges.push(cur);
      }
    }
  }
  return ranges;
}

/** Writes chunks into the new volume's files one at a time (fetches overlap, writes need not),
 *  keeping a few files open; each is synced before it is closed. */
class ChunkWriter {
  private readonly open = new Map<string, Promise<fs.promises.FileHandle>>();
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly tree: VolumeTree) {}

  write(s: Spot, raw: Buffer): Promise<void> {
    const done = this.queue.then(() => this.writeNow(s, raw));
    this.queue = done.catch(() => undefined);
    return done;
  }

  private async writeNow(s: Spot, raw: Buffer): Promise<void> {
    if (raw.length !== s.length) throw new EngineError('RemoteFailed', `a chunk of ${s.path} has the wrong length; nothing was changed here.`);
    let fh = this.open.get(s.path);
    if (!fh) {
      if (this.open.size >= 64) await this.closeOne();
      fh = this.tree.openFile(s.path, fs.constants.O_WRONLY);
      this.open.set(s.path, fh);
    }
    const handle = await fh;
    let done = 0;
    while (done < raw.length) done += (await handle.write(raw, done, raw.length - done, s.index * CHUNK_SIZE + done)).bytesWritten;
  }

  private async closeOne(): Promise<void> {
    const [path, fh] = this.open.entries().next().value as [string, Promise<fs.promises.FileHandle>];
    this.open.delete(path);
    const h = await fh;
    await h.sync();
    await h.close();
  }

  /** Flush every file written to disk, and close them. */
  async close(): Promise<void> {
    await this.queue;
    for (const fh of this.open.values()) {
      const h = await fh.catch(() => undefined);
      if (h) { await h.sync().catch(() => undefined); await h.close(); }
    }
    this.open.clear();
  }
}

const cancelled = () => new EngineError('Cancelled', 'the pull was cancelled; nothing was changed here.');
const damagedPack = (pack: string, why: string) =>
  new EngineError('RemoteFailed', `pack ${pack} on the remote is damaged (${why}); nothing was changed here. Push the bookmark again from the engine that made it.`);
