/**
 * A library loaded on first use instead of at start-up. Every proxy imports every filter, but
 * most configurations need neither JWT (jose), nor RE2 regexes (re2js), nor CEL (cel-js); each
 * of those costs a process megabytes of RSS from the moment it is loaded, used or not. Loading
 * is synchronous (`require` of an ES module: Node 20.19+ and 22.12+, Bun), so config-time code
 * that compiles a regex or an expression stays synchronous.
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
