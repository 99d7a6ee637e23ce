/**
 * Preloaded into the control plane by the bench (`--import <this file>`; plain JavaScript, so a
 * control plane from dist/ needs no loader): /proc gives RSS only, and RSS cannot tell V8 heap
 * from Buffers queued on sockets. Prints
 * `MEM <heapUsed> <external> <arrayBuffers>` (bytes) on stderr twice a second.
 */
const t = setInterval(() => {
  const m = process.memoryUsage();
  process.stderr.write(`MEM ${m.heapUsed} ${m.external} ${m.arrayBuffers}\n`);
}, 500);
t.unref();
