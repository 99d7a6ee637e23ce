// Writes docs/istio-support.md from the Istio support tables (src/api/fields/support.ts, mesh_support.ts).
// Usage: node --import tsx scripts/istio-support-doc.ts
import { writeFileSync } from 'node:fs';
import { renderIstioSupportDoc } from '../src/api/fields/support_doc.ts';

const file = new URL('../docs/istio-support.md', import.meta.url);
writeFileSync(file, renderIstioSupportDoc());
console.log(`wrote ${file.pathname}`);
