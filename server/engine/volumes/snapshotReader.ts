/**
 * A snapshot's files as a remote carries them (remotes/): every directory, symlink and
 * regular file with its mode, and each file's chunks with their ids (the blocks driver's
 * chunk ids: sha256 of 64 KiB, ZERO_CHUNK for zeros). The blocks driver reads them from its
 * manifest and chunk store; the directory drivers (btrfs, reflink) from the snapshot's folder,
 * through handles that never follow a link, hashing as they go.
 */
import type * as fs from 'node:fs';
import { CHUNK_SIZE, chunkId, READ_SIZE } from './blocks/chunkStore';
import { VolumeTree } from './volumeFiles';

export type SnapshotEntry =
  | { path: string; type: 'dir'; mode: number }
  | { path: string; type: 'symlink'; mode: number; target: string }
  | { path: string; type: 'file'; mode: number; size: number };

export type SnapshotFile = Extract<SnapshotEntry, { type: 'file' }>;

/** Called for each chunk of a file in order; `data` reads its bytes (only when wanted, where
 *  the driver knows the id without them). It returns a promise only when it has work to wait
 *  for: awaiting tens of thousands of finished promises costs more than a push after a small change. */
export type EachChunk = (index: number, id: string, data: () => Promise<Buffer>) => Promise<void> | undefined;

export interface SnapshotReader {
  /** Sorted by path: every directory before what it holds. */
  readonly entries: readonly SnapshotEntry[];
  chunks(file: SnapshotFile, each: EachChunk): Promise<void>;
  /** Chunk `index` of the file at `path` (a file of `entries`). */
  readChunk(path: string, index: number): Promise<Buffer>;
}

/** A snapshot that is a folder of files (btrfs, reflink): read without following links. */
export async function readFolderSnapshot<T>(root: string, fn: (r: SnapshotReader) => Promise<T>): Promise<T> {
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
    try {
      return await fn({
      entries,
      chunks: async (file, each) => {
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
            for (let off = 0; off < slice.length; off += CHUNK_SIZE) {
              const data = slice.subarray(off, Math.min(off + CHUNK_SIZE, slice.length));
              await each((at + off) / CHUNK_SIZE, chunkId(data), async () => data);  // hashing costs far more than the await
            }
          }
        } finally {
          await fh.close();
        }
      },
      readChunk: async (rel, index) => {
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
        return data;
      },
      });
    } finally {
      for (const fh of open.values()) await (await fh.catch(() => undefined))?.close();
    }
  });
}
