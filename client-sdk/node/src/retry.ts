// The retry rules of client-sdk/README.md ("Retries, safe by construction")
// as pure functions, so the unit tests hold them to the contract line by line.
import { status } from '@grpc/grpc-js';

export const MAX_ATTEMPTS = 5;
const BACKOFF_BASE_MS = 250;
const BACKOFF_CAP_MS = 2000;

export interface Failure {
  code: number;
  reason: string;
}

const REPLAY_SAFE_METHODS = new Set(['', 'GET', 'HEAD', 'OPTIONS']);

/** A request that may reach the origin twice without harm. */
export function isReplaySafe(request: { method?: string; idempotent?: boolean }): boolean {
  return request.idempotent === true || REPLAY_SAFE_METHODS.has((request.method ?? '').toUpperCase());
}

/** A failure fetchpoold returns before the fetch took a connection: no byte reached the origin. */
function failedBeforeSending(failure: Failure): boolean {
  return failure.reason === 'SHUTTING_DOWN' || failure.reason === 'QUEUE_FULL';
}

/** The connection to fetchpool broke (or it is not there): fetchpool gave no reason. */
function transportFailure(failure: Failure): boolean {
  return failure.code === status.UNAVAILABLE && failure.reason === '';
}

/** A failure listed in the retry table; only these cost a budget token. */
export function isRetryableFailure(failure: Failure): boolean {
  return failedBeforeSending(failure) || transportFailure(failure);
}

/** Whether this failure of this request may be sent again (budget and deadline aside). */
export function shouldRetry(failure: Failure, request: { method?: string; idempotent?: boolean }): boolean {
  if (failedBeforeSending(failure)) return true;
  return transportFailure(failure) && isReplaySafe(request);
}

/** The sleep before retry `retry` (1, 2, ...): uniform in [b/2, b], b = min(250 ms * 2^(retry-1), 2 s). */
export function backoffMs(retry: number, random: () => number = Math.random): number {
  const ceiling = Math.min(BACKOFF_BASE_MS * 2 ** (retry - 1), BACKOFF_CAP_MS);
  return ceiling / 2 + random() * (ceiling / 2);
}

/** gRPC retry throttling (gRFC A6): a token bucket shared by every call of one client. */
export class RetryBudget {
  private tokens: number;

  constructor(
    private readonly maxTokens = 10,
    private readonly tokenRatio = 0.1,
  ) {
    this.tokens = maxTokens;
  }

  get available(): number {
    return this.tokens;
  }

  recordFailure(): void {
    this.tokens = Math.max(0, this.tokens - 1);
  }

  recordSuccess(): void {
    this.tokens = Math.min(this.maxTokens, this.tokens + this.tokenRatio);
  }

  allowsRetry(): boolean {
    return this.tokens > this.maxTokens / 2;
  }
}
