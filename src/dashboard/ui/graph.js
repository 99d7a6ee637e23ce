// The mesh graph, drawn by Cytoscape.js as Kiali draws it: workloads as circles, services as
// triangles, health as colour, edges labelled with rate, error % and p95, a lock on mTLS edges.
// The elements are the graph API's JSON as it is (window.tsmeshGraph.cy exposes them).
import cytoscape from 'cytoscape';
import { getJson, nodeLabel, setStatus, withSource } from './api.js';

const COLORS = { Healthy: '#3e8635', Degraded: '#f0ab00', Failure: '#c9190b', NA: '#8a8d90' };

const STYLE = [
  { selector: 'node', style: { label: 'data(label)', 'font-size': 11, 'text-valign': 'bottom', 'text-margin-y': 4, 'background-color': '#fff', 'border-width': 3, 'border-color': (n) => COLORS[n.data('health')] ?? COLORS.NA, width: 34, height: 34 } },
  { selector: 'node[nodeType = "service"]', style: { shape: 'triangle' } },
  { selector: 'node[nodeType = "unknown"]', style: { shape: 'round-rectangle', 'border-style': 'dashed' } },
  { selector: 'node[?isRoot]', style: { shape: 'round-diamond' } },
  {
    selector: 'edge',
    style: {
      width: 2,
      'curve-style': 'bezier',
      'target-arrow-shape': 'vee',
      'line-color': (e) => (e.data('health') === 'Healthy' ? '#6a6e73' : COLORS[e.data('health')] ?? '#6a6e73'),
      'target-arrow-color': (e) => (e.data('health') === 'Healthy' ? '#6a6e73' : COLORS[e.data('health')] ?? '#6a6e73'),
      label: 'data(label)',
      'font-size': 9,
      'text-wrap': 'wrap',
      'text-background-color': '#fff',
      'text-background-opacity': 0.85,
      'text-background-padding': 1,
    },
  },
];

let cy;
let last;

const LOCK_SVG = '<svg viewBox="0 0 16 16" width="12" height="12" aria-label="mTLS"><rect x="2.5" y="7" width="11" height="8" rx="1.5" fill="#4f5255"/><path d="M5 7V5a3 3 0 0 1 6 0v2" fill="none" stroke="#4f5255" stroke-width="1.8"/></svg>';

/**
 * Kiali's lock on edges whose requests went over mutual TLS: an SVG icon kept over the edge a
 * third of the way from its source (a drawn icon, so it shows without an emoji font).
 */
function drawLocks() {
  const layer = document.getElementById('cy-locks');
  const wanted = cy.edges().filter((e) => Number(e.data('isMTLS') ?? 0) > 0);
  while (layer.children.length > wanted.length) layer.lastChild.remove();
  while (layer.children.length < wanted.length) {
    const i = document.createElement('span');
    i.className = 'lock';
    i.innerHTML = LOCK_SVG;
    layer.appendChild(i);
  }
  const zoom = cy.zoom();
  const pan = cy.pan();
  wanted.forEach((e, n) => {
    const a = e.sourceEndpoint();
    const b = e.targetEndpoint();
    const el = layer.children[n];
    el.dataset.edge = e.id();
    el.title = `mTLS ${e.data('isMTLS')}%`;
    el.style.left = `${(a.x + (b.x - a.x) / 3) * zoom + pan.x - 7}px`;
    el.style.top = `${(a.y + (b.y - a.y) / 3) * zoom + pan.y - 7}px`;
  });
}
let timer;
let layoutKey = '';

function edgeLabel(d) {
  const r = d.traffic?.rates ?? {};
  const p = d.traffic?.protocol ?? 'http';
  const parts = [];
  if (p === 'tcp') parts.push(`${r.tcp ?? 0} B/s`);
  else {
    parts.push(`${r[p] ?? 0} rps`);
    if (Number(r[`${p}PercentErr`] ?? 0) > 0) parts.push(`${r[`${p}PercentErr`]}% err`);
  }
  if (d.responseTime !== undefined) parts.push(`${d.responseTime} ms`);
  return parts.join(' · ');
}

function elementsOf(graph) {
  return [
    ...graph.elements.nodes.map((n) => ({ group: 'nodes', data: { ...n.data, label: nodeLabel(n.data) } })),
    ...graph.elements.edges.map((e) => ({ group: 'edges', data: { ...e.data, label: edgeLabel(e.data) } })),
  ];
}

async function refresh() {
  const ns = document.getElementById('ns').value.trim();
  const duration = document.getElementById('window').value;
  try {
    const graph = await getJson(`/api/namespaces/graph?${withSource({ duration, graphType: 'workload', ...(ns ? { namespaces: ns } : {}) })}`);
    last = graph;
    window.tsmeshGraph.last = graph;
    draw(graph);
    const when = new Date(graph.timestamp * 1000).toLocaleTimeString();
    setStatus(`graph from ${graph.source}, ${graph.elements.nodes.length} nodes, ${graph.elements.edges.length} edges, ${when}${graph.covered === 0 && graph.source === 'proxies' ? ' (rates need a second scrape: a few seconds)' : ''}`);
  } catch (e) {
    setStatus(`graph: ${e.message}`);
  }
}

function draw(graph) {
  const els = elementsOf(graph);
  const ids = new Set(els.map((e) => e.data.id));
  cy.batch(() => {
    cy.elements().filter((e) => !ids.has(e.id())).remove();
    for (const el of els) {
      const have = cy.getElementById(el.data.id);
      if (have.nonempty()) have.data(el.data);
      else cy.add(el);
    }
  });
  // Lay out again only when the set of nodes changed, so a refresh does not move things around.
  const key = graph.elements.nodes.map((n) => n.data.id).join(',');
  if (key !== layoutKey) {
    layoutKey = key;
    const roots = cy.nodes('[?isRoot]');
    cy.layout({ name: 'breadthfirst', directed: true, spacingFactor: 1.1, padding: 30, ...(roots.nonempty() ? { roots } : {}) }).run();
  }
  document.getElementById('cy').dataset.edges = String(graph.elements.edges.length);
}

export function showGraph() {
  if (!cy) {
    cy = cytoscape({ container: document.getElementById('cy'), style: STYLE, wheelSensitivity: 0.3, minZoom: 0.2, maxZoom: 3 });
    window.tsmeshGraph = { cy, last };
    cy.on('render', drawLocks);
    cy.on('tap', 'node', (ev) => {
      const t = ev.target.data('nodeType');
      if (t === 'service' || t === 'workload') location.hash = `#/node/${encodeURIComponent(ev.target.id())}`;
    });
    document.getElementById('ns').addEventListener('change', refresh);
    document.getElementById('window').addEventListener('change', refresh);
  }
  cy.resize();
  refresh();
  clearInterval(timer);
  timer = setInterval(refresh, 5000);
}

export function hideGraph() {
  clearInterval(timer);
}

/** The latest graph (for the services list). */
export async function latestGraph() {
  return last ?? getJson(`/api/namespaces/graph?${withSource({ duration: '60s' })}`);
}
