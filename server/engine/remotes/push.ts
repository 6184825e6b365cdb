/**
 * One snapshot up to a remote: read its files chunk by chunk, pack the chunks the remote lacks,
 * then write its file list (content-addressed, so an unchanged list is not sent twice).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EngineError } from '../errors';
import { writeFileAtomic } from '../volumes/util';
import { CHUNK_SIZE } from '../volumes/blocks/chunkStore';
import type { VolumeDriver } from '../volumes/driver';
import type { ReadBase, SnapshotEntry, SnapshotFile, SnapshotReader } from '../volumes/snapshotReader';
import { BACKUP_LABEL, CONTROL_FILE, parseControlFile, spentWal, unwrittenWal } from '../postgres/walNeeded';
import { decodeFiles, encodeFiles, FilesEncoder, filesKey, ZERO_CHUNK, type EncodedFiles, type FilesEntry } from './format';
import type { ChunkNames, Packer } from './packs';
import type { RemoteClient } from './s3';
import type { Tally } from './transfer';

/** The snapshot's file list, and the hash that names it on the remote. With `base` (a snapshot
 *  on the remote), a folder driver reads only the chunks that differ from it on disk. */
export async function pushSnapshot(driver: VolumeDriver, snapshotId: string, client: RemoteClient, remoteIndex: Promise<ChunkNames>,
  packer: Packer, pushedLists: PushedLists, tally: Tally, what: string, signal: AbortSignal, base?: ReadBase): Promise<PushedFiles> {
  const t0 = Date.now();
  // The file list is named by its hash and used by no record yet: it may go up beside the packs.
  const sendList = (entries: FilesEntry[], encoded: Promise<EncodedFiles>) => tally.step('file list', async () => {
    const { hash, body } = await encoded;
    const key = filesKey(client.sealer.name(hash));
    if (!(await client.exists(key))) await client.putSealed(key, body, 'application/gzip');
    if (driver.readsFromBase) await pushedLists.save(snapshotId, hash, body, entries); // only they read against a base
    return { hash, entries };
  });
  let listSent: Promise<PushedFiles> | undefined;
  let list: FilesEncoder | undefined;
  const pushed = await tally.step('read', () => driver.readSnapshot(snapshotId, async (reader) => {
    const entries = await entriesToPush(reader);
    tally.since('listed', t0); // the driver's listing of the snapshot, and its comparison with base
    // Where the ids are known unread, the list goes now, not after the last chunk (0.1 s of a
    // push after a small change on blocks was encoding it there).
    if (reader.ids) {
      const ids = reader.ids.bind(reader);
      const listed = entries.map((e): FilesEntry => (e.type === 'file' ? { ...e, chunks: [...ids(e)] } : e));
      listSent = sendList(listed, encodeFiles(listed));
      listSent.catch(() => undefined); // its failure is thrown where it is awaited
    } else {
      list = new FilesEncoder(); // encoded as the files are read
    }
    // The remote's index is loaded meanwhile.
    const known = await remoteIndex;
    tally.since('index there', t0);
    const total = entries.reduce((n, e) => n + (e.type === 'file' ? e.size : 0), 0);
    let done = 0;
    const out: FilesEntry[] = [];
    // New chunks are read and packed READS at a time: the blocks driver reads each from its
    // chunk store, and one after another those reads were most of a push after a small change.
    const reading = new Set<Promise<void>>();
    let failed: unknown;
    for (const e of entries) {
      if (e.type !== 'file') { out.push(e); list?.add(e); continue; }
      const chunks: string[] = [];
      await reader.chunks(e, (i, id, data) => {
        chunks.push(id);
        done += Math.min(CHUNK_SIZE, e.size - i * CHUNK_SIZE);
        if (id === ZERO_CHUNK) return undefined;
        tally.chunks++;
        if (known.has(client.sealer.name(id)) || packer.has(id)) return undefined;
        tally.report(what, done, total);
        if (signal.aborted) throw cancelled();
        if (failed) throw failed;
        // Bytes given at once are packed at once: Packer.add encodes them before it awaits anything.
        const got = data();
        const p: Promise<void> = (got instanceof Promise ? got.then((chunk) => packer.add(id, chunk)) : packer.add(id, got))
          .catch((err: unknown) => { failed ??= err; }).finally(() => reading.delete(p));
        reading.add(p);
        return reading.size >= READS ? Promise.race(reading) : undefined;
      });
      tally.report(what, done, total);
      if (signal.aborted) throw cancelled();
      out.push({ ...e, chunks });
      list?.add(out[out.length - 1]);
    }
    await Promise.all(reading);
    if (failed) throw failed;
    tally.bytesRead += reader.bytesRead;
    return out;
  }, base));
  const [, sent] = await Promise.all([tally.step('last packs', () => packer.finish()), listSent ?? sendList(pushed, list!.end())]);
  return sent;
}

/** The snapshot's entries less the WAL no copy of it reads: spent, and not yet written
 *  (postgres/walNeeded.ts). */
async function entriesToPush(reader: SnapshotReader): Promise<readonly SnapshotEntry[]> {
  const file = (p: string) => reader.entries.find((e) => e.path === p && e.type === 'file') as SnapshotFile | undefined;
  const control = file(CONTROL_FILE) && parseControlFile(await reader.readChunk(CONTROL_FILE, 0));
  if (!control) return reader.entries;
  const label = file(BACKUP_LABEL);
  // A label longer than a chunk is none PostgreSQL wrote: '' says where nothing starts.
  const text = label && (label.size <= CHUNK_SIZE ? (await reader.readChunk(BACKUP_LABEL, 0)).toString('latin1') : '');
  const spent = spentWal(reader.entries, control, text);
  for (const p of await unwrittenWal(reader.entries, control, (rel) => reader.readChunk(rel, 0))) spent.add(p);
  return spent.size > 0 ? reader.entries.filter((e) => !spent.has(e.path)) : reader.entries;
}

export interface PushedFiles { hash: string; entries: FilesEntry[] }

/**
 * The file lists of the snapshots this engine pushed to a remote, kept in its cache folder
 * (packs.ts, indexCacheDir): a push after a small change takes its base's chunk ids from here,
 * not from the remote. Whatever the remote holds now, they are the ids of that snapshot's bytes;
 * what is sent is still decided by the remote's index. The newest KEEP are kept.
 */
export class PushedLists {
  private readonly dir: string;

  constructor(cacheDir: string) {
    this.dir = path.join(cacheDir, 'pushed');
  }

  async save(snapshotId: string, hash: string, body: Buffer, entries: FilesEntry[]): Promise<void> {
    await fs.promises.mkdir(this.dir, { recursive: true, mode: 0o700 });
    const file = path.join(this.dir, `${snapshotId}.${hash}.gz`);
    await writeFileAtomic(file, body, this.dir);
    recent.set(file, entries);
    for (const old of [...recent.keys()].slice(0, -RECENT)) recent.delete(old);
    const all = await this.entries();
    if (all.length <= KEEP) return;
    // The engine's own folder (HOME is no tenant's): lstat all the same, a link is not followed.
    const times = await Promise.all(all.map(async (name) => ({ name, at: (await fs.promises.lstat(path.join(this.dir, name)).catch(() => undefined))?.mtimeMs ?? 0 })));
    for (const { name } of times.sort((a, b) => a.at - b.at).slice(0, all.length - KEEP)) await fs.promises.rm(path.join(this.dir, name), { force: true });
  }

  /** The snapshot's file list as pushed; undefined when it is not kept (or does not check out). */
  async load(snapshotId: string): Promise<FilesEntry[] | undefined> {
    const name = (await this.entries()).find((n) => n.startsWith(`${snapshotId}.`));
    const hash = name?.slice(snapshotId.length + 1, -'.gz'.length);
    if (!name || !hash) return undefined;
    const file = path.join(this.dir, name);
    try {
      return recent.get(file) ?? decodeFiles(hash, await fs.promises.readFile(file)).entries;
    } catch {
      return undefined; // read from the remote instead
    }
  }

  private async entries(): Promise<string[]> {
    return (await fs.promises.readdir(this.dir).catch(() => [] as string[])).filter((n) => n.endsWith('.gz'));
  }
}

const KEEP = 32;
/** The newest lists saved, as they were pushed, by file: decoding one of the bench's took 0.2 s,
 *  and the next push usually wants the one pushed last (a template version's goes with it). */
const recent = new Map<string, FilesEntry[]>();
const RECENT = 2;

/** A snapshot's file list as a base to read another against (ReadBase). */
export function readBase(snapshotId: string, entries: readonly FilesEntry[]): ReadBase {
  return { snapshotId, files: new Map(entries.flatMap((e) => (e.type === 'file' ? [[e.path, e] as const] : []))) };
}

const READS = 8;

const cancelled = () => new EngineError('Cancelled', 'the push was cancelled; what was uploaded is kept, and the next push does not send it again.');
