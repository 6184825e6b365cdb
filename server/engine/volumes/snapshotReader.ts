/**
 * A snapshot's files as a remote carries them (remotes/): every directory, symlink and
 * regular file with its mode, and each file's chunks with their ids (the blocks driver's
 * chunk ids: sha256 of 64 KiB, ZERO_CHUNK for zeros). The blocks driver reads them from its
 * manifest and chunk store; the directory drivers (btrfs, reflink) from the snapshot's folder,
 * through handles that never follow a link, hashing as they go.
 */
import type * as fs from 'node:fs';
import { CHUNK_SIZE, chunkId, READ_SIZE } from './blocks/chunkStore';
import { sharedChunks, type BaseChunk } from './extents';
import { scanTree, VolumeTree, type TreeEntry } from './volumeFiles';

export type SnapshotEntry =
  | { path: string; type: 'dir'; mode: number }
  | { path: string; type: 'symlink'; mode: number; target: string }
  | { path: string; type: 'file'; mode: number; size: number };

export type SnapshotFile = Extract<SnapshotEntry, { type: 'file' }>;

/** A chunk's bytes, and where the driver stores it LZ4-compressed (as lz4-napi writes it), those
 *  stored bytes: a remote takes them as they are. */
export interface ChunkData { raw: Buffer; lz4?: Buffer }

/** Called for each chunk of a file in order; `data` reads its bytes (only when wanted, where
 *  the driver knows the id without them). It returns a promise only when it has work to wait
 *  for: awaiting tens of thousands of finished promises costs more than a push after a small change. */
export type EachChunk = (index: number, id: string, data: () => Promise<ChunkData>) => Promise<void> | undefined;

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
    const shared = base ? await sharedWithBase(root, scanned, base, await baseScan) : new Map<string, Map<number, BaseChunk>>();
    let readSoFar = 0;
    try {
      return await fn({
      entries,
      get bytesRead() { return readSoFar; },
      chunks: async (file, each) => {
        const same = shared.get(file.path);
        if (same) {
          for (let i = 0; i * CHUNK_SIZE < file.size; i++) {
            const b = same.get(i);
            const known = b && base!.files.get(b.path)?.chunks[b.index];
            const read = () => readChunk(file.path, i);
            const pending = known ? each(i, known, async () => ({ raw: await read() })) : read().then((raw) => each(i, chunkId(raw), async () => ({ raw })));
            if (pending) await pending;
          }
          return;
        }
        const fh = await tree.readFile(byPath.get(file.path)!);
        try {
          for (let at = 0; at < file.size; at += READ_SIZE) {
            const slice = Buffer.allocUnsafe(Math.min(READ_SIZE, file.size - at));
            let got = 0;
            while (got < slice.length) {
              const { bytesRead } = await fh.read(slice, got, slice.length - got, at + got);
              if (bytesRead === 0) throw new Error(`${file.path} is shorter than its snapshot said (${file.size} bytes)`);
              got += bytesRead;
            }
            readSoFar += got;
            for (let off = 0; off < slice.length; off += CHUNK_SIZE) {
              const data = slice.subarray(off, Math.min(off + CHUNK_SIZE, slice.length));
              await each((at + off) / CHUNK_SIZE, chunkId(data), async () => ({ raw: data }));  // hashing costs far more than the await
            }
          }
        } finally {
          await fh.close();
        }
      },
      readChunk,
      });
    } finally {
      for (const fh of open.values()) await (await fh.catch(() => undefined))?.close();
    }

    async function readChunk(rel: string, index: number): Promise<Buffer> {
      const size = sizes.get(rel);
      if (size === undefined) throw new Error(`${rel} is not a file of the snapshot`);
      let fh = open.get(rel);
      if (!fh) { fh = tree.readFile(byPath.get(rel)!); open.set(rel, fh); }
      const data = Buffer.allocUnsafe(Math.max(0, Math.min(CHUNK_SIZE, size - index * CHUNK_SIZE)));
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

/** The chunks of each file that are a chunk of base's: all of a file unchanged since base
 *  (unchangedSince), else those that lie on the same bytes on disk (extents.ts). */
async function sharedWithBase(root: string, scanned: readonly TreeEntry[], base: ReadBase & { root: string },
  baseScan: readonly TreeEntry[] | undefined): Promise<Map<string, Map<number, BaseChunk>>> {
  // A base deleted since it was chosen is no base: everything is read and hashed.
  if (!baseScan) return new Map();
  // Only what base holds as regular files: the remote's list is not taken on trust for what is
  // on disk here, and filefrag, which opens by path, is never pointed at a link.
  const baseStats = new Map(baseScan.flatMap((e) => (e.kind === 'file' ? [[e.rel, e.st] as const] : [])));
  // No file of base was written after base was taken: its newest ctime is at most then.
  const written = baseScan.reduce((t, e) => (e.st.ctimeNs > t ? e.st.ctimeNs : t), 0n);
  const out = new Map<string, Map<number, BaseChunk>>();
  const files: Array<{ path: string; size: number }> = [];
  for (const e of scanned) {
    if (e.kind !== 'file') continue;
    const size = Number(e.st.size);
    const b = baseStats.get(e.rel);
    if (b && base.files.get(e.rel)?.size === size && unchangedSince(e.st, b, written)) {
      out.set(e.rel, new Map(Array.from({ length: Math.ceil(size / CHUNK_SIZE) }, (_, i) => [i, { path: e.rel, index: i }])));
    } else {
      files.push({ path: e.rel, size });
    }
  }
  const baseFiles = [...base.files].flatMap(([p, f]) => (out.has(p) || !baseStats.has(p) ? [] : [{ path: p, size: f.size }]));
  for (const [p, chunks] of await sharedChunks(root, files, base.root, baseFiles)) out.set(p, chunks);
  return out;
}

/**
 * A file of a btrfs snapshot is the same file of an earlier snapshot of the same volume (btrfs
 * keeps inode numbers and times in a snapshot) and unwritten since: same inode, size, mtime and
 * ctime. ctime cannot be set by a user, and every write sets it; but the clock it reads moves in
 * steps of a few milliseconds, so a write just after base was taken could leave it as it was.
 * Hence only a file whose ctime is seconds before base's last write (`written`, and so before
 * base was taken) counts. On XFS (reflink) every snapshot's file is a file of its own, with its
 * own inode: never the same.
 */
function unchangedSince(st: fs.BigIntStats, b: fs.BigIntStats, written: bigint): boolean {
  const margin = 2_000_000_000n; // ns
  return st.ino === b.ino && st.size === b.size && st.mtimeNs === b.mtimeNs && st.ctimeNs === b.ctimeNs && b.ctimeNs < written - margin;
}
