package dev.fetchpool.client;

/** How the client spreads fetches over the target's replicas. */
public enum Affinity {
  /** round_robin over every resolved address (the default). */
  NONE,
  /** Each pool key to one replica, by fetchpool-ring-v1 over the resolved addresses. */
  HOST
}
