// An in-process FetchPool server on loopback with scripted answers, for the
// client's own behaviour (retries, metadata, affinity, the stream wrapper).
// The URL's path says what to do:
//   /ok            200; pool = the call's fetchpool-pool-key, remoteAddress = this server's name
//   /fail?n=N&code=C&reason=R   fail N times with gRPC code C and reason R, then 200
//   /slow?ms=N     200 after N ms
//   /error-in-stream   (FetchStream) an answer with `error` set
//   /break-stream      (FetchStream) ends the whole stream UNAVAILABLE
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const definition = protoLoader.loadSync(path.join(__dirname, '..', 'proto', 'fetchpool', 'v1', 'fetchpool.proto'), {
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
});
const { FetchPool } = grpc.loadPackageDefinition(definition).fetchpool.v1;

class FakeFetchpool {
  constructor(name) {
    this.name = name;
    this.calls = []; // { url, method, poolKey, authorization }
    this.streams = [];
    this.failures = new Map();
    this.server = new grpc.Server();
    this.server.addService(FetchPool.service, {
      Fetch: (call, callback) => this.fetch(call, callback),
      Stats: (call, callback) => callback(null, { pools: [{ host: this.name }], poolCount: 1 }),
      WatchStats: (call) => {
        let sent = 0;
        const timer = setInterval(() => call.write({ poolCount: ++sent }), 20);
        call.on('cancelled', () => clearInterval(timer));
      },
      FetchStream: (call) => this.fetchStream(call),
    });
  }

  async start(host = '127.0.0.1', port = 0) {
    this.port = await new Promise((resolve, reject) =>
      this.server.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (error, bound) =>
        error ? reject(error) : resolve(bound),
      ),
    );
    return this;
  }

  stop() {
    this.server.forceShutdown();
  }

  callsTo(pathname) {
    return this.calls.filter((call) => new URL(call.url).pathname === pathname).length;
  }

  fetch(call, callback) {
    const request = call.request;
    const metadata = call.metadata;
    this.calls.push({
      url: request.url,
      method: request.method,
      poolKey: metadata.get('fetchpool-pool-key')[0],
      authorization: metadata.get('authorization')[0],
    });
    if (!URL.canParse(request.url)) {
      callback({ code: grpc.status.INVALID_ARGUMENT, details: 'INVALID_URL' });
      return;
    }
    const url = new URL(request.url);
    const answer = { status: 200, pool: String(metadata.get('fetchpool-pool-key')[0] ?? ''), remoteAddress: this.name };
    if (url.pathname === '/fail') {
      const failed = this.failures.get(request.url) ?? 0;
      if (failed < Number(url.searchParams.get('n'))) {
        this.failures.set(request.url, failed + 1);
        const trailer = new grpc.Metadata();
        const reason = url.searchParams.get('reason');
        if (reason) trailer.set('fetchpool-reason', reason);
        callback({ code: Number(url.searchParams.get('code')), details: `${reason}: scripted`, metadata: trailer });
        return;
      }
    }
    if (url.pathname === '/slow') {
      setTimeout(() => callback(null, answer), Number(url.searchParams.get('ms')));
      return;
    }
    callback(null, answer);
  }

  fetchStream(call) {
    const record = { poolKey: call.metadata.get('fetchpool-pool-key')[0], requests: 0, maxOpen: 0 };
    this.streams.push(record);
    let open = 0;
    let ended = false;
    const finishIfDone = () => ended && open === 0 && call.end();
    call.on('data', (request) => {
      record.requests++;
      open++;
      record.maxOpen = Math.max(record.maxOpen, open);
      const url = new URL(request.url);
      if (url.pathname === '/break-stream') {
        call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'scripted break' });
        return;
      }
      const delay = url.pathname === '/slow' ? Number(url.searchParams.get('ms')) : Math.random() * 5;
      setTimeout(() => {
        open--;
        if (url.pathname === '/error-in-stream') {
          call.write({ id: request.id, error: { code: 4, reason: 'WAIT_TIMEOUT', message: 'scripted' } });
        } else {
          call.write({ id: request.id, status: 200, body: request.body, remoteAddress: this.name });
        }
        finishIfDone();
      }, delay);
    });
    call.on('end', () => {
      ended = true;
      finishIfDone();
    });
  }
}

module.exports = { FakeFetchpool };
