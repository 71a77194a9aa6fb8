import { setTimeout as sleep } from "node:timers/promises";

/** A fetch that takes a ready `Request`, as openapi-fetch calls it. */
export type FetchLike = (request: Request) => Promise<Response>;

/** When and how long to retry. */
export interface RetryPolicy {
  /** Retries after the first attempt (so `maxRetries + 1` attempts at most). */
  maxRetries: number;
  /** The first backoff delay; it doubles on each retry, with jitter. */
  baseDelayMs: number;
  /** The longest backoff delay. */
  maxDelayMs: number;
  /** A `Retry-After` longer than this is not waited for: the answer is returned (and thrown) as is. */
  maxRetryAfterMs: number;
  /** Each attempt's time limit; an attempt that runs out is retried like a network error. */
  timeoutMs: number;
}

/** True for the answers worth another attempt: 429 and every 5xx. */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || status >= 500;
}

/**
 * Wraps `fetchImpl` so that a 429, a 5xx, a network error or a timed-out attempt is tried again, up
 * to `policy.maxRetries` times. Each attempt sends a clone of the same `Request`, headers included,
 * so a write's `Idempotency-Key` is the same on every attempt and the API runs it at most once.
 * The wait is the answer's `Retry-After` (seconds or an HTTP date) when present, else an
 * exponential backoff with jitter; canceling the request's own signal stops the waiting.
 */
export function withRetries(fetchImpl: FetchLike, policy: RetryPolicy): FetchLike {
  return async (request) => {
    for (let attempt = 0; ; attempt += 1) {
      const last = attempt >= policy.maxRetries;
      const signal = AbortSignal.any([request.signal, AbortSignal.timeout(policy.timeoutMs)]);
      let response: Response;
      try {
        response = await fetchImpl(new Request(request.clone(), { signal }));
      } catch (error) {
        // The caller's own abort is final; a network error or our timeout is worth another try.
        if (last || request.signal.aborted) throw error;
        await sleep(backoffMs(attempt, policy), undefined, { signal: request.signal });
        continue;
      }
      if (last || !isRetryableStatus(response.status)) return response;
      const retryAfter = retryAfterMs(response.headers.get("retry-after"));
      if (retryAfter !== undefined && retryAfter > policy.maxRetryAfterMs) return response;
      await response.body?.cancel();
      await sleep(retryAfter ?? backoffMs(attempt, policy), undefined, { signal: request.signal });
    }
  };
}

/** The delay before retry number `attempt + 1`: half fixed, half random ("equal jitter"). */
export function backoffMs(attempt: number, policy: Pick<RetryPolicy, "baseDelayMs" | "maxDelayMs">): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

/** `Retry-After` in milliseconds: delay-seconds or an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(value: string | null): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}
