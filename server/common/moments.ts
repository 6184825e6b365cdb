/**
 * The moments a point-in-time restore takes: ISO 8601 with a zone (`2026-12-01T19:40:05.250Z`,
 * `2026-12-01 20:40:05+01:00`), or relative to now (`-90s`, `-5m`, `-2h`, `-1d`). Read the same
 * way by the CLI (to refuse a typo before it reaches the engine) and by the engine, whose
 * clock decides what "now" is.
 */

const ABSOLUTE = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)(Z|[+-]\d{2}(?::?\d{2})?)$/i;
const RELATIVE = /^-(\d{1,9}(?:\.\d{1,3})?)(s|m|h|d)$/;
const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export const MOMENT_FORMS = 'ISO 8601 with a zone (2026-12-01T19:40:05.250Z or …+01:00), or relative to now (-90s, -5m, -2h, -1d)';

/** The moment as UTC ISO with milliseconds, or what is wrong with it. */
export function parseMoment(text: string, nowMs: number): { moment: string } | { problem: string } {
  const t = text.trim();
  const rel = RELATIVE.exec(t);
  if (rel) return { moment: new Date(nowMs - Number(rel[1]) * UNIT_MS[rel[2]]).toISOString() };
  const abs = ABSOLUTE.exec(t);
  if (!abs) {
    const zoneless = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}/.test(t);
    return { problem: `"${text}" is not a moment${zoneless ? ' (it has no zone: add Z for UTC, or +01:00 and the like)' : ''}: give ${MOMENT_FORMS}` };
  }
  const zone = abs[3].toUpperCase() === 'Z' ? 'Z' : abs[3].length === 3 ? `${abs[3]}:00` : abs[3].replace(/^([+-]\d{2}):?(\d{2})$/, '$1:$2');
  // Date reads at most milliseconds; finer digits are cut, never rounded up past the moment.
  const time = abs[2].replace(/(\.\d{3})\d+$/, '$1');
  const ms = Date.parse(`${abs[1]}T${time}${zone}`);
  if (Number.isNaN(ms)) return { problem: `"${text}" is not a real date and time: give ${MOMENT_FORMS}` };
  return { moment: new Date(ms).toISOString() };
}
