// Which fetchpoold replica a call goes to. Without affinity: one grpc-js
// channel over every address of the target, round_robin. With affinity
// "host": grpc-js has no ring_hash keyed by a request header (that is only in
// @grpc/grpc-js-xds, behind xDS), so one channel per resolved address and
// fetchpool-ring-v1 over them, resolved again every 30 s and after a call
// fails UNAVAILABLE with no reason.
import { promises as dns } from 'node:dns';
import { status } from '@grpc/grpc-js';
import type { FetchPoolClient } from './generated/fetchpool/v1/FetchPool';
import { FetchpoolError } from './errors';
import { Ring, memberName } from './ring';

export const RESOLVE_INTERVAL_MS = 30_000;

/** Every address of a host name, as the system resolver (getaddrinfo) gives them. */
export async function lookupAll(host: string): Promise<string[]> {
  return (await dns.lookup(host, { all: true })).map(({ address }) => address);
}

export interface Replica {
  /** The ring member (ip:port), or "" for the one round_robin channel. */
  member: string;
  client: FetchPoolClient;
}

export interface Replicas {
  /** The replica for a pool key; any replica when the key is undefined. */
  pick(poolKey: string | undefined): Promise<Replica>;
  /** A hint that a replica may be gone (UNAVAILABLE with no reason). */
  transportFailed(): void;
  close(): void;
}

export class RoundRobinReplicas implements Replicas {
  private readonly replica: Replica;

  constructor(client: FetchPoolClient) {
    this.replica = { member: '', client };
  }

  async pick(): Promise<Replica> {
    return this.replica;
  }

  transportFailed(): void {}

  close(): void {
    this.replica.client.close();
  }
}

const NON_DNS_SCHEMES = /^(unix|unix-abstract|ipv4|ipv6|vsock|xds):/i;

/** host and port of a DNS target (host:port, [v6]:port, dns:///host:port); undefined for unix: and the like. */
export function parseDnsTarget(target: string): { host: string; port: string } | undefined {
  if (NON_DNS_SCHEMES.test(target)) return undefined;
  let rest = target;
  if (/^dns:/i.test(rest)) rest = rest.slice(4).replace(/^\/\/[^/]*\//, '');
  const bracketed = /^\[([^\]]+)\](?::(\d*))?$/.exec(rest);
  if (bracketed) return { host: bracketed[1], port: bracketed[2] || '443' };
  const colon = rest.lastIndexOf(':');
  // No port, or a bare IPv6 address: gRPC's default port.
  if (colon < 0 || rest.indexOf(':') !== colon) return { host: rest, port: '443' };
  return { host: rest.slice(0, colon), port: rest.slice(colon + 1) || '443' };
}

export class AffinityReplicas implements Replicas {
  private clients = new Map<string, FetchPoolClient>();
  private ring = new Ring([]);
  private resolving: Promise<void> | undefined;
  private lastError = '';
  private nextAnyIndex = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly host: string,
    private readonly port: string,
    private readonly newClient: (address: string) => FetchPoolClient,
    private readonly lookup: (host: string) => Promise<string[]> = lookupAll,
  ) {
    this.timer = setInterval(() => void this.refresh(), RESOLVE_INTERVAL_MS);
    this.timer.unref();
    void this.refresh();
  }

  /** The ring members now (for tests and diagnostics). */
  get members(): readonly string[] {
    return this.ring.members;
  }

  refresh(): Promise<void> {
    this.resolving ??= this.resolve().finally(() => {
      this.resolving = undefined;
    });
    return this.resolving;
  }

  private async resolve(): Promise<void> {
    let addresses: string[];
    try {
      addresses = await this.lookup(this.host);
    } catch (error) {
      // Keep the replicas we know: a failed lookup is not a sign they are gone.
      this.lastError = String(error);
      return;
    }
    const members = new Set(addresses.map((address) => memberName(address, this.port)));
    if (members.size === 0) return;
    for (const member of members) {
      if (!this.clients.has(member)) this.clients.set(member, this.newClient(member));
    }
    for (const [member, client] of this.clients) {
      if (members.has(member)) continue;
      this.clients.delete(member);
      client.close(); // calls in flight on it finish
    }
    this.ring = new Ring(members);
  }

  async pick(poolKey: string | undefined): Promise<Replica> {
    if (this.clients.size === 0) await this.refresh();
    const members = this.ring.members;
    if (members.length === 0) {
      throw new FetchpoolError(status.UNAVAILABLE, '', `cannot resolve ${this.host}: ${this.lastError}`);
    }
    const member = poolKey !== undefined ? this.ring.pick(poolKey)! : members[this.nextAnyIndex++ % members.length];
    return { member, client: this.clients.get(member)! };
  }

  transportFailed(): void {
    void this.refresh();
  }

  close(): void {
    clearInterval(this.timer);
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }
}
