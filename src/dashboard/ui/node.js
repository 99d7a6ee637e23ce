// A service's or workload's page: inbound request rate, errors and p95 latency over time (uPlot),
// its proxies with their sync status (istioctl proxy-status' columns), the Istio config that
// applies, and analyzer messages when the control plane has them.
import uPlot from 'uplot';
import { fillTable, getJson, setStatus, withSource } from './api.js';

let timer;
const charts = {};

function chart(id, label, stroke, series) {
  const el = document.getElementById(`chart-${id}`);
  const data = [series.t, series[id].map((v) => (v === null ? null : v))];
  if (charts[id] && charts[id].root.isConnected) {
    charts[id].setData(data);
    return;
  }
  el.replaceChildren();
  charts[id] = new uPlot(
    { width: 420, height: 220, series: [{}, { label, stroke, width: 2, fill: `${stroke}22`, spanGaps: false }], axes: [{}, { size: 50 }], scales: { x: { time: true } } },
    data,
    el,
  );
}

async function refresh(id) {
  try {
    const s = await getJson(`/api/dashboard/series?${withSource({ node: id })}`);
    chart('requests', 'req/s', '#0066cc', s);
    chart('errors', 'error %', '#c9190b', s);
    chart('p95', 'p95 ms', '#3e8635', s);
    window.tsmeshCharts = { series: s, charts };
    setStatus(`${id}: ${s.t.length} points from ${s.source}`);
  } catch (e) {
    setStatus(`series: ${e.message}`);
  }
}

async function details(id) {
  try {
    const d = await getJson(`/api/dashboard/node?node=${encodeURIComponent(id)}`);
    const cols = ['NAME', 'CLUSTER', 'CDS', 'LDS', 'EDS', 'RDS', 'ECDS', 'ISTIOD', 'VERSION'];
    fillTable(document.getElementById('node-proxies'), cols, d.proxies.map((p) => cols.map((c) => ({ text: p[c], cls: p[c] }))), 'no connected proxy');
    fillTable(document.getElementById('node-config'), ['KIND', 'NAMESPACE', 'NAME', 'APPLIES BECAUSE'], d.config.map((c) => [c.kind, c.namespace, c.name, c.why]), 'no Istio resource applies');
    const box = document.getElementById('node-analysis');
    box.replaceChildren();
    if (Array.isArray(d.analysis)) {
      const h = document.createElement('h3');
      h.textContent = 'Analyzer messages';
      const t = document.createElement('table');
      box.append(h, t);
      fillTable(t, ['CODE', 'LEVEL', 'RESOURCE', 'MESSAGE'], d.analysis.map((m) => [m.code, m.level, m.resource, m.message]), 'no messages');
    }
  } catch (e) {
    setStatus(`node: ${e.message}`);
  }
}

export function showNode(id) {
  document.getElementById('node-title').textContent = id.replace(/^svc:/, 'Service ').replace(/^wl:/, 'Workload ').replace(/:/, ' / ');
  for (const k of Object.keys(charts)) {
    charts[k].destroy();
    delete charts[k];
  }
  refresh(id);
  details(id);
  clearInterval(timer);
  timer = setInterval(() => {
    refresh(id);
    details(id);
  }, 5000);
}

export function hideNode() {
  clearInterval(timer);
}
