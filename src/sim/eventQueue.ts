import { Heap } from './heap.js';

interface Timed<T> {
  at: number;
  seq: number;
  value: T;
}

/** Timed events, earliest first; equal times pop in insertion order, so a run is deterministic. */
export class EventQueue<T> {
  private readonly heap = new Heap<Timed<T>>((a, b) => a.at < b.at || (a.at === b.at && a.seq < b.seq));
  private seq = 0;

  get size(): number {
    return this.heap.size;
  }

  push(at: number, value: T): void {
    this.heap.push({ at, seq: this.seq++, value });
  }

  pop(): { at: number; value: T } | undefined {
    return this.heap.pop();
  }
}
