// Collections whose entries come and go with every write, and what V8 makes of
// them.
//
// V8 rehashes a Map's (or Set's) table every few hundred inserts when entries
// are deleted too. Once the current table is in the old generation (any
// mark-compact under load moves it there), the new table is allocated there as
// well, and the dead table still points at every entry it held. The scavenger
// takes those pointers for roots, so every entry that passed through survives
// into the old generation, with all it references. Measured on a 3-peer
// ensemble under create+delete after a setData run: 1.3 MB promoted per
// scavenge instead of 35 KB, scavenges 3-4x longer, a mark-compact about every
// second, create+delete p99 24 ms instead of 14 ms; once a first mark-compact
// had happened, for as long as the load lasted.
//
// The remedies: a FIFO keyed by zxid is a ring buffer that clears the slot it
// gives up (src/zab/zxid-queue.ts); a keyed collection is copied into a new one
// now and then (Renewal below), whose table is young again, which bounds what
// dead tables can hold to what passed through since the last copy.

/** Deletes between copies: at least this many, and at least the collection's size (at most one entry copied per delete). */
const RENEW_EVERY = 2048;
/**
 * Larger collections are not copied: a copy would stall the loop (about 2 ms for
 * 8k entries, 20 ms for 64k), and what their dead tables hold is small anyway,
 * since a table is rehashed once per (capacity - size) inserts.
 */
const RENEW_MAX = 4096;

/** Counts the deletes from one collection and says when to copy it: `if (renewal.due(map.size)) map = new Map(map)`. */
export class Renewal {
  private deletes = 0;

  /** Count a delete from a collection now holding `size` entries; true when it is time to copy it. */
  due(size: number): boolean {
    if (++this.deletes < Math.max(RENEW_EVERY, size)) return false;
    this.deletes = 0;
    return size <= RENEW_MAX;
  }
}
