// An in-process stand-in for the net.Socket a Connection serves: the test
// emits 'data' itself and reads back what the connection wrote. By default
// every write is taken at once; with `backlog` set, written bytes pile up in
// writableLength (as a peer that does not read leaves them in Node's buffer)
// until drain() empties them and emits 'drain', as Node does.

import { EventEmitter } from 'node:events';

/** Node's default writableHighWaterMark: write() returns false at or above it. */
const HIGH_WATER_MARK = 16 * 1024;

export class FakeSocket extends EventEmitter {
  readonly remoteAddress = '127.0.0.1';
  readonly remotePort = 40000;
  readonly out: Buffer[] = [];
  writableLength = 0;
  /** keep written bytes in writableLength until drain() */
  backlog = false;
  paused = false;
  ended = false;
  destroyed = false;
  setNoDelay(): this {
    return this;
  }
  write(b: Buffer | string): boolean {
    this.out.push(Buffer.from(b));
    if (!this.backlog) return true;
    this.writableLength += Buffer.byteLength(b);
    return this.writableLength < HIGH_WATER_MARK;
  }
  /** The peer took everything written so far. */
  drain(): void {
    this.writableLength = 0;
    this.emit('drain');
  }
  end(b?: Buffer | string): this {
    if (b !== undefined) this.out.push(Buffer.from(b));
    this.ended = true;
    return this;
  }
  destroy(): this {
    if (!this.destroyed) {
      this.destroyed = true;
      this.emit('close');
    }
    return this;
  }
  pause(): this {
    this.paused = true;
    return this;
  }
  resume(): this {
    this.paused = false;
    return this;
  }
}
