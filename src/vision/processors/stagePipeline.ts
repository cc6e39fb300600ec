/** One step an item goes through; it may finish later (model inference) or at once. */
export type Stage<T> = (item: T) => Promise<T> | T;

const ignore = () => {};

/**
 * Stages that several items may be in at once, as on an assembly line: each stage takes the items one at
 * a time, in the order they were handed to `run`, so item N+1 can be in the first stage while item N is
 * in the second, yet no stage ever holds two items, and items come out in the order they went in.
 */
export class StagePipeline<T> {
  private readonly stages: Stage<T>[] = [];
  /** Per stage, settled once the last item handed to it has left it. */
  private free: Promise<unknown>[] = [];

  add(stage: Stage<T>): void {
    this.stages.push(stage);
    this.free.push(Promise.resolve());
  }

  /**
   * The item through every stage, in order; rejects with the first stage's error (later stages skip it), or
   * with `signal`'s reason when it is aborted before a stage starts.
   */
  run(item: T, signal?: AbortSignal): Promise<T> {
    let current: Promise<T> = Promise.resolve(item);
    this.free = this.free.map((free, s) => {
      const stage = this.stages[s];
      const entering = current;
      // After the previous item has left this stage, even when this one failed in an earlier one.
      current = free
        .then(() => entering)
        .then((value) => {
          signal?.throwIfAborted();
          return stage(value);
        });
      return current.then(ignore, ignore);
    });
    return current;
  }
}
