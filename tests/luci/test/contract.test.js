'use strict';
// The contract between the views, the ACL file and the rpcd bridge: every rpc.declare() of the
// views is in the ACL and in `wgclusterd rpcd list` (with its params in the signature), and every
// method works through `wgclusterd rpcd call` against a real daemon, the way rpcd runs it.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { startDaemon, binary, rpcdCall, freePort, sleep, APP_DIR } = require('../lib/daemon');
const { viewFiles, declares, COMMON } = require('../lib/views');

const ACL = JSON.parse(fs.readFileSync(path.join(APP_DIR, 'root/usr/share/rpcd/acl.d/luci-app-wgcluster.json'), 'utf8'))['luci-app-wgcluster'];
const READ = ACL.read.ubus.wgcluster;
const WRITE = ACL.write.ubus.wgcluster;

function listed() {
  return JSON.parse(execFileSync(binary(), ['rpcd', 'list']).toString());
}

test('every rpc.declare of the views is in the ACL and in `rpcd list`, with its params', () => {
  const sig = listed();
  const used = new Set();
  for (const file of [...viewFiles(), COMMON]) {
    for (const d of declares(fs.readFileSync(file, 'utf8'))) {
      const where = `${path.basename(file)}:${d.line} ${d.object}.${d.method}`;
      assert.equal(d.object, 'wgcluster', `${where}: object`);
      assert.ok(READ.includes(d.method) || WRITE.includes(d.method), `${where}: not in the ACL file`);
      assert.ok(sig[d.method], `${where}: not in wgclusterd rpcd list`);
      for (const p of d.params) assert.ok(p in sig[d.method], `${where}: param ${p} is not in the method's signature`);
      used.add(d.method);
    }
  }
  assert.ok(used.size >= 25, `only ${used.size} methods declared`);
});

test('the ACL names exactly the methods `rpcd list` announces, reads apart from writes', () => {
  const sig = listed();
  assert.deepEqual([...READ, ...WRITE].sort(), Object.keys(sig).sort());
  for (const m of ['status', 'peers_list', 'audit_list', 'dns_queue_list', 'configs_list']) assert.ok(READ.includes(m), m);
  for (const m of ['peer_create', 'peer_delete', 'config_node_remove', 'dns_queue_retry', 'dns_settings_set', 'peer_config'])
    assert.ok(WRITE.includes(m), m);
});

test('rpcd call without a daemon, with bad input or an unknown method answers one JSON error object', () => {
  const bin = binary();
  const dir = fs.mkdtempSync('/tmp/wgc-nodaemon-');
  try {
    const config = path.join(dir, 'wgcluster');
    fs.writeFileSync(config, `config daemon 'main'\n\toption control_socket '${dir}/absent.sock'\n\toption data_dir '${dir}'\n`);
    const down = rpcdCall(bin, config, 'status', {});
    assert.equal(down.status, false);
    assert.match(down.error, /cannot reach the daemon/);
    const noConfig = rpcdCall(bin, path.join(dir, 'missing'), 'status', {});
    assert.equal(noConfig.status, false);
    assert.match(noConfig.error, /not found/);
    assert.match(rpcdCall(bin, config, 'frobnicate', {}).error, /unknown method 'frobnicate'/);
    assert.match(rpcdCall(bin, config, 'peer_delete', { config: 'wg0', peer_id: '../../api/nodes' }).error, /peer_id: .* must not contain '\/' or '\.\.'/);
    assert.match(rpcdCall(bin, config, 'node_delete', { node_id: 'a?b' }).error, /node_id: .*contains '\?'/);
    const r = require('node:child_process').spawnSync(bin, ['rpcd', 'call', 'status', '--config', config], { input: '{nope' });
    assert.equal(r.status, 0);
    assert.match(JSON.parse(r.stdout.toString()).error, /not valid JSON/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('every method works through `wgclusterd rpcd call` against a running daemon', async (t) => {
  const d = await startDaemon('contract');
  let passed = false;
  t.after(async () => {
    await d.stop();
    if (!passed) console.error(fs.readFileSync(d.logFile, 'utf8').split('\n').slice(-40).join('\n'));
    d.cleanup();
  });

  // A fake `ubus` that knows one LuCI session, as `ubus call session get` would answer.
  const bin = path.join(d.tmpDir, 'bin');
  fs.mkdirSync(bin);
  fs.writeFileSync(path.join(bin, 'ubus'),
    `#!/bin/sh\n[ "$1" = "-t" ] && shift 2\ncase "$4" in '{"ubus_rpc_session":"sess-1234"}') echo '{"values":{"username":"luci-alice"}}'; exit 0;; esac\nexit 6\n`, { mode: 0o755 });
  const env = { ...process.env, PATH: `${bin}:${process.env.PATH}` };
  const sid = { ubus_rpc_session: 'sess-1234' };

  const called = new Set();
  const call = (method, input = {}) => {
    called.add(method);
    return d.call(method, { ...input, ...sid }, env);
  };
  const ok = (method, input) => {
    const r = call(method, input);
    assert.equal(r.status, true, `${method} ${JSON.stringify(input)} -> ${JSON.stringify(r)}`);
    return r.data;
  };

  const cluster = ok('status');
  assert.equal(cluster.node_id, 'luci-r1');
  assert.equal(cluster.leader, 'luci-r1');
  assert.ok(ok('health').version);
  assert.ok(ok('nodes_list').some((n) => n.id === 'luci-r1'));
  assert.deepEqual(ok('configs_list'), []);

  ok('node_create', { id: 'r2', name: 'Router 2', endpoint: '192.0.2.20', weight: 1 });
  assert.equal(ok('node_update', { node_id: 'r2', weight: 2, name: 'Router two' }).weight, 2);
  ok('config_create', { name: 'wgt0', address: ['10.77.0.1/24'], listen_port: 51900, dns: ['10.77.0.1'], peer_keepalive: 25 });
  assert.equal(ok('config_update', { config: 'wgt0', mtu: 1420 }).mtu, 1420);
  ok('config_node_assign', { config: 'wgt0', node_id: 'luci-r1' });
  ok('config_node_assign', { config: 'wgt0', node_id: 'r2' });
  assert.deepEqual(ok('config_nodes', { config: 'wgt0' }).map((n) => n.id).sort(), ['luci-r1', 'r2']);

  const alice = ok('peer_create', { config: 'wgt0', name: 'alice', node_id: 'luci-r1' });
  const bulk = ok('peer_create', { config: 'wgt0', peers: [{ name: 'bulk-1' }, { name: 'bulk-2' }] });
  assert.equal(bulk.length, 2);
  assert.equal(ok('peers_list', { config: 'wgt0' }).length, 3);
  assert.equal(ok('peer_update', { config: 'wgt0', peer_id: alice.id, keepalive: 10 }).keepalive, 10);
  // limits (#15): set, then cleared with the empty string that stands for JSON null
  const limited = ok('peer_update', { config: 'wgt0', peer_id: alice.id, data_limit_bytes: 5000000000, expires_at: '2030-01-31' });
  assert.equal(limited.data_limit_bytes, 5000000000);
  assert.equal(limited.expires_at, Date.UTC(2030, 0, 31));
  const cleared = ok('peer_update', { config: 'wgt0', peer_id: alice.id, data_limit_bytes: '', expires_at: '' });
  assert.equal(cleared.data_limit_bytes, null);
  assert.equal(cleared.expires_at, null);
  const badLimit = call('peer_update', { config: 'wgt0', peer_id: alice.id, expires_at: 'next tuesday' });
  assert.equal(badLimit.code, 400);
  assert.match(badLimit.error, /expires_at/);
  const usage = ok('peer_usage', { config: 'wgt0', peer_id: alice.id, step: 'day' });
  assert.equal(usage.peer_id, alice.id);
  assert.equal(usage.step, 86400);
  assert.deepEqual(usage.buckets, []);
  assert.equal(ok('usage_settings_set', { interval_s: 30 }).interval_s, 30);
  assert.equal(ok('usage_settings_get').interval_s, 30);
  const conf = ok('peer_config', { config: 'wgt0', peer_id: alice.id });
  assert.match(conf.config, /\[Interface\][\s\S]*PrivateKey = [\s\S]*\[Peer\]/);
  assert.match(conf.qr_svg, /<svg/);
  assert.equal(ok('peer_config', { config: 'wgt0', peer_id: alice.id, format: 'conf' }).qr_svg, undefined);

  assert.equal(typeof ok('migrate', { config: 'wgt0', node_id: 'luci-r1', destination_node_id: 'r2' }).peers_migrated, 'number');

  // Cluster endpoint over RFC 2136 to a local port where nothing listens: the update fails and
  // lands in the retry queue, which is then retried and dropped through the bridge.
  const deadPort = await freePort();
  ok('dns_settings_set', { rfc2136: { server: `127.0.0.1:${deadPort}`, zone: 'example.test', key_name: 'k', key_secret: 'c2VjcmV0' } });
  assert.equal(ok('dns_settings_get').rfc2136.key_secret_set, true);
  ok('endpoint_group_set', { config: 'wgt0', domain: 'vpn.example.test', provider: 'rfc2136', ttl: 30, min_nodes: 1 });
  assert.equal(ok('endpoint_group_get', { config: 'wgt0' }).domain, 'vpn.example.test');
  let queue = [];
  for (let i = 0; i < 100 && !queue.length; i++) {
    queue = ok('dns_queue_list');
    if (!queue.length) await sleep(200);
  }
  assert.ok(queue.length, 'a failed DNS update is queued');
  assert.equal(ok('dns_status').find((s) => s.config_name === 'wgt0').domain, 'vpn.example.test');
  assert.equal(ok('dns_queue_retry', { id: queue[0].id }).id, queue[0].id);
  ok('dns_queue_drop', { id: queue[0].id });
  ok('endpoint_group_delete', { config: 'wgt0' });
  // #16: a deleted group's records are removed from the provider; this one never published any.
  assert.deepEqual(ok('dns_removals'), [], 'nothing was published, nothing to remove');

  const removed = ok('config_node_remove', { config: 'wgt0', node_id: 'r2' });
  assert.equal(typeof removed.peers_migrated, 'number');
  const backups = ok('backups_list');
  assert.ok(backups.length >= 1);
  const backup = ok('backup_get', { id: String(backups[0].id) });
  assert.equal(backup.config_name, 'wgt0');
  assert.ok('interface' in backup, 'backup_get answers the interface');
  assert.equal(ok('health_settings_get').unhealthy_after > 0, true);
  assert.equal(ok('health_settings_set', { unhealthy_after: 4, healthy_after: 2 }).unhealthy_after, 4);
  assert.equal(ok('health_settings_get').unhealthy_after, 4);
  const token = ok('join_token_create', { ttl_s: 600 });
  assert.equal(typeof token.token, 'string');
  assert.ok(token.expires_at > Date.now());
  // a member that is not in the cluster: the daemon's own refusal, as one JSON error object
  const notMember = call('member_remove', { node_id: 'not-a-member' });
  assert.equal(notMember.status, false, JSON.stringify(notMember));
  assert.match(notMember.error || notMember.message, /not-a-member/);
  ok('peer_delete', { config: 'wgt0', peer_id: alice.id });

  // the LuCI user is the audit user
  const audit = ok('audit_list', { entity_type: 'peer', action: 'peer_deleted', limit: 5, offset: 0 });
  assert.equal(audit.length, 1);
  assert.equal(audit[0].user, 'luci-alice');
  assert.equal(audit[0].entity_id, alice.id);
  assert.equal(ok('audit_list', { limit: 2, offset: 2 }).length, 2);
  // the daemon's one list of audit actions, and an unknown action refused naming that list
  const actions = ok('audit_actions');
  for (const a of ['peer_deleted', 'node_assigned', 'peers_rebalanced', 'drain_completed', 'join_token_created', 'peer_private_key_read'])
    assert.ok(actions.includes(a), `${a} in ${actions}`);
  assert.equal(new Set(actions).size, actions.length, 'action names are unique');
  const unknown = call('audit_list', { action: 'peer_frobbed' });
  assert.equal(unknown.status, false);
  assert.equal(unknown.code, 400);
  assert.match(unknown.error, /'peer_frobbed' is not an audit action .*\/api\/audit-logs\/actions/);
  // without a session (ubus CLI) or without a `ubus` binary the user is "ubus"
  const noSession = d.call('node_update', { node_id: 'r2', weight: 3 }, env);
  assert.equal(noSession.status, true);
  const last = ok('audit_list', { entity_type: 'node', entity_id: 'r2', limit: 1 });
  assert.equal(last[0].user, 'ubus');

  // a refusal of the daemon keeps its message and says which field was wrong
  const bad = call('peer_create', { config: 'wgt0', name: 'x', public_key: 'not-a-key' });
  assert.equal(bad.status, false);
  assert.match(bad.error, /public_key/);
  assert.equal(bad.code, 400);

  ok('node_delete', { node_id: 'r2' });
  ok('config_delete', { config: 'wgt0', force: true });
  assert.deepEqual(ok('configs_list'), []);

  assert.deepEqual([...called].sort(), Object.keys(listed()).sort(), 'every listed method was exercised');
  passed = true;
});
