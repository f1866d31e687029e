/**
 * Aligned text columns, the one formatter of the CLI's tables (`status`, `reset`, `import-kcl`,
 * the demo's live block): each column as wide as its longest cell, two spaces between columns,
 * no trailing blanks.
 */

/** The width of each column of `rows`: its longest cell. */
export function columnWidths(rows: readonly (readonly string[])[]): number[] {
  return rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
}

/** One row with its cells padded to `widths`. */
export function alignRow(row: readonly string[], widths: readonly number[]): string {
  return row
    .map((cell, i) => cell.padEnd(widths[i] ?? 0))
    .join('  ')
    .trimEnd();
}

/** `rows` as aligned lines. */
export function columns(rows: readonly (readonly string[])[]): string[] {
  const widths = columnWidths(rows);
  return rows.map((r) => alignRow(r, widths));
}
