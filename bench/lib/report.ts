/** The table, the goal lines and the JSON files. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, platform, release, totalmem } from 'node:os';
import { join } from 'node:path';
import type { CaseOutput, Goal } from './context.ts';
import { REPO_ROOT } from './procs.ts';
import { max, median, min } from './stats.ts';

export const RESULTS_DIR = join(REPO_ROOT, 'bench', 'results');

export interface MachineInfo {
  cpuModel: string;
  nproc: number;
  memoryGiB: number;
  os: string;
  node: string;
  redis: string;
  commit: string;
}

export function machineInfo(redisVersion: string): MachineInfo {
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
    }).trim();
  } catch {
    // not a git checkout
  }
  return {
    cpuModel: cpus()[0]?.model ?? 'unknown',
    nproc: availableParallelism(),
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    os: `${platform()} ${release()}`,
    node: process.version,
    redis: redisVersion,
    commit,
  };
}

/** A figure with precision that suits its size. */
export function fmt(value: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  const abs = Math.abs(value);
  if (abs >= 10_000) return Math.round(value).toLocaleString('en-US');
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  if (abs >= 1) return value.toFixed(2);
  return value.toFixed(3);
}

export interface TableRow {
  case: string;
  metric: string;
  product: string;
  reference: string;
  ratio: string;
  spread: string;
}

/** One table row per row spec: medians over runs, the per-run ratio's median, and min–max. */
export function tableRows(output: CaseOutput): TableRow[] {
  return output.rows.map((row) => {
    const values = output.runs.map((r) => r[row.product] ?? Number.NaN);
    const refs = row.reference ? output.runs.map((r) => r[row.reference!] ?? Number.NaN) : [];
    const ratios = row.reference ? values.map((v, i) => v / refs[i]!) : [];
    const runs = output.runs.length;
    let spread = runs > 1 ? `${fmt(min(values))}–${fmt(max(values))}` : '1 run';
    if (runs > 1 && ratios.length > 0) spread += ` (×${fmt(min(ratios))}–${fmt(max(ratios))})`;
    return {
      case: output.name,
      metric: `${row.metric} [${row.unit}]`,
      product: fmt(median(values)),
      reference: row.reference ? `${fmt(median(refs))} ${row.referenceName ?? ''}`.trim() : '—',
      ratio: row.reference ? `${fmt(median(ratios))}×` : '—',
      spread,
    };
  });
}

export function renderTable(rows: TableRow[]): string {
  const header: TableRow = {
    case: 'case',
    metric: 'metric',
    product: 'product',
    reference: 'reference',
    ratio: 'ratio',
    spread: 'spread (min–max)',
  };
  const all = [header, ...rows];
  const keys = Object.keys(header) as Array<keyof TableRow>;
  const widths = keys.map((k) => Math.max(...all.map((r) => r[k].length)));
  const line = (r: TableRow) =>
    keys
      .map((k, i) =>
        k === 'product' || k === 'ratio' ? r[k].padStart(widths[i]!) : r[k].padEnd(widths[i]!),
      )
      .join(' | ')
      .trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('-|-');
  return [line(header), rule, ...rows.map(line)].join('\n');
}

export function goalLine(goal: Goal): string {
  return `GOAL ${goal.name}: ${goal.figure} (${goal.target}) ${goal.pass ? 'PASS' : 'FAIL'}`;
}

/** Writes bench/results/<case>.json (or <case>.smoke.json) with raw runs, medians and the machine. */
export function writeResult(
  output: CaseOutput,
  {
    smoke,
    profile,
    traces = false,
    machine,
    startedAt,
    durationS,
    loadavg,
  }: {
    smoke: boolean;
    profile: boolean;
    /** The product processes were traced (`--traces`). */
    traces?: boolean;
    machine: MachineInfo;
    startedAt: Date;
    durationS: number;
    /** 1-minute load average when the case started and ended: how busy the shared machine was. */
    loadavg: { start: number; end: number };
  },
): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const keys = [...new Set(output.runs.flatMap((r) => Object.keys(r)))];
  const medians = Object.fromEntries(
    keys.map((k) => [k, median(output.runs.map((r) => r[k] ?? Number.NaN))]),
  );
  const spread = Object.fromEntries(
    keys.map((k) => {
      const values = output.runs.map((r) => r[k] ?? Number.NaN);
      return [k, { min: min(values), max: max(values) }];
    }),
  );
  // Smoke, profiled and traced runs never overwrite the figures of a normal full run.
  const suffix = `${smoke ? '.smoke' : ''}${profile ? '.profile' : ''}${traces ? '.traces' : ''}`;
  const file = join(RESULTS_DIR, `${output.name}${suffix}.json`);
  const doc = {
    case: output.name,
    mode: `${smoke ? 'smoke' : 'full'}${profile ? ' (profiled)' : ''}${traces ? ' (traced)' : ''}`,
    timestamp: startedAt.toISOString(),
    durationS,
    machine,
    loadavg,
    runs: output.runs,
    medians,
    spread,
    table: tableRows(output),
    goals: output.goals.map((g) => ({ ...g, line: goalLine(g) })),
    notes: output.notes,
    details: output.details ?? null,
  };
  writeFileSync(file, `${JSON.stringify(doc, (_k, v) => (Number.isNaN(v) ? null : v), 2)}\n`);
  return file;
}
