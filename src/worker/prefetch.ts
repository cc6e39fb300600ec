/**
 * Pulls up to `depth` items ahead of the consumer, so the producer (the decoder) keeps working while the
 * consumer (processors, encoder) is busy; memory stays bounded by `depth` items.
 */
export async function* prefetch<T>(source: AsyncIterable<T>, depth: number): AsyncGenerator<T> {
  const iterator = source[Symbol.asyncIterator]();
  const ahead: Promise<IteratorResult<T>>[] = [];
  try {
    for (;;) {
      while (ahead.length < depth) {
        const next = iterator.next();
        // A read-ahead can fail (the decoder killed when the lease is lost) while the consumer is busy;
        // it is awaited in turn, and must not count as unhandled before then: that ends a worker process.
        next.catch(() => {});
        ahead.push(next);
      }
      const next = await ahead.shift()!;
      if (next.done) return;
      yield next.value;
    }
  } finally {
    // Settle the read-ahead before closing, so no rejection is left unhandled.
    await Promise.allSettled(ahead);
    await iterator.return?.();
  }
}
