/**
 * The lane graph drawn in each row: one vertical line per live branch, and the
 * row's event as a point on its branch's lane (a diamond for bookmarks). Only
 * SVG attributes and CSS classes: the CSP allows no inline styles.
 */
import type { TimelineRow } from './protocol';
import { svg } from './dom';

export const LANE_WIDTH = 16;
export const ROW_HEIGHT = 28;
/** Beyond this many lanes the graph would crowd out the text; later lanes share the last column. */
export const MAX_LANES = 10;

export function laneX(index: number): number {
  return Math.min(index, MAX_LANES - 1) * LANE_WIDTH + LANE_WIDTH / 2;
}

export function laneClass(index: number): string {
  return `lane-c${index % 8}`;
}

export function graphWidth(lanes: number): number {
  return Math.min(Math.max(lanes, 1), MAX_LANES) * LANE_WIDTH;
}

/** `restorable`: the lanes whose branch can be restored to this row's moment (drawn wider). */
export function rowGraph(row: TimelineRow | undefined, alive: number[], laneCount: number, activeLane: number,
  opts: { now?: boolean; top?: boolean; bottom?: boolean; restorable?: number[] } = {}): SVGSVGElement {
  const width = graphWidth(laneCount);
  const mid = ROW_HEIGHT / 2;
  const g = svg('svg', { width, height: ROW_HEIGHT, viewBox: `0 0 ${width} ${ROW_HEIGHT}`, 'aria-hidden': 'true', class: 'graph' });
  for (const lane of alive) {
    // A lane starts at its creation row and ends at its deletion row.
    const starts = row && row.lane === lane && (row.kind === 'branch-created' || row.kind === 'container-created');
    const ends = row && row.lane === lane && row.kind === 'branch-deleted';
    const y1 = opts.now && lane === activeLane ? mid : ends ? mid : 0;
    const y2 = starts || opts.bottom ? mid : ROW_HEIGHT;
    g.append(svg('line', {
      x1: laneX(lane), x2: laneX(lane), y1: opts.top ? mid : y1, y2,
      class: `lane ${laneClass(lane)}${lane === activeLane ? ' active' : ''}${opts.restorable?.includes(lane) ? ' restorable' : ''}`,
    }));
  }
  if (opts.now) {
    g.append(svg('circle', { cx: laneX(activeLane), cy: mid, r: 5, class: `now ${laneClass(activeLane)}` }));
  } else if (row) {
    g.append(point(row));
  }
  return g;
}

function point(row: TimelineRow): SVGElement {
  const x = laneX(row.lane);
  const y = ROW_HEIGHT / 2;
  const cls = `${laneClass(row.lane)} point kind-${row.kind}`;
  if (row.kind === 'bookmark-created') {
    return svg('polygon', { points: `${x},${y - 6} ${x + 6},${y} ${x},${y + 6} ${x - 6},${y}`, class: `${cls} bookmark` });
  }
  if (row.kind === 'restored' || row.kind === 'reset' || row.kind === 'refreshed') {
    return svg('circle', { cx: x, cy: y, r: 4.5, class: `${cls} ring` });
  }
  return svg('circle', { cx: x, cy: y, r: 3.5, class: cls });
}
