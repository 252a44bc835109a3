// Import boundaries of web/src (STYLE.md, after bulletproof-react): code flows
// shared (lib/, components/) → features/<name>/ → app/ and main.tsx.
// - a feature never imports another feature, app/ or main.tsx;
// - shared code never imports a feature, app/ or main.tsx.
// This is what ESLint's import/no-restricted-paths would enforce, done as a
// test so it needs no lint toolchain and runs with `npm test`.

import { describe, expect, it } from 'vitest';

type Zone = { kind: 'feature'; name: string } | { kind: 'shared' } | { kind: 'app' } | { kind: 'other' };

/** Which layer a path (relative to src/, with forward slashes) belongs to. */
function zoneOf(path: string): Zone {
  const [top, name] = path.split('/');
  if (top === 'features' && name) return { kind: 'feature', name };
  if (top === 'lib' || top === 'components') return { kind: 'shared' };
  if (top === 'app' || path === 'main.tsx') return { kind: 'app' };
  return { kind: 'other' };
}

/** `specifier` relative to the file at `path`; may start with '..' when it leaves src/. */
function resolvePath(path: string, specifier: string): string {
  const parts = path.split('/').slice(0, -1);
  for (const part of specifier.split('/')) {
    if (part === '.' || part === '') continue;
    if (part === '..' && parts.length > 0 && parts[parts.length - 1] !== '..') parts.pop();
    else parts.push(part);
  }
  return parts.join('/');
}

/** Module specifiers of static imports, re-exports, import() and new URL(…, import.meta.url). */
function specifiers(source: string): string[] {
  const found: string[] = [];
  const patterns = [
    /\bimport\s+(?:type\s+)?(?:[^'"]*?\s+from\s+)?['"]([^'"]+)['"]/g,
    /\bexport\s+(?:type\s+)?(?:\*|\{[^}]*\})\s*(?:as\s+\w+\s+)?from\s+['"]([^'"]+)['"]/g,
    /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
    /\bnew\s+URL\(\s*['"]([^'"]+)['"]\s*,\s*import\.meta\.url/g,
  ];
  for (const pattern of patterns) {
    for (const match of source.matchAll(pattern)) found.push(match[1] as string);
  }
  return found;
}

/** Broken rules as "from → to" lines; `files` maps src-relative paths to sources. */
export function violations(files: Map<string, string>): string[] {
  const broken: string[] = [];
  for (const [path, source] of files) {
    const from = zoneOf(path);
    for (const specifier of specifiers(source)) {
      if (!specifier.startsWith('.')) continue; // A package: not ours to police here.
      const target = resolvePath(path, specifier);
      if (target.startsWith('..')) {
        broken.push(`${path} → ${specifier} (outside src/)`);
        continue;
      }
      const to = zoneOf(target);
      const intoFeature = to.kind === 'feature';
      const intoApp = to.kind === 'app';
      if (from.kind === 'feature' && ((intoFeature && to.name !== from.name) || intoApp)) {
        broken.push(`${path} → ${target}`);
      }
      if (from.kind === 'shared' && (intoFeature || intoApp)) broken.push(`${path} → ${target}`);
    }
  }
  return broken;
}

/** Every source file under src/, read by Vite (no Node types needed in this browser project). */
function sourceFiles(): Map<string, string> {
  const sources = import.meta.glob<string>(['./**/*.ts', './**/*.tsx'], {
    query: '?raw',
    import: 'default',
    eager: true,
  });
  return new Map(Object.entries(sources).map(([path, source]) => [path.replace(/^\.\//, ''), source]));
}

describe('import boundaries', () => {
  it('hold in web/src', () => {
    const files = sourceFiles();
    // This file's examples are strings that look like bad imports.
    files.delete('import-rules.test.ts');
    expect(files.size).toBeGreaterThan(20);
    expect(violations(files)).toEqual([]);
  });

  it('catch a feature importing another, shared code importing a feature, and escapes', () => {
    const files = new Map([
      ['features/table/a.ts', "import { GraphView } from '../graph/components/graph-view';"],
      ['features/table/b.ts', "import type { Sort } from './table-sort';\nimport { x } from '../../lib/format';"],
      ['features/graph/c.ts', "export { App } from '../../app/app';"],
      ['lib/d.ts', "const worker = new URL('../features/graph/layout/layout-worker.ts', import.meta.url);"],
      ['components/e.tsx', "const lazy = import('../features/details/components/details-panel');"],
      ['app/f.tsx', "import { TableView } from '../features/table/components/table-view';"],
      ['lib/g.ts', "import { defineConfig } from 'vite';\nimport x from '../../bench/page/x';"],
    ]);
    expect(violations(files)).toEqual([
      'features/table/a.ts → features/graph/components/graph-view',
      'features/graph/c.ts → app/app',
      'lib/d.ts → features/graph/layout/layout-worker.ts',
      'components/e.tsx → features/details/components/details-panel',
      'lib/g.ts → ../../bench/page/x (outside src/)',
    ]);
  });
});
