/**
 * A hand-written SVG chart for the README: on the largest dataset, per driver,
 * switch, restore and bookmark times next to the peers. Log scale, since the
 * figures span three orders of magnitude; the value is printed on every bar.
 */
import type { BenchResults, SiteResult } from './results';

const W = 900;
const LABEL_W = 270;
const BAR_H = 16;
const GAP = 5;
const PANEL_HEAD = 26;
const AXIS_H = 24;
const PLOT_W = W - LABEL_W - 70;

interface Bar { label: string; seconds: number; ours: boolean }

function bars(r: BenchResults, site: SiteResult, large: string): Bar[] {
  const run = site.runs[large];
  const dump = r.dump[large];
  return [
    { label: 'Slipstream: switch branches', seconds: run.ops.ops.switch.median, ours: true },
    { label: 'Slipstream: restore a bookmark', seconds: run.ops.ops.restore.median, ours: true },
    { label: 'Slipstream: bookmark', seconds: run.ops.ops.bookmark.median, ours: true },
    { label: 'floor: fast stop + start', seconds: run.peers.floor.median, ours: false },
    { label: 'CREATE DATABASE … FILE_COPY', seconds: run.peers.createdb.median, ours: false },
    { label: `cp -a (${run.peers.copyMode})`, seconds: run.peers.copy.median, ours: false },
    ...(typeof dump === 'string' ? [] : [{ label: 'pg_dump + pg_restore', seconds: dump.median, ours: false }]),
  ];
}

const esc = (t: string) => t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function chart(r: BenchResults): string {
  const large = r.datasets[r.datasets.length - 1].name;
  const panels = r.sites.filter((s) => !s.skip).map((s) => ({ site: s, bars: bars(r, s, large) }));
  const all = panels.flatMap((p) => p.bars.map((b) => b.seconds)).filter((x) => x > 0);
  const lo = Math.pow(10, Math.floor(Math.log10(Math.min(...all))));
  const hi = Math.pow(10, Math.ceil(Math.log10(Math.max(...all))));
  const x = (sec: number) => LABEL_W + (Math.log10(Math.max(sec, lo) / lo) / Math.log10(hi / lo)) * PLOT_W;
  let y = 40;
  const body: string[] = [];
  for (const p of panels) {
    body.push(`<text x="10" y="${y + 16}" class="h">${esc(`${p.site.driver} driver, on ${p.site.fsType}`)}</text>`);
    y += PANEL_HEAD;
    for (const b of p.bars) {
      body.push(`<text x="${LABEL_W - 8}" y="${y + 12}" text-anchor="end">${esc(b.label)}</text>`,
        `<rect x="${LABEL_W}" y="${y}" width="${(x(b.seconds) - LABEL_W).toFixed(1)}" height="${BAR_H}" class="${b.ours ? 'ours' : 'peer'}"/>`,
        `<text x="${(x(b.seconds) + 4).toFixed(1)}" y="${y + 12}">${b.seconds < 10 ? b.seconds.toFixed(2) : b.seconds.toFixed(0)} s</text>`);
      y += BAR_H + GAP;
    }
    y += 10;
  }
  const height = y + AXIS_H;
  const ticks: string[] = [];
  for (let t = lo; t <= hi * 1.0001; t *= 10) {
    ticks.push(`<line x1="${x(t).toFixed(1)}" y1="36" x2="${x(t).toFixed(1)}" y2="${y}" class="grid"/>`,
      `<text x="${x(t).toFixed(1)}" y="${y + 16}" text-anchor="middle">${t >= 1 ? t.toFixed(0) : t.toPrecision(1)} s</text>`);
  }
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" font-family="sans-serif" font-size="12">`,
    '<style>.ours{fill:#2f7ed8}.peer{fill:#9aa4ad}.grid{stroke:#ddd}.h{font-weight:bold;font-size:13px}text{fill:#222}</style>',
    `<rect width="${W}" height="${height}" fill="#fff"/>`,
    `<text x="10" y="22" class="h">${esc(`Slipstream vs today's ways to copy a database: ${large} dataset, median seconds (log scale, lower is better)`)}</text>`,
    ...ticks, ...body, '</svg>', '',
  ].join('\n');
}
