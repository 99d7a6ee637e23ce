import { test } from 'node:test';
import { createServer } from 'node:http';
import { ISTIO_SAMPLES, startIstioDemo } from '/work/main/test/helpers/demo.ts';
test('x', async (t) => {
  const s = createServer((req, res) => res.end('ok ' + req.headers.host));
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  t.after(() => s.close());
  const port = (s.address() as any).port;
  const demo = await startIstioDemo(t, { configs: [`${ISTIO_SAMPLES}/curl/curl.yaml`] });
  for (const h of [`127.0.0.1:${port}`, 'external.example.com', `localhost:${port}`]) {
    const r = await demo.fromPod('curl', h, '/x').catch((e) => ({ status: String(e), body: '' }));
    console.log(h, r.status, r.body.slice(0, 100));
  }
});
