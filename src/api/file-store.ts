/**
 * A ConfigStore over a directory tree of YAML / JSON files that follows edits without a
 * restart. fs.watch (recursive) names the paths that changed; after a debounce only those are
 * read again (and the served set patched for their resources), so an edit costs what the
 * edited files cost. When the watcher cannot say what changed (no file name, a directory
 * added, removed or renamed, a vanished root) the whole tree is rescanned, and a periodic
 * rescan catches what fs.watch misses. Files are read only when their size or mtime changed
 * and compared by content hash, so handlers fire once per batch and only for real changes.
 *
 * An invalid document is reported and the last good version of that resource keeps serving;
 * a deleted file (or a resource removed from a file) removes its resources.
 */
import { createHash } from 'node:crypto';
import { lstatSync, readFileSync, statSync, watch, type FSWatcher, type Stats } from 'node:fs';
import { basename, join, sep } from 'node:path';
import { isConfigFile, listConfigFiles, loadText } from './load.ts';
import { StoreBase, type Logger } from './store.ts';
import { configKey, isError, type Config, type ValidationError } from './types.ts';
import { CrossValidationCache } from './validation/cross.ts';

export interface FileStoreOptions {
  /** Namespace for objects without metadata.namespace (default "default"). */
  namespace?: string;
  /** Called with one line per new problem (default: console.warn). */
  logger?: Logger;
  /**
   * Quiet time after a file-system event before re-reading (default 10 ms): enough to take one
   * write's events (truncate, write, rename) together. Bursts of edits are merged again by the
   * push debounce (100 ms, Istio's PILOT_DEBOUNCE_AFTER), which restarts on every change, so a
   * longer wait here only delayed every change.
   */
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
  /** A symbolic link: its target may change without an event naming the link (Kubernetes ConfigMap mounts). */
  symlink: boolean;
}

/** What changed files served before this batch: path -> resources (empty if the file is new). */
type Dirty = Map<string, ReadonlyMap<string, Config>>;
const NONE: ReadonlyMap<string, Config> = new Map();

export class FileConfigStore extends StoreBase {
  private files = new Map<string, FileState>();
  /** Tracked paths in ascending order (the order files win duplicates and errors are listed in). */
  private paths: string[] = [];
  /** Resource key -> the tracked paths defining it, ascending: the first one is served. */
  private owners = new Map<string, string[]>();
  /** Path -> its "also defined in" reports (only files that have some). */
  private dupErrors = new Map<string, ValidationError[]>();
  private symlinks = new Set<string>();
  /** Names fs.watch reported since the last refresh; 'all' when it could not say. */
  private pending: Set<string> | 'all' = new Set();
  private watcher?: FSWatcher;
  private timer?: NodeJS.Timeout;
  private debounce?: NodeJS.Timeout;
  private closed = false;
  private readonly opts: Required<Omit<FileStoreOptions, 'logger' | 'namespace' | 'domainSuffix'>> & FileStoreOptions;
  private rootError?: ValidationError;
  private rootIsDir = false;
  private published = false;
  /** Files read and validated so far (a rescan reads only files whose size or mtime changed). */
  filesRead = 0;
  /** Full rescans so far (the rest of the refreshes read only the paths fs.watch named). */
  fullScans = 0;
  /** Cross-resource findings, re-checked only for what a change touches. */
  readonly cross: CrossValidationCache;

  /** Reads the tree once (synchronously, so the store is usable at once), then follows changes. */
  constructor(readonly dir: string, opts: FileStoreOptions = {}) {
    super(opts.logger ?? ((line) => console.warn(line)));
    this.opts = { debounceMs: 10, rescanMs: 1000, ...opts };
    this.cross = new CrossValidationCache({ domainSuffix: opts.domainSuffix });
    this.rescan();
    try {
      this.watcher = watch(dir, { recursive: true, persistent: false }, (_event, filename) => this.schedule(filename));
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

  private schedule(filename: string | Buffer | null | undefined): void {
    if (this.closed) return;
    if (typeof filename !== 'string' || filename === '') this.pending = 'all';
    else if (this.pending !== 'all') this.pending.add(filename);
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      const names = this.pending;
      this.pending = new Set();
      if (names === 'all') this.rescan();
      else this.refreshNamed(names);
    }, this.opts.debounceMs);
    this.debounce.unref();
  }

  /** Brings the served set in line with the disk. Public so callers (and tests) can force one. */
  rescan(): void {
    if (this.closed) return;
    this.fullScans++;
    const dirty: Dirty = new Map();
    let paths: string[];
    const hadRootError = this.rootError !== undefined;
    try {
      this.rootIsDir = statSync(this.dir).isDirectory();
      paths = listConfigFiles(this.dir);
      this.rootError = undefined;
    } catch (e) {
      // Keep serving what we have: a vanished or unreadable root is reported, not applied.
      this.rootError = { file: this.dir, path: '', message: `cannot read config directory: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` };
      this.publish(dirty);
      return;
    }
    const present = new Set(paths);
    for (const path of this.files.keys()) if (!present.has(path)) this.removeFile(path, dirty);
    for (const path of paths) this.refreshFile(path, dirty);
    if (dirty.size > 0 || hadRootError || !this.published) this.publish(dirty);
  }

  /**
   * Reads again only the paths fs.watch named (relative to the root), and every tracked
   * symlink. Anything it cannot settle from those names alone (a directory, a name under which
   * files are tracked that is gone, a root that is not a readable directory) means a full rescan.
   */
  private refreshNamed(names: ReadonlySet<string>): void {
    if (this.closed) return;
    if (!this.rootIsDir || this.rootError) return this.rescan();
    try {
      if (!statSync(this.dir).isDirectory()) return this.rescan();
    } catch {
      return this.rescan();
    }
    const files: string[] = [];
    const gone: string[] = [];
    for (const name of names) {
      const path = join(this.dir, name);
      if (path === this.dir) return this.rescan();
      let st: Stats | undefined;
      try {
        st = statSync(path);
      } catch {
        st = undefined;
      }
      if (st?.isDirectory()) return this.rescan(); // a directory added or renamed: walk it all
      if (!st) {
        if (this.files.has(path)) gone.push(path);
        else if (this.tracksUnder(path)) return this.rescan(); // a directory removed or renamed away
        continue;
      }
      // The rules of listConfigFiles: hidden entries and other extensions are not config.
      if (name.split(sep).some((seg) => seg.startsWith('.')) || !isConfigFile(basename(path))) continue;
      files.push(path);
    }
    const dirty: Dirty = new Map();
    for (const path of gone) this.removeFile(path, dirty);
    for (const path of files) this.refreshFile(path, dirty);
    for (const path of this.symlinks) this.refreshFile(path, dirty);
    if (dirty.size > 0) this.publish(dirty);
  }

  private tracksUnder(dir: string): boolean {
    const prefix = dir + sep;
    for (const path of this.files.keys()) if (path.startsWith(prefix)) return true;
    return false;
  }

  private removeFile(path: string, dirty: Dirty): void {
    const prev = this.files.get(path);
    if (!prev) return;
    if (!dirty.has(path)) dirty.set(path, prev.resources);
    this.files.delete(path);
    this.symlinks.delete(path);
  }

  /** Re-reads one file if it changed on disk; records it in `dirty` if what it serves or reports changed. */
  private refreshFile(path: string, dirty: Dirty): void {
    let st: Stats;
    let symlink: boolean;
    try {
      st = lstatSync(path);
      symlink = st.isSymbolicLink();
      if (symlink) st = statSync(path);
    } catch {
      // Deleted between listing and stat (or a dangling link): the next rescan settles it.
      return;
    }
    const prev = this.files.get(path);
    if (prev && prev.mtimeMs === st.mtimeMs && prev.size === st.size) return;
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch {
      return;
    }
    this.filesRead++;
    const hash = createHash('sha256').update(text).digest('hex');
    if (prev && prev.hash === hash) {
      prev.mtimeMs = st.mtimeMs;
      prev.size = st.size;
      return;
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
    if (!dirty.has(path)) dirty.set(path, prev?.resources ?? NONE);
    this.files.set(path, { mtimeMs: st.mtimeMs, size: st.size, hash, resources, errors, symlink });
    if (symlink) this.symlinks.add(path);
    else this.symlinks.delete(path);
  }

  /**
   * Patches the served set for the files in `dirty` (the first file by path serves a key
   * defined twice; the others are reported), emits events, and refreshes the error list.
   */
  private publish(dirty: Dirty): void {
    this.published = true;
    const affected = new Set<string>();
    for (const [path, before] of dirty) {
      const after = this.files.get(path)?.resources ?? NONE;
      const i = lowerBound(this.paths, path);
      const listed = this.paths[i] === path;
      if (this.files.has(path) && !listed) this.paths.splice(i, 0, path);
      else if (!this.files.has(path) && listed) this.paths.splice(i, 1);
      for (const key of before.keys()) {
        affected.add(key);
        if (after.has(key)) continue;
        const list = this.owners.get(key);
        const j = list ? list.indexOf(path) : -1;
        if (j >= 0) list!.splice(j, 1);
        if (list && list.length === 0) this.owners.delete(key);
      }
      for (const key of after.keys()) {
        affected.add(key);
        if (before.has(key)) continue;
        const list = this.owners.get(key);
        if (!list) this.owners.set(key, [path]);
        else list.splice(lowerBound(list, path), 0, path);
      }
    }
    const changes = new Map<string, Config | undefined>();
    const recheck = new Set(dirty.keys());
    for (const key of affected) {
      const list = this.owners.get(key);
      changes.set(key, list ? this.files.get(list[0]!)!.resources.get(key) : undefined);
      if (list) for (const p of list) recheck.add(p);
    }
    for (const path of recheck) {
      const dups = this.duplicatesIn(path);
      if (dups.length > 0) this.dupErrors.set(path, dups);
      else this.dupErrors.delete(path);
    }
    const events = this.updateServed(changes);
    const fileErrors: ValidationError[] = [];
    const dupErrors: ValidationError[] = [];
    for (const path of this.paths) {
      fileErrors.push(...this.files.get(path)!.errors);
      const dups = this.dupErrors.get(path);
      if (dups) dupErrors.push(...dups);
    }
    // Duplicates are reported above with the served/ignored verdict; drop the generic one.
    const cross = this.cross.update(this.all(), events).filter((e) => !e.message.startsWith('duplicate '));
    this.setErrors([...(this.rootError ? [this.rootError] : []), ...fileErrors, ...dupErrors, ...cross]);
  }

  /** The "also defined in" reports for the resources `path` defines but an earlier file serves. */
  private duplicatesIn(path: string): ValidationError[] {
    const out: ValidationError[] = [];
    const state = this.files.get(path);
    if (!state) return out;
    for (const [key, c] of state.resources) {
      const first = this.owners.get(key)?.[0];
      if (first === undefined || first === path) continue;
      const served = this.files.get(first)!.resources.get(key)!;
      out.push({ file: c.origin?.file, kind: c.kind, namespace: c.metadata.namespace, name: c.metadata.name, path: '', severity: 'warning', message: `also defined in ${served.origin?.file ?? first}; that definition is served and this one ignored` });
    }
    return out;
  }
}

/** The first index in ascending `list` whose entry is not below `x`. */
function lowerBound(list: readonly string[], x: string): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
