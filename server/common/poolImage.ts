/**
 * What the CLI and the engine agree on about `--pool-image SIZE`: how a size is
 * written and why it needs root. The CLI checks both before it changes anything
 * (no home made, no daemon spawned); the engine checks again, as it must.
 */

/** mkfs.xfs refuses images under 300 MiB and a pool needs room to be useful. */
export const MIN_POOL_IMAGE_BYTES = 512 * 1024 ** 2;
/** Far beyond any pool here; only a guard against a mistyped unit. */
export const MAX_POOL_IMAGE_BYTES = 64 * 1024 ** 4;

export const POOL_IMAGE_NEEDS_ROOT = '--pool-image needs a root engine: only root can loop-mount; without root the blocks driver is used';

const UNITS: Record<string, number> = { M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/** Bytes for "512M", "20G", "1T" (binary units), or why not. */
export function parsePoolImageSize(text: string): { bytes: number } | { error: string } {
  const m = /^([1-9][0-9]{0,6})([MGT])$/i.exec(text.trim());
  const bad = `--pool-image must be a size like 512M, 20G or 1T (binary units, whole numbers), not '${text}'`;
  if (!m) return { error: bad };
  const bytes = Number(m[1]) * UNITS[m[2].toUpperCase()];
  if (bytes < MIN_POOL_IMAGE_BYTES) return { error: `--pool-image must be at least 512M, not '${text}'` };
  if (bytes > MAX_POOL_IMAGE_BYTES) return { error: `--pool-image must be at most 64T, not '${text}'` };
  return { bytes };
}

/** "20 GiB" for messages and `engine status`. */
export function formatImageSize(bytes: number): string {
  for (const [unit, size] of [['TiB', 1024 ** 4], ['GiB', 1024 ** 3]] as const) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size} ${unit}`;
  }
  return `${Math.round(bytes / 1024 ** 2)} MiB`;
}
