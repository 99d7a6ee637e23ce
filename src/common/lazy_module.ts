/**
 * A library loaded on first use instead of at start-up. Every proxy imports every filter, but
 * most configurations need neither JWT (jose), nor RE2 regexes (re2js), nor CEL (cel-js); each
 * of those costs a process megabytes of RSS from the moment it is loaded, used or not. Loading
 * is synchronous (`require`, which loads an ES-only package such as jose or cel-js since Node
 * 22.12, hence package.json's engines; Bun too), so config-time code that compiles a regex or an
 * expression stays synchronous. Where a package also ships CommonJS (re2js), `require` takes that
 * build: a separate copy from the ES one an `import` would give, so a process should reach a
 * package through one of the two only (the proxy reaches these three only through here).
 * Callers get the module outside their own try/catch, so a failed load is an error of its own,
 * never mistaken for a bad signature or an invalid pattern.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** A getter for `specifier`'s exports that loads the module the first time it is called. */
export function lazyModule<T>(specifier: string): () => T {
  let exports: T | undefined;
  return () => (exports ??= require(specifier) as T);
}

/** jose, for the proxy's JWT filter and tap tokens: loaded by the first key import or token check. */
export const jose = lazyModule<typeof import('jose')>('jose');
