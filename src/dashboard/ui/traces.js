// Traces from the control plane's embedded Zipkin collector (its query API, same origin), and a
// waterfall of one trace: spans as bars on a shared time axis, children under their parent.
import { fillTable, getJson, setStatus } from './api.js';

const ZIPKIN = '/dashboard/zipkin/api/v2';

function rootOf(spans) {
  const ids = new Set(spans.map((s) => s.id));
  return spans.find((s) => !s.parentId || !ids.has(s.parentId)) ?? spans[0];
}

export async function showTraces() {
  const select = document.getElementById('trace-service');
  try {
    const services = await getJson(`${ZIPKIN}/services`);
    const chosen = select.value;
    select.replaceChildren(new Option('all', ''), ...services.map((s) => new Option(s, s)));
    select.value = chosen;
  } catch (e) {
    setStatus(`traces: ${e.message}`);
    return;
  }
  select.onchange = showTraces;
  document.getElementById('trace-refresh').onclick = showTraces;
  const q = new URLSearchParams({ limit: '50' });
  if (select.value) q.set('serviceName', select.value);
  const traces = await getJson(`${ZIPKIN}/traces?${q}`);
  const rows = traces.map((spans) => {
    const root = rootOf(spans);
    const start = Math.min(...spans.map((s) => s.timestamp ?? Infinity));
    return [
      { text: root.traceId, href: `#/trace/${root.traceId}` },
      new Date(start / 1000).toLocaleTimeString(),
      root.localEndpoint?.serviceName ?? '?',
      root.name ?? '',
      String(spans.length),
      `${((root.duration ?? 0) / 1000).toFixed(2)} ms`,
    ];
  });
  fillTable(document.getElementById('traces-table'), ['TRACE', 'START', 'ROOT SERVICE', 'NAME', 'SPANS', 'DURATION'], rows, 'no traces yet: tracing is on when meshConfig or a Telemetry resource turns it on (the demo samples 100%)');
  setStatus(`${traces.length} traces`);
}

export async function showTrace(id) {
  document.getElementById('trace-title').textContent = `Trace ${id}`;
  const box = document.getElementById('waterfall');
  box.replaceChildren();
  let spans;
  try {
    spans = await getJson(`${ZIPKIN}/trace/${encodeURIComponent(id)}`);
  } catch (e) {
    box.textContent = `trace ${id}: ${e.message}`;
    return;
  }
  const start = Math.min(...spans.map((s) => s.timestamp ?? Infinity));
  const end = Math.max(...spans.map((s) => (s.timestamp ?? start) + (s.duration ?? 0)));
  const total = Math.max(1, end - start);
  const children = new Map();
  for (const s of spans) {
    const k = s.parentId ?? '';
    if (!children.has(k)) children.set(k, []);
    children.get(k).push(s);
  }
  for (const list of children.values()) list.sort((a, b) => (a.timestamp ?? 0) - (b.timestamp ?? 0));
  const ids = new Set(spans.map((s) => s.id));
  const ordered = [];
  const visit = (s, depth) => {
    ordered.push({ s, depth });
    for (const c of children.get(s.id) ?? []) visit(c, depth + 1);
  };
  for (const r of spans.filter((s) => !s.parentId || !ids.has(s.parentId)).sort((a, b) => (a.timestamp ?? 0) - (b.timestamp ?? 0))) visit(r, 0);
  for (const { s, depth } of ordered) {
    const row = document.createElement('div');
    row.className = 'row';
    const label = document.createElement('div');
    label.className = 'label';
    label.style.paddingLeft = `${4 + depth * 14}px`;
    label.textContent = `${s.localEndpoint?.serviceName ?? '?'}: ${s.name ?? ''}`;
    label.title = label.textContent;
    const track = document.createElement('div');
    track.className = 'track';
    const bar = document.createElement('div');
    const failed = s.tags?.error !== undefined || /^5/.test(s.tags?.['http.status_code'] ?? '');
    bar.className = `span-bar ${s.kind ?? ''}${failed ? ' error' : ''}`;
    bar.style.left = `${(100 * ((s.timestamp ?? start) - start)) / total}%`;
    bar.style.width = `${(100 * (s.duration ?? 0)) / total}%`;
    bar.dataset.spanId = s.id;
    bar.title = `${s.kind ?? ''} ${s.tags?.['http.status_code'] ?? ''} ${((s.duration ?? 0) / 1000).toFixed(2)} ms`;
    track.appendChild(bar);
    const dur = document.createElement('div');
    dur.className = 'dur';
    dur.textContent = `${((s.duration ?? 0) / 1000).toFixed(2)} ms`;
    row.append(label, track, dur);
    box.appendChild(row);
  }
  setStatus(`trace ${id}: ${spans.length} spans, ${(total / 1000).toFixed(2)} ms`);
}
