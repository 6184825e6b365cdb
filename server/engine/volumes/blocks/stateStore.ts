/**
 * Volume states of the blocks driver: POOL/volstate/<volume id>.json.
 * See manifest.ts for what a state records and why.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tmpSuffix, writeFileAtomic } from '../util';
import { decodeState, encodeState, type VolumeState } from './manifest';

export class StateStore {
  constructor(private readonly dir: string, private readonly tmpDir: string) {}

  private pathOf(volumeId: string): string {
    return path.join(this.dir, `${volumeId}.json`);
  }

  /**
   * The recorded files of a volume, minus "racy" ones (the race git's index
   * has too): a file stat'ed in the same clock tick as a later write to it
   * would show the same mtime and ctime. Any entry whose times are not older
   * than the state file itself may hide such a write, so it is dropped and
   * the file is rehashed next time.
   */
  async load(volumeId: string): Promise<VolumeState> {
    let text: string;
    let savedNs: bigint;
    try {
      const file = this.pathOf(volumeId);
      savedNs = (await fs.promises.stat(file, { bigint: true })).mtimeNs;
      text = await fs.promises.readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { files: new Map() };
      throw err;
    }
    const state = decodeState(text);
    for (const [p, f] of state.files) {
      if (f.walOnly) continue; // never vouched for by its stat
      if (BigInt(f.mtimeNs) >= savedNs || BigInt(f.ctimeNs) >= savedNs) state.files.delete(p);
    }
    return state;
  }

  /** Saved after the data it describes is durable; tmp+rename, so a crash
   *  leaves the previous state, whose stale stats just cause rehashing. */
  async save(volumeId: string, state: VolumeState): Promise<void> {
    let newest = 0n;
    for (const f of state.files.values()) {
      const t = BigInt(f.mtimeNs) > BigInt(f.ctimeNs) ? BigInt(f.mtimeNs) : BigInt(f.ctimeNs);
      if (t > newest) newest = t;
    }
    await this.waitForClockPast(newest);
    await writeFileAtomic(this.pathOf(volumeId), encodeState(state), this.tmpDir);
  }

  /**
   * File times come from a coarse clock (one tick can be several ms). If the
   * state is written in a later tick than every time it records, any later
   * write to those files gets a newer time and is seen, so no entry is racy.
   * Usually already true (hashing takes longer than a tick); otherwise this
   * waits at most a tick or two. Bounded, with load()'s check as the backstop.
   */
  private async waitForClockPast(ns: bigint): Promise<void> {
    const probe = path.join(this.tmpDir, `clock-${tmpSuffix()}`);
    try {
      for (let i = 0; i < 100; i++) {
        await fs.promises.writeFile(probe, '', { flag: 'wx' });
        const now = (await fs.promises.stat(probe, { bigint: true })).mtimeNs;
        await fs.promises.rm(probe);
        if (now > ns) return;
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
    } finally {
      await fs.promises.rm(probe, { force: true });
    }
  }

  async remove(volumeId: string): Promise<void> {
    await fs.promises.rm(this.pathOf(volumeId), { force: true });
  }

  /** Every chunk id referenced by any volume state (racy entries included):
   *  snapshot() reuses these lists without reading the files, so the garbage
   *  collector must keep their chunks even when no manifest references them. */
  async referencedChunks(into: Set<string>): Promise<void> {
    for (const name of await fs.promises.readdir(this.dir)) {
      if (!name.endsWith('.json')) continue;
      let text: string;
      try {
        text = await fs.promises.readFile(path.join(this.dir, name), 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw err;
      }
      for (const f of decodeState(text).files.values()) for (const id of f.chunks) into.add(id);
    }
  }
}
