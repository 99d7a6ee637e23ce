// Preloaded (`node --import`) into every Node process the demo starts, so that none outlives
// the demo even when it dies without stopping them (SIGKILL, a crash): the kernel re-parents an
// orphan at once, so a changed process.ppid means the demo is gone. Then stop as on SIGTERM
// (the program's own handler drains and exits), and exit anyway if that takes more than 3 s.
// Plain JavaScript: it runs before any TypeScript loader, in stand-ins too.
const parent = process.ppid;
const timer = setInterval(() => {
  if (process.ppid === parent) return;
  clearInterval(timer);
  setTimeout(() => process.exit(1), 3000).unref();
  process.kill(process.pid, 'SIGTERM');
}, 200);
timer.unref();
