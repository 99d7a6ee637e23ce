/**
 * Reading configuration from text, files and directory trees: parse, validate each resource,
 * and point every problem at its file and line.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { isError, type Config, type ValidationError } from './types.ts';
import { validateConfig } from './validation/index.ts';
import { parseDocuments, type ParseOptions } from './yaml.ts';

/** One object read from a file: `valid` when it has no error-severity problem. */
export interface LoadedResource {
  config?: Config;
  errors: ValidationError[];
  valid: boolean;
}

/** Parses and validates every document in `text`. */
export function loadText(text: string, opts: ParseOptions = {}): LoadedResource[] {
  return parseDocuments(text, opts).map((e) => {
    const errors = [...e.errors];
    if (e.config) errors.push(...validateConfig(e.config, { line: e.line }));
    return { config: e.config, errors, valid: e.config !== undefined && !errors.some(isError) };
  });
}

export const CONFIG_EXTENSIONS = ['.yaml', '.yml', '.json'];

export function isConfigFile(name: string): boolean {
  return CONFIG_EXTENSIONS.some((ext) => name.endsWith(ext)) && !name.startsWith('.');
}

/** Config files under `path` (itself if a file), recursively, sorted; hidden entries skipped. */
export function listConfigFiles(path: string): string[] {
  const st = statSync(path);
  if (!st.isDirectory()) return [path];
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const ent of readdirSync(dir, { withFileTypes: true })) {
      if (ent.name.startsWith('.')) continue; // editor swap files, .git, Kubernetes ..data links
      const p = join(dir, ent.name);
      if (ent.isDirectory()) walk(p);
      else if ((ent.isFile() || ent.isSymbolicLink()) && isConfigFile(ent.name)) out.push(p);
    }
  };
  walk(path);
  return out.sort();
}

export interface LoadResult {
  /** Valid resources, in file order. */
  configs: Config[];
  /** Every resource that could be identified, valid or not (for whole-set checks in reports). */
  parsed: Config[];
  /** Every problem (errors and warnings), in file order. */
  errors: ValidationError[];
  /** Number of objects read (valid or not). */
  resources: number;
}

/** Reads and validates files / directory trees (no cross-resource checks: see validateAll). */
export function loadPaths(paths: readonly string[], opts: Omit<ParseOptions, 'file'> = {}): LoadResult {
  const result: LoadResult = { configs: [], parsed: [], errors: [], resources: 0 };
  for (const root of paths) {
    let files: string[];
    try {
      files = listConfigFiles(root);
    } catch (e) {
      result.errors.push({ file: root, path: '', message: `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` });
      continue;
    }
    for (const file of files) {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (e) {
        result.errors.push({ file, path: '', message: `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` });
        continue;
      }
      for (const r of loadText(text, { ...opts, file })) {
        if (r.config || r.errors.some(isError)) result.resources++;
        if (r.config) result.parsed.push(r.config);
        if (r.valid && r.config) result.configs.push(r.config);
        result.errors.push(...r.errors);
      }
    }
  }
  return result;
}
