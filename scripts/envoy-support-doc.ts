// Writes docs/envoy-support.md from the proxy's support registry (src/proxy/config/envoy_support.ts).
// Usage: node --import tsx scripts/envoy-support-doc.ts
import { writeFileSync } from 'node:fs';
import { renderEnvoySupportDoc } from '../src/proxy/config/envoy_support_doc.ts';

const file = new URL('../docs/envoy-support.md', import.meta.url);
writeFileSync(file, renderEnvoySupportDoc());
console.log(`wrote ${file.pathname}`);
