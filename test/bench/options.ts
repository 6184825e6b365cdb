/** Command-line options of `npm run bench -- [--quick] [--drivers a,b] [--runs N]`. */
import type { ChangePattern, Dataset } from './dataset';
import type { DriverName } from './sites';

export interface BenchOptions {
  mode: 'quick' | 'full';
  /** Smallest first; the last is "large" in every ratio. */
  datasets: Dataset[];
  runs: number;
  drivers: DriverName[];
  bookmarks: number;
  listRequests: number;
  /** Change shapes the storage figure is measured with (each costs 10 branch switches). */
  storagePatterns: ChangePattern[];
  /** Change shape before every timed operation. */
  pattern: ChangePattern;
  /** Only the remotes phase (issue 15): push and pull beside a plain upload. */
  remotesOnly: boolean;
}

const ALL_DRIVERS: DriverName[] = ['blocks', 'btrfs', 'reflink'];

export const USAGE = `usage: npm run bench -- [--quick] [--drivers blocks,btrfs,reflink] [--runs N]
  --quick     small (~23 MB) and medium (~97 MB) datasets, 3 runs, no storage figure
  (default)   small (~250 MB) and large (~2.5 GB) datasets
  --drivers   only these volume drivers (default: all three)
  --runs N    timed runs per figure (default 5, quick 3; the median is reported)
  --pattern P the 1% change before each timed operation: scattered (every 100th row,
              the default) or clustered (one contiguous 1% of rows)
  --remotes-only  only bookmark push and pull through an S3 server, beside a plain upload
              and download (on the first driver of --drivers, the largest dataset)`;

export function parseOptions(argv: string[]): BenchOptions {
  const quick = argv.includes('--quick');
  const opts: BenchOptions = {
    mode: quick ? 'quick' : 'full',
    // Quick mode must finish in about 3 minutes on 2 cores with all three drivers:
    // 150 timed operations plus peers, so its datasets are small.
    datasets: quick ? [{ name: 'small', scale: 1 }, { name: 'medium', scale: 6 }] : [{ name: 'small', scale: 16 }, { name: 'large', scale: 160 }],
    // Measured here, with other sessions loading both cores: 5 runs of everything took
    // ~5 minutes, so quick mode takes the median of 3 and the full run of 5.
    runs: quick ? 3 : 5,
    drivers: ALL_DRIVERS,
    bookmarks: 10_000,
    listRequests: quick ? 20 : 300,
    // 10 branch switches per pattern per driver: ~45 s quick mode cannot afford.
    storagePatterns: quick ? [] : ['scattered', 'clustered'],
    pattern: 'scattered',
    remotesOnly: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') continue;
    else if (a === '--remotes-only') opts.remotesOnly = true;
    else if (a === '--runs') opts.runs = positive(argv[++i], '--runs');
    else if (a === '--drivers') opts.drivers = drivers(argv[++i]);
    else if (a === '--pattern') opts.pattern = pattern(argv[++i]);
    else throw new Error(`unknown option ${a}\n${USAGE}`);
  }
  if (opts.runs < 2) throw new Error('--runs must be at least 2 (the switch runs need two branches)');
  return opts;
}

function positive(v: string | undefined, flag: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} needs a positive integer\n${USAGE}`);
  return n;
}

function pattern(v: string | undefined): ChangePattern {
  if (v !== 'scattered' && v !== 'clustered') throw new Error(`--pattern takes scattered or clustered\n${USAGE}`);
  return v;
}

function drivers(v: string | undefined): DriverName[] {
  const list = (v ?? '').split(',').filter(Boolean);
  const bad = list.filter((d) => !ALL_DRIVERS.includes(d as DriverName));
  if (!list.length || bad.length) throw new Error(`--drivers takes a comma-separated list of ${ALL_DRIVERS.join(', ')}\n${USAGE}`);
  return list as DriverName[];
}
