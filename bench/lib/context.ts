import type { PrivateRedis, Web1on1Sandbox } from '@contact-linker/testkit';
import type { Redis } from 'ioredis';

/** What every case gets from the runner. */
export interface BenchContext {
  /** `--smoke`: one run per case with tiny sizes; only proves that everything still runs. */
  smoke: boolean;
  /** `--profile`: child processes run with `--cpu-prof` (figures are then perturbed). */
  profile: boolean;
  /** Runs per case: 3, or 1 with `--smoke`. */
  runs: number;
  /** The bench's private redis-server (FLUSHALL is safe: nothing else uses it). */
  redis: PrivateRedis;
  /** pid of that redis-server, for its CPU time. */
  redisPid: number;
  /** A worker-role connection of the bench itself. */
  conn: Redis;
  /**
   * The Web1on1 sandbox, in the bench process; cases reset it before use. (The fairness case runs
   * its own in a process of its own instead.)
   */
  sandbox: Web1on1Sandbox;
  /** Progress line on stderr. */
  log(message: string): void;
  /** NODE_OPTIONS a child gets for `label` (the CPU profiler with `--profile`). */
  nodeOptions(label: string): string[];
  /** Extra environment of the product processes (not the baselines): `OTEL_*` with `--traces`. */
  productEnv: Record<string, string>;
  /** Deletes every key (all children must be stopped). */
  flush(): Promise<void>;
}

export interface RowSpec {
  metric: string;
  unit: string;
  /** Key of the product figure in each run's record. */
  product: string;
  /** Key of the reference figure in the same run's record. */
  reference?: string;
  /** What the reference is, for the table (e.g. `minimal-ingress`). */
  referenceName?: string;
}

export interface Goal {
  name: string;
  figure: string;
  target: string;
  pass: boolean;
}

export interface CaseOutput {
  name: string;
  /** One record of raw figures per run; every figure a goal compares comes from one run. */
  runs: Array<Record<string, number>>;
  rows: RowSpec[];
  goals: Goal[];
  /** Free-text findings printed under the table (analysis, settings used). */
  notes: string[];
  /** Extra raw data for the JSON file. */
  details?: unknown;
}

export type BenchCase = (ctx: BenchContext) => Promise<CaseOutput>;
