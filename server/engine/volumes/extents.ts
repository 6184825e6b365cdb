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
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CHUNK_SIZE } from './blocks/chunkStore';

export interface Extent { logical: number; physical: number; length: number }

/** In /usr/sbin, which an ordinary user's PATH often lacks. */
const FILEFRAG = ['/usr/sbin/filefrag', '/sbin/filefrag'].find((p) => fs.existsSync(p)) ?? 'filefrag';
/** filefrag takes this many files a run (about 100 KB of paths, well inside a command line's
 *  limit): each run costs a process start, which was most of the time at 200. */
const BATCH = 1000;
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
  const mine: Array<[FileOf, Extent[] | undefined]> = [];
  await Promise.all([
    eachFileExtents(baseRoot, baseFiles, (f, extents) => {
      for (const [place, index] of chunkPlaces(extents, f.size)) base.set(place, { path: f.path, index });
    }),
    eachFileExtents(root, files, (f, extents) => { mine.push([f, extents]); }),
  ]);
  const out = new Map<string, Map<number, BaseChunk>>();
  for (const [f, extents] of mine) {
    const shared = new Map<number, BaseChunk>();
    for (const [place, index] of chunkPlaces(extents, f.size)) {
      const b = base.get(place);
      if (b) shared.set(index, b);
    }
    if (shared.size > 0) out.set(f.path, shared);
  }
  return out;
}

interface FileOf { path: string; size: number }

/** Names filefrag is asked about: PostgreSQL's own. A tenant can put any file in its data
 *  directory, and a name with a line break in it could pass for filefrag's report on another
 *  file; such a file is read and hashed. */
const PLAIN_NAME = /^[\w.+-]+(\/[\w.+-]+)*$/;

async function eachFileExtents(root: string, files: readonly FileOf[], each: (f: FileOf, extents: Extent[] | undefined) => void): Promise<void> {
  for (const f of files) if (!PLAIN_NAME.test(f.path)) each(f, undefined);
  const plain = files.filter((f) => PLAIN_NAME.test(f.path));
  for (let i = 0; i < plain.length; i += BATCH) {
    const batch = plain.slice(i, i + BATCH);
    (await extentsOf(batch.map((f) => path.join(root, f.path)))).forEach((extents, k) => each(batch[k], extents));
  }
}

/**
 * Where each chunk of a file of `size` bytes lies on disk: the runs of physical bytes that hold
 * it, in order ("physical+length,…"; the last chunk may be short). Two chunks with the same
 * place hold the same bytes. A file written page by page (a scattered update) lies in many
 * small extents, so a chunk often spans several. A chunk with a byte in no extent is left out.
 */
export function chunkPlaces(extents: readonly Extent[] | undefined, size: number): Map<string, number> {
  const out = new Map<string, number>();
  if (!extents) return out;
  const all = runs(extents);
  let k = 0;
  for (let c = 0; c * CHUNK_SIZE < size; c++) {
    const from = c * CHUNK_SIZE;
    const to = Math.min(from + CHUNK_SIZE, size);
    while (k < all.length && all[k].logical + all[k].length <= from) k++;
    const pieces: string[] = [];
    let at = from;
    for (let x = k; at < to && x < all.length && all[x].logical <= at; x++) {
      const e = all[x];
      const end = Math.min(e.logical + e.length, to);
      pieces.push(`${e.physical + (at - e.logical)}+${end - at}`);
      at = end;
    }
    if (at >= to) out.set(pieces.join(','), c);
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

/** Each file's extents in bytes, or undefined where filefrag could not say for sure. Its output
 *  is read line by line: a file a scattered update rewrote page by page has 100,000 extents. */
async function extentsOf(files: string[]): Promise<Array<Extent[] | undefined>> {
  const parser = new FilefragParser();
  await new Promise<void>((resolve) => {
    const child = spawn(FILEFRAG, ['-v', '-b1', ...files], { stdio: ['ignore', 'pipe', 'ignore'] });
    // A file filefrag fails on makes it exit non-zero; the others' output is still good.
    child.on('error', () => resolve());
    let rest = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      const lines = (rest + text).split('\n');
      rest = lines.pop()!;
      for (const l of lines) parser.line(l);
    }).on('close', () => { parser.line(rest); resolve(); });
  });
  return files.map((f) => parser.extents.get(f));
}

/** filefrag -v -b1 output, file by file in the order given: a "File size of NAME is N" line,
 *  then its extents, "  0:  0.. 327679:  13631488.. 13959167:  327680:  [expected:] flags". */
export function parseFilefrag(text: string, files: readonly string[]): Array<Extent[] | undefined> {
  const parser = new FilefragParser();
  for (const l of text.split('\n')) parser.line(l);
  return files.map((f) => parser.extents.get(f));
}

class FilefragParser {
  readonly extents = new Map<string, Extent[] | undefined>();
  private name?: string;
  private current?: Extent[];

  /** Read digit by digit rather than matched by a regular expression: several times faster,
   *  and a fragmented file's extents were most of a push after a small change. */
  line(line: string): void {
    if (line.startsWith('File size of ')) {
      const head = /^File size of (.*) is \d+ \(/.exec(line);
      if (!head) return;
      this.name = head[1];
      this.current = [];
      this.extents.set(this.name, this.current);
      return;
    }
    if (this.name === undefined || !this.current || !/^\s*\d+:/.test(line)) return;
    // "ext: logical..last: physical..last: length: [expected:] flags": the first six numbers.
    const n = [0, 0, 0, 0, 0, 0];
    let k = 0;
    for (let i = 0; k < 6 && i < line.length;) {
      let c = line.charCodeAt(i);
      if (c < 48 || c > 57) { i++; continue; }
      let v = 0;
      for (; i < line.length && (c = line.charCodeAt(i)) >= 48 && c <= 57; i++) v = v * 10 + (c - 48);
      n[k++] = v;
    }
    const [, logical, lastLogical, physical, lastPhysical, length] = n;
    if (k < 6 || UNSURE.test(line.slice(line.lastIndexOf(':') + 1)) || !n.every(Number.isSafeInteger)
      || lastLogical - logical + 1 !== length || lastPhysical - physical + 1 !== length) {
      this.extents.set(this.name, this.current = undefined);
      return;
    }
    this.current.push({ logical, physical, length });
  }
}
