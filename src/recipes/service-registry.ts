// A service registry, after Curator's ServiceDiscovery (x-discovery) in a Node shape: a service instance is an
// ephemeral node `<basePath>/<name>/<id>` holding its JSON ({ name, id, address, port, payload,
// registrationTimeUTC }), so it disappears with the session of the process that registered it.
// `instances(name)` and `names()` read the registry once; `view(name)` is a live list of a service's instances
// kept by a tree cache (Curator's ServiceCache).
//
// Invariants:
//  - register() resolves once the node exists and belongs to this session. A create retried after
//    ConnectionLoss that finds the node already there and owned by this session counts as done; a node left by
//    another session (the same service restarted before its old session expired) is deleted and created again,
//    as Curator does, so watchers see the new registration.
//  - The nodes live as long as the session. When it expires they are gone; `resume(newSession)` registers every
//    instance this registry registered (and did not unregister) again through the new session, and moves its
//    live views to it.
//  - Nodes under a service that do not hold an instance's JSON are not instances: reads and views skip them.

import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { CreateMode } from '../client/acl.ts';
import { BadVersionError, NodeExistsError, NoNodeError } from '../client/errors.ts';
import { validatePath, type ZooKeeper } from '../client/zookeeper.ts';
import { ensureContainers, retrying } from './contenders.ts';
import { TreeCache } from './tree-cache.ts';

export interface ServiceInstance<P = unknown> {
  name: string;
  id: string;
  address: string;
  port: number;
  payload: P;
  registrationTimeUTC: number;
}

export interface Registration<P = unknown> {
  name: string;
  /** default: a random uuid */
  id?: string;
  address: string;
  port: number;
  /** anything JSON can hold; default null */
  payload?: P;
}

const absent = <T>(fallback: T) => (e: unknown): T => {
  if (e instanceof NoNodeError) return fallback;
  throw e;
};

/** The instance a node's data holds, or undefined when it holds none. */
function instanceOf<P>(data: Buffer | undefined): ServiceInstance<P> | undefined {
  if (!data) return undefined;
  try {
    const v = JSON.parse(data.toString()) as ServiceInstance<P>;
    return typeof v === 'object' && v !== null && typeof v.name === 'string' && typeof v.id === 'string' && typeof v.address === 'string' && Number.isInteger(v.port) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** A name or id is one path segment. */
function checkSegment(what: string, s: unknown): void {
  if (typeof s !== 'string' || s === '' || s === '.' || s === '..' || s.includes('/') || s.includes('\0')) throw new TypeError(`service ${what} must be a non-empty path segment, not ${JSON.stringify(s)}`);
}

interface ServiceViewEvents<P> {
  /** the instances after a change (only after the first load) */
  change: [ServiceInstance<P>[]];
  /** the view no longer follows the registry (its session ended); the registry's resume() moves it on */
  stopped: [Error];
  closed: [];
}

/** The live instances of one service, kept by a tree cache of `<basePath>/<name>`. */
export class ServiceView<P = unknown> extends EventEmitter<ServiceViewEvents<P>> {
  private readonly cache: TreeCache;
  private loaded = false;

  constructor(
    zk: ZooKeeper,
    servicePath: string,
    /** told when the view is closed (the registry stops moving it along) */
    private readonly onClose: () => void = () => undefined,
  ) {
    super();
    this.cache = new TreeCache(zk, servicePath);
    this.cache.once('initialized', () => (this.loaded = true));
    this.cache.on('change', (e) => this.loaded && e.path !== servicePath && this.emit('change', this.instances())); // instances are the nodes below
    this.cache.on('stopped', (reason) => this.emit('stopped', reason));
    this.cache.on('closed', () => this.emit('closed'));
  }

  /** Load the instances and follow them; resolves once loaded. */
  start(): Promise<void> {
    return this.cache.start().initialized;
  }

  /** Follow the instances through another session (the registry's resume() does it); resolves once read again. */
  resume(zk: ZooKeeper): Promise<void> {
    return this.cache.resume(zk);
  }

  /** The instances as last seen, by id. */
  instances(): ServiceInstance<P>[] {
    const dir = this.cache.path;
    return this.cache
      .children(dir)
      .sort()
      .flatMap((id) => instanceOf<P>(this.cache.get(`${dir}/${id}`)?.data) ?? []);
  }

  async close(): Promise<void> {
    this.onClose();
    await this.cache.close();
  }
}

export class ServiceRegistry {
  /** what this registry registered and has not unregistered, by path: registered again by resume() */
  private readonly registered = new Map<string, ServiceInstance>();
  private readonly views = new Set<ServiceView<unknown>>();

  constructor(
    private zk: ZooKeeper,
    readonly basePath: string,
  ) {
    validatePath(basePath);
  }

  private servicePath(name: string): string {
    checkSegment('name', name);
    return this.basePath === '/' ? `/${name}` : `${this.basePath}/${name}`;
  }

  private instancePath(name: string, id: string): string {
    checkSegment('id', id);
    return `${this.servicePath(name)}/${id}`;
  }

  /** Register an instance (an ephemeral node of this session); resolves to what was stored. */
  async register<P = null>(registration: Registration<P>): Promise<ServiceInstance<P>> {
    const { name, id = randomUUID(), address, port, payload = null } = registration;
    if (typeof address !== 'string' || address === '') throw new TypeError(`service ${name}: address must be a non-empty string`);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`service ${name}: port must be an integer in 0..65535, not ${port}`);
    const path = this.instancePath(name, id);
    const instance = { name, id, address, port, payload: payload as P, registrationTimeUTC: Date.now() };
    await this.publish(this.zk, path, instance);
    this.registered.set(path, instance);
    return instance;
  }

  /** Remove an instance this registry registered (or any, by name and id); a no-op when it is gone already. */
  async unregister(instance: { name: string; id: string }): Promise<void> {
    const path = this.instancePath(instance.name, instance.id);
    this.registered.delete(path);
    await retrying(this.zk, undefined, () => this.zk.delete(path)).catch(absent(undefined));
  }

  /** The names of the services with a node under basePath. */
  async names(): Promise<string[]> {
    return (await retrying(this.zk, undefined, () => this.zk.getChildren(this.basePath)).catch(absent([]))).sort();
  }

  /** The instances of service `name` now, by id. */
  async instances<P = unknown>(name: string): Promise<ServiceInstance<P>[]> {
    const dir = this.servicePath(name);
    const ids = (await retrying(this.zk, undefined, () => this.zk.getChildren(dir)).catch(absent([]))).sort();
    const nodes = await Promise.all(ids.map((id) => retrying(this.zk, undefined, () => this.zk.getData(`${dir}/${id}`)).catch(absent(undefined))));
    return nodes.flatMap((node) => instanceOf<P>(node?.data) ?? []);
  }

  /** A live view of service `name`'s instances; resolves once loaded. close() it when done. */
  async view<P = unknown>(name: string): Promise<ServiceView<P>> {
    const view: ServiceView<P> = new ServiceView<P>(this.zk, this.servicePath(name), () => this.views.delete(view));
    this.views.add(view);
    try {
      await view.start();
    } catch (e) {
      await view.close();
      throw e;
    }
    return view;
  }

  /**
   * Carry on through a new session (after the old one expired): every instance registered here is registered again
   * through `zk`, and every open view follows the registry through it.
   */
  async resume(zk: ZooKeeper): Promise<void> {
    this.zk = zk;
    for (const [path, instance] of this.registered) await this.publish(zk, path, instance);
    await Promise.all([...this.views].map((v) => v.resume(zk)));
  }

  /** Create the instance's ephemeral node, taking over one left by another session. */
  private async publish(zk: ZooKeeper, path: string, instance: ServiceInstance): Promise<void> {
    const data = Buffer.from(JSON.stringify(instance));
    for (;;) {
      try {
        await retrying(zk, undefined, () => zk.create(path, data, { mode: CreateMode.ephemeral }));
        return;
      } catch (e) {
        if (e instanceof NoNodeError) {
          await ensureContainers(zk, path.slice(0, path.lastIndexOf('/')));
          continue;
        }
        if (!(e instanceof NodeExistsError)) throw e;
      }
      const stat = await retrying(zk, undefined, () => zk.exists(path));
      if (stat?.ephemeralOwner === zk.sessionId) return; // our own create, applied though its reply was lost
      // left by another session: replace it (a raced delete or change just means trying again)
      if (stat) await retrying(zk, undefined, () => zk.delete(path, stat.version)).catch((e: unknown) => {
        if (!(e instanceof NoNodeError || e instanceof BadVersionError)) throw e;
      });
    }
  }
}

/** The service registry under `basePath`: `await serviceRegistry(zk, '/services').register({ name: 'api', address, port })`. */
export const serviceRegistry = (zk: ZooKeeper, basePath: string): ServiceRegistry => new ServiceRegistry(zk, basePath);
