/**
 * Which chunks two snapshot folders share on disk. On btrfs and on XFS with reflink, a snapshot's
 * file shares its extents with the file it came from until one of them is written; where the same
 * byte range of two read-only snapshots maps to the same physical bytes, the bytes are the same,
 * without reading them. A push after a small change so reads only what changed (remotes/push.ts).
 *
 * The extents come from filefrag (e2fsprogs; FIEMAP), which needs no privilege. Anything it cannot
 * say for sure (no filefrag, an error, an extent not yet on disk, inline or encoded) counts as
 * not shared: that chunk is read and hashed, as without this.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CHUNK_SIZE } from './blocks/chunkStore';

export interface Extent { logical: number; physical: number; length: number }

/** In /usr/sbin, which an ordinary user's PATH often lacks. */
const FILEFRAG = ['/usr/sbin/filefrag', '/sbin/filefrag'].find((p) => fs.existsSync(p)) ?? 'filefrag';
/** filefrag takes this many files a run: well inside any command line's length. */
const BATCH = 200;
/** Flags that leave an extent's physical place unknown or not comparable byte for byte. */
const UNSURE = /unknown_loc|delalloc|inline|encoded|not_aligned|data_encrypted|unwritten/;

/** A chunk of a base snapshot's file. */
export interface BaseChunk { path: string; index: number }

/**
 * For each relative path of `files` (regular files of the read-only folder `root`), the chunks
 * whose bytes lie on the same physical bytes as a chunk of one of `baseFiles` (in `baseRoot`),
 * whatever its path or place: PostgreSQL renames WAL segments it recycles.
 */
export async function sharedChunks(root: string, files: readonly FileOf[], baseRoot: string, baseFiles: readonly FileOf[]): Promise<Map<string, Map<number, BaseChunk>>> {
  const base = new Map<string, BaseChunk>();
  await eachFileExtents(baseRoot, baseFiles, (f, extents) => {
    for (const [place, index] of chunkPlaces(extents, f.size)) base.set(place, { path: f.path, index });
  });
  const out = new Map<string, Map<number, BaseChunk>>();
  await eachFileExtents(root, files, (f, extents) => {
    const shared = new Map<number, BaseChunk>();
    for (const [place, index] of chunkPlaces(extents, f.size)) {
      const b = base.get(place);
      if (b) shared.set(index, b);
    }
    if (shared.size > 0) out.set(f.path, shared);
  });
  return out;
}

interface FileOf { path: string; size: number }

async function eachFileExtents(root: string, files: readonly FileOf[], each: (f: FileOf, extents: Extent[] | undefined) => void): Promise<void> {
  for (let i = 0; i < files.length; i += BATCH) {
    const batch = files.slice(i, i + BATCH);
    (await extentsOf(batch.map((f) => path.join(root, f.path)))).forEach((extents, k) => each(batch[k], extents));
  }
}

/**
 * Where each chunk of a file of `size` bytes lies on disk, as "physical:length" (the last chunk
 * may be short), for the chunks that lie on one run of physical bytes; the others are read.
 */
export function chunkPlaces(extents: readonly Extent[] | undefined, size: number): Map<string, number> {
  const out = new Map<string, number>();
  if (!extents) return out;
  for (const run of runs(extents)) {
    const end = Math.min(run.logical + run.length, size);
    for (let c = Math.ceil(run.logical / CHUNK_SIZE); c * CHUNK_SIZE < end; c++) {
      const length = Math.min(CHUNK_SIZE, size - c * CHUNK_SIZE);
      if (c * CHUNK_SIZE + length > end) break;
      out.set(`${run.physical + c * CHUNK_SIZE - run.logical}:${length}`, c);
    }
  }
  return out;
}

/** Extents that continue each other both in the file and on disk, joined. */
function runs(extents: readonly Extent[]): Extent[] {
  const out: Extent[] = [];
  for (const e of [...extents].sort((x, y) => x.logical - y.logical)) {
    const last = out[out.length - 1];
    if (last && last.logical + last.length === e.logical && last.physical + last.length === e.physical) last.length += e.length;
    else out.push({ ...e });
  }
  return out;
}

/** Each file's extents in bytes, or undefined where filefrag could not say for sure. */
async function extentsOf(files: string[]): Promise<Array<Extent[] | undefined>> {
  const text = await new Promise<string>((resolve) => {
    // A file filefrag fails on makes it exit non-zero; the others' output is still good.
    execFile(FILEFRAG, ['-v', '-b1', ...files], { maxBuffer: 64 * 1024 * 1024 }, (_err, stdout) => resolve(stdout ?? ''));
  });
  return parseFilefrag(text, files);
}

/** filefrag -v -b1 output, file by file in the order given: a "File size of NAME is N" line,
 *  then its extents, "  0:  0.. 327679:  13631488.. 13959167:  327680:  [expected:] flags". */
export function parseFilefrag(text: string, files: readonly string[]): Array<Extent[] | undefined> {
  const byFile = new Map<string, Extent[] | undefined>();
  let current: Extent[] | undefined;
  let name: string | undefined;
  for (const line of text.split('\n')) {
    const head = /^File size of (.*) is \d+ \(/.exec(line);
    if (head) {
      name = head[1];
      current = [];
      byFile.set(name, current);
      continue;
    }
    const m = /^\s*\d+:\s*(\d+)\.\.\s*(\d+):\s*(\d+)\.\.\s*(\d+):\s*(\d+):\s*(?:\d+:)?\s*(.*)$/.exec(line);
    if (!m || name === undefined || !current) continue;
    const [logical, lastLogical, physical, lastPhysical, length] = m.slice(1, 6).map(Number);
    if (UNSURE.test(m[6]) || lastLogical - logical + 1 !== length || lastPhysical - physical + 1 !== length) {
      byFile.set(name, current = undefined);
      continue;
    }
    current.push({ logical, physical, length });
  }
  return files.map((f) => byFile.get(f));
}
