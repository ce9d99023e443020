const test = require('node:test');
const assert = require('node:assert/strict');
const { poolKey } = require('../dist/index.js');
const { formatIpv6 } = require('../dist/poolKey.js');
const { readVectors } = require('./vectors.js');

test('every line of testdata/pool_keys.tsv', () => {
  const vectors = readVectors('pool_keys.tsv');
  assert.ok(vectors.length >= 25);
  for (const [url, key] of vectors) assert.equal(poolKey(url), key, url);
});

test('unparseable and non-http URLs have no key', () => {
  for (const url of ['', 'not a url', 'ftp://example.com/', 'http://', 'http://example.com:99999/', 'http://[::1/']) {
    assert.equal(poolKey(url), undefined, url);
  }
});

test('IPv6 text as inet_ntop writes it', () => {
  assert.equal(formatIpv6('::ffff:7f00:1'), '::ffff:127.0.0.1');
  assert.equal(formatIpv6('::102:304'), '::1.2.3.4');
  assert.equal(formatIpv6('::1'), '::1');
  assert.equal(formatIpv6('::'), '::');
  assert.equal(formatIpv6('1::'), '1::');
  assert.equal(formatIpv6('1:0:2:0:0:3:0:4'), '1:0:2::3:0:4');
  assert.equal(formatIpv6('2001:db8::1:0:0:1'), '2001:db8::1:0:0:1');
});

test('zone ids are lower-cased and kept encoded', () => {
  assert.equal(poolKey('http://[FE80::1%25ETH0]/x'), 'http://[fe80::1%25eth0]:80');
  assert.equal(poolKey('https://[fe80::a%25lo]:8443'), 'https://[fe80::a%25lo]:8443');
});
