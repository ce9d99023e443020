// fetchpool-ring-v1 (client-sdk/README.md, "Host affinity"): consistent
// hashing of pool keys over replica addresses, identical in every SDK that
// keeps its own ring so that one origin lands on one replica whatever the
// caller's language.
import { createHash } from 'node:crypto';
import { isIPv6 } from 'node:net';

export const POINTS_PER_MEMBER = 256;

/** The first 8 bytes of SHA-256(text) as a big-endian unsigned 64-bit number. */
export function ringPoint(text: string): bigint {
  return createHash('sha256').update(text, 'utf8').digest().readBigUInt64BE(0);
}

/** A ring member's name: ip:port, or [ip]:port for IPv6. */
export function memberName(address: string, port: number | string): string {
  return isIPv6(address) ? `[${address}]:${port}` : `${address}:${port}`;
}

interface RingPoint {
  point: bigint;
  member: string;
}

export class Ring {
  private readonly points: RingPoint[] = [];
  readonly members: readonly string[];

  constructor(members: Iterable<string>) {
    this.members = [...new Set(members)].sort();
    for (const member of this.members) {
      for (let i = 0; i < POINTS_PER_MEMBER; i++) {
        this.points.push({ point: ringPoint(`${member}#${i}`), member });
      }
    }
    // Equal points: the member that sorts first comes first, so it wins.
    this.points.sort((a, b) =>
      a.point < b.point ? -1 : a.point > b.point ? 1 : a.member < b.member ? -1 : a.member > b.member ? 1 : 0);
  }

  /** The member owning `key`: the first point at or after the key's, wrapping around. */
  pick(key: string): string | undefined {
    if (this.points.length === 0) return undefined;
    const target = ringPoint(key);
    let low = 0;
    let high = this.points.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (this.points[mid].point < target) low = mid + 1;
      else high = mid;
    }
    return this.points[low === this.points.length ? 0 : low].member;
  }
}
