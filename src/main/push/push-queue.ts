/**
 * PushQueue (Istio pilot/pkg/xds/pushqueue.go): FIFO over connections with at most one pending
 * push per connection. Enqueueing a connection that is already pending merges the requests.
 * Enqueueing one that is being pushed (dequeued, not yet markDone) parks the request; markDone
 * re-enqueues it. So there is at most one in-flight push per connection, and follow-ups coalesce.
 */
import { PushRequest, mergePushRequests } from './push-request';

export class PushQueue<C> {
  private readonly pending = new Map<C, PushRequest>(); // insertion order = FIFO
  private readonly enqueuedAt = new Map<C, number>();
  private readonly processing = new Map<C, PushRequest | undefined>();
  private waiters: Array<() => void> = [];
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly now: () => number = Date.now) {}
  private closed = false;

  enqueue(conn: C, req: PushRequest): void {
    if (this.closed) return;
    if (this.processing.has(conn)) {
      const parked = this.processing.get(conn);
      this.processing.set(conn, parked ? mergePushRequests(parked, req) : req);
      return;
    }
    const existing = this.pending.get(conn);
    this.pending.set(conn, existing ? mergePushRequests(existing, req) : req);
    if (!existing) this.enqueuedAt.set(conn, this.now());
    this.wake();
  }

  /** Next connection to push, waiting while the queue is empty; undefined once closed. */
  async dequeue(): Promise<{ conn: C; req: PushRequest; queuedMs: number } | undefined> {
    for (;;) {
      if (this.closed) return undefined;
      const first = this.pending.entries().next();
      if (!first.done) {
        const [conn, req] = first.value;
        this.pending.delete(conn);
        this.processing.set(conn, undefined);
        const queuedMs = this.now() - (this.enqueuedAt.get(conn) ?? this.now());
        this.enqueuedAt.delete(conn);
        return { conn, req, queuedMs };
      }
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  /** The push of `conn` finished: re-enqueue anything parked meanwhile. */
  markDone(conn: C): void {
    const parked = this.processing.get(conn);
    this.processing.delete(conn);
    if (parked) this.enqueue(conn, parked);
    this.checkIdle();
  }

  /** Forget a connection (stream closed). */
  remove(conn: C): void {
    this.pending.delete(conn);
    this.enqueuedAt.delete(conn);
    if (this.processing.has(conn)) this.processing.set(conn, undefined); // let the in-flight push finish
    this.checkIdle();
  }

  /** Resolves when nothing is pending or being pushed. */
  idle(): Promise<void> {
    if (this.pending.size === 0 && this.processing.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private checkIdle(): void {
    if (this.pending.size !== 0 || this.processing.size !== 0) return;
    const w = this.idleWaiters;
    this.idleWaiters = [];
    for (const f of w) f();
  }

  get pendingSize(): number { return this.pending.size; }
  get processingSize(): number { return this.processing.size; }

  close(): void {
    this.closed = true;
    this.pending.clear();
    this.wake();
    this.checkIdle();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}
