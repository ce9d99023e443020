// Reads a client-sdk/testdata vector file: skips # lines, splits on TAB.
const fs = require('node:fs');
const path = require('node:path');

exports.readVectors = (name) =>
  fs
    .readFileSync(path.join(__dirname, '..', '..', 'testdata', name), 'utf8')
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => line.split('\t'));
