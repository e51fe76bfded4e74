// Every public name of the package is documented in docs/API.md.
//
// The names (what must be documented):
// - every runtime export of dist/src/index.js (classes, functions, constants);
// - every exported type and interface of dist/src/index.d.ts;
// - for each exported class, every public static and instance member its
//   typings declare (methods, getters, properties, inherited ones included),
//   read with the TypeScript compiler from dist/src/index.d.ts. Internals are
//   not there (tsconfig stripInternal; the same typings etc/shmkit.api.md
//   reports), nor are `#private`, `private`/`protected` members, symbol-named
//   members (`[Symbol.dispose]`), `constructor`/`prototype`, or members only
//   declared by the platform (Error's `message`, `stack`, ...).
//
// The rule (when a name counts as documented): only inline code spans count
// (`...`, in prose or in headings; fenced example blocks do not).
// - A top-level name N: a code span anywhere in API.md holds N as a whole word.
// - A member m of class C: in C's section, a code span holds `.m` (`seg.bytes`,
//   `Segment.open(`), or starts with m (`lockSync(opts)`, `locked`,
//   `name: string`, after an optional `await `/`new `), or calls m (`m(`).
//   C's section is the one under the heading that is exactly C (backticks
//   aside), else the first heading that names C (whole word), up to the next
//   heading of the same or a higher level. When it sits inside a section of
//   level 2 or deeper (### Mutex in ## Synchronisation), the rest of that
//   enclosing section counts too, except the parts whose headings name
//   another exported class: that is where a family's shared calls live
//   (`X.create(name, ...)`, "Every handle"). A class no heading names uses
//   the section holding its first mention; none at all: every member is
//   reported missing.
// All missing names are printed at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const API_MD = `${ROOT}docs/API.md`;
const DTS = `${ROOT}dist/src/index.d.ts`;


/** The public surface from the typings and the runtime module (computed once). */
let surface;
function publicNames() {
  surface ??= readSurface();
  return surface;
}

function readSurface() {
  const program = ts.createProgram([DTS], {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.Node16,
    moduleResolution: ts.ModuleResolutionKind.Node16,
    // Only the shape of our declarations matters: without the standard
    // library and @types/node the program is built in a fraction of the time
    // (their names stay unresolved, which changes no member list).
    noLib: true,
    types: [],
    skipLibCheck: true,
    noEmit: true,
  });
  const checker = program.getTypeChecker();
  const file = program.getSourceFile(DTS);
  const ours = (decl) => decl.getSourceFile().fileName.startsWith(`${ROOT}dist/src/`);
  const isPublicMember = (prop) => {
    const name = prop.getName();
    if (name.startsWith('#') || name.startsWith('__@') || name === 'prototype' || name === 'constructor') return false;
    const decls = prop.getDeclarations() ?? [];
    if (!decls.some(ours)) return false;
    return !decls.some((d) => ts.getCombinedModifierFlags(d) & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected));
  };

  const values = new Set(Object.keys(createRequire(import.meta.url)(`${ROOT}dist/src/index.js`)).filter((n) => n !== '__esModule' && n !== 'default'));
  const types = new Set();
  const classes = new Map(); // name -> { statics: [], members: [] }
  const exports = checker.getExportsOfModule(checker.getSymbolAtLocation(file));
  const exportedClasses = new Set(exports.map((e) => e.getName()));
  // A member declared by another exported class (LaggedError's inherited
  // `errno`) is documented in that class's section, not again here.
  const declaredHere = (cls) => (prop) =>
    !(prop.getDeclarations() ?? []).every((d) => {
      const owner = d.parent && ts.isClassDeclaration(d.parent) && d.parent.name?.text;
      return owner && owner !== cls && exportedClasses.has(owner);
    });
  for (const exported of exports) {
    const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
    const name = exported.getName();
    if (symbol.flags & ts.SymbolFlags.Class) {
      const decl = symbol.valueDeclaration ?? symbol.getDeclarations()[0];
      const statics = checker.getPropertiesOfType(checker.getTypeOfSymbolAtLocation(symbol, decl)).filter(isPublicMember).filter(declaredHere(name));
      const members = checker.getPropertiesOfType(checker.getDeclaredTypeOfSymbol(symbol)).filter(isPublicMember).filter(declaredHere(name));
      classes.set(name, { statics: statics.map((p) => p.getName()), members: members.map((p) => p.getName()) });
      values.add(name);
    } else if (symbol.flags & ts.SymbolFlags.Value) {
      values.add(name);
    } else if (symbol.flags & (ts.SymbolFlags.Interface | ts.SymbolFlags.TypeAlias | ts.SymbolFlags.Enum)) {
      types.add(name);
    }
  }
  return { values: [...values].sort(), types: [...types].sort(), classes };
}

/** API.md as sections of inline code spans. */
function readDocs(text = readFileSync(API_MD, 'utf8')) {
  const lines = text.split('\n');
  const headings = []; // { level, text, start, end, introEnd }
  let fenced = false;
  const prose = lines.map((line, i) => {
    if (/^\s*(```|~~~)/.test(line)) {
      fenced = !fenced;
      return '';
    }
    if (fenced) return '';
    const h = /^(#{1,6})\s+(.*)$/.exec(line);
    if (h) headings.push({ level: h[1].length, text: h[2], start: i });
    return line;
  });
  for (const [k, h] of headings.entries()) {
    const next = headings.slice(k + 1).find((o) => o.level <= h.level);
    h.end = next ? next.start : lines.length;
    h.introEnd = headings[k + 1] && headings[k + 1].start < h.end ? headings[k + 1].start : h.end;
  }
  const spansOf = (from, to) =>
    [...prose.slice(from, to).join('\n').matchAll(/(`+)([^`]+?)\1/g)].map((m) => m[2].trim().replace(/\s+/g, ' '));
  return { lines: prose, headings, spansOf, all: spansOf(0, prose.length) };
}

const word = (name) => new RegExp(`(?<![\\w$])${name.replace(/\$/g, '\\$')}(?![\\w$])`);

/** The heading of `cls`'s own section, or undefined. */
function ownHeading(docs, cls) {
  const named = word(cls);
  const plain = (h) => h.text.replace(/`/g, '').trim();
  return docs.headings.find((h) => plain(h) === cls) ?? docs.headings.find((h) => named.test(plain(h)));
}

/**
 * The code spans that may document `cls`'s members: its own section, plus
 * (when that section sits inside a level >= 2 section) the rest of the
 * enclosing section except the parts whose headings name one of
 * `otherClasses`.
 */
function sectionSpans(docs, cls, otherClasses = []) {
  const named = word(cls);
  let h = ownHeading(docs, cls);
  if (!h) {
    const line = docs.lines.findIndex((l) => (l.match(/`[^`]+`/g) ?? []).some((s) => named.test(s)));
    if (line < 0) return [];
    h = [...docs.headings].reverse().find((o) => o.start <= line && line < o.end);
    if (!h) return docs.spansOf(0, docs.lines.length);
  }
  const spans = docs.spansOf(h.start, h.end);
  const parent = [...docs.headings].reverse().find((o) => o.level < h.level && o.level >= 2 && o.start < h.start && h.start < o.end);
  if (parent) {
    const others = otherClasses.filter((c) => c !== cls).map(word);
    const skipped = docs.headings.filter((o) =>
      o.start > parent.start && o.start < parent.end && (o === h || others.some((re) => re.test(o.text.replace(/`/g, '')))));
    let line = parent.start;
    while (line < parent.end) {
      const skip = skipped.find((o) => o.start === line);
      if (skip) {
        line = skip.end;
        continue;
      }
      const next = Math.min(parent.end, ...skipped.filter((o) => o.start > line).map((o) => o.start));
      spans.push(...docs.spansOf(line, next));
      line = next;
    }
  }
  return spans;
}

function mentionsMember(spans, m) {
  const e = m.replace(/\$/g, '\\$');
  const dot = new RegExp(`\\.${e}(?![\\w$])`);
  const start = new RegExp(`^(?:await |new )?${e}(?![\\w$])`);
  const call = new RegExp(`(?<![\\w$.])${e}\\(`);
  return spans.some((s) => dot.test(s) || start.test(s) || call.test(s));
}

/** Every public name API.md does not mention by the rule above. */
function missingNames() {
  const { values, types, classes } = publicNames();
  const docs = readDocs();
  const missing = [];
  for (const name of [...values, ...types]) {
    if (!docs.all.some((s) => word(name).test(s))) missing.push(name);
  }
  for (const [cls, { statics, members }] of classes) {
    const spans = sectionSpans(docs, cls, [...classes.keys()]);
    for (const m of statics) if (!mentionsMember(spans, m)) missing.push(`${cls}: static .${m}`);
    for (const m of members) if (!mentionsMember(spans, m)) missing.push(`${cls}: .${m}`);
  }
  return { missing, values, types, classes };
}

test('the public-name extraction sees the surface (guards the docs check against passing vacuously)', () => {
  assert.ok(existsSync(DTS), 'no dist/src/index.d.ts: run `npm run build` first');
  const { values, types, classes } = publicNames();
  for (const n of ['Segment', 'Queue', 'Mutex', 'readHeader', 'HEADER_LENGTH', 'ShmkitError']) assert.ok(values.includes(n), n);
  for (const n of ['ShmkitErrorCode', 'QueueOptions']) assert.ok(types.includes(n), n);
  assert.ok(classes.get('Segment').statics.includes('open'));
  assert.ok(classes.get('Segment').members.includes('bytes'));
  assert.ok(classes.get('Queue').members.includes('trySend'));
  assert.ok(!classes.get('ShmkitError').members.includes('stack'), "the platform's members are not ours to document");
  assert.ok(!classes.get('Segment').statics.includes('prototype'));
});

test('the member rule: what counts as documented', () => {
  const spans = ['seg.bytes', 'Segment.open(name, { readOnly = false })', 'lockSync(opts)', 'await lock(opts)', 'name: string | null', '{ capacity }'];
  for (const m of ['bytes', 'open', 'lockSync', 'lock', 'name']) assert.ok(mentionsMember(spans, m), m);
  for (const m of ['readOnly', 'capacity', 'ope', 'Sync']) assert.ok(!mentionsMember(spans, m), m);
});

test('the section rule: a class is checked in its own section and the rest of its enclosing section', () => {
  const docs = readDocs([
    '# Reference', '`top()`', '## Family', '`X.create(name)`', '### Alpha', '`alpha.foo`', '```ts', 'beta.bar()', '```',
    '### Shared', '`x.close()`', '### Beta', 'Nothing in code here.', '## Gamma', '`gamma.baz`',
  ].join('\n'));
  const classes = ['Alpha', 'Beta', 'Gamma'];
  const alpha = sectionSpans(docs, 'Alpha', classes);
  const beta = sectionSpans(docs, 'Beta', classes);
  const gamma = sectionSpans(docs, 'Gamma', classes);
  assert.ok(mentionsMember(alpha, 'foo') && mentionsMember(beta, 'create') && mentionsMember(beta, 'close'));
  assert.ok(!mentionsMember(beta, 'foo'), "another class's section does not count");
  assert.ok(!mentionsMember(beta, 'bar'), 'fenced examples do not count');
  assert.ok(!mentionsMember(beta, 'baz') && !mentionsMember(beta, 'top'), 'sections outside the enclosing one do not count');
  assert.ok(mentionsMember(gamma, 'baz') && !mentionsMember(gamma, 'create'), 'a top-level section stands alone');
});

test('docs/API.md documents every public name', () => {
  const { missing } = missingNames();
  const list = missing.map((n) => `  ${n}`).join('\n');
  assert.equal(missing.length, 0, `${missing.length} public names are missing from docs/API.md (rule: test/api-docs.test.mjs):\n${list}`);
});

// Issue 10's rule for error codes: every ERR_SHMKIT_* code shmkit's source
// uses (as a string literal: what it throws or prints, the command's own
// included) is in the exported ShmkitOwnErrorCode union and has a row in
// API.md's error table; and every member of the union has a row.
// ShmkitErrorCode's `E${Uppercase<string>}` member accepts any ERR_SHMKIT_*
// string, so the compiler cannot check this.

/** Every `.ts` file under `dir`. */
function sourceFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []);
}

function codesInSource() {
  const codes = new Set();
  for (const f of sourceFiles(join(ROOT, 'src'))) {
    for (const m of readFileSync(f, 'utf8').matchAll(/'(ERR_SHMKIT_[A-Z_]+)'/g)) codes.add(m[1]);
  }
  return codes;
}

function codesInUnion() {
  const dts = readFileSync(join(ROOT, 'dist/src/errors.d.ts'), 'utf8');
  const union = /export type ShmkitOwnErrorCode =([^;]*);/.exec(dts);
  assert.ok(union, 'ShmkitOwnErrorCode not found in dist/src/errors.d.ts');
  return new Set([...union[1].matchAll(/'([A-Z_]+)'/g)].map((m) => m[1]));
}

function codesInTable() {
  const codes = new Set();
  for (const line of readFileSync(API_MD, 'utf8').split('\n')) {
    const first = /^\| ([^|]*) \|/.exec(line);
    if (first) for (const m of first[1].matchAll(/`(ERR_[A-Z_]+)`/g)) codes.add(m[1]);
  }
  return codes;
}

test('every ERR_SHMKIT_ code in the source is in the ShmkitOwnErrorCode union and in API.md\'s error table, and every union member in the table', () => {
  const source = codesInSource();
  const union = codesInUnion();
  const table = codesInTable();
  for (const c of ['ERR_SHMKIT_CLOSED', 'ERR_SHMKIT_IN_USE', 'ERR_SHMKIT_GC']) assert.ok(source.has(c), `the source scan finds ${c}`);
  assert.deepEqual([...source].filter((c) => !union.has(c)), [], 'codes missing from ShmkitOwnErrorCode (src/errors.ts)');
  assert.deepEqual([...source].filter((c) => !table.has(c)), [], "codes missing from API.md's error table");
  assert.deepEqual([...union].filter((c) => !table.has(c)), [], "union members missing from API.md's error table");
});
