// What every view shares: the JSON fetcher, and the query the page was opened with (a
// ?prometheus= from `tsmesh dashboard` is passed on to the graph and series APIs).
const pageQuery = new URLSearchParams(location.search);

export function withSource(params = {}) {
  const q = new URLSearchParams(params);
  const prom = pageQuery.get('prometheus');
  if (prom) q.set('prometheus', prom);
  return q.toString();
}

export async function getJson(url) {
  const r = await fetch(url, { cache: 'no-store' });
  const body = await r.json().catch(() => ({ error: `HTTP ${r.status}` }));
  if (!r.ok) throw new Error(body.error ?? `HTTP ${r.status}`);
  return body;
}

export function setStatus(text) {
  document.getElementById('status').textContent = text;
}

/** A table from a header list and rows of cells (strings, or {text, href, cls}). */
export function fillTable(table, header, rows, empty = 'nothing yet') {
  table.replaceChildren();
  const head = table.insertRow();
  for (const h of header) {
    const th = document.createElement('th');
    th.textContent = h;
    head.appendChild(th);
  }
  if (rows.length === 0) {
    const td = table.insertRow().insertCell();
    td.colSpan = header.length;
    td.className = 'empty';
    td.textContent = empty;
  }
  for (const r of rows) {
    const tr = table.insertRow();
    for (const c of r) {
      const td = tr.insertCell();
      const cell = typeof c === 'object' && c !== null ? c : { text: String(c ?? '') };
      if (cell.cls) td.className = cell.cls;
      if (cell.href) {
        const a = document.createElement('a');
        a.href = cell.href;
        a.textContent = cell.text;
        td.appendChild(a);
      } else td.textContent = cell.text;
    }
  }
}

export function nodeLabel(d) {
  if (d.nodeType === 'service') return d.service;
  if (d.nodeType === 'workload') return d.workload;
  return d.id;
}
