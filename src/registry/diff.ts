/**
 * What changed between two snapshots, as one RegistryEvent — or nothing, when content is equal
 * (a re-applied identical file, a proxy re-registering with the same fields).
 */
import type { RegistryEvent } from './model.ts';
import type { RegistrySnapshot } from './aggregate.ts';
import { canonical } from './canonical.ts';

export function diffSnapshots(prev: RegistrySnapshot, next: RegistrySnapshot): RegistryEvent | undefined {
  const touched: string[] = [];
  let serviceChanged = false;
  let accountsChanged = false;
  const hosts = new Set([...prev.fingerprints.keys(), ...next.fingerprints.keys()]);
  for (const h of hosts) {
    const a = prev.fingerprints.get(h);
    const b = next.fingerprints.get(h);
    if (a?.service !== b?.service) {
      serviceChanged = true;
      touched.push(h);
    } else if (a?.endpoints !== b?.endpoints) {
      touched.push(h);
      if (a?.serviceAccounts !== b?.serviceAccounts) accountsChanged = true;
    }
  }
  // A workload that no service selects still changes workloads(): report it, touching no service.
  if (touched.length === 0 && (prev.workloads === next.workloads || canonical(prev.workloads) === canonical(next.workloads))) return undefined;
  const event: RegistryEvent = { services: touched.sort(), endpointsOnly: !serviceChanged };
  if (accountsChanged && !serviceChanged) event.serviceAccountsChanged = true;
  return event;
}
