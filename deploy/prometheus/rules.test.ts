/**
 * The alerting rules in this folder, in `pnpm test`:
 * - promtool validates the rules and the example Prometheus config, and runs the rules' unit tests
 *   (`contact-linker.rules.test.yml`);
 * - every `contact_linker_*` metric the rules and their tests name exists in what the ingress and
 *   the worker expose, with the labels named, and the queue, state, tier and bucket values named
 *   exist too, so renaming a metric, a label, a queue or a bucket breaks this test rather than an
 *   alert silently matching nothing.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { QUEUE, QUEUE_NAMES, type QueueSet, queueDepths, TIER_BANDS } from '@contact-linker/queues';
import { describe, expect, it } from 'vitest';
import {
  createIngressMetrics,
  createWorkerMetrics,
} from '../../packages/observability/src/index.ts';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const RULES = 'contact-linker.rules.yml';
const RULE_TESTS = 'contact-linker.rules.test.yml';

function promtool(...args: string[]) {
  const run = spawnSync('promtool', args, { cwd: HERE, encoding: 'utf8', timeout: 60_000 });
  return { ...run, output: `${run.stdout ?? ''}${run.stderr ?? ''}` };
}

const hasPromtool = promtool('--version').status === 0;
const onCi = process.env.CI === 'true';

describe('promtool', () => {
  // CI (.ci/run) installs promtool (Debian's `prometheus` package), so there a missing promtool is
  // a failure; on a developer's machine without it the promtool checks are skipped, while the
  // metric-name checks below still run. Install it with `apt-get install prometheus`.
  it.runIf(onCi)('is installed on CI', () => {
    expect(
      hasPromtool,
      'promtool is missing; .ci/run installs it (apt-get install prometheus)',
    ).toBe(true);
  });

  it.skipIf(!hasPromtool)('finds the rules valid, one rule per alert', () => {
    const run = promtool('check', 'rules', RULES);
    expect(run.status, run.output).toBe(0);
    const alerts = readFileSync(`${HERE}/${RULES}`, 'utf8').match(/^\s*- alert: /gm) ?? [];
    expect(run.output).toContain(`SUCCESS: ${alerts.length} rules found`);
  });

  it.skipIf(!hasPromtool)('passes the rules unit tests', () => {
    const run = promtool('test', 'rules', RULE_TESTS);
    expect(run.status, run.output).toBe(0);
    expect(run.output).toMatch(/^\s*SUCCESS\s*$/m);
    expect(run.output).not.toMatch(/FAILED/);
  });

  it.skipIf(!hasPromtool)('finds the example Prometheus config valid', () => {
    const run = promtool('check', 'config', 'prometheus.yml');
    expect(run.status, run.output).toBe(0);
    expect(run.output).toContain('SUCCESS');
  });
});

// --- the metric names -----------------------------------------------------------------------------

interface Sample {
  name: string;
  labels: Record<string, string>;
}

function parseExposition(text: string): Sample[] {
  return text
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const [, name = '', body = ''] = /^(\w+)(?:\{(.*)\})? /.exec(line) ?? [];
      const labels = Object.fromEntries(
        [...body.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map(([, k = '', v = '']) => [k, v]),
      );
      return { name, labels };
    });
}

/** Every sample name and label both processes expose, with each state, queue, tier and bucket. */
async function exposedSamples(): Promise<Sample[]> {
  // Queues that answer every state they are asked for: the depth gauge shows what queueDepths reads.
  const queues = Object.fromEntries(
    QUEUE_NAMES.map((name) => [
      name,
      {
        getJobCounts: async (...states: string[]) => Object.fromEntries(states.map((s) => [s, 0])),
      },
    ]),
  ) as unknown as QueueSet;
  const redisReady = async () => true;
  const ingress = createIngressMetrics({
    queues: { depths: () => queueDepths(queues) },
    redisReady,
  });
  ingress.observeRequest('/updatecontact', 'POST', 202, 0.01);
  const worker = createWorkerMetrics({ redisReady });
  worker.observeJob(QUEUE.linkContact, 'linked', 0.1);
  worker.observeWeb1on1('list', 200, 10);
  worker.observeDms(200, 10);
  for (const tier of Object.keys(TIER_BANDS) as Array<keyof typeof TIER_BANDS>) {
    worker.observeLinkWait(tier, 1);
  }
  worker.observeLink('dms_post');
  worker.observeBudgetWait(1);
  worker.observePause(QUEUE.linkContact);
  return [
    ...parseExposition(await ingress.registry.metrics()),
    ...parseExposition(await worker.registry.metrics()),
  ];
}

/** Labels Prometheus adds to every scraped series. */
const TARGET_LABELS = new Set(['job', 'instance']);
/** Labels whose every value the exposed samples show, so a value the rules name must be among them. */
const CLOSED_LABELS = new Set(['queue', 'state', 'tier', 'le']);

/**
 * What in `text` (a rules or rules-test file) names a contact-linker metric, label or label value
 * the processes do not expose. Comments are left out.
 */
function unknownNames(text: string, exposed: Sample[]): string[] {
  const code = text
    .split('\n')
    .map((line) => line.replace(/(^|\s)#.*$/, ''))
    .join('\n');
  const problems: string[] = [];
  for (const [, name = '', matchers = ''] of code.matchAll(
    /\b(contact_linker_\w+)(?:\{([^}]*)\})?/g,
  )) {
    const samples = exposed.filter((s) => s.name === name);
    if (samples.length === 0) {
      problems.push(`${name}: no such metric`);
      continue;
    }
    for (const [, label = '', op = '', value = ''] of matchers.matchAll(
      /(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"/g,
    )) {
      if (TARGET_LABELS.has(label)) continue;
      const values = new Set(samples.map((s) => s.labels[label]).filter((v) => v !== undefined));
      if (values.size === 0) {
        problems.push(`${name}: no label ${label}`);
        continue;
      }
      if (!CLOSED_LABELS.has(label) || op === '!=' || op === '!~') continue;
      for (const alternative of op === '=~' ? value.split('|') : [value]) {
        if (!values.has(alternative)) problems.push(`${name}: no ${label}="${alternative}"`);
      }
    }
  }
  return problems;
}

describe('the metrics the rules name', () => {
  it.each([RULES, RULE_TESTS])('all exist in what the processes expose (%s)', async (file) => {
    const text = readFileSync(`${HERE}/${file}`, 'utf8');
    expect(unknownNames(text, await exposedSamples())).toEqual([]);
    // The pattern finds them at all: the rules use at least this many metrics.
    expect(new Set(text.match(/\bcontact_linker_\w+/g)).size).toBeGreaterThanOrEqual(8);
  });

  it('notices a renamed metric, label, queue, state or bucket', async () => {
    const exposed = await exposedSamples();
    const planted = [
      'contact_linker_queue_job{queue="dead-letter"}',
      'contact_linker_queue_jobs{queues="dead-letter"}',
      'contact_linker_queue_jobs{queue="deadletter"}',
      'contact_linker_queue_jobs{state=~"waiting|parked"}',
      'contact_linker_link_wait_seconds_bucket{tier="live", le="299"}',
      'contact_linker_redis_up == 0',
    ].join('\n');
    expect(unknownNames(planted, exposed)).toEqual([
      'contact_linker_queue_job: no such metric',
      'contact_linker_queue_jobs: no label queues',
      'contact_linker_queue_jobs: no queue="deadletter"',
      'contact_linker_queue_jobs: no state="parked"',
      'contact_linker_link_wait_seconds_bucket: no le="299"',
      'contact_linker_redis_up: no such metric',
    ]);
    expect(unknownNames('# contact_linker_gone in a comment', exposed)).toEqual([]);
  });
});
