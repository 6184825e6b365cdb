/** The targets, judged on the largest dataset of the run. */
import { PAGE } from './listing';
import type { BenchResults, SiteResult } from './results';
import type { OpName } from './slipstreamOps';
import { summarize } from './stats';

export interface TargetResult {
  target: string;
  measured: string;
  met: boolean;
}

const MB = 1024 * 1024;

export function evaluateTargets(r: BenchResults): TargetResult[] {
  const [small, large] = [r.datasets[0].name, r.datasets[r.datasets.length - 1].name];
  const out: TargetResult[] = [];
  for (const site of r.sites) {
    if (site.skip) continue;
    out.push(...driverTargets(site, small, large));
    if (site.driver !== 'blocks') out.push(...storageTargets(site));
  }
  if (r.listing) {
    const l = r.listing;
    const ms = (x: number) => (x * 1000).toFixed(1);
    out.push({ target: `engine: listing ${l.bookmarks} bookmarks, all in one response, p99 <= 10 ms`, measured: `p99 ${ms(l.p99)} ms (p50 ${ms(l.p50)} ms)`, met: l.p99 * 1000 <= 10 });
    out.push({ target: `engine: listing a page of ${PAGE} of ${l.bookmarks} bookmarks, p99 <= 10 ms`, measured: `p99 ${ms(l.pageP99)} ms (p50 ${ms(l.pageP50)} ms)`, met: l.pageP99 * 1000 <= 10 });
  }
  out.push(...remoteTargets(r));
  const idle = [...r.sites.map((s) => s.idleRss ?? 0), r.listing?.idleRss ?? 0];
  const worst = Math.max(...idle);
  if (worst > 0) out.push({ target: 'engine: idle resident memory <= 150 MB', measured: `${(worst / MB).toFixed(0)} MB (worst engine of the run)`, met: worst <= 150 * MB });
  return out;
}

/** Issue 11: switch and restore cost about one PostgreSQL restart at any size, on every
 *  driver, and no bookmark cuts a session. */
function driverTargets(site: SiteResult, small: string, large: string): TargetResult[] {
  const out: TargetResult[] = [];
  const L = site.runs[large];
  const S = site.runs[small];
  const floor = L.peers.floor.median;
  const vsFloor = (op: OpName, max: number, label: string) => {
    const ratio = L.ops.ops[op].median / floor;
    out.push({ target: `${site.driver}: ${label} <= ${max}x the floor (${large})`, measured: `${ratio.toFixed(2)}x`, met: ratio <= max });
  };
  vsFloor('switch', 2, 'switch between two branches 1% apart');
  vsFloor('restore', 2, 'restore with its spare ready');
  // The issue sets no cold-restore target on blocks: it copies the whole data directory.
  if (site.driver !== 'blocks') vsFloor('restoreCold', 3, 'restore, cold');
  // Issue 13: a point-in-time restore with a minute of light writes after the nearest snapshot.
  vsFloor('restoreAt', 3, 'point-in-time restore, a minute of light writes after the bookmark');
  const tps = L.peers.archiving;
  if (tps) {
    const cost = 1 - tps.on / tps.off;
    out.push({ target: `${site.driver}: WAL archiving costs <= 5% of TPS (${large}, TPC-B-like, 4 clients)`,
      measured: `${(cost * 100).toFixed(1)}% (${tps.off.toFixed(0)} tps without, ${tps.on.toFixed(0)} with)`, met: cost <= 0.05 });
  }
  for (const op of ['switch', 'restore'] as OpName[]) {
    const growth = L.ops.ops[op].median / S.ops.ops[op].median;
    out.push({ target: `${site.driver}: ${op} ${large}/${small} <= 1.5`, measured: `${growth.toFixed(2)}`, met: growth <= 1.5 });
  }
  const survived = Object.values(site.runs).map((d) => d.ops.sessionSurvivedBookmarks);
  out.push({ target: `${site.driver}: a session open across bookmarks survives`, measured: survived.map((x) => (x ? 'survived' : 'cut')).join(', '),
    met: survived.every((x) => x === true) });
  if (site.driver === 'blocks') {
    const speedup = L.peers.createdb.median / L.ops.ops.switch.median;
    out.push({ target: `blocks: switch >= 5x faster than CREATE DATABASE (${large})`, measured: `${speedup.toFixed(2)}x faster`, met: speedup >= 5 });
  }
  return out;
}

function storageTargets(site: SiteResult): TargetResult[] {
  const st = site.storage;
  if (!st) return [];
  return (['scattered', 'clustered'] as const).filter((p) => st.totalBytes[p] !== undefined).map((pattern) => {
    const ratio = st.totalBytes[pattern]! / st.oneCopyBytes;
    return { target: `${site.driver}: storage, template + 10 branches (${pattern} 1%) <= 1.25x one copy`, measured: `${ratio.toFixed(2)}x`, met: ratio <= 1.25 };
  });
}

/** Issue 15: push and pull at >= 50% of a plain upload (download) of the same files; a push
 *  after a 1% change in <= 5% of the first push's time. */
function remoteTargets(r: BenchResults): TargetResult[] {
  const x = r.remotes;
  if (!x || 'skip' in x) return [];
  const pct = (v: number) => `${(v * 100).toFixed(0)}%`;
  const out: TargetResult[] = [
    { target: `remotes (${x.driver}): push >= 50% of a plain upload's rate (${x.dataset})`, measured: pct(x.plainUpload / x.push.seconds), met: x.plainUpload / x.push.seconds >= 0.5 },
    { target: `remotes (${x.driver}): pull >= 50% of a plain download's rate (${x.dataset})`, measured: pct(x.plainDownload / x.pull.seconds), met: x.plainDownload / x.pull.seconds >= 0.5 },
  ];
  // A change measured more than once (remotes.ts, CHANGES) counts by its median push.
  for (const change of new Set(x.afterChange.map((c) => c.change))) {
    const times = x.afterChange.filter((c) => c.change === change).map((c) => c.push.seconds);
    const ratio = summarize(times).median / x.push.seconds;
    const of = times.length > 1 ? ` (median of ${times.map((t) => t.toFixed(2)).join(', ')} s)` : '';
    out.push({ target: `remotes (${x.driver}): a push after ${change} <= 5% of the first push`, measured: `${pct(ratio)}${of}`, met: ratio <= 0.05 });
  }
  return out;
}
