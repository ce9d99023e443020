// The fetchpool client: a deadline on every call, retries that never send a
// request twice when that could matter, errors that say why, balancing over
// every replica and, on request, host affinity (client-sdk/README.md).
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import type { FetchPoolClient } from './generated/fetchpool/v1/FetchPool';
import type { FetchRequest } from './generated/fetchpool/v1/FetchRequest';
import type { FetchResponse__Output } from './generated/fetchpool/v1/FetchResponse';
import type { StatsResponse__Output } from './generated/fetchpool/v1/StatsResponse';
import type { Duration } from './generated/google/protobuf/Duration';
import { FetchpoolError, toFetchpoolError } from './errors';
import { poolKey } from './poolKey';
import { newFetchPoolClient } from './proto';
import { AffinityReplicas, RoundRobinReplicas, parseDnsTarget, type Replicas } from './replicas';
import { MAX_ATTEMPTS, RetryBudget, backoffMs, isRetryableFailure, shouldRetry } from './retry';
import { FetchStream, POOL_KEY_HEADER } from './stream';
import { wireRequest } from './wire';

export const DEFAULT_TIMEOUT_MS = 30_000;
const ROUND_ROBIN = JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] });

export interface ClientOptions {
  /** Deadline of a call that sets no timeoutMs; 30 s. */
  defaultTimeoutMs?: number;
  /** TLS, trusting this CA bundle (PEM). */
  caFile?: string;
  /** TLS with the system roots (implied by caFile, clientCertFile, serverNameOverride). */
  tls?: boolean;
  /** mTLS: this certificate and key (PEM). */
  clientCertFile?: string;
  clientKeyFile?: string;
  /** Sent as `authorization: Bearer <token>` on every call; needs TLS unless allowTokenOverPlaintext. */
  token?: string;
  allowTokenOverPlaintext?: boolean;
  /** The name the server certificate must carry, when it is not the target's host. */
  serverNameOverride?: string;
  /** "host": each fetch goes to the replica its pool key hashes to (fetchpool-ring-v1). */
  affinity?: 'host';
  /** With affinity: how the target's host is resolved to replica addresses (default: the system resolver). */
  lookup?: (host: string) => Promise<string[]>;
  /** Extra grpc-js channel options. */
  channelOptions?: grpc.ChannelOptions;
}

export interface CallOptions {
  /** This call's deadline, from now; else the client's defaultTimeoutMs. */
  timeoutMs?: number;
  /** Cancels the call in flight and any retry waiting to start. */
  signal?: AbortSignal;
}

export interface WatchStatsOptions {
  intervalMs?: number;
  /** A pool key; all pools when empty. */
  host?: string;
  /** Ends the iteration. */
  signal?: AbortSignal;
}

export interface StreamOptions {
  /** Unanswered fetches at most; submit waits to send beyond it. 256, the server's cap. */
  maxInFlight?: number;
}

/** A protobuf Duration of `ms` milliseconds, for wait_timeout and request_timeout. */
export function durationMs(ms: number): Duration {
  return { seconds: Math.floor(ms / 1000), nanos: Math.round((ms % 1000) * 1e6) };
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(FetchpoolError.cancelled());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export class Client {
  private readonly replicas: Replicas;
  private readonly budget = new RetryBudget();
  private readonly defaultTimeoutMs: number;
  private readonly token: string | undefined;

  constructor(target: string, options: ClientOptions = {}) {
    this.defaultTimeoutMs = options.defaultTimeoutMs ?? DEFAULT_TIMEOUT_MS;
    const useTls = Boolean(options.tls || options.caFile || options.clientCertFile || options.serverNameOverride);
    if (options.token !== undefined && !useTls && !options.allowTokenOverPlaintext) {
      throw new Error('fetchpool: a token needs TLS (set caFile or tls), or allowTokenOverPlaintext for tests and sidecars');
    }
    if (Boolean(options.clientCertFile) !== Boolean(options.clientKeyFile)) {
      throw new Error('fetchpool: clientCertFile and clientKeyFile go together');
    }
    this.token = options.token;
    const credentials = useTls
      ? grpc.credentials.createSsl(
          options.caFile ? readFileSync(options.caFile) : null,
          options.clientKeyFile ? readFileSync(options.clientKeyFile) : null,
          options.clientCertFile ? readFileSync(options.clientCertFile) : null,
        )
      : grpc.credentials.createInsecure();
    const channelOptions: grpc.ChannelOptions = { 'grpc.service_config': ROUND_ROBIN, ...options.channelOptions };
    if (options.serverNameOverride) channelOptions['grpc.ssl_target_name_override'] = options.serverNameOverride;

    const dnsTarget = options.affinity === 'host' ? parseDnsTarget(target) : undefined;
    if (dnsTarget) {
      // One channel per address; TLS still checks the target's own name.
      const perAddress: grpc.ChannelOptions = {
        ...channelOptions,
        'grpc.default_authority': target.replace(/^dns:(\/\/[^/]*\/)?/i, ''),
        'grpc.ssl_target_name_override': options.serverNameOverride ?? dnsTarget.host,
      };
      this.replicas = new AffinityReplicas(dnsTarget.host, dnsTarget.port, (address) =>
        newFetchPoolClient(address, credentials, perAddress),
      options.lookup,
      );
    } else {
      this.replicas = new RoundRobinReplicas(newFetchPoolClient(target, credentials, channelOptions));
    }
  }

  /** A GET with the defaults. */
  get(url: string, options: CallOptions = {}): Promise<FetchResponse__Output> {
    return this.fetch({ method: 'GET', url }, options);
  }

  /** One fetch, retried as the contract allows, within one deadline. Rejects with FetchpoolError. */
  async fetch(request: FetchRequest, options: CallOptions = {}): Promise<FetchResponse__Output> {
    const deadline = Date.now() + (options.timeoutMs ?? this.defaultTimeoutMs);
    const key = poolKey(request.url ?? '');
    const sent = wireRequest(request);
    for (let attempt = 1; ; attempt++) {
      if (options.signal?.aborted) throw FetchpoolError.cancelled();
      try {
        const response = await this.fetchOnce(sent, key, deadline, options.signal);
        this.budget.recordSuccess();
        return response;
      } catch (caught) {
        const error = toFetchpoolError(caught);
        if (isRetryableFailure(error)) this.budget.recordFailure();
        if (error.code === grpc.status.UNAVAILABLE && error.reason === '') this.replicas.transportFailed();
        if (attempt >= MAX_ATTEMPTS || !shouldRetry(error, request) || !this.budget.allowsRetry()) throw error;
        const pause = backoffMs(attempt);
        if (Date.now() + pause >= deadline) throw error;
        await sleep(pause, options.signal);
      }
    }
  }

  private async fetchOnce(
    request: FetchRequest,
    key: string | undefined,
    deadline: number,
    signal: AbortSignal | undefined,
  ): Promise<FetchResponse__Output> {
    const { client } = await this.replicas.pick(key);
    const metadata = this.metadata();
    if (key !== undefined) metadata.set(POOL_KEY_HEADER, key);
    return this.unary(signal, (done) => client.Fetch(request, metadata, { deadline }, done));
  }

  /** A snapshot of the pools (of one replica, with affinity), or of one pool key. */
  async stats(host = '', options: CallOptions = {}): Promise<StatsResponse__Output> {
    const deadline = Date.now() + (options.timeoutMs ?? this.defaultTimeoutMs);
    const { client } = await this.replicas.pick(undefined);
    return this.unary(options.signal, (done) => client.Stats({ host }, this.metadata(), { deadline }, done));
  }

  /** A StatsResponse every intervalMs (default 1 s) until the signal aborts. */
  async *watchStats(options: WatchStatsOptions = {}): AsyncGenerator<StatsResponse__Output> {
    const { signal } = options;
    if (signal?.aborted) return;
    const { client } = await this.replicas.pick(undefined);
    const call = client.WatchStats(
      { interval: durationMs(options.intervalMs ?? 1000), host: options.host ?? '' },
      this.metadata(),
    );
    const onAbort = () => call.cancel();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      for await (const response of call) yield response as StatsResponse__Output;
    } catch (error) {
      if (!signal?.aborted) throw toFetchpoolError(error);
    } finally {
      signal?.removeEventListener('abort', onAbort);
      call.cancel();
    }
  }

  /** The FetchStream wrapper (one stream per replica with affinity). */
  openStream(options: StreamOptions = {}): FetchStream {
    return new FetchStream(this.replicas, () => this.metadata(), options.maxInFlight ?? 256);
  }

  close(): void {
    this.replicas.close();
  }

  private metadata(): grpc.Metadata {
    const metadata = new grpc.Metadata();
    // Set per call rather than as call credentials, which grpc-js refuses on
    // a plaintext channel (allowTokenOverPlaintext).
    if (this.token !== undefined) metadata.set('authorization', `Bearer ${this.token}`);
    return metadata;
  }

  private unary<T>(
    signal: AbortSignal | undefined,
    start: (done: (error: grpc.ServiceError | null, value?: T) => void) => grpc.ClientUnaryCall,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => call.cancel();
      const call = start((error, value) => {
        signal?.removeEventListener('abort', onAbort);
        if (error) reject(signal?.aborted ? FetchpoolError.cancelled() : FetchpoolError.fromServiceError(error));
        else resolve(value as T);
      });
      signal?.addEventListener('abort', onAbort, { once: true });
      if (signal?.aborted) call.cancel(); // aborted while a replica was picked
    });
  }
}
