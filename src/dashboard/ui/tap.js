// Tap: the live request stream of one workload's proxy (Linkerd's tap), from the control plane's
// /debug/tap (newline-delimited JSON for as long as the page reads it). Leaving the tab or
// pressing Stop closes the stream, which ends the tap in the proxy at once.
import { getJson, setStatus, withSource } from './api.js';

const MAX_ROWS = 200;
const COLUMNS = ['TIME', 'DIRECTION', 'PEER', 'METHOD', 'AUTHORITY', 'PATH', 'STATUS', 'LATENCY', 'FLAGS'];
let controller;
let built = false;

function build(box) {
  box.innerHTML = `
    <div class="toolbar">
      <label>Namespace <input id="tap-ns" value="default" size="10"></label>
      <label>Workload <input id="tap-workload" list="tap-workloads" placeholder="reviews-v2" size="18"><datalist id="tap-workloads"></datalist></label>
      <label>Path prefix <input id="tap-path" placeholder="/" size="12"></label>
      <label>Method <input id="tap-method" placeholder="any" size="6"></label>
      <label>Max rps <input id="tap-rps" value="100" size="4"></label>
      <button id="tap-start">Start</button> <button id="tap-stop" disabled>Stop</button>
      <span id="tap-state">stopped</span>
    </div>
    <table id="tap-table"></table>`;
  document.getElementById('tap-start').onclick = () => start();
  document.getElementById('tap-stop').onclick = () => stop('stopped');
  built = true;
}

function header(table) {
  table.replaceChildren();
  const tr = table.insertRow();
  for (const c of COLUMNS) {
    const th = document.createElement('th');
    th.textContent = c;
    tr.appendChild(th);
  }
}

function addEvent(table, e) {
  const tr = table.insertRow(1);
  tr.className = 'tap-event';
  const peer = e.direction === 'inbound' ? e.sourceIdentity || e.source : e.destination;
  const cells = [new Date(e.time).toLocaleTimeString(), e.direction, peer, e.method, e.authority, e.path, e.status, `${e.latencyMs} ms`, (e.responseFlags ?? []).join(',') || '-'];
  for (const c of cells) tr.insertCell().textContent = String(c ?? '');
  while (table.rows.length > MAX_ROWS + 1) table.deleteRow(table.rows.length - 1);
}

function setState(text) {
  document.getElementById('tap-state').textContent = text;
  document.getElementById('tap-start').disabled = text.startsWith('tapping');
  document.getElementById('tap-stop').disabled = !text.startsWith('tapping');
}

async function start() {
  stop('stopped');
  const ns = document.getElementById('tap-ns').value.trim() || 'default';
  const workload = document.getElementById('tap-workload').value.trim();
  if (!workload) return setState('name a workload (its Deployment), e.g. reviews-v2');
  const q = new URLSearchParams({ pod: `deploy/${workload}`, namespace: ns });
  const path = document.getElementById('tap-path').value.trim();
  const method = document.getElementById('tap-method').value.trim();
  const rps = document.getElementById('tap-rps').value.trim();
  if (path) q.set('path', path);
  if (method) q.set('method', method);
  if (rps) q.set('max_rps', rps);
  const table = document.getElementById('tap-table');
  header(table);
  const mine = new AbortController();
  controller = mine;
  let res;
  try {
    res = await fetch(`/debug/tap?${q}`, { signal: mine.signal });
  } catch (e) {
    if (controller === mine) setState(`tap: ${e.message}`);
    return;
  }
  if (!res.ok) {
    setState(`tap refused (HTTP ${res.status}): ${(await res.text()).trim()}`);
    return;
  }
  setState(`tapping deploy/${workload}.${ns}`);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line) continue;
        const m = JSON.parse(line);
        if (m.type === 'event') addEvent(table, m);
        else if (m.type === 'stats' && (m.droppedRate || m.droppedQueue)) setStatus(`tap: ${m.sent} sent, ${m.droppedRate} over max rps, ${m.droppedQueue} dropped (queue full)`);
        else if (m.type === 'end') setState(`ended by the proxy: ${m.reason}`);
      }
    }
    if (controller === mine && document.getElementById('tap-state').textContent.startsWith('tapping')) setState('ended');
  } catch (e) {
    if (controller === mine && e.name !== 'AbortError') setState(`tap: ${e.message}`);
  }
}

function stop(state) {
  if (controller) {
    controller.abort();
    controller = undefined;
  }
  if (built) setState(state);
}

/** `#/tap` or `#/tap/<namespace>/<workload>` (starts at once). */
export async function showTap(ns, workload) {
  const box = document.getElementById('tap-body');
  if (!built) build(box);
  if (ns) document.getElementById('tap-ns').value = ns;
  if (workload) {
    document.getElementById('tap-workload').value = workload;
    start();
  }
  try {
    const g = await getJson(`/api/namespaces/graph?${withSource({ duration: '60s' })}`);
    const list = document.getElementById('tap-workloads');
    list.replaceChildren(...g.elements.nodes.filter((n) => n.data.nodeType === 'workload').map((n) => new Option(n.data.workload, n.data.workload)));
  } catch {
    /* the list is a convenience */
  }
}

export function hideTap() {
  stop('stopped');
}
