// ipx (unjs, on sharp) as a plain Node HTTP server over a directory, for `make bench-peers`.
// Run with NODE_PATH pointing at the node_modules that holds ipx; PORT and IPX_DIR from env.
const { createServer } = require("node:http");
const { createIPX, ipxFSStorage, createIPXNodeServer } = require("ipx");

const ipx = createIPX({ storage: ipxFSStorage({ dir: process.env.IPX_DIR }) });
createServer(createIPXNodeServer(ipx)).listen(Number(process.env.PORT), "127.0.0.1");
