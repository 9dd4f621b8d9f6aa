/**
 * @module bench/scenarios/scenario
 * The contract of a scenario: its parameters, the metrics it reports, and one run against one
 * peer that returns one {@link Sample}. The harness owns rounds, interleaving, medians and output.
 */
import type { BenchOptions, PeerName, ScenarioName } from '../lib/options.ts';
import type { Metric, Sample } from '../lib/report.ts';
import type { SessionContext } from '../lib/session.ts';

export interface Scenario {
  readonly name: ScenarioName;
  /** How its lines are tagged in the log when it is one variant of {@link name} (e.g. `fanout-cluster nats×4`). */
  readonly label?: string;
  readonly metrics: readonly Metric[];
  /** The parameters that matter to this scenario, printed with its results. */
  params(options: BenchOptions): Record<string, number | string>;
  /** Whether the scenario can measure `peer` (default: every peer). */
  supports?(peer: PeerName): boolean;
  /** One run against `peer` in a fresh session; must close everything it started, but what {@link close} stops. */
  run(peer: PeerName, options: BenchOptions, context: SessionContext): Promise<Sample>;
  /** After every round: stops what the runs shared (the postgres-changes scenario's PostgreSQL, a private Redis Cluster). */
  close?(): Promise<void>;
  /**
   * The scenarios measured in its place, one after the other, each with its own rounds, results and
   * ratios (the cross-node scenarios: one per engine and node count); {@link close} runs after all.
   */
  variants?(options: BenchOptions): readonly Scenario[];
}

/** Latency percentiles, shared by the scenarios that measure latency (µs, shown in ms). */
export const LATENCY_METRICS: readonly Metric[] = [
  { key: 'p50', label: 'latency p50 (ms)', scale: 1e-3, digits: 2, better: 'lower' },
  { key: 'p95', label: 'latency p95 (ms)', scale: 1e-3, digits: 2, better: 'lower' },
  { key: 'p99', label: 'latency p99 (ms)', scale: 1e-3, digits: 2, better: 'lower' },
  { key: 'max', label: 'latency max (ms)', scale: 1e-3, digits: 2, better: 'lower' },
];

/** How busy each side was: tells whether the server or the client core was the bottleneck. */
export const LOAD_METRICS: readonly Metric[] = [
  { key: 'serverCores', label: 'server CPU (cores busy)', digits: 2, better: 'none' },
  { key: 'clientCores', label: 'client CPU (cores busy)', digits: 2, better: 'none' },
  { key: 'otherCores', label: 'other load on the box (cores)', digits: 2, better: 'none' },
];
