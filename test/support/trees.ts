// A tree as clients see it — every node's data and Stat, walked from "/" —
// read from a ZooKeeper server through a client, or from a Paddock DataTree,
// so that replicas can be compared node by node.

import type { ZooKeeperClient } from '../../src/client/index.ts';
import type { Stat } from '../../src/proto/records.ts';
import type { DataTree } from '../../src/tree/datatree.ts';

export type NodeView = { data: string; stat: object };

/**
 * Each ZooKeeper server stamps /zookeeper/config with its own start time (mtime), so two
 * servers of one ensemble differ there.
 */
const comparable = (path: string, stat: Stat): object => (path === '/zookeeper/config' ? { ...stat, mtime: 'per server' } : stat);

const childPath = (parent: string, child: string): string => (parent === '/' ? `/${child}` : `${parent}/${child}`);

/** Every node a ZooKeeper server serves, in path order. */
export async function zkNodes(client: ZooKeeperClient): Promise<Map<string, NodeView>> {
  const out = new Map<string, NodeView>();
  const walk = async (path: string): Promise<void> => {
    const { data, stat } = await client.getData(path);
    out.set(path, { data: (data ?? Buffer.alloc(0)).toString('hex'), stat: comparable(path, stat) });
    for (const child of (await client.getChildren(path)).sort()) await walk(childPath(path, child));
  };
  await walk('/');
  return out;
}

/** Every node of a Paddock tree, in the same form and order. */
export function treeNodes(tree: DataTree): Map<string, NodeView> {
  const out = new Map<string, NodeView>();
  const walk = (path: string): void => {
    const node = tree.get(path)!;
    out.set(path, { data: (node.data ?? Buffer.alloc(0)).toString('hex'), stat: comparable(path, node.stat()) });
    for (const child of [...node.children].sort()) walk(childPath(path, child));
  };
  walk('/');
  return out;
}

/** A canonical text of such a map, for equality checks. */
export const nodesText = (nodes: Map<string, NodeView>): string =>
  JSON.stringify([...nodes].map(([path, v]) => [path, v.data, v.stat]), (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
