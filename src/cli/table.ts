/**
 * Aligned text columns for the CLI's human output (events, token list,
 * status, counters). Machine formats (--json) never go through here.
 *
 * @module
 */

/** Gap between two columns. */
export const COLUMN_GAP = "  ";

/**
 * Width of each column over `rows` (pure): the longest cell, at least
 * `minimum[i]`. Rows may be ragged; a missing cell counts as "".
 */
export function columnWidths(
  rows: readonly (readonly string[])[],
  minimum: readonly number[] = [],
): number[] {
  const count = Math.max(0, ...rows.map((r) => r.length), minimum.length);
  return Array.from(
    { length: count },
    (_, i) => Math.max(minimum[i] ?? 0, ...rows.map((r) => [...(r[i] ?? "")].length)),
  );
}

/**
 * One row padded to `widths` (pure): every cell but the last padded, empty
 * columns (width 0) left out, no trailing spaces.
 */
export function formatRow(cells: readonly string[], widths: readonly number[]): string {
  const shown = cells.map((c, i) => ({ c, w: widths[i] ?? 0 })).filter((x) => x.w > 0 || x.c !== "");
  return shown.map((
    x,
    i,
  ) => (i === shown.length - 1 ? x.c : x.c + " ".repeat(Math.max(0, x.w - [...x.c].length))))
    .join(COLUMN_GAP).trimEnd();
}

/** Rows as aligned lines (pure): widths computed over all of them. */
export function alignRows(rows: readonly (readonly string[])[]): string[] {
  const widths = columnWidths(rows);
  return rows.map((r) => formatRow(r, widths));
}

/**
 * `label: text` lines with the texts starting in one column (pure): the
 * label (with its colon) padded to the longest label.
 */
export function alignLabels(pairs: readonly (readonly [label: string, text: string])[]): string[] {
  const width = Math.max(0, ...pairs.map(([label]) => label.length + 1));
  return pairs.map(([label, text]) => `${`${label}:`.padEnd(width)} ${text}`.trimEnd());
}
