/**
 * Every `§x.y` the framework's code and tests cite names a section of `docs/protocol.md`, the spec
 * kept in this repository, and every "item N" of the conformance checklist (§11) exists.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const PACKAGE = fileURLToPath(new URL('../../', import.meta.url));
const SPEC = readFileSync(fileURLToPath(new URL('../../../../docs/protocol.md', import.meta.url)), 'utf8');

function sourcesUnder(dir: string): string[] {
  return readdirSync(join(PACKAGE, dir), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts'))
    .map((file) => join(PACKAGE, dir, file));
}

const sections = new Set([...SPEC.matchAll(/^#{2,3} (\d+(?:\.\d+)?)\.? /gm)].map((match) => match[1]!));
const checklist = SPEC.slice(SPEC.indexOf('## 11.'));
const items = new Set([...checklist.matchAll(/^(\d+)\. /gm)].map((match) => Number(match[1])));

it('docs/protocol.md has the numbered sections and checklist items the code cites', () => {
  const cited = new Map<string, string>();
  const citedItems = new Map<number, string>();
  for (const file of [...sourcesUnder('src'), ...sourcesUnder('test')]) {
    const text = readFileSync(file, 'utf8');
    for (const [, section] of text.matchAll(/§(\d+(?:\.\d+)?)/g)) cited.set(section!, file);
    for (const [, list] of text.matchAll(/\bitems? (\d+(?:[–,-]\s?\d+)*)/g)) {
      for (const n of list!.split(/[–,-]\s?/)) citedItems.set(Number(n), file);
    }
  }
  expect(sections.size).toBeGreaterThan(80);
  expect(items.size).toBeGreaterThan(40);
  expect([...cited.keys()].filter((section) => !sections.has(section))).toEqual([]);
  expect([...citedItems.keys()].filter((item) => !items.has(item))).toEqual([]);
});
