/** The shape of results/*.json: everything the tables, targets and chart are made from. */
import type { ChangePattern, Dataset } from './dataset';
import type { ListingFigures } from './listing';
import type { PeerFigures } from './peers';
import type { DriverName } from './sites';
import type { RemoteFigures } from './remotes';
import type { OpFigures } from './slipstreamOps';
import type { Summary } from './stats';
import type { StorageFigures, TemplateBuild } from './storage';

export interface DatasetInfo extends Dataset {
  dbBytes: number;
  copyBytes: number;
}

export interface DatasetRun {
  template: TemplateBuild;
  ops: OpFigures;
  peers: PeerFigures;
}

export interface SiteResult {
  driver: DriverName;
  fsType?: string;
  /** The OS user the engine ran as. */
  engineUser?: string;
  skip?: string;
  /** Keyed by dataset name. */
  runs: Record<string, DatasetRun>;
  storage?: StorageFigures;
  /** Engine RSS (bytes): idle just after start, and idle after all the operations. */
  startRss?: number;
  idleRss?: number;
}

export interface BenchResults {
  mode: 'quick' | 'full';
  startedAt: string;
  seconds: number;
  machine: { cpus: number; memBytes: number; kernel: string };
  runsPerFigure: number;
  pattern: ChangePattern;
  datasets: DatasetInfo[];
  /** Keyed by dataset name; a string says why it was skipped. */
  dump: Record<string, Summary | string>;
  sites: SiteResult[];
  listing?: ListingFigures;
  /** Issue 15: push and pull through an S3 server, or why they were not measured. */
  remotes?: RemoteFigures | { skip: string };
}
