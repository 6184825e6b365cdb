import type { Engine } from './engine';
import { log } from './engine';
import { faultPoint } from './faults';
import * as cluster from './postgres/cluster';
import type { ChangesSoFar } from './postgres/walSummaries';
import type { ContainerRecord } from './records';

/**
 * The checkpoint a switch skips (tracker issue 11). A switch stops the branch it leaves at
 * once, without the shutdown checkpoint that would write every page its last changes
 * dirtied: that write grows with the change and the data, and the user would wait for it.
 * The WAL holds those changes, so nothing is lost. This writes the checkpoint afterwards, in
 * the background, with that volume's server started without a TCP address
 * (cluster.checkpointAlone), so the branch starts clean next time.
 *
 * Until then the volume is crash-consistent, which every use of it accepts (a start replays
 * the WAL, a capture copies it as it is). What none may do is touch it while that server
 * runs, so each waits for `written` first: a start (engine.startDatabase), an activation,
 * a capture and a deletion (data.ts, containerDelete.ts).
 *
 * No journal: a job cut short (a crash, the engine stopping, the container's programs ended)
 * leaves the volume as the switch left it, and its next start replays the WAL; a server it
 * left running is stopped by that start (cluster.start: running, but not on the port).
 */
export class Checkpoints {
  /** Volume id → its checkpoint under way. */
  private readonly jobs = new Map<string, Promise<void>>();

  constructor(private readonly engine: Engine) {}

  /** Checkpoint the volume of a branch its switch stopped at once; first, on blocks, note the pages
   *  changed in it (`changes`, what the server said before the stop), while its WAL is as the
   *  stop left it. */
  schedule(c: ContainerRecord, volumeId: string, changes?: ChangesSoFar): void {
    if (this.jobs.has(volumeId) || this.engine.stopping) return;
    const { driver } = this.engine;
    const noted = changes && driver.noteStopped
      ? driver.noteStopped(volumeId, changes).catch((err: Error) => log(`volume ${volumeId}: its changed pages were not noted: ${err.message}`))
      : Promise.resolve();
    const job = noted.then(() => cluster.checkpointAlone(this.engine.bins, this.engine.clusterOf(c, volumeId), () => faultPoint('checkpoint:after-start')))
      .catch((err: Error) => log(`container ${c.owner}/${c.name}: the background checkpoint of a branch it switched from `
        + `did not finish (its next start replays its WAL instead): ${err.message}`))
      .finally(() => this.jobs.delete(volumeId));
    this.jobs.set(volumeId, job);
  }

  /** Resolves once no checkpoint runs on the volume. */
  written(volumeId: string): Promise<void> {
    return this.jobs.get(volumeId) ?? Promise.resolve();
  }

  /** How many run (engine status counts them as background jobs). */
  get running(): number {
    return this.jobs.size;
  }
}
