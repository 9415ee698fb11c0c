'use strict';
// Starts a real wgclusterd for a test: a temp UCI config with free loopback ports, a temp data_dir
// and a temp control socket. WireGuard is pointed at a program that does not exist, so nothing on
// the machine is touched even if the data plane tries to bring an interface up.

const fs = require('node:fs');
const os = require('node:os');
const net = require('node:net');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');

const REPO = path.resolve(__dirname, '..', '..', '..');
const APP_DIR = path.join(REPO, 'luci-app', 'luci-app-wgcluster');

function binary() {
  if (process.env.WGCLUSTERD) return process.env.WGCLUSTERD;
  const target = process.env.CARGO_TARGET_DIR || path.join(REPO, 'target');
  return path.join(target, 'debug', 'wgclusterd');
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Runs `wgclusterd rpcd call METHOD` like rpcd does; returns the parsed single JSON object. */
function rpcdCall(bin, config, method, input, env) {
  const r = spawnSync(bin, ['rpcd', 'call', method, '--config', config], {
    input: input === undefined ? '' : JSON.stringify(input),
    env: env || process.env,
    timeout: 30000,
  });
  const out = r.stdout.toString();
  if (r.status !== 0) throw new Error(`rpcd call ${method} exited ${r.status}: ${out} ${r.stderr}`);
  const lines = out.trim().split('\n');
  if (lines.length !== 1) throw new Error(`rpcd call ${method} printed ${lines.length} lines: ${out}`);
  const v = JSON.parse(out);
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error(`rpcd call ${method} printed no JSON object: ${out}`);
  return v;
}

/**
 * opts.nodeId (default 'luci-r1'); opts.join = { token, peer }: a second router that joins an
 * existing cluster (`wgclusterd join`) instead of initialising its own (auto_init).
 */
async function startDaemon(name = 'luci', opts = {}) {
  const nodeId = opts.nodeId || 'luci-r1';
  const bin = binary();
  if (!fs.existsSync(bin)) throw new Error(`${bin} does not exist: build it first (cargo build -p wgclusterd)`);
  const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), `wgc-${name}-`));
  const [apiPort, clusterPort] = [await freePort(), await freePort()];
  const config = path.join(tmpDir, 'wgcluster');
  const socket = path.join(tmpDir, 'wgc.sock');
  const dataDir = path.join(tmpDir, 'data');
  fs.writeFileSync(
    config,
    `# written by tests/luci for one test run
config daemon 'main'
\toption node_id '${nodeId}'
\toption data_dir '${dataDir}'
\toption api_listen '127.0.0.1:${apiPort}'
\toption cluster_listen '127.0.0.1:${clusterPort}'
\toption control_socket '${socket}'
\toption endpoint '${opts.endpoint || '192.0.2.10'}'
\toption wg_backend 'userspace'
\toption wg_userspace_bin '${path.join(tmpDir, 'no-such-wireguard-go')}'
\toption uapi_dir '${path.join(tmpDir, 'wireguard')}'
\toption keepalived_conf '${path.join(tmpDir, 'keepalived.conf')}'
\toption keepalived_pidfile '${path.join(tmpDir, 'keepalived.pid')}'
${opts.join ? '' : "\toption auto_init '1'\n"}\toption log_level 'info'
`,
  );
  const logFile = path.join(tmpDir, 'daemon.log');
  if (opts.join) {
    const j = spawnSync(bin, ['join', '--token', opts.join.token, '--peer', opts.join.peer, '--config', config], { timeout: 60000 });
    if (j.status !== 0) throw new Error(`wgclusterd join exited ${j.status}: ${j.stdout}${j.stderr}`);
  }
  const log = fs.openSync(logFile, 'a');
  const child = spawn(bin, ['run', '--config', config], { stdio: ['ignore', log, log] });
  let exited = null;
  child.on('exit', (code, sig) => (exited = { code, sig }));

  const deadline = Date.now() + 60000;
  let last = null;
  for (;;) {
    if (exited) throw new Error(`wgclusterd exited early (${JSON.stringify(exited)}):\n${fs.readFileSync(logFile, 'utf8')}`);
    if (fs.existsSync(socket)) {
      try {
        last = rpcdCall(bin, config, 'status', {});
        if (last.status === true && last.data && last.data.leader) break;
      } catch (e) {
        last = e.message;
      }
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`wgclusterd did not become ready: ${JSON.stringify(last)}\n${fs.readFileSync(logFile, 'utf8')}`);
    }
    await sleep(100);
  }
  const tokenFile = path.join(dataDir, 'admin.token');
  const token = fs.existsSync(tokenFile) ? fs.readFileSync(tokenFile, 'utf8').trim() : null;
  const apiUrl = `http://127.0.0.1:${apiPort}`;

  async function api(method, p, body) {
    const res = await fetch(apiUrl + p, {
      method,
      headers: { Authorization: `Bearer ${token}`, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    let json = null;
    try {
      json = JSON.parse(text);
    } catch (_) {
      /* text answers (config downloads) */
    }
    return { code: res.status, json, text };
  }

  async function stop() {
    if (!exited) {
      child.kill('SIGTERM');
      const t = Date.now();
      while (!exited && Date.now() - t < 10000) await sleep(50);
      if (!exited) child.kill('SIGKILL');
    }
    fs.closeSync(log);
  }

  return {
    bin,
    config,
    nodeId,
    clusterAddr: `127.0.0.1:${clusterPort}`,
    socket,
    tmpDir,
    logFile,
    token,
    apiUrl,
    api,
    call: (method, input, env) => rpcdCall(bin, config, method, input, env),
    stop,
    cleanup: () => fs.rmSync(tmpDir, { recursive: true, force: true }),
  };
}

module.exports = { startDaemon, rpcdCall, binary, freePort, sleep, REPO, APP_DIR };
