/**
 * A pod without a sidecar has no proxy to register it with the control plane, so the demo tells
 * the mesh about it the way Istio's registry would learn of it from Kubernetes: a workload at the
 * pod's address, with its template labels and service account, and no
 * `security.istio.io/tlsMode: istio` label (it speaks plaintext; auto mTLS sends it plaintext).
 * It is a WorkloadEntry in the demo's config directory (the control plane's file store reads it),
 * written when the pod starts and removed when it stops.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { PodSlot } from './ports.ts';

/** `workloadentry-<namespace>-<pod>.yaml`: the name the control plane's apply API would give it. */
export function podEntryFile(configDir: string, slot: PodSlot): string {
  return join(configDir, `workloadentry-${slot.deployment.namespace}-${slot.name}.yaml`.toLowerCase());
}

export function podEntryYaml(slot: PodSlot): string {
  const d = slot.deployment;
  const spec: Record<string, unknown> = { address: slot.podIP, labels: { ...d.labels } };
  if (Object.keys(d.ports).length > 0) spec.ports = { ...d.ports };
  if (d.serviceAccount) spec.serviceAccount = d.serviceAccount;
  const doc = { apiVersion: 'networking.istio.io/v1', kind: 'WorkloadEntry', metadata: { name: slot.name, namespace: d.namespace }, spec };
  return `# written by tsmesh demo: pod ${d.namespace}/${slot.name} runs without a sidecar (removed when it stops)\n${stringify(doc, { lineWidth: 0 })}`;
}

export function writePodEntry(configDir: string, slot: PodSlot): void {
  writeFileSync(podEntryFile(configDir, slot), podEntryYaml(slot));
}

export function removePodEntry(configDir: string, slot: PodSlot): void {
  rmSync(podEntryFile(configDir, slot), { force: true });
}
