// The FetchStream wrapper: many fetches over one long-lived call per replica,
// each answer matched to its request by id. It never retries: an answer comes
// back as it is.
import { randomUUID } from 'node:crypto';
import { Metadata, status, type ClientDuplexStream } from '@grpc/grpc-js';
import type { FetchRequest } from './generated/fetchpool/v1/FetchRequest';
import type { FetchResponse__Output } from './generated/fetchpool/v1/FetchResponse';
import { FetchpoolError, toFetchpoolError } from './errors';
import { poolKey } from './poolKey';
import { wireRequest } from './wire';
import type { Replicas } from './replicas';

export const POOL_KEY_HEADER = 'fetchpool-pool-key';

interface Pending {
  resolve(response: FetchResponse__Output): void;
  reject(error: FetchpoolError): void;
}

/** One open FetchStream call, to one replica. */
interface Lane {
  call: ClientDuplexStream<FetchRequest, FetchResponse__Output>;
  pending: Map<string, Pending>;
  finished: Promise<void>;
}

export class FetchStream {
  private readonly lanes = new Map<string, Lane>();
  private readonly slotWaiters: (() => void)[] = [];
  private inFlight = 0;
  private nextId = 0;
  private closed = false;
  private readonly idPrefix = randomUUID().slice(0, 8);

  constructor(
    private readonly replicas: Replicas,
    private readonly metadata: () => Metadata,
    private readonly maxInFlight: number,
  ) {}

  /** Sends one fetch; resolves with its answer, rejects with FetchpoolError when it failed. */
  async submit(request: FetchRequest): Promise<FetchResponse__Output> {
    if (this.closed) throw new FetchpoolError(status.FAILED_PRECONDITION, '', 'the FetchStream is closed');
    await this.takeSlot();
    try {
      const key = poolKey(request.url ?? '');
      const id = request.id || `${this.idPrefix}-${this.nextId++}`;
      const lane = await this.laneFor(key);
      if (lane.pending.has(id)) {
        throw new FetchpoolError(status.INVALID_ARGUMENT, '', `id ${id} is already waiting for its answer`);
      }
      return await new Promise<FetchResponse__Output>((resolve, reject) => {
        lane.pending.set(id, { resolve, reject });
        lane.call.write({ ...wireRequest(request), id });
      });
    } finally {
      this.releaseSlot();
    }
  }

  /** Half-closes every stream and waits until every submitted fetch is answered. */
  async close(): Promise<void> {
    this.closed = true;
    const lanes = [...this.lanes.values()];
    for (const lane of lanes) lane.call.end();
    await Promise.all(lanes.map((lane) => lane.finished));
  }

  private async takeSlot(): Promise<void> {
    while (this.inFlight >= this.maxInFlight) {
      await new Promise<void>((wake) => this.slotWaiters.push(wake));
    }
    this.inFlight++;
  }

  private releaseSlot(): void {
    this.inFlight--;
    this.slotWaiters.shift()?.();
  }

  private async laneFor(key: string | undefined): Promise<Lane> {
    const replica = await this.replicas.pick(key);
    const existing = this.lanes.get(replica.member);
    if (existing) return existing;
    const metadata = this.metadata();
    // The key of the fetch that opened the stream, for a balancer or mesh
    // that routes the stream as a whole.
    if (key !== undefined) metadata.set(POOL_KEY_HEADER, key);
    const call = replica.client.FetchStream(metadata);
    const pending = new Map<string, Pending>();
    const finished = new Promise<void>((done) => {
      call.on('data', (response: FetchResponse__Output) => {
        const waiter = pending.get(response.id);
        if (!waiter) return;
        pending.delete(response.id);
        if (response.error) waiter.reject(FetchpoolError.fromFetchError(response.error));
        else waiter.resolve(response);
      });
      const end = (error: FetchpoolError) => {
        if (this.lanes.get(replica.member)?.call === call) this.lanes.delete(replica.member);
        for (const waiter of pending.values()) waiter.reject(error);
        pending.clear();
        done();
      };
      call.on('error', (error) => end(toFetchpoolError(error)));
      call.on('status', (result) => {
        if (result.code === status.OK) {
          end(new FetchpoolError(status.UNAVAILABLE, '', 'the FetchStream ended before answering this fetch'));
        }
      });
    });
    const lane = { call, pending, finished };
    this.lanes.set(replica.member, lane);
    return lane;
  }
}
