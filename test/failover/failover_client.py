"""A session that moves between ensemble members, driven through kazoo 2.8
(/usr/bin/python3) for test/session-failover.test.ts.

    /usr/bin/python3 failover_client.py <connectString> <base> <sessionTimeoutMs>

Line protocol: see FailoverClient.java in this directory.
"""

import sys
import threading
import time

from kazoo.client import KazooClient
from kazoo.exceptions import ConnectionLoss
from kazoo.recipe.watchers import DataWatch

lock = threading.Lock()


def say(line):
    with lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def expect(word):
    line = sys.stdin.readline().strip()
    if line != word:
        raise RuntimeError("expected %s on stdin, got %r" % (word, line))


def main():
    connect, base, timeout_ms = sys.argv[1], sys.argv[2], int(sys.argv[3])
    # Retry the connection forever (the test bounds the waits); commands fail fast so this loop sees them.
    zk = KazooClient(hosts=connect, timeout=timeout_ms / 1000.0,
                     connection_retry=dict(max_tries=-1, delay=0.1, backoff=1, max_delay=0.5),
                     command_retry=dict(max_tries=0))
    zk.start(timeout=60)
    try:
        session = zk.client_id[0]
        zk.create(base + "/eph", b"eph", ephemeral=True)

        # kazoo 2.8 sends no setWatches: on a connection loss it drops its watches (each hears a NONE
        # event). Its DataWatch recipe is how a kazoo user keeps a watch: it reads and watches again on
        # reconnect. Only node events count (on the first call, and on a re-read, event is None).
        def watched(data, stat, event):
            if event is not None:
                say("EVENT %s %s" % ({"CHANGED": "NodeDataChanged"}.get(event.type, event.type), event.path))

        DataWatch(zk, base + "/watched", watched)
        say("READY %x" % session)
        expect("MOVE")
        deadline = time.time() + 60
        while True:
            try:
                exists = zk.exists(base + "/eph") is not None
                break
            except ConnectionLoss:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
        say("MOVED %x %d" % (zk.client_id[0], 1 if exists else 0))
        expect("CLOSE")
        zk.stop()
        zk.close()
        say("CLOSED")
    except Exception as e:  # report, never hang
        say("ERROR %r" % (e,))
        sys.exit(1)


main()
