/** A kubeconfig with the credentials embedded, as kubeadm writes admin.conf. */
import { writeFileSync } from 'node:fs';
import { stringify } from 'yaml';

const b64 = (pem: string) => Buffer.from(pem).toString('base64');

/** Writes a kubeconfig for `server` with a client certificate; context and cluster named `name`. */
export function writeKubeconfig(
  file: string,
  p: { name: string; server: string; caPem: string; user: string; certPem: string; keyPem: string },
): string {
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: p.name, cluster: { server: p.server, 'certificate-authority-data': b64(p.caPem) } }],
    users: [{ name: p.user, user: { 'client-certificate-data': b64(p.certPem), 'client-key-data': b64(p.keyPem) } }],
    contexts: [{ name: p.name, context: { cluster: p.name, user: p.user } }],
    'current-context': p.name,
    preferences: {},
  };
  writeFileSync(file, stringify(doc), { mode: 0o600 });
  return file;
}
