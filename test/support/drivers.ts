import { mountLoopFs } from './loopfs';

/** A place to run an engine with one volume driver: blocks on the ordinary
 *  filesystem always; btrfs and reflink on loop-mounted images where the machine
 *  allows it, otherwise a reason that the test prints when it skips. */
export interface DriverSite {
  driver: 'blocks' | 'btrfs' | 'reflink';
  pool?: string;
  skip?: string;
  cleanup(): Promise<void>;
}

export async function driverSites(sizeMiB = 2048): Promise<DriverSite[]> {
  const sites: DriverSite[] = [{ driver: 'blocks', cleanup: async () => undefined }];
  for (const [driver, fs] of [['btrfs', 'btrfs'], ['reflink', 'xfs']] as const) {
    const mount = await mountLoopFs(fs, sizeMiB);
    if ('skip' in mount) sites.push({ driver, skip: `${driver} driver: ${mount.skip}`, cleanup: async () => undefined });
    else sites.push({ driver, pool: `${mount.dir}/pool`, cleanup: mount.cleanup });
  }
  return sites;
}
