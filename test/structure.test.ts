/**
 * Repository-structure checks: the rules of STYLE.md that a script can decide, run against every
 * tracked or new (not ignored) file. Each rule is a pure function over `{ path, text }` records, so
 * the second `describe` can plant a violation in memory and prove the rule notices it; the first runs
 * the same functions over the working tree.
 *
 * Scope choices, for the reviewer:
 * - "production code" is every JS/TS file that is not a test: not `*.test.ts` and not under an
 *   app's or package's `test/` folder or the root `test/` folder. The `process.env` and `new Redis(`
 *   rules apply to production code only (a test harness spawning processes must pass an env), while
 *   `vi.mock(` and deep imports are banned in tests too.
 * - Lines that start as comments (`//`, `/*`, `*`) are skipped, so TSDoc may name what it documents.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { QUEUE_NAMES } from '@contact-linker/queues';
import { describe, expect, it } from 'vitest';

interface SourceFile {
  path: string;
  text: string;
}

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** This file names every banned pattern in its planted violations, so it never scans itself. */
const SELF = 'test/structure.test.ts';

const isCode = (path: string) => /\.[cm]?[jt]sx?$/.test(path);
const isTest = (path: string) =>
  /\.test\.[cm]?[jt]sx?$/.test(path) ||
  /^(apps|packages)\/[^/]+\/test\//.test(path) ||
  path.startsWith('test/');
const isProduction = (path: string) => isCode(path) && !isTest(path);
const inAppOrPackageSrc = (path: string) => /^(apps|packages)\/[^/]+\/src\//.test(path);

function listRepoFiles(): SourceFile[] {
  const out = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], {
    cwd: ROOT,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  return out
    .split('\n')
    .filter((path) => path !== '' && path !== SELF)
    .filter((path) => isCode(path) || path.endsWith('/package.json'))
    .filter((path) => existsSync(`${ROOT}/${path}`)) // deleted but not yet staged
    .map((path) => ({ path, text: readFileSync(`${ROOT}/${path}`, 'utf8') }));
}

/** `path:line: code` for every non-comment line of the selected files that matches `pattern`. */
function grep(files: SourceFile[], pattern: RegExp, select: (path: string) => boolean): string[] {
  const hits: string[] = [];
  for (const file of files) {
    if (!select(file.path)) continue;
    file.text.split('\n').forEach((line, index) => {
      const code = line.trim();
      if (code.startsWith('//') || code.startsWith('/*') || code.startsWith('*')) return;
      if (pattern.test(line)) hits.push(`${file.path}:${index + 1}: ${code}`);
    });
  }
  return hits;
}

const lineOf = (text: string, offset: number) => text.slice(0, offset).split('\n').length;

// --- the rules -------------------------------------------------------------------------------------

const CATALOG = 'packages/queues/src/catalog.ts';

/** STYLE 2: queue names are spelled out only in the catalog. */
function queueNameLiterals(files: SourceFile[]): string[] {
  return grep(
    files,
    /(['"])(link-contact|notify-dms|dead-letter)\1/,
    (path) => inAppOrPackageSrc(path) && isProduction(path) && path !== CATALOG,
  );
}

/** STYLE 4: processors throw an error class that carries retry intent. */
function plainErrorsInProcessors(files: SourceFile[]): string[] {
  return grep(
    files,
    /throw\s+new\s+Error\s*\(/,
    (path) => path.startsWith('apps/worker/src/processors/') && isProduction(path),
  );
}

/** STYLE 13: fakes, not module mocks. */
function moduleMocks(files: SourceFile[]): string[] {
  return grep(
    files,
    /\bvi\s*\.\s*(mock|doMock)\s*\(/,
    (path) => isCode(path) && /^(apps|packages)\//.test(path),
  );
}

/** STYLE 11: consumers import a package's barrel, never its files. */
function deepImports(files: SourceFile[]): string[] {
  return grep(files, /@contact-linker\/[\w.-]+\/src\b/, isCode);
}

/**
 * Which workspace package each app and package may import in its production code: one concept per
 * package, dependencies pointing one way (apps compose packages; packages know only contracts).
 * Tests may import the test kit as well.
 */
const ALLOWED_IMPORTS: Record<string, readonly string[]> = {
  'packages/contracts': [],
  'packages/observability': [],
  'packages/config': ['contracts'],
  'packages/queues': ['contracts'],
  'packages/web1on1': ['contracts'],
  'packages/dms': ['contracts'],
  'packages/testkit': ['contracts'],
  'packages/link-memory': ['contracts'],
  'apps/ingress': ['contracts', 'config', 'observability', 'queues'],
  'apps/cli': ['contracts', 'config', 'observability', 'queues', 'link-memory'],
  'apps/worker': [
    'contracts',
    'config',
    'observability',
    'queues',
    'web1on1',
    'dms',
    'link-memory',
  ],
};

/** Workspace imports that cross a boundary `ALLOWED_IMPORTS` does not list (or of an unlisted owner). */
function boundaryCrossings(files: SourceFile[]): string[] {
  const problems: string[] = [];
  for (const file of files) {
    const owner = /^((?:apps|packages)\/[^/]+)\//.exec(file.path)?.[1];
    if (!owner || !isCode(file.path)) continue;
    const allowed = ALLOWED_IMPORTS[owner];
    const self = owner.split('/')[1];
    for (const hit of grep([file], /from '@contact-linker\/[\w-]+'/, () => true)) {
      const target = /@contact-linker\/([\w-]+)/.exec(hit)?.[1] ?? '';
      if (target === self) continue;
      if (target === 'testkit' && isTest(file.path)) continue;
      if (!allowed?.includes(target)) problems.push(`${hit} (${owner} may not import ${target})`);
    }
  }
  return problems;
}

/** STYLE 7: only config parsing and the entry points read the environment. */
function environmentReads(files: SourceFile[]): string[] {
  const allowed = (path: string) =>
    path.startsWith('packages/config/src/') ||
    /^apps\/[^/]+\/src\/main\.ts$/.test(path) ||
    path.startsWith('packages/testkit/src/') ||
    path.startsWith('scripts/');
  return grep(files, /\bprocess\.env\b/, (path) => isProduction(path) && !allowed(path));
}

/** STYLE 9: Redis connections are injected, created in one place (plus the test kit and dev script). */
function redisConstructions(files: SourceFile[]): string[] {
  const allowed = (path: string) =>
    path === 'packages/queues/src/connection.ts' ||
    path.startsWith('packages/testkit/src/') ||
    path === 'scripts/dev.ts' ||
    path.startsWith('scripts/dev/');
  return grep(files, /\bnew\s+(IO)?Redis\s*\(/, (path) => isProduction(path) && !allowed(path));
}

/** STYLE 11: internal packages are private and source-only, with the barrel as the only export. */
function packageManifests(files: SourceFile[]): string[] {
  const problems: string[] = [];
  for (const file of files) {
    if (!/^packages\/[^/]+\/package\.json$/.test(file.path)) continue;
    const manifest = JSON.parse(file.text) as { private?: unknown; exports?: unknown };
    if (manifest.private !== true) problems.push(`${file.path}: "private" must be true`);
    const exports = JSON.stringify(manifest.exports);
    if (exports !== JSON.stringify({ '.': './src/index.ts' })) {
      problems.push(`${file.path}: "exports" must be { ".": "./src/index.ts" }, is ${exports}`);
    }
  }
  return problems;
}

/** Replaces comments with spaces of the same length, so offsets (and line numbers) still match. */
function blankComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\/|\/\/[^\n]*/g, (comment) => comment.replace(/[^\n]/g, ' '));
}

const RE_EXPORT = /^export\s+(type\s+)?(\*(\s+as\s+\w+)?|\{[^}]*\})\s+from\s+(['"])[^'"]+\4$/;

/** STYLE 11: a barrel only re-exports; code in it would be a second home for logic. */
function barrelsWithCode(files: SourceFile[]): string[] {
  const problems: string[] = [];
  for (const file of files) {
    if (!/^packages\/[^/]+\/src\/index\.ts$/.test(file.path)) continue;
    const text = blankComments(file.text);
    let start = 0;
    for (const statement of text.split(';')) {
      const code = statement.trim();
      if (code !== '' && !RE_EXPORT.test(code)) {
        const line = lineOf(text, start + statement.indexOf(code));
        problems.push(`${file.path}:${line}: ${code.split('\n')[0]}`);
      }
      start += statement.length + 1;
    }
  }
  return problems;
}

/** STYLE 3: one processor file per work queue, named after it. */
function processorFiles(files: SourceFile[]): string[] {
  return files
    .map((file) => /^apps\/worker\/src\/processors\/([^/]+)\.ts$/.exec(file.path)?.[1])
    .filter((name): name is string => name !== undefined)
    .filter((name) => name !== 'index' && !name.endsWith('.test'))
    .sort();
}

/** STYLE 10: route handlers get typed bodies from the zod type provider, never by a cast. */
function bodyCasts(files: SourceFile[]): string[] {
  return grep(files, /\brequest\.body\s+as\b/, (path) => path.startsWith('apps/ingress/src/'));
}

/** STYLE 10: every Fastify plugin is named `contact-linker-…`, so dependencies and errors name it. */
function unnamedPlugins(files: SourceFile[]): string[] {
  const problems: string[] = [];
  for (const file of files) {
    if (!file.path.startsWith('apps/ingress/src/') || !isProduction(file.path)) continue;
    const text = blankComments(file.text);
    for (const match of text.matchAll(/\bfp\s*\(/g)) {
      // The call's arguments: up to the parenthesis that closes `fp(`.
      let depth = 0;
      let end = match.index;
      for (; end < text.length; end++) {
        if (text[end] === '(') depth++;
        if (text[end] === ')' && --depth === 0) break;
      }
      const call = text.slice(match.index, end + 1);
      if (!/\{[^}]*\bname\s*:\s*(['"])contact-linker-[\w-]+\1/.test(call)) {
        const line = lineOf(text, match.index);
        problems.push(`${file.path}:${line}: ${call.replace(/\s+/g, ' ').slice(0, 120)}`);
      }
    }
  }
  return problems;
}

// --- the working tree ------------------------------------------------------------------------------

describe('repository structure', () => {
  const files = listRepoFiles();

  it('sees the repository (guards against an empty listing passing every rule)', () => {
    const paths = files.map((file) => file.path);
    expect(paths).toContain(CATALOG);
    expect(paths).toContain('apps/worker/src/processors/index.ts');
    expect(paths.filter((path) => path.endsWith('/package.json')).length).toBeGreaterThan(3);
  });

  it('spells queue names only in the queue catalog', () => {
    expect(
      queueNameLiterals(files),
      `queue-name literals belong in ${CATALOG}; use QUEUE.* or a type derived from the catalog`,
    ).toEqual([]);
  });

  it('throws only retry-classed errors in worker processors', () => {
    expect(
      plainErrorsInProcessors(files),
      'processors throw PermanentError, TransientError or RateLimitedError, never a bare Error',
    ).toEqual([]);
  });

  it('never mocks modules under apps/ or packages/', () => {
    expect(moduleMocks(files), 'use a fake from the testkit instead of vi.mock').toEqual([]);
  });

  it('never deep-imports a workspace package', () => {
    expect(
      deepImports(files),
      'import @contact-linker/<pkg> (its index.ts), not its src/ files',
    ).toEqual([]);
  });

  it('imports across packages only along the allowed boundaries', () => {
    expect(
      boundaryCrossings(files),
      'each package owns one concept; see ALLOWED_IMPORTS for who may import whom',
    ).toEqual([]);
  });

  it('reads process.env only in config, main.ts, the testkit and scripts', () => {
    expect(
      environmentReads(files),
      'take settings from @contact-linker/config (or as a parameter) instead of process.env',
    ).toEqual([]);
  });

  it('constructs Redis clients only in the queues connection module, the testkit and the dev script', () => {
    expect(
      redisConstructions(files),
      'take a connection as a dependency, or create it with createRedisConnection',
    ).toEqual([]);
  });

  it('keeps every internal package private and source-only, exporting only its barrel', () => {
    expect(packageManifests(files)).toEqual([]);
  });

  it('keeps every package index.ts to re-exports and comments', () => {
    expect(barrelsWithCode(files), 'move code out of the barrel into a named module').toEqual([]);
  });

  it('has exactly one processor file per work queue', () => {
    expect(
      processorFiles(files),
      'apps/worker/src/processors/ holds one <queue>.ts per catalog queue, plus index.ts',
    ).toEqual([...QUEUE_NAMES].sort());
  });

  it('never casts request.body in the ingress', () => {
    expect(bodyCasts(files), 'declare schema: { body } through the zod type provider').toEqual([]);
  });

  it("names every fastify-plugin call 'contact-linker-…'", () => {
    expect(
      unnamedPlugins(files),
      "pass fp(plugin, { name: 'contact-linker-<name>', fastify: '5.x' })",
    ).toEqual([]);
  });
});

// --- the rules catch what they are meant to catch --------------------------------------------------

describe('each rule flags a planted violation', () => {
  const file = (path: string, text: string): SourceFile => ({ path, text });

  it('queue-name literals, outside the catalog and outside comments and tests', () => {
    const planted = [
      file('apps/worker/src/retry.ts', "const q: TypedQueue<'dead-letter'> = x;"),
      file('packages/dms/src/x.ts', 'queue = "notify-dms";'),
      file(CATALOG, "'link-contact': {},"),
      file('apps/worker/src/x.test.ts', "new Queue('link-contact')"),
      file('apps/worker/src/y.ts', " * Data of a `link-contact` job, like 'link-contact'"),
    ];
    expect(queueNameLiterals(planted)).toEqual([
      "apps/worker/src/retry.ts:1: const q: TypedQueue<'dead-letter'> = x;",
      'packages/dms/src/x.ts:1: queue = "notify-dms";',
    ]);
  });

  it('a bare Error in a processor', () => {
    const planted = [
      file('apps/worker/src/processors/link-contact.ts', "\n  throw new Error('no contact');"),
      file('apps/worker/src/runtime.ts', "throw new Error('elsewhere is fine');"),
    ];
    expect(plainErrorsInProcessors(planted)).toEqual([
      "apps/worker/src/processors/link-contact.ts:2: throw new Error('no contact');",
    ]);
  });

  it('vi.mock in a test under packages/', () => {
    const planted = [file('packages/web1on1/src/client.test.ts', "vi.mock('chipchat');")];
    expect(moduleMocks(planted)).toHaveLength(1);
  });

  it('a deep import, anywhere', () => {
    const planted = [
      file('scripts/x.ts', "import { QUEUE } from '@contact-linker/queues/src/catalog.ts';"),
      file('apps/worker/src/y.ts', "import { QUEUE } from '@contact-linker/queues';"),
    ];
    expect(deepImports(planted)).toHaveLength(1);
  });

  it('an import across a boundary, in production code or a test', () => {
    const planted = [
      file('packages/web1on1/src/budget.ts', "import { QUEUE } from '@contact-linker/queues';"),
      file('packages/queues/src/x.test.ts', "import { redisTest } from '@contact-linker/testkit';"),
      file('packages/queues/src/y.ts', "import { redisTest } from '@contact-linker/testkit';"),
      file(
        'apps/ingress/src/app.ts',
        "import { createWeb1on1Client } from '@contact-linker/web1on1';",
      ),
      file(
        'apps/worker/src/runtime.ts',
        "import { createDmsNotifier } from '@contact-linker/dms';",
      ),
      file('packages/new/src/index.ts', "import { QUEUE } from '@contact-linker/contracts';"),
    ];
    expect(boundaryCrossings(planted).map((problem) => problem.split(':')[0])).toEqual([
      'packages/web1on1/src/budget.ts',
      'packages/queues/src/y.ts',
      'apps/ingress/src/app.ts',
      'packages/new/src/index.ts',
    ]);
  });

  it('process.env outside the allowed places', () => {
    const planted = [
      file('apps/worker/src/workers.ts', 'const url = process.env.REDIS_URL;'),
      file('apps/worker/src/main.ts', 'loadWorkerConfig(process.env)'),
      file('packages/config/src/load.ts', 'env = process.env'),
      file('packages/testkit/src/redis.ts', 'process.env.REDIS_URL'),
      file('scripts/dev.ts', 'const env = process.env;'),
    ];
    expect(environmentReads(planted)).toEqual([
      'apps/worker/src/workers.ts:1: const url = process.env.REDIS_URL;',
    ]);
  });

  it('new Redis / new IORedis outside the allowed places', () => {
    const planted = [
      file('apps/ingress/src/app.ts', 'const redis = new Redis(url);'),
      file('packages/queues/src/queues.ts', 'const redis = new IORedis(url);'),
      file('packages/queues/src/connection.ts', 'return new Redis(url, {});'),
      file('scripts/dev.ts', 'const probe = new Redis(url);'),
      file('scripts/dev/redis.ts', 'const probe = new Redis(url);'),
      file('scripts/send-webhook.ts', 'const redis = new Redis(url);'),
    ];
    expect(redisConstructions(planted).map((problem) => problem.split(':')[0])).toEqual([
      'apps/ingress/src/app.ts',
      'packages/queues/src/queues.ts',
      'scripts/send-webhook.ts',
    ]);
  });

  it('a public package, a missing private flag, or extra exports', () => {
    const ok = { private: true, exports: { '.': './src/index.ts' } };
    const planted = [
      file('packages/a/package.json', JSON.stringify(ok)),
      file('packages/b/package.json', JSON.stringify({ ...ok, private: false })),
      file('packages/c/package.json', JSON.stringify({ exports: ok.exports })),
      file('packages/d/package.json', JSON.stringify({ ...ok, exports: './src/index.ts' })),
      file(
        'packages/e/package.json',
        JSON.stringify({ ...ok, exports: { ...ok.exports, './x': './src/x.ts' } }),
      ),
    ];
    expect(packageManifests(planted).map((problem) => problem.split(':')[0])).toEqual([
      'packages/b/package.json',
      'packages/c/package.json',
      'packages/d/package.json',
      'packages/e/package.json',
    ]);
  });

  it('code in a barrel', () => {
    const barrel = [
      '// Re-exports only.',
      "export { a, type B } from './a.ts';",
      "export * from './b.ts';",
      "export type { C } from './c.ts';",
      '/* a block',
      '   comment; with a semicolon */',
      'export {',
      '  d,',
      "} from './d.ts';",
      'export const answer = 42;',
      "import { e } from './e.ts';",
    ].join('\n');
    expect(barrelsWithCode([file('packages/x/src/index.ts', barrel)])).toEqual([
      'packages/x/src/index.ts:10: export const answer = 42',
      "packages/x/src/index.ts:11: import { e } from './e.ts'",
    ]);
  });

  it('a processor file without a queue, or a queue without a processor file', () => {
    const planted = [
      file('apps/worker/src/processors/index.ts', ''),
      file('apps/worker/src/processors/link-contact.ts', ''),
      file('apps/worker/src/processors/link-contact.test.ts', ''),
      file('apps/worker/src/processors/cleanup.ts', ''),
    ];
    expect(processorFiles(planted)).toEqual(['cleanup', 'link-contact']);
    expect(processorFiles(planted)).not.toEqual([...QUEUE_NAMES].sort());
  });

  it('a request.body cast in the ingress', () => {
    const planted = [
      file(
        'apps/ingress/src/routes/updatecontact.ts',
        'const body = request.body as DmsContactEvent;',
      ),
    ];
    expect(bodyCasts(planted)).toHaveLength(1);
  });

  it('an unnamed or wrongly named fp() call, also when it spans lines', () => {
    const planted = [
      file('apps/ingress/src/plugins/a.ts', "export default fp(a, { name: 'contact-linker-a' });"),
      file(
        'apps/ingress/src/plugins/b.ts',
        "export default fp(b, {\n  fastify: '5.x',\n  name: 'contact-linker-b',\n});",
      ),
      file('apps/ingress/src/plugins/c.ts', "\nexport default fp(c, { fastify: '5.x' });"),
      file('apps/ingress/src/plugins/d.ts', 'export default fp(d);'),
      file('apps/ingress/src/plugins/e.ts', "export default fp(e, { name: 'auth' });"),
      file(
        'apps/ingress/src/plugins/f.ts',
        "// fp(f) in a comment\nconst f = fp(async (x) => g(x), { name: 'contact-linker-f' });",
      ),
    ];
    expect(unnamedPlugins(planted).map((problem) => problem.split(': ')[0])).toEqual([
      'apps/ingress/src/plugins/c.ts:2',
      'apps/ingress/src/plugins/d.ts:1',
      'apps/ingress/src/plugins/e.ts:1',
    ]);
  });
});
