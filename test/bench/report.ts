/** The Markdown report: the same figures as the JSON, as tables a person reads. */
import { PAGE } from './listing';
import type { BenchResults, SiteResult } from './results';
import { OPS, OP_LABELS } from './slipstreamOps';
import type { Summary } from './stats';
import { BRANCHES, type StorageFigures } from './storage';
import type { TargetResult } from './targets';
import type { ChangePattern } from './dataset';

const MB = 1024 * 1024;
const s = (x: number) => (x < 10 ? x.toFixed(3) : x.toFixed(1));
const fig = (x: Summary) => `${s(x.median)} s (${s(x.min)}–${s(x.max)})`;
const times = (x: number) => `${x < 10 ? x.toFixed(2) : x.toFixed(0)}×`;

function row(cells: string[]): string {
  return `| ${cells.join(' | ')} |`;
}

function table(head: string[], rows: string[][]): string {
  return [row(head), row(head.map(() => '---')), ...rows.map(row)].join('\n');
}

export function markdown(r: BenchResults, targets: TargetResult[]): string {
  const parts = [
    `# Slipstream bench (${r.mode}), ${r.startedAt}`,
    `${r.machine.cpus} CPUs, ${(r.machine.memBytes / 2 ** 30).toFixed(0)} GiB RAM, Linux ${r.machine.kernel}; median of ${r.runsPerFigure} runs (min–max); before every timed run, an untimed ${r.pattern} change of 1% of the accounts rows; whole run ${r.seconds.toFixed(0)} s.`,
    datasetsTable(r),
    ...r.sites.map((site) => siteSection(r, site)),
    storageTable(r),
    engineTable(r),
    remotesTable(r),
    '## Targets',
    targets.map((t) => `- **${t.met ? 'MET' : 'NOT MET'}** ${t.target}: ${t.measured}`).join('\n'),
  ];
  return parts.join('\n\n') + '\n';
}

function datasetsTable(r: BenchResults): string {
  return '## Datasets\n\n' + table(['dataset', 'pgbench scale', 'database size', 'data directory (one full copy)', 'pg_dump + pg_restore (PG 15)'],
    r.datasets.map((d) => {
      const dump = r.dump[d.name];
      return [d.name, String(d.scale), `${(d.dbBytes / MB).toFixed(0)} MB`, `${(d.copyBytes / MB).toFixed(0)} MB`, typeof dump === 'string' ? `skipped: ${dump}` : fig(dump)];
    }));
}

function siteSection(r: BenchResults, site: SiteResult): string {
  if (site.skip) return `## ${site.driver}\n\nSkipped: ${site.skip}`;
  const [small, large] = [r.datasets[0].name, r.datasets[r.datasets.length - 1].name];
  const L = site.runs[large];
  const S = site.runs[small];
  const dump = r.dump[large];
  const rows = OPS.map((op) => {
    const m = L.ops.ops[op].median;
    return [OP_LABELS[op], fig(S.ops.ops[op]), fig(L.ops.ops[op]), (m / S.ops.ops[op].median).toFixed(2),
      times(m / L.peers.floor.median), times(L.peers.createdb.median / m), times(L.peers.copy.median / m),
      typeof dump === 'string' ? '–' : times(dump.median / m)];
  });
  const peers = [small, large].map((d) => {
    const p = site.runs[d].peers;
    const tps = p.archiving ? `${p.archiving.off.toFixed(0)} / ${p.archiving.on.toFixed(0)}` : '–';
    return [d, fig(p.floor), fig(p.createdb), `${fig(p.copy)}, ${p.copyMode}`, `${s(site.runs[d].template.seconds)} s`, tps];
  });
  return [
    `## ${site.driver} (on ${site.fsType}${site.engineUser ? `, engine as ${site.engineUser}` : ''})`,
    `Ratios on ${large}: "× floor" is the operation's time over one fast stop + start (lower is better); "faster than" columns are the peer's time over the operation's (higher is better).`,
    table(['operation', small, large, `${large}/${small}`, '× floor', 'faster than CREATE DATABASE', 'faster than cp -a', 'faster than pg_dump/restore'], rows),
    table(['peers on ' + (site.fsType ?? ''), 'floor: fast stop + start', 'CREATE DATABASE … FILE_COPY', 'cp -a of the data directory', 'template build (engine)', 'TPS without / with WAL archiving'], peers),
  ].join('\n\n');
}

function storageTable(r: BenchResults): string {
  const rows = r.sites.filter((x) => x.storage).map((x) => {
    const st = x.storage!;
    return [x.driver, st.dataset, `${(st.oneCopyBytes / MB).toFixed(0)} MB`, `${(11 * st.oneCopyBytes / MB).toFixed(0)} MB`,
      `${(st.templateBytes / MB).toFixed(0)} MB`, bytes(st, 'scattered'), bytes(st, 'clustered')];
  });
  if (!rows.length) return '## Storage\n\nNot measured in quick mode (it costs 10 branch switches per change pattern per driver); run the full bench.';
  return '## Storage: template + 10 branches, each with 1% of rows changed\n\n' +
    'Each Slipstream cell: the pool\'s growth for the template and the container with its 10 branches, against one copy; then what one branch added on average.\n\n' +
    table(['driver', 'dataset', 'one copy', '11 full copies', 'template', 'Slipstream, scattered 1%', 'Slipstream, clustered 1%'], rows);
}

function bytes(st: StorageFigures, pattern: ChangePattern): string {
  const n = st.totalBytes[pattern];
  if (n === undefined) return 'not measured (full run only)';
  const perBranch = (n - st.templateBytes) / BRANCHES;
  return `${(n / MB).toFixed(0)} MB (${(n / st.oneCopyBytes).toFixed(2)}×; ${(perBranch / MB).toFixed(1)} MB a branch)`;
}

function engineTable(r: BenchResults): string {
  const rows = r.sites.filter((x) => !x.skip).map((x) => {
    const peak = Math.max(...Object.values(x.runs).map((d) => d.ops.rssDuringSwitch));
    return [x.driver, `${((x.startRss ?? 0) / MB).toFixed(0)} MB`, `${((x.idleRss ?? 0) / MB).toFixed(0)} MB`, `${(peak / MB).toFixed(0)} MB`];
  });
  const l = r.listing;
  const ms = (x: number) => (x * 1000).toFixed(1);
  const listing = l ? `\n\nListing ${l.bookmarks} bookmarks (${l.requests} requests each): all in one response p50 ${ms(l.p50)} ms, p99 ${ms(l.p99)} ms; `
    + `the first page of ${PAGE} p50 ${ms(l.pageP50)} ms, p99 ${ms(l.pageP99)} ms; idle engine with them: ${(l.idleRss / MB).toFixed(0)} MB resident.` : '';
  return '## The engine\'s own costs\n\n' + table(['engine (driver)', 'resident, idle after start', 'resident, idle after the run', 'resident, peak during switches'], rows) + listing;
}

function remotesTable(r: BenchResults): string {
  const x = r.remotes;
  if (!x) return '';
  if ('skip' in x) return `## Push and pull through S3\n\nSkipped: ${x.skip}`;
  const mbs = (bytes: number, sec: number) => `${(bytes / MB / sec).toFixed(0)} MB/s`;
  const t = (label: string, sec: number, tr?: { bytesMoved: number; bytesRead: number }) => [label, `${s(sec)} s`, mbs(x.dataBytes, sec),
    tr === undefined ? `${(x.dataBytes / MB).toFixed(0)} MB` : `${(tr.bytesMoved / MB).toFixed(1)} MB`, tr === undefined ? '' : `${(tr.bytesRead / MB).toFixed(1)} MB`];
  const rows = [
    t('plain upload of the data directory\'s files', x.plainUpload),
    t('plain download of the same', x.plainDownload),
    t('bookmark push (template version and bookmark)', x.push.seconds, x.push),
    t('bookmark pull into a fresh engine (both)', x.pull.seconds, x.pull),
    ...x.afterChange.flatMap((c) => [t(`push after ${c.change}`, c.push.seconds, c.push), t(`pull after ${c.change}`, c.pull.seconds, c.pull)]),
  ];
  return `## Push and pull through S3 (${x.driver}, ${x.dataset})\n\ns3rver on 127.0.0.1, the AWS SDK on both sides, four requests in flight; rates are of the data directory (${(x.dataBytes / MB).toFixed(0)} MB).\n\n`
    + table(['transfer', 'time', 'rate', 'on the wire', 'read from local snapshots'], rows);
}
