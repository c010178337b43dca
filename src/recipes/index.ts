// Curator's recipes on Paddock's client (src/client): one import for all of them. src/client/index.ts re-exports
// them, so the package's main entry (`paddock`) serves an application with the client and the recipes together.

export { lock, readWriteLock, Lock, type AcquireOptions } from './lock.ts';
export { leaderLatch, LeaderLatch, type LatchState } from './leader-latch.ts';
export { semaphore, Semaphore, type Lease } from './semaphore.ts';
export { treeCache, TreeCache, type CachedNode, type CacheEvent, type CacheState } from './tree-cache.ts';
export { serviceRegistry, ServiceRegistry, ServiceView, type Registration, type ServiceInstance } from './service-registry.ts';
export { leaderSelector, LeaderSelector, type LeaderSelectorListener, type SelectorState } from './leader-selector.ts';
export { barrier, Barrier, doubleBarrier, DoubleBarrier } from './barrier.ts';
export { distributedQueue, DistributedQueue } from './queue.ts';
export { sharedCount, SharedCount, type VersionedValue } from './shared-count.ts';
