/** Command-line options of `npm run bench -- [--quick] [--drivers a,b] [--runs N]`. */
import { type Dataset } from './dataset';
import type { DriverName } from './sites';

export interface BenchOptions {
  mode: 'quick' | 'full';
  /** Smallest first; the last is "large" in every ratio. */
  datasets: Dataset[];
  runs: number;
  drivers: DriverName[];
  bookmarks: number;
  listRequests: number;
}

const ALL_DRIVERS: DriverName[] = ['blocks', 'btrfs', 'reflink'];

export const USAGE = `usage: npm run bench -- [--quick] [--drivers blocks,btrfs,reflink] [--runs N]
  --quick     small (~50 MB) and medium (~250 MB) datasets; finishes in about 3 minutes
  (default)   small (~250 MB) and large (~2.5 GB) datasets
  --drivers   only these volume drivers (default: all three)
  --runs N    timed runs per figure (default 5; the median is reported)`;

export function parseOptions(argv: string[]): BenchOptions {
  const quick = argv.includes('--quick');
  const opts: BenchOptions = {
    mode: quick ? 'quick' : 'full',
    datasets: quick ? [{ name: 'small', scale: 3 }, { name: 'medium', scale: 16 }] : [{ name: 'small', scale: 16 }, { name: 'large', scale: 160 }],
    runs: 5,
    drivers: ALL_DRIVERS,
    bookmarks: 10_000,
    listRequests: quick ? 100 : 300,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') continue;
    else if (a === '--runs') opts.runs = positive(argv[++i], '--runs');
    else if (a === '--drivers') opts.drivers = drivers(argv[++i]);
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

function drivers(v: string | undefined): DriverName[] {
  const list = (v ?? '').split(',').filter(Boolean);
  const bad = list.filter((d) => !ALL_DRIVERS.includes(d as DriverName));
  if (!list.length || bad.length) throw new Error(`--drivers takes a comma-separated list of ${ALL_DRIVERS.join(', ')}\n${USAGE}`);
  return list as DriverName[];
}
