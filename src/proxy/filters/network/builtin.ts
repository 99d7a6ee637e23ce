/**
 * Loads every network filter the proxy ships: tcp_proxy here, and the HTTP side's
 * http_connection_manager, which registers itself from src/proxy/http/index.ts (the HTTP
 * module's entry point; looked up at run time so the core starts even before it exists).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { log } from '../../logger.ts';
import './tcp_proxy.ts';

/** Entry modules of filter families that register into this registry when imported. */
const OPTIONAL_ENTRIES = ['../../http/index.ts'];

let loaded: Promise<void> | undefined;

export function loadNetworkFilters(): Promise<void> {
  loaded ??= (async () => {
    for (const rel of OPTIONAL_ENTRIES) {
      const url = new URL(rel, import.meta.url);
      if (!existsSync(fileURLToPath(url))) {
        log.debug(`network filters: ${rel} not present; only tcp_proxy is available`);
        continue;
      }
      try {
        await import(url.href);
      } catch (e) {
        // A broken HTTP module must not take TCP proxying down; listeners using HCM then NACK.
        log.error(`network filters: cannot load ${rel}: ${(e as Error).message}`);
      }
    }
  })();
  return loaded;
}
