/**
 * A snapshot's files as a remote carries them (remotes/): every directory, symlink and
 * regular file with its mode, and each file's chunks with their ids (the blocks driver's
 * chunk ids: sha256 of 64 KiB, ZERO_CHUNK for zeros). The blocks driver reads them from its
 * manifest and chunk store; the directory drivers (btrfs, reflink) from the snapshot's folder,
 * through handles that never follow a link, hashing as they go.
 */
import type * as fs from 'node:fs';
import { CHUNK_SIZE, chunkCount, chunkId, READ_SIZE } from './blocks/chunkStore';
import { sharedChunks } from './extents';
import { scanTree, VolumeTree, type TreeEntry } from './volumeFiles';

export type SnapshotEntry =
  | { path: string; type: 'dir'; mode: number }
  | { path: string; type: 'symlink'; mode: number; target: string }
  | { path: string; type: 'file'; mode: number; size: number };

export type SnapshotFile = Extract<SnapshotEntry, { type: 'file' }>;

/** An entry with its file's chunk ids: what a remote's file list holds, and what a snapshot can
 *  be made from without a volume (VolumeDriver.importSnapshot). */
export type ListedEntry = Exclude<SnapshotEntry, { type: 'file' }> | (SnapshotFile & { chunks: string[] });

/** A chunk's bytes, and where the driver stores it LZ4-compressed (as lz4-napi writes it), those
 *  stored bytes: a remote takes them as they are. */
export interface ChunkData { raw: Buffer; lz4?: Buffer }

/** Called for each chunk of a file in order; `data` reads its bytes (only when wanted, where
 *  the driver knows the id without them). Bytes it gives at once, not as a promise, are the
 *  reader's buffer, which it reads into again: good only during this call, so what is kept is
 *  copied (copying every chunk cost a push after a small change 27 ms of the engine's thread,
 *  and more in garbage collection). It returns a promise only when it has work to wait for:
 *  awaiting tens of thousands of finished promises costs more than a push after a small change. */
export type EachChunk = (index: number, id: string, data: () => ChunkData | Promise<ChunkData>) => Promise<void> | undefined;

export interface SnapshotReader {
  /** Sorted by path: every directory before what it holds. */
  readonly entries: readonly SnapshotEntry[];
  chunks(file: SnapshotFile, each: EachChunk): Promise<void>;
  /** The file's chunk ids unread, where the driver keeps them (blocks: its manifest); absent
   *  where they come only from reading. A push sends its file list while it reads the chunks. */
  ids?(file: SnapshotFile): readonly string[];
  /** Chunk `index` of the file at `path` (a file of `entries`). */
  readChunk(path: string, index: number): Promise<Buffer>;
  /** Bytes of file data read so far (chunks whose ids the driver knew unread count nothing). */
  readonly bytesRead: number;
}

/**
 * Another snapshot whose chunk ids are known (from the remote it was pushed to or pulled from):
 * a folder driver takes a chunk's id from it, unread, where both snapshots' files share the
 * chunk's extents (extents.ts).
 */
export interface ReadBase {
  snapshotId: string;
  files: ReadonlyMap<string, { size: number; chunks: readonly string[] }>;
}

/** A snapshot that is a folder of files (btrfs, reflink): read without following links. With
 *  `base` (and its folder), the chunks a file shares on disk with base's are not read. */
export async function readFolderSnapshot<T>(root: string, fn: (r: SnapshotReader) => Promise<T>,
  base?: ReadBase & { root: string }): Promise<T> {
  // base's folder is listed while this one is.
  const baseScan = base && scanTree(base.root).catch(() => undefined);
  return VolumeTree.with(root, async (tree) => {
    const scanned = await tree.scan();
    const byPath = new Map(scanned.map((e) => [e.rel, e]));
    const entries: SnapshotEntry[] = [];
    for (const e of scanned) {
      const mode = Number(e.st.mode) & 0o7777;
      if (e.kind === 'dir') entries.push({ path: e.rel, type: 'dir', mode });
      else if (e.kind === 'symlink') entries.push({ path: e.rel, type: 'symlink', mode, target: await tree.readlink(e.rel) });
      else if (e.kind === 'file') entries.push({ path: e.rel, type: 'file', mode, size: Number(e.st.size) });
      // sockets and fifos hold no data, and PostgreSQL keeps none in its data directory
    }
    entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    const sizes = new Map(entries.flatMap((e) => (e.type === 'file' ? [[e.path, e.size] as const] : [])));
    const open = new Map<string, Promise<fs.promises.FileHandle>>();
    const spare = new Spare();
    const shared = base ? await sharedWithBase(root, scanned, base, await baseScan) : new Map<string, KnownIds>();
    let readSoFar = 0;
    try {
      return await fn({
      entries,
      get bytesRead() { return readSoFar; },
      chunks: async (file, each) => {
        const same = shared.get(file.path);
        // A file that shares chunks with base is read through the handle readChunk keeps (a
        // chunk whose id base gave is read later if the remote lacks it), opened only if a chunk
        // is read: after a small change most files are base's whole, and opening, checking and
        // closing each of them was a tenth of the push. Another file is read through its own.
        const own = same ? undefined : tree.readFile(byPath.get(file.path)!);
        try {
          await eachChunk(file, same, own ? () => own : () => handleOf(file.path), each);
        } finally {
          await (await own?.catch(() => undefined))?.close();
        }
      },
      readChunk,
      });
    } finally {
      for (const fh of open.values()) await (await fh.catch(() => undefined))?.close();
    }

    /** The file's chunks in order: those base gives are taken unread, the runs between them read
     *  READ_SIZE at a time, AHEAD reads ahead of the hashing. A snapshot's pages are seldom in the
     *  page cache (btrfs caches a snapshot's files apart from the volume's), and one read after
     *  another, a chunk at a time, was most of a push after a small change. */
    async function eachChunk(file: SnapshotFile, known: KnownIds | undefined, fh: () => Promise<fs.promises.FileHandle>, each: EachChunk): Promise<void> {
      const runs = runsToRead(file, known);
      const reads: Promise<Buffer>[] = [];
      let next = 0;
      const readAhead = () => {
        for (; next < runs.length && reads.length < AHEAD; next++) {
          const r = readRange(fh(), file.path, runs[next].index, runs[next].count, true);
          r.catch(() => undefined); // thrown where it is awaited
          reads.push(r);
        }
      };
      try {
        readAhead(); // while the chunks before the first run are looked up
        const count = chunkCount(file.size);
        for (let i = 0, run = 0; i < count;) {
          const id = known?.[i];
          if (id) {
            const at = i++;
            const pending = each(at, id, async () => ({ raw: await readChunk(file.path, at) }));
            if (pending) await pending;
            continue;
          }
          readAhead();
          const slice = await reads.shift()!;
          const n = runs[run++].count;
          let released = false;
          try {
            for (let k = 0; k < n; k++) {
              const at = i++;
              const data = slice.subarray(k * CHUNK_SIZE, Math.min((k + 1) * CHUNK_SIZE, slice.length));
              // A chunk wanted during the call is the slice's own bytes (EachChunk); wanted after
              // the slice is read into again (never, by a push), it is read again.
              const pending = each(at, chunkId(data), () => (released ? readChunk(file.path, at).then((raw) => ({ raw })) : { raw: data }));
              if (pending) await pending;
            }
          } finally {
            released = true;
            spare.give(slice);
          }
        }
      } finally {
        for (const r of await Promise.allSettled(reads)) if (r.status === 'fulfilled') spare.give(r.value); // none outlives the handle
      }
    }

    function handleOf(rel: string): Promise<fs.promises.FileHandle> {
      let fh = open.get(rel);
      if (!fh) { fh = tree.readFile(byPath.get(rel)!); open.set(rel, fh); }
      return fh;
    }

    function readChunk(rel: string, index: number): Promise<Buffer> {
      return readRange(handleOf(rel), rel, index, 1);
    }

    /** `count` chunks from chunk `index` on, in one buffer: a spare one for a run, given
     *  back after (eachChunk). */
    async function readRange(fh: Promise<fs.promises.FileHandle>, rel: string, index: number, count: number, run = false): Promise<Buffer> {
      const size = sizes.get(rel);
      if (size === undefined) throw new Error(`${rel} is not a file of the snapshot`);
      const length = Math.max(0, Math.min(count * CHUNK_SIZE, size - index * CHUNK_SIZE));
      const data = run ? spare.take(length) : Buffer.allocUnsafe(length);
      let got = 0;
      while (got < data.length) {
        const { bytesRead } = await (await fh).read(data, got, data.length - got, index * CHUNK_SIZE + got);
        if (bytesRead === 0) throw new Error(`${rel} is shorter than its snapshot said (${size} bytes)`);
        got += bytesRead;
      }
      readSoFar += got;
      return data;
    }
  });
}

/** A run of `count` chunks from chunk `index` on that base gives no id for: read in one go. */
interface Run { index: number; count: number }

/** Reads of a file in flight at once. */
const AHEAD = 4;

/**
 * Buffers of READ_SIZE read into again and again. Memory new to a process costs a page fault per
 * 4 KiB at first touch: 1.5 ms per MiB on these machines, 0.01 ms once touched. A new buffer for
 * each read was a third of the reading.
 */
class Spare {
  private readonly free: Buffer[] = [];

  take(length: number): Buffer {
    return (this.free.pop() ?? Buffer.allocUnsafeSlow(READ_SIZE)).subarray(0, length);
  }

  give(b: Buffer): void {
    if (this.free.length <= AHEAD) this.free.push(Buffer.from(b.buffer, b.byteOffset, READ_SIZE));
  }
}

/** The runs of the file's chunks that `known` gives no id for, each at most READ_SIZE long. */
function runsToRead(file: SnapshotFile, known?: KnownIds): Run[] {
  const count = chunkCount(file.size);
  const most = READ_SIZE / CHUNK_SIZE;
  const out: Run[] = [];
  for (let i = 0; i < count;) {
    if (known?.[i]) { i++; continue; }
    let n = 1;
    while (i + n < count && n < most && !known?.[i + n]) n++;
    out.push({ index: i, count: n });
    i += n;
  }
  return out;
}

/** For each chunk of a file, the id base gives for it (the chunk is base's), or none: read it. */
type KnownIds = readonly (string | undefined)[];

/** The chunks of each file that are a chunk of base's, by their ids: all of a file unchanged
 *  since base (unchangedSince: base's own list of ids), else those that lie on the same bytes on
 *  disk (extents.ts). No object per chunk: for 40,000 of them, building them and the collections
 *  they made slower cost a push after a small change. */
async function sharedWithBase(root: string, scanned: readonly TreeEntry[], base: ReadBase & { root: string },
  baseScan: readonly TreeEntry[] | undefined): Promise<Map<string, KnownIds>> {
  // A base deleted since it was chosen is no base: everything is read and hashed.
  if (!baseScan) return new Map();
  // Only what base holds as regular files: the remote's list is not taken on trust for what is
  // on disk here, and filefrag, which opens by path, is never pointed at a link.
  const baseStats = new Map(baseScan.flatMap((e) => (e.kind === 'file' ? [[e.rel, e.st] as const] : [])));
  // No file of base was written after base was taken: its newest ctime is at most then.
  const written = baseScan.reduce((t, e) => (e.st.ctimeNs > t ? e.st.ctimeNs : t), 0n);
  const out = new Map<string, KnownIds>();
  const files: Array<{ path: string; size: number }> = [];
  for (const e of scanned) {
    if (e.kind !== 'file') continue;
    const size = Number(e.st.size);
    const b = baseStats.get(e.rel);
    if (b && base.files.get(e.rel)?.size === size && unchangedSince(e.st, b, written)) {
      out.set(e.rel, base.files.get(e.rel)!.chunks);
    } else {
      files.push({ path: e.rel, size });
    }
  }
  const baseFiles = [...base.files].flatMap(([p, f]) => (out.has(p) || !baseStats.has(p) ? [] : [{ path: p, size: f.size }]));
  const shared = await sharedChunks(root, files, base.root, baseFiles);
  for (const f of files) {
    const chunks = shared.get(f.path);
    if (!chunks) continue;
    const ids = new Array<string | undefined>(chunkCount(f.size)).fill(undefined);
    for (const [i, b] of chunks) ids[i] = base.files.get(b.path)?.chunks[b.index];
    out.set(f.path, ids);
  }
  return out;
}

/**
 * A file of a btrfs snapshot is the same file of an earlier snapshot of the same volume (btrfs
 * keeps inode numbers and times in a snapshot) and unwritten since: same inode, size, mtime and
 * ctime. ctime cannot be set by a user, and every write sets it; but where the clock it reads
 * is coarse it moves in ticks (10 ms at most), so a write just after base was taken could leave
 * it as it was. Hence only a file whose ctime is ten ticks before base's last write (`written`,
 * and so before base was taken) counts. It was two seconds: a bookmark taken just after its
 * container was made (every file's ctime set then) had no file that counted, and a push after
 * a small change compared all 1,000 files' extents. On XFS (reflink) every snapshot's file is a
 * file of its own, with its own inode: never the same.
 */
function unchangedSince(st: fs.BigIntStats, b: fs.BigIntStats, written: bigint): boolean {
  const margin = 100_000_000n; // ns
  return st.ino === b.ino && st.size === b.size && st.mtimeNs === b.mtimeNs && st.ctimeNs === b.ctimeNs && b.ctimeNs < written - margin;
}
