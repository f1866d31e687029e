// Plain aligned text tables for the scripts' reports (chaos, soak): console.table draws one
// column per key with its full name, which runs past 100 columns. Here each column has a short
// heading, numbers align right, and the headings that are abbreviations get one legend line.

/**
 * `width`: the least width, so rows printed in several calls (a report that streams) line up.
 * @typedef {{ key: string, heading: string, means?: string, align?: 'left' | 'right', width?: number,
 *   format?: (value: unknown, row: Record<string, unknown>) => string }} Column
 */

/** Whole numbers with thousands separators, fractions as given, absent as `-`. */
export function cellText(value) {
  if (value === undefined || value === null || value === '') return '-';
  if (typeof value === 'number') return Number.isInteger(value) ? value.toLocaleString('en-US') : String(value);
  return String(value);
}

/**
 * The table's lines: headings, a rule, one line per row; two spaces between columns. Throws when
 * a line would be wider than `maxWidth`, so a report that grows a column cannot silently wrap.
 * @param {Array<Record<string, unknown>>} rows
 * @param {Column[]} columns
 * @param {{ maxWidth?: number, indent?: string }} [options]
 */
export function textTable(rows, columns, { maxWidth = 98, indent = '' } = {}) {
  const cells = rows.map((row) => columns.map((c) => (c.format ? c.format(row[c.key], row) : cellText(row[c.key]))));
  const widths = columns.map((c, i) => Math.max(c.width ?? 0, c.heading.length, ...cells.map((r) => r[i].length)));
  const line = (texts) =>
    indent +
    texts
      .map((text, i) => ((columns[i].align ?? 'right') === 'left' ? text.padEnd(widths[i]) : text.padStart(widths[i])))
      .join('  ')
      .trimEnd();
  const lines = [
    line(columns.map((c) => c.heading)),
    line(widths.map((w) => '-'.repeat(w))),
    ...cells.map((r) => line(r)),
  ];
  const widest = Math.max(...lines.map((l) => l.length));
  if (widest > maxWidth) throw new Error(`text-table: the table is ${widest} columns, over ${maxWidth}`);
  return lines;
}

/** One line (at most `maxWidth`) naming what the abbreviated headings stand for (the columns with `means`). */
export function legend(columns, { maxWidth = 98, indent = '' } = {}) {
  const named = columns.filter((c) => c.means !== undefined).map((c) => `${c.heading} = ${c.means}`);
  const line = named.length === 0 ? '' : `${indent}(${named.join('; ')})`;
  if (line.length > maxWidth) throw new Error(`text-table: the legend is ${line.length} columns, over ${maxWidth}`);
  return line;
}

/**
 * `prefix` then `parts` joined by `separator`, broken into lines of at most `maxWidth`
 * (continuations indented under the first part): the notes under a table.
 */
export function wrapParts(prefix, parts, { maxWidth = 98, separator = ', ' } = {}) {
  const lines = [];
  let line = prefix;
  for (const [i, part] of parts.entries()) {
    const piece = i < parts.length - 1 ? part + separator.trimEnd() : part;
    const sep = line.length === prefix.length || line.endsWith(' ') ? '' : ' ';
    if (line.length > prefix.length && line.length + sep.length + piece.length > maxWidth) {
      lines.push(line);
      line = ' '.repeat(prefix.length) + piece;
    } else line += sep + piece;
  }
  lines.push(line);
  return lines;
}
