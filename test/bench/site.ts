/** Everything measured on one driver's site: storage first (on a fresh pool), then per dataset the peers and the operations. */
import * as path from 'node:path';
import { describe } from './dataset';
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
  log: (s: string) => void;
}

export async function runSite(plan: SitePlan): Promise<SiteResult> {
  const { driver, log } = plan;
  const site = await openSite(driver, plan.workDir, plan.imageMiB);
  if ('skip' in site) {
    log(`${driver}: skipped: ${site.skip}`);
    return { driver, skip: site.skip, runs: {} };
  }
  log(`${driver} driver on ${site.fsType} (${site.dir})`);
  const pool = path.join(site.dir, 'pool');
  const engine = await BenchEngine.start(path.join(plan.workDir, `home-${driver}`), driver, pool);
  const result: SiteResult = { driver, fsType: site.fsType, runs: {} };
  try {
    const first = plan.masters[0];
    log(`  storage: template + 10 branches on ${describe(first.ds)}`);
    const st = await measureStorage(engine, site, pool, first.ds, plan.seeds[first.ds.name], first.copyBytes);
    result.storage = st.storage;
    const templates: Record<string, TemplateBuild> = { [first.ds.name]: st.template };
    for (const m of plan.masters) {
      log(`  ${describe(m.ds)}: peers`);
      const peers = await measurePeers(site, m.ds, m.dataDir, plan.runs, log);
      templates[m.ds.name] ??= await buildTemplate(engine, m.ds, plan.seeds[m.ds.name]);
      log(`  ${describe(m.ds)}: Slipstream (template built in ${templates[m.ds.name].seconds.toFixed(1)} s)`);
      const ops = await measureOps(engine, m.ds, templates[m.ds.name].name, plan.runs, log);
      result.runs[m.ds.name] = { template: templates[m.ds.name], ops, peers };
    }
    await new Promise((r) => setTimeout(r, 2000)); // let the last request's buffers go
    result.idleRss = engine.rss();
  } finally {
    await engine.stop();
    await site.release();
  }
  return result;
}
