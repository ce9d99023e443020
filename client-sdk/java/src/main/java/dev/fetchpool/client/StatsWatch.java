package dev.fetchpool.client;

import dev.fetchpool.v1.FetchPoolGrpc;
import dev.fetchpool.v1.StatsResponse;
import dev.fetchpool.v1.WatchStatsRequest;
import io.grpc.Channel;
import io.grpc.Context;
import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.Spliterator;
import java.util.Spliterators;
import java.util.stream.Stream;
import java.util.stream.StreamSupport;

/**
 * A WatchStats call: a StatsResponse every interval until {@link #close()}. It has no
 * deadline (it is long-lived); close it to end the call.
 */
public final class StatsWatch implements Iterator<StatsResponse>, AutoCloseable {
  private final Context.CancellableContext context;
  private final Iterator<StatsResponse> responses;
  private volatile boolean closed;

  StatsWatch(Channel channel, WatchStatsRequest request) {
    this.context = Context.current().withCancellation();
    Context previous = context.attach();
    try {
      this.responses = FetchPoolGrpc.newBlockingStub(channel).watchStats(request);
    } finally {
      context.detach(previous);
    }
  }

  /** Blocks until the next response; false once closed or when the server ends the call. */
  @Override
  public boolean hasNext() {
    if (closed) return false;
    try {
      return responses.hasNext();
    } catch (RuntimeException e) {
      if (closed) return false;
      throw FetchpoolException.fromThrowable(e);
    }
  }

  @Override
  public StatsResponse next() {
    if (!hasNext()) throw new NoSuchElementException("the stats watch has ended");
    return responses.next();
  }

  /** The responses as a Stream; closing the stream closes the watch. */
  public Stream<StatsResponse> stream() {
    return StreamSupport.stream(Spliterators.spliteratorUnknownSize(this, Spliterator.ORDERED), false)
        .onClose(this::close);
  }

  @Override
  public void close() {
    closed = true;
    context.cancel(null);
  }
}
