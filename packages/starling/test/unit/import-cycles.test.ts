/**
 * The layering of the workspace packages' sources, kept: no import cycle in `packages/<name>/src`,
 * type-only imports and re-exports included (a type cycle still ties two modules' designs
 * together, as `protocol.ts` ↔ `pubsub/stream.ts` once did). The graph is read with TypeScript's
 * own pre-processor, so `import type`, `export … from` and `import()` all count.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const packagesDir = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** Every `.ts` file under `dir`. */
function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => join(entry.parentPath, entry.name));
}

/** File → the files of the same tree it imports (relative specifiers only). */
function importGraph(files: readonly string[]): Map<string, string[]> {
  const known = new Set(files);
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    const targets = importedFiles
      .map(({ fileName }) => fileName)
      .filter((specifier) => specifier.startsWith('.'))
      .map((specifier) => resolve(dirname(file), specifier))
      .filter((target) => known.has(target));
    graph.set(file, targets);
  }
  return graph;
}

/** The cycles of `graph`, one per strongly connected component of more than one file (or a self-import). */
function cyclesOf(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  // Tarjan's algorithm, iterative enough for a source tree (recursion depth = longest import chain).
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (file: string): void => {
    index.set(file, counter);
    low.set(file, counter++);
    stack.push(file);
    onStack.add(file);
    for (const target of graph.get(file) ?? []) {
      if (!index.has(target)) {
        visit(target);
        low.set(file, Math.min(low.get(file)!, low.get(target)!));
      } else if (onStack.has(target)) {
        low.set(file, Math.min(low.get(file)!, index.get(target)!));
      }
    }
    if (low.get(file) !== index.get(file)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.push(member);
    } while (member !== file);
    if (component.length > 1 || graph.get(file)?.includes(file)) cycles.push(component.sort());
  };
  for (const file of graph.keys()) if (!index.has(file)) visit(file);
  return cycles;
}

const packages = readdirSync(packagesDir, { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => entry.name)
  .filter((name) => readdirSync(join(packagesDir, name)).includes('src'));

describe('import graph of packages/*/src', () => {
  it('finds the workspace packages and reads their imports', () => {
    expect(packages).toEqual(expect.arrayContaining(['starling', 'test-support']));
    const graph = importGraph(sources(join(packagesDir, 'starling', 'src')));
    const protocolImporters = [...graph].filter(([, targets]) => targets.some((target) => target.endsWith('/src/protocol.ts')));
    expect(protocolImporters.length).toBeGreaterThan(10); // the reader sees imports at all
  });

  it('detects a cycle, type-only ones included (the checker checks something)', () => {
    expect(
      cyclesOf(
        new Map([
          ['a', ['b']],
          ['b', ['a']],
          ['c', ['a']],
        ]),
      ),
    ).toEqual([['a', 'b']]);
    const { importedFiles } = ts.preProcessFile("import type { A } from './a.ts';\nexport { B } from './b.ts';\nconst c = import('./c.ts');", true, true);
    expect(importedFiles.map(({ fileName }) => fileName)).toEqual(['./a.ts', './b.ts', './c.ts']);
  });

  it.each(packages)('packages/%s/src has no import cycle', (name) => {
    const root = join(packagesDir, name, 'src');
    const cycles = cyclesOf(importGraph(sources(root))).map((cycle) => cycle.map((file) => relative(root, file)));
    expect(cycles).toEqual([]);
  });
});
