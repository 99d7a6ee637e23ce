// Tap: the live request stream of a workload. The control plane's tap API is not part of this
// build yet, so the tab says so.
export function showTap() {
  const box = document.getElementById('tap-body');
  box.replaceChildren();
  const p = document.createElement('p');
  p.className = 'empty';
  p.textContent = 'Tap is not available yet: this control plane has no /debug/tap.';
  box.appendChild(p);
}

export function hideTap() {}
