// The dashboard's router: one view at a time, chosen by the URL's hash.
import { fillTable, nodeLabel } from './api.js';
import { hideGraph, latestGraph, showGraph } from './graph.js';
import { hideNode, showNode } from './node.js';
import { showTrace, showTraces } from './traces.js';
import { hideTap, showTap } from './tap.js';

async function showServices() {
  const g = await latestGraph();
  const rows = g.elements.nodes
    .filter((n) => n.data.nodeType === 'service' || n.data.nodeType === 'workload')
    .map((n) => {
      const r = n.data.traffic[0]?.rates ?? {};
      return [
        { text: nodeLabel(n.data), href: `#/node/${encodeURIComponent(n.data.id)}` },
        n.data.nodeType,
        n.data.namespace,
        n.data.version ?? '',
        r.httpIn ?? '0',
        { text: n.data.health, cls: `health-${n.data.health}` },
      ];
    });
  fillTable(document.getElementById('services-table'), ['NAME', 'TYPE', 'NAMESPACE', 'VERSION', 'REQUESTS IN (rps)', 'HEALTH'], rows, 'no traffic seen yet');
}

function show(view, tab) {
  for (const v of document.querySelectorAll('.view')) v.classList.toggle('active', v.id === `view-${view}`);
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.dataset.tab === tab);
}

function route() {
  const [, view = 'graph', arg, arg2] = location.hash.split('/').map(decodeURIComponent);
  document.getElementById('status').textContent = '';
  hideGraph();
  hideNode();
  hideTap();
  if (view === 'node' && arg) {
    show('node', 'services');
    showNode(arg);
  } else if (view === 'services') {
    show('services', 'services');
    showServices();
  } else if (view === 'traces') {
    show('traces', 'traces');
    showTraces();
  } else if (view === 'trace' && arg) {
    show('trace', 'traces');
    showTrace(arg);
  } else if (view === 'tap') {
    show('tap', 'tap');
    showTap(arg, arg2);
  } else {
    show('graph', 'graph');
    showGraph();
  }
}

window.addEventListener('hashchange', route);
route();
