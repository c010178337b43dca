#!/usr/bin/python3
"""One kazoo 2.8.0 client, driven line by line for test/readonly.test.ts.

    /usr/bin/python3 kazoo_driver.py <hosts> <read_only: 0|1>

Each stdin line is a JSON command, answered by one JSON line on stdout:
  {"op": "start", "timeout": s}              connect (KazooClient.start)
  {"op": "wait_state", "state": S, "timeout": s}
                                             wait until client_state is S
                                             (CONNECTED, CONNECTED_RO, ...)
  {"op": "get" | "exists" | "children", "path": p}
  {"op": "create", "path": p, "data": d, "ephemeral": bool}
  {"op": "set", "path": p, "data": d} / {"op": "delete", "path": p}
  {"op": "sync", "path": p}
  {"op": "stop"}                             close the session and exit
Answers: {"ok": true, "value": ..., "state": S, "session": hex}, or
{"ok": false, "error": ExceptionName, "code": zk code or null, "state": S}.
"""

import json
import logging
import sys
import time

from kazoo.client import KazooClient

logging.basicConfig(level=logging.WARNING, stream=sys.stderr)


def session_hex(zk):
    sid = zk.client_id[0] if zk.client_id else None
    return None if sid is None else format(sid & 0xFFFFFFFFFFFFFFFF, 'x')


def run(zk, cmd):
    op = cmd['op']
    path = cmd.get('path')
    if op == 'start':
        zk.start(timeout=cmd['timeout'])
        return None
    if op == 'wait_state':
        deadline = time.time() + cmd['timeout']
        while zk.client_state != cmd['state']:
            if time.time() > deadline:
                raise TimeoutError('still %s after %ss' % (zk.client_state, cmd['timeout']))
            time.sleep(0.05)
        return None
    if op == 'get':
        return zk.get(path)[0].decode()
    if op == 'exists':
        return zk.exists(path) is not None
    if op == 'children':
        return sorted(zk.get_children(path))
    if op == 'create':
        return zk.create(path, cmd.get('data', '').encode(), ephemeral=cmd.get('ephemeral', False))
    if op == 'set':
        zk.set(path, cmd['data'].encode())
        return None
    if op == 'delete':
        zk.delete(path)
        return None
    if op == 'sync':
        return zk.sync(path)
    raise ValueError('unknown op %r' % op)


def main():
    zk = KazooClient(hosts=sys.argv[1], read_only=sys.argv[2] == '1', timeout=20.0)
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd['op'] == 'stop':
            zk.stop()
            zk.close()
            print(json.dumps({'ok': True}), flush=True)
            return
        try:
            answer = {'ok': True, 'value': run(zk, cmd)}
        except Exception as e:  # the test compares the exception kinds and codes
            answer = {'ok': False, 'error': type(e).__name__, 'code': getattr(e, 'code', None), 'message': str(e)}
        answer['state'] = str(zk.client_state)
        answer['session'] = session_hex(zk)
        print(json.dumps(answer), flush=True)


if __name__ == '__main__':
    main()
