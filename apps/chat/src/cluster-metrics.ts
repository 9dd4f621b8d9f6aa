/**
 * `/metrics` under `WORKERS`: a scrape reaches one worker at random, so each worker asks the
 * primary, which gathers every worker's registry through prom-client's `AggregatorRegistry` and
 * answers with the sums (counters and gauges summed; process metrics as prom-client aggregates
 * them). Series then never seem to go down from one scrape to the next.
 */
import { AggregatorRegistry, type PrometheusContentType, type Registry } from 'prom-client';
import type { WorkerMessage } from './workers.ts';

/** How long a worker waits for the primary's aggregate. */
const TIMEOUT_MS = 5000;

let aggregator: AggregatorRegistry<PrometheusContentType> | null = null;

/** In the primary: answers a worker's request for the cluster's metrics. */
export function answerMetricsRequest(reply: (message: WorkerMessage) => void, id: number): void {
  aggregator ??= new AggregatorRegistry<PrometheusContentType>();
  aggregator.clusterMetrics().then(
    (text) => reply({ chat: 'metrics', id, text }),
    (err: unknown) => reply({ chat: 'metrics', id, error: err instanceof Error ? err.message : String(err) }),
  );
}

/** In a worker: a renderer of the whole cluster's metrics, from `registry` in every worker. */
export function clusterMetricsRenderer(registry: Registry): () => Promise<string> {
  // Constructing one registers the worker's listener for the primary's requests.
  new AggregatorRegistry<PrometheusContentType>();
  AggregatorRegistry.setRegistries([registry]);
  let next = 0;
  const pending = new Map<number, { resolve: (text: string) => void; reject: (err: Error) => void }>();
  process.on('message', (message: unknown) => {
    const answer = message as Partial<Extract<WorkerMessage, { chat: 'metrics' }>> | null;
    if (answer?.chat !== 'metrics' || typeof answer.id !== 'number') return;
    const waiting = pending.get(answer.id);
    if (waiting === undefined) return;
    pending.delete(answer.id);
    if (typeof answer.text === 'string') waiting.resolve(answer.text);
    else waiting.reject(new Error(answer.error ?? 'no metrics'));
  });
  return () =>
    new Promise<string>((resolve, reject) => {
      const id = next++;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error('the primary did not answer with the cluster metrics'));
      }, TIMEOUT_MS);
      pending.set(id, {
        resolve: (text) => (clearTimeout(timer), resolve(text)),
        reject: (err) => (clearTimeout(timer), reject(err)),
      });
      process.send?.({ chat: 'metrics?', id } satisfies WorkerMessage);
    });
}
