/**
 * npm run bench [-- --quick]: Slipstream's operations side by side with the
 * ways people copy databases today, on every volume driver the machine allows,
 * printed as ratios. Progress goes to stderr; the Markdown report to stdout and,
 * with the JSON and an SVG chart, to test/bench/results/. Not a test: it never
 * fails on a missed target, only on a broken run.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { cleanupAll, installSignalHandlers, onCleanup } from './cleanup';
import { approxMB, describe, seedFile } from './dataset';
import { measureDump, pg15Missing } from './dump';
import { measureListing } from './listing';
import { buildMaster, type Master } from './master';
import { parseOptions, type BenchOptions } from './options';
import { markdown } from './report';
import type { BenchResults } from './results';
import { measureRemotes } from './remotes';
import { runSite } from './site';
import type { Summary } from './stats';
import { chart } from './svg';
import { evaluateTargets } from './targets';

const RESULTS = path.resolve(__dirname, '../../../test/bench/results');
const T0 = Date.now();
/** Progress on stderr, each line with the seconds since start, so slow phases show. */
const log = (s: string) => process.stderr.write(`[${((Date.now() - T0) / 1000).toFixed(1).padStart(6)} s] ${s}\n`);

async function main(): Promise<void> {
  installSignalHandlers();
  const opts = parseOptions(process.argv.slice(2));
  const t0 = Date.now();
  const workDir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'slip-bench-'));
  await fs.promises.chmod(workDir, 0o755); // PostgreSQL runs as another user and must walk in
  onCleanup(`remove ${workDir}`, () => fs.promises.rm(workDir, { recursive: true, force: true }));
  try {
    await checkDisk(workDir, opts);
    const results = await run(opts, workDir, t0);
    await publish(results);
  } finally {
    await cleanupAll();
  }
}

async function run(opts: BenchOptions, workDir: string, t0: number): Promise<BenchResults> {
  const masters: Master[] = [];
  const seeds: Record<string, string> = {};
  for (const ds of opts.datasets) {
    log(`building ${describe(ds)} with generate_series`);
    masters.push(await buildMaster(workDir, ds));
    seeds[ds.name] = path.join(workDir, `${ds.name}.sql`);
    await fs.promises.writeFile(seeds[ds.name], seedFile(ds));
  }
  const dump = opts.remotesOnly ? Object.fromEntries(opts.datasets.map((d) => [d.name, 'not measured (--remotes-only)'])) : await dumps(opts, workDir);
  const largest = Math.max(...masters.map((m) => m.copyBytes));
  const imageMiB = Math.max(2048, Math.ceil((largest * 16) / 2 ** 20));
  const sites = [];
  if (!opts.remotesOnly) for (const driver of opts.drivers) sites.push(await runSite({
    driver, workDir, imageMiB, masters, seeds, runs: opts.runs, pattern: opts.pattern, storagePatterns: opts.storagePatterns, lightWriteSeconds: opts.mode === 'quick' ? 10 : 60, log,
  }));
  const large = masters[masters.length - 1];
  const remotes = await measureRemotes({ driver: opts.drivers[0], workDir, imageMiB, master: large, seed: seeds[large.ds.name], log });
  if ('skip' in remotes) log(`remotes: skipped: ${remotes.skip}`);
  if (!opts.remotesOnly) log(`engine costs: listing ${opts.bookmarks} bookmarks`);
  const listing = opts.remotesOnly ? undefined : await measureListing(workDir, opts.bookmarks, opts.listRequests);
  return {
    mode: opts.mode, startedAt: new Date(t0).toISOString(), seconds: (Date.now() - t0) / 1000,
    machine: { cpus: os.cpus().length, memBytes: os.totalmem(), kernel: os.release() },
    runsPerFigure: opts.runs, pattern: opts.pattern,
    datasets: masters.map((m) => ({ ...m.ds, dbBytes: m.dbBytes, copyBytes: m.copyBytes })),
    dump, sites, ...(listing ? { listing } : {}), remotes,
  };
}

async function dumps(opts: BenchOptions, workDir: string): Promise<Record<string, Summary | string>> {
  const out: Record<string, Summary | string> = {};
  const missing = pg15Missing();
  for (const ds of opts.datasets) {
    if (missing) { out[ds.name] = missing; continue; }
    log(`pg_dump + pg_restore (PostgreSQL 15) on ${describe(ds)}`);
    out[ds.name] = await measureDump(workDir, ds, opts.runs);
    log(`    dump+restore median ${(out[ds.name] as Summary).median.toFixed(2)} s`);
  }
  return out;
}

/** Peak need, roughly: a dozen copies of the largest dataset (masters, peers, pools, images). */
async function checkDisk(workDir: string, opts: BenchOptions): Promise<void> {
  const st = await fs.promises.statfs(workDir);
  const free = st.bavail * st.bsize;
  // A data directory is ~1.4x the database (WAL); a dozen of them at the peak.
  const largestMB = approxMB(Math.max(...opts.datasets.map((d) => d.scale))) * 1.4;
  const needed = largestMB * 12 * 2 ** 20;
  log(`free disk in ${path.dirname(workDir)}: ${(free / 2 ** 30).toFixed(1)} GiB; this run needs about ${(needed / 2 ** 30).toFixed(1)} GiB`);
  if (free < needed) throw new Error(`not enough free disk: ${(free / 2 ** 30).toFixed(1)} GiB free, about ${(needed / 2 ** 30).toFixed(1)} GiB needed (try --quick)`);
}

async function publish(r: BenchResults): Promise<void> {
  const targets = evaluateTargets(r);
  const md = markdown(r, targets);
  process.stdout.write(md);
  await fs.promises.mkdir(RESULTS, { recursive: true });
  const stem = `${r.mode}-${r.startedAt.replace(/[:.]/g, '-')}`;
  const files: Record<string, string> = {
    [`${stem}.json`]: JSON.stringify({ ...r, targets }, null, 2),
    [`${stem}.md`]: md,
    ...(r.sites.some((x) => !x.skip) ? { [`${stem}.svg`]: chart(r) } : {}),
  };
  for (const [name, text] of Object.entries(files)) {
    await fs.promises.writeFile(path.join(RESULTS, name), text);
    await fs.promises.writeFile(path.join(RESULTS, name.replace(stem, `latest-${r.mode}`)), text);
  }
  log(`\nbench finished in ${r.seconds.toFixed(0)} s; results in ${RESULTS}/${stem}.{json,md,svg}`);
}

/** `npm test` runs `node --test out/test/`, which executes every .js file under a
 *  test/ folder, this one included: under the test runner, do nothing. */
if (process.env.NODE_TEST_CONTEXT) {
  log('the bench is not a test: skipped under node --test (run it with npm run bench)');
} else {
  main().catch(async (err: unknown) => {
    // A usage error needs no stack trace; anything else does.
    const usage = err instanceof Error && err.message.includes('usage:');
    log(`bench failed: ${err instanceof Error ? (usage ? err.message : err.stack ?? err.message) : String(err)}`);
    await cleanupAll();
    process.exit(1);
  });
}
