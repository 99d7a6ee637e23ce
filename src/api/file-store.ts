/**
 * A ConfigStore over a directory tree of YAML / JSON files that follows edits without a
 * restart. fs.watch (recursive) triggers a debounced rescan; a periodic rescan catches what
 * fs.watch misses. Rescans read only files whose size or mtime changed and compare content
 * hashes, so handlers fire once per rescan and only for real changes.
 *
 * An invalid document is reported and the last good version of that resource keeps serving;
 * a deleted file (or a resource removed from a file) removes its resources.
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync, watch, type FSWatcher } from 'node:fs';
import { listConfigFiles, loadText } from './load.ts';
import { StoreBase, type Logger } from './store.ts';
import { configKey, isError, type Config, type ValidationError } from './types.ts';
import { CrossValidationCache } from './validation/cross.ts';

export interface FileStoreOptions {
  /** Namespace for objects without metadata.namespace (default "default"). */
  namespace?: string;
  /** Called with one line per new problem (default: console.warn). */
  logger?: Logger;
  /** Quiet time after a file-system event before rescanning (default 50 ms). */
  debounceMs?: number;
  /** Periodic rescan interval, the safety net for missed events (default 1000 ms; 0 disables). */
  rescanMs?: number;
  domainSuffix?: string;
}

interface FileState {
  mtimeMs: number;
  size: number;
  hash: string;
  /** The resources this file serves: valid ones, plus the last good version of invalid ones. */
  resources: Map<string, Config>;
  errors: ValidationError[];
}

export class FileConfigStore extends StoreBase {
  private files = new Map<string, FileState>();
  private watcher?: FSWatcher;
  private timer?: NodeJS.Timeout;
  private debounce?: NodeJS.Timeout;
  private closed = false;
  private readonly opts: Required<Omit<FileStoreOptions, 'logger' | 'namespace' | 'domainSuffix'>> & FileStoreOptions;
  private rootError?: ValidationError;
  private published = false;
  /** Files read and validated so far (a rescan reads only files whose size or mtime changed). */
  filesRead = 0;
  /** Cross-resource findings, re-checked only for what a change touches. */
  readonly cross: CrossValidationCache;

  /** Reads the tree once (synchronously, so the store is usable at once), then follows changes. */
  constructor(readonly dir: string, opts: FileStoreOptions = {}) {
    super(opts.logger ?? ((line) => console.warn(line)));
    this.opts = { debounceMs: 50, rescanMs: 1000, ...opts };
    this.cross = new CrossValidationCache({ domainSuffix: opts.domainSuffix });
    this.rescan();
    try {
      this.watcher = watch(dir, { recursive: true, persistent: false }, () => this.schedule());
      this.watcher.on('error', () => {
        // The directory went away or the watch broke: the periodic rescan keeps us current.
        this.watcher?.close();
        this.watcher = undefined;
      });
    } catch {
      // No (recursive) watch support here: periodic rescans only.
    }
    if (this.opts.rescanMs > 0) {
      this.timer = setInterval(() => this.rescan(), this.opts.rescanMs);
      this.timer.unref();
    }
  }

  close(): void {
    this.closed = true;
    this.watcher?.close();
    if (this.timer) clearInterval(this.timer);
    if (this.debounce) clearTimeout(this.debounce);
  }

  private schedule(): void {
    if (this.closed) return;
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      this.rescan();
    }, this.opts.debounceMs);
    this.debounce.unref();
  }

  /** Brings the served set in line with the disk. Public so callers (and tests) can force one. */
  rescan(): void {
    if (this.closed) return;
    let paths: string[];
    const hadRootError = this.rootError !== undefined;
    try {
      paths = listConfigFiles(this.dir);
      this.rootError = undefined;
    } catch (e) {
      // Keep serving what we have: a vanished or unreadable root is reported, not applied.
      this.rootError = { file: this.dir, path: '', message: `cannot read config directory: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` };
      this.publish();
      return;
    }
    let changed = hadRootError || !this.published;
    const present = new Set(paths);
    for (const path of [...this.files.keys()]) {
      if (!present.has(path)) {
        this.files.delete(path);
        changed = true;
      }
    }
    for (const path of paths) changed = this.refreshFile(path) || changed;
    if (changed) this.publish();
  }

  /** Re-reads one file if it changed on disk; true if what it serves or reports changed. */
  private refreshFile(path: string): boolean {
    let st;
    try {
      st = statSync(path);
    } catch {
      // Deleted between listing and stat: the next rescan drops it.
      return false;
    }
    const prev = this.files.get(path);
    if (prev && prev.mtimeMs === st.mtimeMs && prev.size === st.size) return false;
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch {
      return false;
    }
    this.filesRead++;
    const hash = createHash('sha256').update(text).digest('hex');
    if (prev && prev.hash === hash) {
      prev.mtimeMs = st.mtimeMs;
      prev.size = st.size;
      return false;
    }
    const loaded = loadText(text, { file: path, namespace: this.opts.namespace });
    const resources = new Map<string, Config>();
    const errors: ValidationError[] = [];
    // A document we could not even identify (syntax error, no name) might be any resource the
    // file served before, so nothing of the old version is dropped until the file reads cleanly.
    const unidentified = loaded.some((r) => !r.config && r.errors.some(isError));
    for (const r of loaded) {
      errors.push(...r.errors);
      if (!r.config) continue;
      const key = configKey(r.config);
      if (r.valid) resources.set(key, r.config);
      else {
        const lastGood = prev?.resources.get(key);
        if (lastGood) {
          resources.set(key, lastGood);
          errors.push({ file: r.config.origin?.file, kind: r.config.kind, namespace: r.config.metadata.namespace, name: r.config.metadata.name, path: '', severity: 'warning', message: 'rejected; the last valid version keeps serving' });
        }
      }
    }
    if (unidentified && prev) for (const [key, c] of prev.resources) if (!resources.has(key)) resources.set(key, c);
    this.files.set(path, { mtimeMs: st.mtimeMs, size: st.size, hash, resources, errors });
    return true;
  }

  /** Recomputes the served set from all files, emits events, and refreshes the error list. */
  private publish(): void {
    this.published = true;
    const next = new Map<string, Config>();
    const dupErrors: ValidationError[] = [];
    const owner = new Map<string, string>();
    for (const [path, state] of [...this.files].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      for (const [key, c] of state.resources) {
        const first = owner.get(key);
        if (first !== undefined) {
          dupErrors.push({ file: c.origin?.file, kind: c.kind, namespace: c.metadata.namespace, name: c.metadata.name, path: '', severity: 'warning', message: `also defined in ${first}; that definition is served and this one ignored` });
          continue;
        }
        owner.set(key, c.origin?.file ?? path);
        next.set(key, c);
      }
    }
    const events = this.replaceServed(next);
    const fileErrors = [...this.files.keys()].sort().flatMap((p) => this.files.get(p)!.errors);
    // Duplicates are reported above with the served/ignored verdict; drop the generic one.
    const cross = this.cross.update(this.all(), events).filter((e) => !e.message.startsWith('duplicate '));
    this.setErrors([...(this.rootError ? [this.rootError] : []), ...fileErrors, ...dupErrors, ...cross]);
  }
}
