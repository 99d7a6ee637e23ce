/**
 * Tables as istioctl prints them (Go's text/tabwriter with minwidth 0, padding 5, spaces): every
 * column but the last is as wide as its widest cell plus the padding; the last is not padded.
 */
export function renderTable(header: readonly string[], rows: readonly (readonly string[])[], padding = 5): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]! + padding))).join('').trimEnd() + '\n').join('');
}
