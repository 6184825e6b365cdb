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

/** A file's extents joined into maximal runs (extents that continue each other both in the file
 *  and on disk become one), sorted: logical, physical, length for each run. Typed numbers, not an
 *  object per extent: a file a scattered update rewrote page by page has 100,000 of them. */
export type Runs = Float64Array;

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
 * whose bytes lie on the same physical bytes as a chunk of one of `baseFiles` (in `baseRoot`).
 * A file base also has is compared with base's at each chunk's own place, run by run; a file
 * that is new is looked up by where its chunks lie among base's files that are gone, because
 * PostgreSQL renames the WAL segments it recycles.
 */
export async function sharedChunks(root: string, files: readonly FileOf[], baseRoot: string, baseFiles: readonly FileOf[]): Promise<Map<string, Map<number, BaseChunk>>> {
  const base = new Map<string, { size: number; runs: Runs | undefined }>();
  const mine: Array<[FileOf, Runs | undefined]> = [];
  await eachFileExtents([
    { root: baseRoot, files: baseFiles, each: (f, runs) => { base.set(f.path, { size: f.size, runs }); } },
    { root, files, each: (f, runs) => { mine.push([f, runs]); } },
  ]);
  const names = new Set(files.map((f) => f.path));
  const gone = new Map<string, BaseChunk>();
  for (const [p, b] of base) {
    if (!names.has(p)) for (const [place, index] of chunkPlaces(b.runs, b.size)) gone.set(place, { path: p, index });
  }
  const out = new Map<string, Map<number, BaseChunk>>();
  for (const [f, runs] of mine) {
    const shared = new Map<number, BaseChunk>();
    const b = base.get(f.path);
    if (b) {
      for (const index of sameChunks(b.runs, b.size, runs, f.size)) shared.set(index, { path: f.path, index });
    } else if (gone.size > 0) {
      for (const [place, index] of chunkPlaces(runs, f.size)) {
        const g = gone.get(place);
        if (g) shared.set(index, g);
      }
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

/** The files of both folders go to filefrag together: a process start takes the engine's thread
 *  10 ms or more (its memory is copied for the fork), and two were 5% of a push after a small change. */
async function eachFileExtents(sets: ReadonlyArray<{ root: string; files: readonly FileOf[]; each: (f: FileOf, runs: Runs | undefined) => void }>): Promise<void> {
  const plain: Array<{ abs: string; f: FileOf; each: (f: FileOf, runs: Runs | undefined) => void }> = [];
  for (const { root, files, each } of sets) {
    for (const f of files) {
      if (PLAIN_NAME.test(f.path)) plain.push({ abs: path.join(root, f.path), f, each });
      else each(f, undefined);
    }
  }
  for (let i = 0; i < plain.length; i += BATCH) {
    const batch = plain.slice(i, i + BATCH);
    (await extentsOf(batch.map((p) => p.abs))).forEach((runs, k) => batch[k].each(batch[k].f, runs));
  }
}

/**
 * The chunks of a file of `size` bytes that lie on the same runs of physical bytes (same order,
 * same lengths) as the chunk at the same place in base's file of `baseSize` bytes. Runs are
 * maximal, so two chunks map the same way exactly when their runs, cut to the chunk, are equal.
 */
export function sameChunks(base: Runs | undefined, baseSize: number, runs: Runs | undefined, size: number): number[] {
  const out: number[] = [];
  if (!base || !runs) return out;
  let i = 0;
  let j = 0;
  for (let c = 0; c * CHUNK_SIZE < size && c * CHUNK_SIZE < baseSize; c++) {
    const from = c * CHUNK_SIZE;
    const to = Math.min(from + CHUNK_SIZE, size);
    if (Math.min(from + CHUNK_SIZE, baseSize) !== to) continue; // a last chunk of another length
    while (i < runs.length && runs[i] + runs[i + 2] <= from) i += 3;
    while (j < base.length && base[j] + base[j + 2] <= from) j += 3;
    if (sameRuns(runs, i, base, j, from, to)) out.push(c);
  }
  return out;
}

/** Whether bytes from..to map to the same physical bytes in both, from runs a[i] and b[j] on. */
function sameRuns(a: Runs, i: number, b: Runs, j: number, from: number, to: number): boolean {
  for (let at = from; at < to;) {
    if (i >= a.length || j >= b.length || a[i] > at || b[j] > at) return false; // a hole
    if (a[i + 1] + (at - a[i]) !== b[j + 1] + (at - b[j])) return false;
    const end = Math.min(a[i] + a[i + 2], to);
    if (end !== Math.min(b[j] + b[j + 2], to)) return false;
    at = end;
    i += 3;
    j += 3;
  }
  return true;
}

/**
 * Where each chunk of a file of `size` bytes lies on disk: the runs of physical bytes that hold
 * it, in order ("physical+length,…"; the last chunk may be short). Two chunks with the same
 * place hold the same bytes. A chunk with a byte in no extent is left out.
 */
export function chunkPlaces(runs: Runs | undefined, size: number): Map<string, number> {
  const out = new Map<string, number>();
  if (!runs) return out;
  let k = 0;
  for (let c = 0; c * CHUNK_SIZE < size; c++) {
    const from = c * CHUNK_SIZE;
    const to = Math.min(from + CHUNK_SIZE, size);
    while (k < runs.length && runs[k] + runs[k + 2] <= from) k += 3;
    const pieces: string[] = [];
    let at = from;
    for (let x = k; at < to && x < runs.length && runs[x] <= at; x += 3) {
      const end = Math.min(runs[x] + runs[x + 2], to);
      pieces.push(`${runs[x + 1] + (at - runs[x])}+${end - at}`);
      at = end;
    }
    if (at >= to) out.set(pieces.join(','), c);
  }
  return out;
}

/** Extents as maximal runs (Runs). */
export function toRuns(extents: readonly Extent[]): Runs {
  return joinRuns(extents.flatMap((e) => [e.logical, e.physical, e.length]));
}

/** logical, physical, length triples (filefrag gives them in file order) joined into runs. */
function joinRuns(flat: number[]): Runs {
  let sorted = true;
  for (let at = 3; at < flat.length && sorted; at += 3) sorted = flat[at - 3] <= flat[at];
  if (!sorted) {
    const order = Array.from({ length: flat.length / 3 }, (_, k) => 3 * k).sort((x, y) => flat[x] - flat[y]);
    flat = order.flatMap((at) => [flat[at], flat[at + 1], flat[at + 2]]);
  }
  const out = new Float64Array(flat.length);
  let n = 0;
  for (let at = 0; at < flat.length; at += 3) {
    if (n > 0 && out[n - 3] + out[n - 1] === flat[at] && out[n - 2] + out[n - 1] === flat[at + 1]) {
      out[n - 1] += flat[at + 2];
    } else {
      out[n] = flat[at];
      out[n + 1] = flat[at + 1];
      out[n + 2] = flat[at + 2];
      n += 3;
    }
  }
  return out.slice(0, n);
}

/** Each file's runs, or undefined where filefrag could not say for sure. Its output is read as
 *  it comes, byte by byte: a file a scattered update rewrote page by page has 100,000 extents. */
async function extentsOf(files: string[]): Promise<Array<Runs | undefined>> {
  const parser = new FilefragParser();
  await new Promise<void>((resolve) => {
    const child = spawn(FILEFRAG, ['-v', '-b1', ...files], { stdio: ['ignore', 'pipe', 'ignore'] });
    // A file filefrag fails on makes it exit non-zero; the others' output is still good.
    child.on('error', () => resolve());
    child.stdout.on('data', (bytes: Buffer) => parser.write(bytes)).on('close', () => { parser.end(); resolve(); });
  });
  return files.map((f) => parser.runs.get(f));
}

/** filefrag -v -b1 output, file by file in the order given: a "File size of NAME is N" line,
 *  then its extents, "  0:  0.. 327679:  13631488.. 13959167:  327680:  [expected:] flags". */
export function parseFilefrag(text: string, files: readonly string[]): Array<Runs | undefined> {
  const parser = new FilefragParser();
  parser.write(Buffer.from(text));
  parser.end();
  return files.map((f) => parser.runs.get(f));
}

const HEADER = Buffer.from('File size of ');
/** Every UNSURE flag has a "u", an "i" or a "c"; the usual ones (shared, last, eof, merged) none:
 *  only a line with one of those letters in its flags is looked at as text. */
function unsure(buf: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = buf[i];
    if (c === 117 || c === 105 || c === 99) return UNSURE.test(buf.toString('latin1', from, to));
  }
  return false;
}
const [NL, SPACE, COLON, ZERO, NINE, F] = [10, 32, 58, 48, 57, 70];
/** Beyond this a number read digit by digit may have lost digits. */
const MAX = Number.MAX_SAFE_INTEGER / 10;

export class FilefragParser {
  readonly runs = new Map<string, Runs | undefined>();
  private name?: string;
  /** The file's extents so far, as logical, physical, length triples. */
  private current?: number[];
  private rest = Buffer.alloc(0);
  private readonly numbers = new Float64Array(6);

  write(bytes: Buffer): void {
    let start = 0;
    let nl = bytes.indexOf(NL);
    if (nl < 0) { this.rest = Buffer.concat([this.rest, bytes]); return; }
    if (this.rest.length) { // the line begun in the last piece
      const line = Buffer.concat([this.rest, bytes.subarray(0, nl)]);
      this.line(line, 0, line.length);
      start = nl + 1;
      nl = bytes.indexOf(NL, start);
    }
    for (; nl >= 0; nl = bytes.indexOf(NL, start)) {
      this.line(bytes, start, nl);
      start = nl + 1;
    }
    this.rest = Buffer.from(bytes.subarray(start));
  }

  end(): void {
    if (this.rest.length) this.line(this.rest, 0, this.rest.length);
    this.rest = Buffer.alloc(0);
    this.close();
  }

  private close(): void {
    if (this.name !== undefined) this.runs.set(this.name, this.current && joinRuns(this.current));
    this.name = undefined;
  }

  /** Numbers read digit by digit from the bytes: several times faster than strings and a
   *  regular expression, and a fragmented file's extents were most of a push after a small change. */
  private line(buf: Buffer, from: number, to: number): void {
    if (buf[from] === F && to - from > HEADER.length && buf.compare(HEADER, 0, HEADER.length, from, from + HEADER.length) === 0) {
      this.close();
      const head = /^File size of (.*) is \d+ \(/.exec(buf.toString('utf8', from, to));
      if (!head) return;
      this.name = head[1];
      this.current = [];
      return;
    }
    if (this.name === undefined || !this.current) return;
    let i = from;
    while (i < to && buf[i] === SPACE) i++;
    if (i === to || buf[i] < ZERO || buf[i] > NINE) return; // not an extent's line
    // "ext: logical..last: physical..last: length: [expected:] flags": the first six numbers.
    const n = this.numbers;
    let k = 0;
    while (k < 6 && i < to) {
      let c = buf[i];
      if (c < ZERO || c > NINE) { i++; continue; }
      let v = 0;
      for (; i < to && (c = buf[i]) >= ZERO && c <= NINE; i++) v = v * 10 + (c - ZERO);
      n[k++] = v;
    }
    let flags = to;
    while (flags > i && buf[flags - 1] !== COLON) flags--;
    const logical = n[1], physical = n[3], length = n[5];
    if (k < 6 || unsure(buf, flags, to) || !(logical <= MAX && physical <= MAX && length <= MAX)
      || n[2] - logical + 1 !== length || n[4] - physical + 1 !== length) {
      this.current = undefined;
      return;
    }
    this.current.push(logical, physical, length);
  }
}
