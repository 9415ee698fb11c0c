'use strict';
// The harness's web server: serves a LuCI-like page shell, the harness runtime (harness/luci.js)
// and the app's views, and emulates uhttpd-mod-ubus + rpcd on POST /ubus:
//
//  - every call is checked against the app's real ACL file (root/usr/share/rpcd/acl.d), as rpcd's
//    session access check does for a user granted the app's read and write groups;
//  - `wgcluster` calls run the REAL rpcd bridge: `wgclusterd rpcd call METHOD --config FILE` with
//    the call's arguments plus `ubus_rpc_session` as JSON on stdin (what rpcd's exec-plugin does),
//    and only for methods that `wgclusterd rpcd list` announced;
//  - `uci` get/set/delete/apply are emulated on the test's UCI file (set/delete are staged, apply
//    writes the file, like a session's uci changes and `uci apply`).

const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');
const { spawn, execFileSync } = require('node:child_process');
const uci = require('./uci');

const MIME = { '.js': 'application/javascript', '.css': 'text/css', '.html': 'text/html', '.json': 'application/json' };

function loadAcl(appDir) {
  const dir = path.join(appDir, 'root/usr/share/rpcd/acl.d');
  const ubus = {};
  const uciRead = new Set();
  const uciWrite = new Set();
  for (const f of fs.readdirSync(dir)) {
    const acl = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
    for (const group of Object.values(acl)) {
      for (const kind of ['read', 'write']) {
        const g = group[kind] || {};
        for (const [obj, methods] of Object.entries(g.ubus || {})) {
          ubus[obj] = ubus[obj] || new Set();
          methods.forEach((m) => ubus[obj].add(m));
        }
        for (const c of g.uci || []) (kind === 'read' ? uciRead : uciWrite).add(c);
      }
    }
  }
  return { ubus, uciRead, uciWrite };
}

function loadMenu(appDir) {
  const dir = path.join(appDir, 'root/usr/share/luci/menu.d');
  const menu = {};
  for (const f of fs.readdirSync(dir)) Object.assign(menu, JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')));
  return menu;
}

function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * opts: { bin, config (UCI file), appDir, harnessDir, sid, username, tmpDir }
 * Returns { url, close(), calls }.
 */
async function startServer(opts) {
  const acl = loadAcl(opts.appDir);
  const menu = loadMenu(opts.appDir);
  const calls = [];
  const problems = [];

  // A fake `ubus` binary for the bridge's username lookup (`ubus call session get`).
  const binDir = path.join(opts.tmpDir, 'fake-bin');
  fs.mkdirSync(binDir, { recursive: true });
  fs.writeFileSync(
    path.join(binDir, 'ubus'),
    `#!/bin/sh
# fake ubus for the LuCI harness: only "ubus [-t N] call session get {ubus_rpc_session}"
[ "$1" = "-t" ] && shift 2
if [ "$1 $2 $3" = "call session get" ]; then
  case "$4" in
    '{"ubus_rpc_session":"${opts.sid}"}') echo '{"values":{"username":"${opts.username}"}}'; exit 0 ;;
  esac
  exit 6
fi
echo "fake ubus: unsupported: $*" >&2
exit 8
`,
    { mode: 0o755 },
  );
  const env = { ...process.env, PATH: `${binDir}:${process.env.PATH}` };

  const listed = JSON.parse(execFileSync(opts.bin, ['rpcd', 'list', '--config', opts.config], { env }).toString());
  let staged = null; // uci sections with the session's uncommitted changes

  function runBridge(method, args) {
    return new Promise((resolve) => {
      const child = spawn(opts.bin, ['rpcd', 'call', method, '--config', opts.config], { env, stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      const timer = setTimeout(() => child.kill('SIGKILL'), 30000);
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (err += d));
      child.on('close', (code) => {
        clearTimeout(timer);
        let obj = null;
        try {
          obj = JSON.parse(out);
        } catch (_) {
          /* rpcd answers "no data" when the plugin prints no JSON object */
        }
        const ok = obj && typeof obj === 'object' && !Array.isArray(obj) && out.trim().split('\n').length === 1;
        calls.push({ method, args, code, out: obj, stderr: err });
        if (!ok || code !== 0) problems.push(`rpcd call ${method}: exit ${code}, stdout ${JSON.stringify(out)}, stderr ${err}`);
        resolve(ok ? [0, obj] : [5]);
      });
      child.stdin.end(JSON.stringify(args));
    });
  }

  function currentSections() {
    return staged || uci.parse(fs.readFileSync(opts.config, 'utf8'));
  }

  async function ubusCall(sid, object, method, args) {
    if (sid !== opts.sid) return { error: { code: -32002, message: 'Access denied' } };
    args = { ...(args || {}) };
    if (object === 'uci') {
      const conf = args.config;
      const write = method !== 'get';
      if (!(write ? acl.uciWrite : acl.uciRead).has(conf) && method !== 'apply')
        return { error: { code: -32002, message: 'Access denied' } };
      calls.push({ method: `uci.${method}`, args });
      const sections = currentSections();
      const sec = (name) => sections.find((s) => s.name === name);
      switch (method) {
        case 'get':
          if (path.basename(opts.config) !== conf && conf !== 'wgcluster') return { result: [4] };
          return { result: [0, { values: uci.toValues(sections) }] };
        case 'set': {
          const s = sec(args.section);
          if (!s) return { result: [4] };
          Object.assign(s.options, args.values || {});
          staged = sections;
          return { result: [0, {}] };
        }
        case 'delete': {
          const s = sec(args.section);
          if (!s) return { result: [4] };
          for (const o of args.options || (args.option ? [args.option] : [])) delete s.options[o];
          staged = sections;
          return { result: [0, {}] };
        }
        case 'apply':
          if (staged) fs.writeFileSync(opts.config, uci.serialize(staged));
          staged = null;
          return { result: [0, {}] };
        default:
          return { result: [3] };
      }
    }
    const allowed = acl.ubus[object];
    if (!allowed || !allowed.has(method)) return { error: { code: -32002, message: 'Access denied' } };
    if (object !== 'wgcluster') return { result: [4] };
    if (!Object.prototype.hasOwnProperty.call(listed, method)) return { result: [3] };
    args.ubus_rpc_session = sid;
    return { result: await runBridge(method, args) };
  }

  function page(tab) {
    const base = 'admin/services/wgcluster';
    const entry = menu[`${base}/${tab}`];
    if (!entry || entry.action.type !== 'view') return null;
    const tabs = Object.entries(menu)
      .filter(([p]) => p.startsWith(base + '/'))
      .sort((a, b) => (a[1].order || 0) - (b[1].order || 0))
      .map(([p, e]) => `<li class="${p === base + '/' + tab ? 'active' : ''}"><a href="/cgi-bin/luci/${esc(p)}">${esc(e.title)}</a></li>`)
      .join('');
    const envJson = JSON.stringify({ sessionid: opts.sid, resource: '/luci-static/resources', view: entry.action.path }).replace(/</g, '\\u003c');
    return `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>${esc(entry.title)} - ${esc(menu[base].title)} - LuCI harness</title>
<link rel="stylesheet" href="/harness/harness.css">
<script>window.HARNESS_ENV = ${envJson};</script>
<script src="/harness/luci.js"></script>
</head><body>
<header><span class="brand">OpenWrt</span><span>${esc(menu[base].title)}</span><span class="hint">wgcluster LuCI test harness (not LuCI)</span></header>
<div id="maincontent"><ul class="tabs">${tabs}</ul><div id="view"></div></div>
<div id="modal_overlay"><div class="modal"></div></div>
</body></html>`;
  }

  function sendFile(res, file) {
    fs.readFile(file, (err, data) => {
      if (err) {
        res.writeHead(404, { 'Content-Type': 'text/plain' });
        return res.end('not found');
      }
      res.writeHead(200, { 'Content-Type': MIME[path.extname(file)] || 'application/octet-stream', 'Cache-Control': 'no-store' });
      res.end(data);
    });
  }

  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://localhost');
    const p = url.pathname;
    if (req.method === 'POST' && p === '/ubus') {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', async () => {
        let msg;
        try {
          msg = JSON.parse(body);
        } catch (_) {
          res.writeHead(400);
          return res.end();
        }
        const one = async (m) => {
          if (m.method !== 'call' || !Array.isArray(m.params)) return { jsonrpc: '2.0', id: m.id, error: { code: -32601, message: 'Method not found' } };
          const [sid, object, method, args] = m.params;
          return { jsonrpc: '2.0', id: m.id, ...(await ubusCall(sid, object, method, args)) };
        };
        const answer = Array.isArray(msg) ? await Promise.all(msg.map(one)) : await one(msg);
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(answer));
      });
      return;
    }
    if (p.startsWith('/luci-static/resources/view/')) {
      const rel = path.normalize(p.slice('/luci-static/resources/'.length));
      if (rel.startsWith('..')) return sendFile(res, '/nonexistent');
      return sendFile(res, path.join(opts.appDir, 'htdocs/luci-static/resources', rel));
    }
    if (p.startsWith('/harness/')) {
      const rel = path.normalize(p.slice('/harness/'.length));
      if (rel.startsWith('..')) return sendFile(res, '/nonexistent');
      return sendFile(res, path.join(opts.harnessDir, rel));
    }
    if (p === '/favicon.ico') {
      res.writeHead(204);
      return res.end();
    }
    const m = /^\/cgi-bin\/luci\/admin\/services\/wgcluster(?:\/([a-z]+))?\/?$/.exec(p);
    if (m) {
      const html = page(m[1] || 'status');
      if (html) {
        res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
        return res.end(html);
      }
    }
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end('not found');
  });

  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    problems,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

module.exports = { startServer, loadAcl, loadMenu };
