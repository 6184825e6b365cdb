/**
 * Moments as a datetime-local input holds them: to the second, in the user's zone, with no
 * zone written. No DOM here, so the end-to-end test types exactly what the panel shows.
 */

/** `YYYY-MM-DDTHH:MM:SS` in the user's zone, what a datetime-local input shows. */
export function localInput(iso: string): string {
  const d = new Date(iso);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** A datetime-local value (the user's zone) as ISO, or undefined when it is not a time. */
export function fromLocalInput(value: string): string | undefined {
  const ms = new Date(value).getTime(); // no zone in the value: read as local time
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}
