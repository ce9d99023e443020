// Copies the one fetchpool.proto (proto/ at the repository root) into this
// package, so the published package loads the same file at run time that
// proto-loader-gen-types generated its types from. Not committed: no copy
// to drift.
const fs = require('node:fs');
const path = require('node:path');

const source = path.resolve(__dirname, '../../../proto/fetchpool/v1/fetchpool.proto');
const target = path.resolve(__dirname, '../proto/fetchpool/v1/fetchpool.proto');
if (fs.existsSync(source)) {
  fs.mkdirSync(path.dirname(target), { recursive: true });
  fs.copyFileSync(source, target);
} else if (!fs.existsSync(target)) {
  throw new Error(`fetchpool.proto not found at ${source}`);
}
