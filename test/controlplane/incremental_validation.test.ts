/**
 * A config change revalidates only what changed: the file store re-reads and re-validates only
 * the edited file, cross-resource checks re-run only for the VirtualServices a change touches
 * (all of them when a DestinationRule or Gateway changes), and the findings reported are the
 * same as a full validation's, naming file, resource and field; an invalid edit keeps the last
 * good version serving.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileConfigStore } from '../../src/api/file-store.ts';
import { formatValidationError } from '../../src/api/types.ts';
import { crossValidate } from '../../src/api/validation/cross.ts';

const vs = (name: string, subset: string, timeout = '1s') => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ${name}, namespace: default}
spec:
  hosts: [${name}]
  http:
  - route:
    - destination: {host: ${name}, subset: ${subset}}
    timeout: ${timeout}
`;
const dr = (name: string, subsets: string[]) => `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ${name}, namespace: default}
spec:
  host: ${name}
  subsets: [${subsets.map((s) => `{name: ${s}, labels: {version: ${s}}}`).join(', ')}]
`;

test('one edited file is the only one re-read; cross checks re-run only for what the change touches and match a full validation', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-incremental-'));
  try {
    for (let i = 0; i < 20; i++) {
      writeFileSync(join(dir, `vs-${i}.yaml`), vs(`svc-${i}`, 'v1'));
      writeFileSync(join(dir, `dr-${i}.yaml`), dr(`svc-${i}`, ['v1']));
    }
    const store = new FileConfigStore(dir, { rescanMs: 0, logger: () => {} });
    try {
      assert.equal(store.filesRead, 40);
      assert.equal(store.errors().length, 0);
      assert.equal(store.cross.lastChecked.length, 20, 'the first publish checks every VirtualService');

      // A VirtualService now names a subset no DestinationRule defines.
      writeFileSync(join(dir, 'vs-3.yaml'), vs('svc-3', 'v9'));
      store.rescan();
      assert.equal(store.filesRead, 41, 'only the edited file was read and validated');
      assert.deepEqual(store.cross.lastChecked, ['VirtualService/default/svc-3']);
      const errs = store.errors().map(formatValidationError);
      assert.equal(errs.length, 1);
      assert.match(errs[0]!, /vs-3\.yaml/);
      assert.match(errs[0]!, /VirtualService default\/svc-3|default\/svc-3/);
      assert.match(errs[0]!, /spec\.http\[0\]\.route\[0\]\.destination\.subset/);
      assert.match(errs[0]!, /svc-3\+v9/);

      // A DestinationRule change can fix (or break) any VirtualService: all are re-checked.
      writeFileSync(join(dir, 'dr-3.yaml'), dr('svc-3', ['v1', 'v9']));
      store.rescan();
      assert.equal(store.filesRead, 42);
      assert.equal(store.cross.lastChecked.length, 20);
      assert.deepEqual(store.errors(), []);

      // An invalid edit: reported with its file and field; the last good version keeps serving.
      writeFileSync(join(dir, 'vs-5.yaml'), vs('svc-5', 'v1', 'soon'));
      store.rescan();
      assert.equal(store.filesRead, 43);
      assert.deepEqual(store.cross.lastChecked, [], 'nothing served changed, so nothing is re-checked');
      const bad = store.errors().map(formatValidationError).join('\n');
      assert.match(bad, /vs-5\.yaml/);
      assert.match(bad, /timeout/);
      assert.equal((store.get('VirtualService', 'svc-5', 'default')?.spec as { http: Array<{ timeout: string }> }).http[0]!.timeout, '1s');

      // What the incremental checks report is what a full validation of the same set reports.
      writeFileSync(join(dir, 'vs-7.yaml'), vs('svc-7', 'v2'));
      store.rescan();
      const full = crossValidate(store.all()).map(formatValidationError);
      const incremental = store.errors().map(formatValidationError).filter((l) => /subset/.test(l) && /not found/.test(l));
      assert.deepEqual(incremental, full);
    } finally {
      store.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
