/**
 * List + watch of pods under one field selector, for the agent's two views (pods bound to this
 * node; pods bound to no node). A list gives the full set (`onSync`), then a watch from its
 * resourceVersion gives changes (`onEvent`); when the watch ends (the API server restarted or
 * timed it out, or 410 Gone) it lists again after a backoff. Both handlers may see the same
 * object twice; they act on the state they are given, not on the event.
 */
import type { NodeApi } from './kube_api.ts';
import type { KubePod } from './types.ts';

export interface PodWatchHandlers {
  /** Every pod the selector matches now (after each list). */
  onSync(pods: KubePod[]): void;
  onEvent(type: 'ADDED' | 'MODIFIED' | 'DELETED', pod: KubePod): void;
  onError?(message: string): void;
}

export interface PodWatch {
  close(): void;
}

const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 5000;

export function watchPods(api: NodeApi, fieldSelector: string, h: PodWatchHandlers): PodWatch {
  let closed = false;
  let abort: AbortController | undefined;
  let timer: NodeJS.Timeout | undefined;
  let backoff = BACKOFF_MIN_MS;

  const again = () => {
    if (closed) return;
    timer = setTimeout(() => void cycle(), backoff);
    backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
  };

  const cycle = async () => {
    if (closed) return;
    let rv: string | undefined;
    try {
      const list = await api.core.listPodForAllNamespaces({ fieldSelector });
      rv = list.metadata?.resourceVersion;
      if (closed) return;
      h.onSync(list.items as unknown as KubePod[]);
    } catch (err) {
      h.onError?.(`listing pods (${fieldSelector}): ${(err as Error).message?.split('\n')[0]}`);
      return again();
    }
    try {
      abort = await api.watch.watch(
        '/api/v1/pods',
        { fieldSelector, resourceVersion: rv, allowWatchBookmarks: true },
        (type, obj) => {
          if (closed) return;
          if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED') {
            backoff = BACKOFF_MIN_MS;
            h.onEvent(type, obj as KubePod);
          }
          // BOOKMARK only moves the resourceVersion; ERROR (410 Gone) ends in done() below.
        },
        () => {
          abort = undefined;
          again();
        },
      );
      if (closed) abort.abort();
    } catch (err) {
      h.onError?.(`watching pods (${fieldSelector}): ${(err as Error).message?.split('\n')[0]}`);
      again();
    }
  };

  void cycle();
  return {
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
      abort?.abort();
    },
  };
}
