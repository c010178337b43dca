"""Drive kazoo (Debian's python3-kazoo, with pure-sasl) for the SASL tests.

argv: <hosts> <steps as JSON>. Connects (with sasl_options when the first step
is ["sasl", mechanism, user, password]), runs each step and prints one JSON
line per step: {"ok": value} or {"error": "<exception class>"}.
Steps: ["sasl", mech, user, pw] | ["create", path, data, [[perms, scheme, id], ...]]
       | ["get", path] | ["get_acls", path] | ["exists", path]
"""
import json
import sys

from kazoo.client import KazooClient
from kazoo.security import ACL, Id

hosts, steps = sys.argv[1], json.loads(sys.argv[2])
sasl = None
if steps and steps[0][0] == "sasl":
    _, mech, user, pw = steps.pop(0)
    sasl = {"mechanism": mech, "username": user, "password": pw}


def report(**kw):
    print(json.dumps(kw), flush=True)


zk = KazooClient(hosts=hosts, sasl_options=sasl, timeout=10, connection_retry={"max_tries": 0})
try:
    zk.start(timeout=15)
except Exception as e:  # the outcome under test: printed, not raised
    report(step="connect", error=type(e).__name__, message=str(e))
    zk.stop()
    sys.exit(0)
report(step="connect", ok=True)
for step in steps:
    op, path = step[0], step[1]
    try:
        if op == "create":
            acl = [ACL(p, Id(s, i)) for p, s, i in step[3]]
            value = zk.create(path, step[2].encode(), acl=acl)
        elif op == "get":
            value = zk.get(path)[0].decode()
        elif op == "get_acls":
            value = [[a.perms, a.id.scheme, a.id.id] for a in zk.get_acls(path)[0]]
        elif op == "exists":
            value = zk.exists(path) is not None
        else:
            raise ValueError(op)
        report(step=op, ok=value)
    except Exception as e:
        report(step=op, error=type(e).__name__)
zk.stop()
zk.close()
