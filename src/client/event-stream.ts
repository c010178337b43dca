// A pull-based queue of events that ends once, quietly or with an error: what
// `for await` consumes for ZooKeeper.watch(). Events pushed before the end are
// still handed out first; return() (a loop left by break) ends it and runs the
// owner's clean-up. Like Node's events.on(), it buffers what the consumer has
// not pulled yet.

export class EventStream<T> implements AsyncIterableIterator<T> {
  private readonly queue: T[] = [];
  private wake: (() => void) | undefined;
  private ending: { error?: unknown } | undefined;

  constructor(private readonly onEnd: () => Promise<void>) {}

  push(value: T): void {
    if (this.ending) return;
    this.queue.push(value);
    this.wake?.();
  }

  /** No more events; the consumer gets the queued ones, then `error` if given, then done. */
  end(error?: unknown): void {
    if (this.ending) return;
    this.ending = { error };
    this.wake?.();
    void this.onEnd();
  }

  async next(): Promise<IteratorResult<T, undefined>> {
    for (;;) {
      if (this.queue.length > 0) return { value: this.queue.shift()!, done: false };
      if (this.ending) {
        const { error } = this.ending;
        this.ending = {}; // the error is thrown once
        if (error !== undefined) throw error;
        return { value: undefined, done: true };
      }
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
  }

  async return(): Promise<IteratorResult<T, undefined>> {
    this.queue.length = 0;
    this.end();
    await this.onEnd();
    return { value: undefined, done: true };
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
