/** Summaries of repeated timings. Medians, because these machines are shared
 *  and one slow run (another tenant's I/O) must not move the figure. */
export interface Summary {
  runs: number;
  median: number;
  min: number;
  max: number;
  samples: number[];
}

export function summarize(samples: number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  return { runs: sorted.length, median: quantile(sorted, 0.5), min: sorted[0], max: sorted[sorted.length - 1], samples };
}

/** Linear interpolation between closest ranks; `sorted` must be ascending. */
export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/** Run `fn` `runs` times, each after an untimed `prepare`; seconds per run. */
export async function repeat(runs: number, prepare: (i: number) => Promise<void>, fn: (i: number) => Promise<number>): Promise<Summary> {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    await prepare(i);
    samples.push(await fn(i));
  }
  return summarize(samples);
}
