/** Everything measured on one driver's site: storage first (on a fresh pool), then per dataset the peers and the operations. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ensureOrdinaryUser, ORDINARY_USER } from '../support/osUser';
import { describe, type ChangePattern } from './dataset';
import { BenchEngine } from './engine';
import type { Master } from './master';
import { measurePeers } from './peers';
import type { SiteResult } from './results';
import { openSite, type DriverName } from './sites';
import { measureOps } from './slipstreamOps';
import { buildTemplate, measureStorage, type TemplateBuild } from './storage';

export interface SitePlan {
  driver: DriverName;
  workDir: string;
  imageMiB: number;
  masters: Master[];
  /** SQL seed file per dataset name. */
  seeds: Record<string, string>;
  runs: number;
  pattern: ChangePattern;
  storagePatterns: ChangePattern[];
  /** How long the light writes before a point-in-time restore run. */
  lightWriteSeconds: number;
  log: (s: string) => void;
}

/** Idle means no request for a moment: the last one's buffers are garbage by then. */
const settle = () => new Promise((r) => setTimeout(r, 1000));

export async function runSite(plan: SitePlan): Promise<SiteResult> {
  const { driver, log } = plan;
  const site = await openSite(driver, plan.workDir, plan.imageMiB);
  if ('skip' in site) {
    log(`${driver}: skipped: ${site.skip}`);
    return { driver, skip: site.skip, runs: {} };
  }
  log(`${driver} driver on ${site.fsType} (${site.dir})`);
  const pool = path.join(site.dir, 'pool');
  // Issue 12: blocks is the laptop's driver, and laptops run the engine as their own user.
  const as = driver === 'blocks' && process.getuid?.() === 0 ? ensureOrdinaryUser() : undefined;
  if (as) await fs.promises.chown(site.dir, as.uid, as.gid);
  const engine = await BenchEngine.start(path.join(plan.workDir, `home-${driver}`), driver, pool, as);
  const engineUser = as ? ORDINARY_USER : process.getuid?.() === 0 ? 'root' : os.userInfo().username;
  log(`  the ${driver} engine runs as ${engineUser}`);
  const result: SiteResult = { driver, fsType: site.fsType, engineUser, runs: {} };
  try {
    await settle();
    result.startRss = engine.rss();
    const templates: Record<string, TemplateBuild> = {};
    const first = plan.masters[0];
    if (plan.storagePatterns.length) {
      log(`  storage: template + 10 branches on ${describe(first.ds)}`);
      const st = await measureStorage(engine, site, pool, first, plan.seeds[first.ds.name], plan.storagePatterns);
      result.storage = st.storage;
      templates[first.ds.name] = st.template;
    }
    for (const m of plan.masters) {
      log(`  ${describe(m.ds)}: peers`);
      const peers = await measurePeers(site, m, plan.runs, plan.pattern, log);
      templates[m.ds.name] ??= await buildTemplate(engine, m.ds, plan.seeds[m.ds.name]);
      log(`  ${describe(m.ds)}: Slipstream (template built in ${templates[m.ds.name].seconds.toFixed(1)} s)`);
      const ops = await measureOps(engine, m.ds, templates[m.ds.name].name, { runs: plan.runs, pattern: plan.pattern, lightWriteSeconds: plan.lightWriteSeconds }, log);
      result.runs[m.ds.name] = { template: templates[m.ds.name], ops, peers };
    }
    await settle();
    result.idleRss = engine.rss();
  } finally {
    await engine.stop();
    await site.release();
  }
  return result;
}
