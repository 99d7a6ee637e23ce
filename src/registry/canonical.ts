/** Canonical JSON for change detection: one implementation, in src/api/canonical.ts. */
export { stableStringify as canonical } from '../api/canonical.ts';
