// The Node.js flags a Paddock server process runs with. bin/paddock.js, run as
// a program, starts Node with them (its second line spells them out, since a
// shell reads it); whatever spawns a server with `node bin/paddock.js` passes
// them itself (paddock/testing, the tests' and benchmarks' launcher).
//
// Why: V8 sizes the old generation's limit from the live heap, and a server's is
// small (about 8 MB), so under write load V8 ran a full mark-compact every
// ~50 ms (about 100 in 7 s of setData at 32 in flight), each a pause that
// every request in flight waits out. A 64 MB initial old space keeps the limit
// above what the server lives with: in the same run no mark-compact, setData
// p99 9.4 -> 3.7 ms and 12% more throughput, RSS unchanged (~120 MiB). The
// flag can only be given on Node's command line (not NODE_OPTIONS, and
// v8.setFlagsFromString is too late).
export const SERVER_NODE_FLAGS: readonly string[] = ['--initial-old-space-size=64'];
