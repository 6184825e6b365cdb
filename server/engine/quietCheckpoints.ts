import type { Engine } from './engine';
import { log } from './engine';
import { wholeNumberSetting } from './envSetting';
import * as cluster from './postgres/cluster';
import { lsnValue, waitForSummarizer } from './postgres/walSummaries';
import type { ContainerRecord } from './records';

/**
 * A checkpoint for a running database that has gone quiet (drivers that restore in place:
 * blocks). PostgreSQL's WAL summarizer writes a summary only up to a checkpoint, so until the
 * next one (checkpoint_timeout, 5 minutes) the pages changed since are known only from the
 * WAL itself, which a restore in place or a switch reads when the database stops: about
 * 250 ms per 50 MiB of WAL on the bench (docs/performance.md). Once the database has written
 * nothing for a while after writing at least MIN_WAL, the engine asks it for the checkpoint
 * it would soon make anyway and waits until the summarizer has passed it: the user's pause
 * pays for that read instead of the user's next restore.
 *
 * Looks are cheap (one query each), and skip a container an operation holds. A checkpoint
 * runs beside whatever the user starts next: an operation that stops the database ends it,
 * which costs nothing but this checkpoint (logged, not retried). The queries go to the
 * tenant's own server, whose answers can only make the engine checkpoint it, or not.
 */
export class QuietCheckpoints {
  private timer: NodeJS.Timeout | undefined;
  private looking = false;
  /** Volume id → the WAL insert position at the last look. */
  private readonly seen = new Map<string, string>();
  private checkpointing = 0;

  constructor(private readonly engine: Engine) {}

  /** Look every `everyMs` (0: never). */
  start(everyMs: number): void {
    if (everyMs <= 0 || !this.engine.driver.restoresInPlace) return;
    this.timer = setInterval(() => void this.lookAll(), everyMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Checkpoints under way (engine status counts them as background jobs). */
  get running(): number {
    return this.checkpointing;
  }

  private async lookAll(): Promise<void> {
    if (this.looking || this.engine.stopping) return;
    this.looking = true;
    try {
      const active = new Set<string>();
      for (const c of this.engine.store.allContainers()) {
        if (this.engine.stopping) return;
        const volumeId = this.engine.activeVolume(c);
        active.add(volumeId);
        if (!this.engine.locks.isHeld(`container:${c.id}`)) await this.look(c, volumeId);
      }
      for (const v of this.seen.keys()) if (!active.has(v)) this.seen.delete(v);
    } finally {
      this.looking = false;
    }
  }

  private async look(c: ContainerRecord, volumeId: string): Promise<void> {
    const spec = this.engine.clusterOf(c, volumeId);
    if (!(await cluster.isRunning(spec))) return;
    let started = 0;
    try {
      await cluster.withLocalClient(spec, async (client) => {
        const { rows } = await client.query('SELECT pg_catalog.pg_current_wal_insert_lsn()::text AS insert, '
          + 'redo_lsn::text AS redo, timeline_id::int AS tli FROM pg_catalog.pg_control_checkpoint()');
        const now = rows[0] as { insert: string; redo: string; tli: number };
        const quiet = this.seen.get(volumeId) === now.insert;
        this.seen.set(volumeId, now.insert);
        const since = lsnValue(now.insert) - lsnValue(now.redo);
        if (!quiet || since < MIN_WAL) return;
        started = Date.now();
        this.checkpointing++;
        await client.query('CHECKPOINT');
        const redo = String((await client.query('SELECT redo_lsn::text AS redo FROM pg_catalog.pg_control_checkpoint()')).rows[0].redo);
        const summarized = await waitForSummarizer(client, now.tli, lsnValue(redo), SUMMARY_WAIT_MS);
        log(`container ${c.owner}/${c.name}: its database went quiet ${(Number(since) / 1048576).toFixed(1)} MiB of WAL after its last `
          + `checkpoint: checkpointed in ${Date.now() - started} ms${summarized === true ? ', the WAL summaries reach it' : `; ${summarized}`}`);
      });
    } catch (err) {
      // A look that fails (the server stopping, or refusing) is tried again at the next one.
      if (started) log(`container ${c.owner}/${c.name}: a quiet checkpoint did not finish: ${(err as Error).message}`);
    } finally {
      if (started) this.checkpointing--;
    }
  }
}

/** Less WAL than this since the last checkpoint is read in a few tens of milliseconds. */
const MIN_WAL = 4n * 1024n * 1024n;
const SUMMARY_WAIT_MS = 10_000;

/** How often the engine looks (SLIPSTREAM_QUIET_CHECKPOINT_MS; 0 turns it off). */
export function quietCheckpointMs(raw: string | undefined): number {
  return wholeNumberSetting('SLIPSTREAM_QUIET_CHECKPOINT_MS', raw, {
    fallback: DEFAULT_LOOK_MS, min: 0, kind: 'a whole number of milliseconds',
    what: 'how often the engine looks for a database gone quiet to checkpoint it; 0 never',
  });
}

const DEFAULT_LOOK_MS = 2000;
