/**
 * `--profile`: children run with `--cpu-prof`, which writes a .cpuprofile when they exit (so they
 * are stopped with SIGTERM then). This module names those files and sums them up: the top self-time
 * functions per process role (all runs of the role together).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { REPO_ROOT } from './procs.ts';

interface CpuProfile {
  nodes: Array<{
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
  }>;
  samples: number[];
  timeDeltas: number[];
}

let seq = 0;

/** NODE_OPTIONS that make a child write `<dir>/<label>.<n>.cpuprofile` on exit. */
export function profileOptions(dir: string, label: string): string[] {
  seq += 1;
  return ['--cpu-prof', `--cpu-prof-dir=${dir}`, `--cpu-prof-name=${label}.${seq}.cpuprofile`];
}

function shortUrl(url: string): string {
  if (url === '') return '';
  const path = url.startsWith('file://') ? new URL(url).pathname : url;
  const rel = relative(REPO_ROOT, path);
  const pnpm = /node_modules\/\.pnpm\/[^/]+\/node_modules\/(.*)$/.exec(rel);
  return pnpm?.[1] ?? rel;
}

export interface ProfileSummary {
  label: string;
  files: number;
  /** Sampled time without idle, ms. */
  busyMs: number;
  top: Array<{ fn: string; selfMs: number; share: number }>;
  /** Self time grouped by where the code lives: a dependency, a workspace package, Node itself. */
  byPackage: Array<{ name: string; selfMs: number; share: number }>;
}

/** `bullmq`, `@fastify/rate-limit`, `apps/ingress`, `node:internal`, or the V8 pseudo-frame's name. */
function packageOf(functionName: string, where: string): string {
  if (where === '') return functionName || '(anonymous)';
  if (where.startsWith('node:')) return where.split('/')[0] ?? where;
  const own = /^((?:apps|packages|bench)\/[^/]+)\//.exec(where);
  if (own?.[1]) return own[1];
  // shortUrl leaves a dependency as `<name>/…` or `@scope/name/…`.
  return /^(@[^/]+\/[^/]+|[^/]+)\//.exec(where)?.[1] ?? where;
}

/** Top `count` self-time functions per label over every profile in `dir`. */
export function summarizeProfiles(dir: string, count = 15): ProfileSummary[] {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  } catch {
    return [];
  }
  const byLabel = new Map<
    string,
    { files: number; self: Map<string, number>; packages: Map<string, number> }
  >();
  for (const file of files) {
    const label = file.replace(/\.\d+\.cpuprofile$/, '');
    const entry = byLabel.get(label) ?? {
      files: 0,
      self: new Map<string, number>(),
      packages: new Map<string, number>(),
    };
    byLabel.set(label, entry);
    entry.files += 1;
    const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile;
    const names = new Map<number, string>();
    const packages = new Map<number, string>();
    for (const node of profile.nodes) {
      const { functionName, url, lineNumber } = node.callFrame;
      const where = shortUrl(url);
      packages.set(node.id, packageOf(functionName, where));
      names.set(
        node.id,
        `${functionName || '(anonymous)'}${where ? ` ${where}:${lineNumber + 1}` : ''}`,
      );
    }
    profile.samples.forEach((id, i) => {
      const name = names.get(id) ?? '?';
      const deltaUs = profile.timeDeltas[i + 1] ?? 0;
      entry.self.set(name, (entry.self.get(name) ?? 0) + deltaUs / 1000);
      const pkg = packages.get(id) ?? '?';
      entry.packages.set(pkg, (entry.packages.get(pkg) ?? 0) + deltaUs / 1000);
    });
  }
  return [...byLabel.entries()].map(([label, { files: n, self, packages }]) => {
    self.delete('(idle)');
    packages.delete('(idle)');
    const busyMs = [...self.values()].reduce((a, b) => a + b, 0);
    const top = [...self.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, count)
      .map(([fn, selfMs]) => ({ fn, selfMs, share: selfMs / busyMs }));
    const byPackage = [...packages.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, count)
      .map(([name, selfMs]) => ({ name, selfMs, share: selfMs / busyMs }));
    return { label, files: n, busyMs, top, byPackage };
  });
}

export function renderProfiles(summaries: ProfileSummary[]): string {
  const out: string[] = [];
  for (const s of summaries) {
    out.push(
      `PROFILE ${s.label} (${s.files} process${s.files === 1 ? '' : 'es'}, ${(s.busyMs / 1000).toFixed(2)} s busy): top ${s.top.length} self time`,
    );
    for (const t of s.top) {
      out.push(
        `  ${(t.share * 100).toFixed(1).padStart(5)}%  ${t.selfMs.toFixed(0).padStart(7)} ms  ${t.fn}`,
      );
    }
    out.push(`PROFILE ${s.label}: self time by package`);
    for (const p of s.byPackage) {
      out.push(
        `  ${(p.share * 100).toFixed(1).padStart(5)}%  ${p.selfMs.toFixed(0).padStart(7)} ms  ${p.name}`,
      );
    }
  }
  return out.join('\n');
}
