'use strict';
// The test router's web server: the REAL LuCI 25.12 runtime (../shared/vendor/luci-25.12/www as the
// web root, the app's htdocs laid over it) behind a page shell modelled on LuCI's ucode templates
// (themes/bootstrap/header.ut + header.ut, view.ut, footer.ut + themes/bootstrap/footer.ut, sysauth.ut),
// and an emulation of only what a router's uhttpd, dispatcher.uc and rpcd answer:
//
//  - login: GET of a page without a session cookie answers 403 with sysauth.ut's form; POSTing
//    luci_username/luci_password creates an rpcd session (`session login`), sets `sysauth_http` and
//    redirects, as dispatcher.uc's session_setup does. `session login` over /ubus works too.
//  - sessions carry the user's ACL as rpcd builds it from /etc/config/rpcd `login` sections: every ACL
//    group (the app's acl.d file, plus the parts of rpcd's unauthenticated.json and luci-base.json the
//    runtime calls at load) whose `read` (resp. `write`) part matches the user's read (write) list.
//  - POST /ubus: JSON-RPC `list` (the runtime's probe) and `call`; every call is checked against the
//    session's ubus/uci/file grants (-32002 Access denied, as rpcd); `wgcluster` methods run the REAL
//    bridge `wgclusterd rpcd call METHOD` with the arguments plus `ubus_rpc_session` on stdin; `uci`
//    get/set/delete/changes and the dispatcher's admin/uci/apply_* + confirm work on the test's UCI
//    file; `session access`, `luci getFeatures` and `file list` answer what the runtime asks.
//  - the page's `L.env.nodespec` gets `satisfied`/`readonly` from the menu's `depends.acl` the way
//    dispatcher.uc's check_acl_depends does, so L.hasViewPermission() is false for a read-only user;
//    GET admin/menu answers the menu tree (menu.d) with the same flags.
// Every ubus call is recorded in `calls` ({sid, user, object, method, args, denied}).

const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const { spawn, execFileSync } = require('node:child_process');
const uci = require('./uci');

const VENDOR = path.resolve(__dirname, '..', '..', '..', '..', 'shared', 'vendor', 'luci-25.12');
const VENDOR_WWW = process.env.LUCI_WWW || path.join(process.env.LUCI_VENDOR || VENDOR, 'www');
const MIME = { '.js': 'application/javascript', '.css': 'text/css', '.html': 'text/html', '.json': 'application/json', '.svg': 'image/svg+xml', '.png': 'image/png' };
/* /etc/config/luci as 25.12 installs it (the parts the runtime reads: form.js loads it at start). */
const LUCI_UCI = `config core 'main'
	option lang 'auto'
	option mediaurlbase '/luci-static/bootstrap'
	option resourcebase '/luci-static/resources'
	option ubuspath '/ubus/'

config internal 'sauth'
	option sessionpath '/tmp/luci-sessions'
	option sessiontime '3600'

config internal 'apply'
	option rollback '90'
	option holdoff '4'
	option timeout '5'
	option display '1.5'
`;
const NULL_SID = '00000000000000000000000000000000';
const DENIED = { code: -32002, message: 'Access denied' };

/* What rpcd's own unauthenticated.json and luci-base's acl.d grant that the runtime's load calls need
 * (luci.js probeSystemFeatures/probePreloadClasses, the session-expiry interceptor, ui.changes). */
const BASE_ACL = {
  unauthenticated: {
    read: { ubus: { session: ['access', 'login'], luci: ['getFeatures'] } },
  },
  'luci-base': {
    read: {
      ubus: { luci: ['getFeatures'], file: ['list'], uci: ['changes', 'get'], session: ['access'] },
      file: { '/www/luci-static/resources/preload': ['list'], '/usr/libexec/luci-peeraddr': ['exec'] },
      uci: ['luci'],
    },
    write: {
      ubus: { uci: ['add', 'apply', 'confirm', 'delete', 'order', 'rename', 'revert', 'set'] },
    },
  },
};

function loadAcl(appDir) {
  const dir = path.join(appDir, 'root/usr/share/rpcd/acl.d');
  const groups = {};
  for (const f of fs.readdirSync(dir)) Object.assign(groups, JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')));
  return groups;
}

function loadMenu(appDir) {
  const dir = path.join(appDir, 'root/usr/share/luci/menu.d');
  const menu = {};
  for (const f of fs.readdirSync(dir)) Object.assign(menu, JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')));
  return menu;
}

function glob(pattern, s) {
  if (pattern === '*' || pattern === s) return true;
  const re = new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`);
  return re.test(s);
}

/** A session's grants as rpcd computes them for a login with `read`/`write` lists of group globs. */
function sessionAcl(groups, login) {
  const acl = { 'access-group': {}, ubus: [], uci: [], file: [] };
  for (const [name, group] of Object.entries({ ...BASE_ACL, ...groups })) {
    for (const kind of ['read', 'write']) {
      const wanted = name === 'unauthenticated' || (login[kind] || []).some((g) => glob(g, name));
      if (!wanted || !group[kind]) continue;
      (acl['access-group'][name] = acl['access-group'][name] || []).push(kind);
      const g = group[kind];
      for (const [obj, methods] of Object.entries(g.ubus || {})) for (const m of methods) acl.ubus.push([obj, m]);
      for (const c of g.uci || []) acl.uci.push([c, kind]);
      for (const [p, ops] of Object.entries(g.file || {})) for (const op of ops) acl.file.push([p, op]);
    }
  }
  return acl;
}

function allowed(acl, scope, object, func) {
  return acl[scope].some(([o, f]) => glob(o, object) && glob(f, func));
}

/** dispatcher.uc check_acl_depends: null = no access, false = read-only, true = writable. */
function checkAclDepends(required, accessGroups) {
  if (!required || !required.length) return true;
  let writable = false;
  for (const g of required) {
    const kinds = accessGroups[g] || [];
    if (!kinds.includes('read') && !kinds.includes('write')) return null;
    if (kinds.includes('write')) writable = true;
  }
  return writable;
}

function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * opts: { bin, config (UCI file), appDir, tmpDir, users: { name: { password, read: [...], write: [...] } } }
 * Returns { url, calls, problems, sessions, close() }.
 */
async function startServer(opts) {
  const groups = loadAcl(opts.appDir);
  const menu = loadMenu(opts.appDir);
  const calls = [];
  const problems = [];
  const sessions = new Map(); // sid -> { username, token, acl }
  // Test hooks: answer a wgcluster method late (holdMs[method] = ms), or run it and lose the
  // answer once (loseReply.add(method)).
  const faults = { holdMs: {}, loseReply: new Set() };
  // rpcd's default session: what a page before the login (sysauth) calls with, the unauthenticated group only
  const nullSession = { username: null, token: null, acl: sessionAcl(groups, { read: [], write: [] }) };

  // A fake `ubus` binary for the bridge's username lookup (`ubus call session get`): answers from
  // this server's sessions file, as rpcd's session object would.
  const binDir = path.join(opts.tmpDir, 'fake-bin');
  const sessFile = path.join(opts.tmpDir, 'sessions.json');
  fs.mkdirSync(binDir, { recursive: true });
  fs.writeFileSync(sessFile, '{}');
  fs.writeFileSync(
    path.join(binDir, 'ubus'),
    `#!/bin/sh
# fake ubus for the LuCI tests: only "ubus [-t N] call session get {ubus_rpc_session}"
[ "$1" = "-t" ] && shift 2
if [ "$1 $2 $3" = "call session get" ]; then
  exec node -e 'const s=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));const a=JSON.parse(process.argv[2]);const u=s[a.ubus_rpc_session];if(!u)process.exit(6);console.log(JSON.stringify({values:{username:u}}));' ${JSON.stringify(sessFile)} "$4"
fi
echo "fake ubus: unsupported: $*" >&2
exit 8
`,
    { mode: 0o755 },
  );
  const env = { ...process.env, PATH: `${binDir}:${process.env.PATH}` };

  const listed = JSON.parse(execFileSync(opts.bin, ['rpcd', 'list', '--config', opts.config], { env }).toString());
  let staged = null; // uci sections with the session's uncommitted changes
  let changes = []; // uci changes, as `uci changes` lists them

  function login(username, password) {
    const u = opts.users[username];
    if (!u || u.password !== password) return null;
    const sid = crypto.randomBytes(16).toString('hex');
    sessions.set(sid, { username, token: crypto.randomBytes(16).toString('hex'), acl: sessionAcl(groups, u) });
    const names = {};
    for (const [s, v] of sessions) names[s] = v.username;
    fs.writeFileSync(sessFile, JSON.stringify(names));
    return sid;
  }

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
        if (!ok || code !== 0) problems.push(`rpcd call ${method}: exit ${code}, stdout ${JSON.stringify(out)}, stderr ${err}`);
        resolve(ok ? [0, obj] : [5]);
      });
      child.stdin.end(JSON.stringify(args));
    });
  }

  function currentSections() {
    return staged || uci.parse(fs.readFileSync(opts.config, 'utf8'));
  }

  function applyStaged() {
    if (staged) fs.writeFileSync(opts.config, uci.serialize(staged));
    staged = null;
    changes = [];
  }

  async function uciCall(sess, method, args) {
    const conf = args.config;
    const write = ['set', 'delete', 'add', 'rename', 'order'].includes(method);
    if (conf !== undefined && !allowed(sess.acl, 'uci', conf, write ? 'write' : 'read')) return { error: DENIED };
    const ours = conf === path.basename(opts.config) || conf === 'wgcluster';
    const sections = currentSections();
    const sec = (name) => sections.find((s) => s.name === name);
    switch (method) {
      case 'get':
        if (conf === 'luci') return { result: [0, { values: uci.toValues(uci.parse(LUCI_UCI)) }] };
        if (!ours) return { result: [4] };
        return { result: [0, { values: uci.toValues(sections) }] };
      case 'changes':
        if (conf !== undefined) return { result: [0, { changes: ours ? changes : [] }] };
        return { result: [0, { changes: changes.length ? { wgcluster: changes } : {} }] };
      case 'set': {
        const s = ours && sec(args.section);
        if (!s) return { result: [4] };
        for (const [k, v] of Object.entries(args.values || {})) {
          s.options[k] = v;
          changes.push(['set', args.section, k, v]);
        }
        staged = sections;
        return { result: [0] };
      }
      case 'delete': {
        const s = ours && sec(args.section);
        if (!s) return { result: [4] };
        for (const o of args.options || (args.option ? [args.option] : [])) {
          delete s.options[o];
          changes.push(['remove', args.section, o]);
        }
        staged = sections;
        return { result: [0] };
      }
      default:
        return { result: [3] };
    }
  }

  async function ubusCall(sid, object, method, args) {
    args = { ...(args || {}) };
    if (object === 'session' && method === 'login' && sid === NULL_SID) {
      const s = login(args.username, args.password);
      calls.push({ sid, user: args.username, object, method, args: { username: args.username }, denied: !s });
      if (!s) return { result: [6] };
      return { result: [0, { ubus_rpc_session: s, timeout: 300, expires: 300, acls: sessions.get(s).acl, data: { username: args.username } }] };
    }
    const sess = sid === NULL_SID ? nullSession : sessions.get(sid);
    const record = { sid, user: sess && sess.username, object, method, args, denied: false };
    calls.push(record);
    const deny = () => {
      record.denied = true;
      return { error: DENIED };
    };
    if (!sess || !allowed(sess.acl, 'ubus', object, method)) return deny();
    if (object === 'session' && method === 'access') {
      const ok = args.scope === 'access-group'
        ? (sess.acl['access-group'][args.object] || []).includes(args.function)
        : allowed(sess.acl, args.scope || 'ubus', args.object, args.function);
      return { result: [0, { access: ok }] };
    }
    if (object === 'luci' && method === 'getFeatures') return { result: [0, {}] };
    if (object === 'file' && method === 'list') {
      if (!allowed(sess.acl, 'file', args.path, 'list')) return deny();
      return { result: [4] };
    }
    if (object === 'uci') {
      const r = await uciCall(sess, method, args);
      if (r.error) record.denied = true;
      return r;
    }
    if (object !== 'wgcluster') return { result: [4] };
    if (!Object.prototype.hasOwnProperty.call(listed, method)) return { result: [3] };
    args.ubus_rpc_session = sid;
    return { result: await runBridge(method, args) };
  }

  // The menu tree dispatcher.uc's menu_json builds: admin → services → the app's menu.d nodes,
  // with `satisfied`/`readonly` from the nodes' depends.acl for the session (apply_tree_acls).
  function menuTree(sess) {
    const root = { action: { type: 'firstchild' }, satisfied: true, children: {} };
    root.children.admin = { title: 'Administration', order: 10, action: { type: 'firstchild' }, satisfied: true, children: {} };
    root.children.admin.children.services = { title: 'Services', order: 40, action: { type: 'firstchild' }, satisfied: true, children: {} };
    for (const [p, spec] of Object.entries(menu).sort((a, b) => a[0].split('/').length - b[0].split('/').length)) {
      const parts = p.split('/');
      let node = root;
      for (const part of parts.slice(0, -1)) node = node.children[part] = node.children[part] || { satisfied: true, children: {} };
      const leaf = (node.children[parts[parts.length - 1]] = { ...JSON.parse(JSON.stringify(spec)), satisfied: true, children: {} });
      if (leaf.depends && leaf.depends.acl) {
        const perm = checkAclDepends(leaf.depends.acl, sess.acl['access-group']);
        if (perm === null) leaf.satisfied = false;
        else if (perm === false) leaf.readonly = true;
      }
    }
    return root;
  }

  // dispatcher.uc's resolve_page: the node for a path, readonly from the ACL depends on the way.
  function resolve(sess, parts) {
    let node = menuTree(sess);
    let acls = [];
    for (const part of parts) {
      node = node.children && node.children[part];
      if (!node || !node.satisfied) return null;
      if (node.depends && node.depends.acl) acls = acls.concat(node.depends.acl);
    }
    if (node.action && node.action.type === 'alias') return resolve(sess, node.action.path.split('/'));
    const perm = checkAclDepends(acls, sess.acl['access-group']);
    if (perm === null) return null;
    const spec = { ...node, children: undefined, readonly: !perm };
    return { node: spec, parts };
  }

  function header(env, title, blank) {
    // themes/bootstrap/header.ut, then header.ut (the L = new LuCI(…) block)
    return `<!DOCTYPE html>
<html lang="en">
	<head>
		<meta charset="utf-8">
		<title>wgc-test-router | ${title ? esc(title) + ' | ' : ''}LuCI</title>
		<script>
			var mediaQuery = window.matchMedia('(prefers-color-scheme: dark)'),
			    rootElement = document.querySelector(':root'),
			    setDarkMode = function(match) { rootElement.setAttribute('data-darkmode', match.matches) };
			mediaQuery.addEventListener('change', setDarkMode);
			setDarkMode(mediaQuery);
		</script>
		<meta name="viewport" content="initial-scale=1.0">
		<link rel="stylesheet" href="/luci-static/bootstrap/cascade.css">
		<link rel="stylesheet" media="only screen and (max-device-width: 854px)" href="/luci-static/bootstrap/mobile.css" />
		<link rel="icon" href="/luci-static/bootstrap/logo_48.png" sizes="48x48">
		<script src="/cgi-bin/luci/admin/translations/en"></script>
		<script src="/luci-static/resources/cbi.js"></script>
	</head>
	<body class="lang_en ${esc(title || '')}" data-page="${esc(env.requestpath.join('-'))}">
${blank ? '' : `		<header>
			<a class="brand" href="/">wgc-test-router</a>
			<ul class="nav" id="topmenu" style="display:none"></ul>
			<div id="indicators" class="pull-right"></div>
		</header>
		<div id="maincontent" class="container">
			<noscript><div class="alert-message warning"><h4>JavaScript required!</h4></div></noscript>
			<div id="tabmenu" style="display:none"></div>
`}
<script src="/luci-static/resources/luci.js"></script>
<script>
	L = new LuCI(${JSON.stringify(env).replace(/</g, '\\u003c').replace(/\//g, '\\/')});
</script>
`;
  }

  function footer(blank) {
    return `${blank ? '' : `		</div>
		<footer>
			<span>Powered by LuCI 25.12 (test router: tests/luci/lib/server.js)</span>
			<ul class="breadcrumb pull-right" id="modemenu" style="display:none"></ul>
		</footer>
		<script>L.require('menu-bootstrap')</script>
`}	</body>
</html>
`;
  }

  function baseEnv(parts, sid, sess, node) {
    return {
      media: '/luci-static/bootstrap',
      resource: '/luci-static/resources',
      scriptname: '/cgi-bin/luci',
      pathinfo: '/' + parts.join('/'),
      documentroot: '/www',
      requestpath: parts,
      dispatchpath: parts,
      pollinterval: 5,
      ubuspath: '/ubus/',
      sessionid: sid,
      token: sess ? sess.token : null,
      nodespec: node,
      apply_rollback: 90,
      apply_holdoff: 1,
      apply_timeout: 5,
      apply_display: 1,
      rollback_token: null,
    };
  }

  function viewPage(parts, sid, sess, resolved) {
    const node = { ...resolved.node };
    const env = baseEnv(resolved.parts, sid, sess, node);
    // view.ut
    return `${header(env, node.title, false)}
<div id="view">
	<div class="spinning">Loading view…</div>
	<script>
		L.require('ui').then(function(ui) {
			ui.instantiateView('${node.action.path.replace(/[^A-Za-z0-9_/.-]/g, '')}');
		});
	</script>
</div>
${footer(false)}`;
  }

  function sysauthPage(parts, failedUser) {
    // sysauth.ut (the generic one: the bootstrap theme's variant needs its own view class)
    const env = baseEnv(parts, null, null, null);
    return `${header(env, '', false)}
<form method="post">
${failedUser ? '	<div class="alert-message warning"><p>Invalid username and/or password! Please try again.</p></div>\n' : ''}	<div class="cbi-map">
		<h2 name="content">Authorization Required</h2>
		<div class="cbi-map-descr">Please enter your username and password.</div>
		<div class="cbi-section"><div class="cbi-section-node">
			<div class="cbi-value">
				<label class="cbi-value-title">Username</label>
				<div class="cbi-value-field"><input class="cbi-input-text" type="text" name="luci_username" value="root" /></div>
			</div>
			<div class="cbi-value cbi-value-last">
				<label class="cbi-value-title">Password</label>
				<div class="cbi-value-field"><input class="cbi-input-text" type="password" name="luci_password" /></div>
			</div>
		</div></div>
	</div>
	<div class="cbi-page-actions">
		<input type="submit" value="Log in" class="btn cbi-button cbi-button-apply" />
	</div>
</form>
${footer(false)}`;
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

  function cookieSid(req) {
    const m = /(?:^|;\s*)sysauth_http=([0-9a-f]{32})/.exec(req.headers.cookie || '');
    return m && sessions.has(m[1]) ? m[1] : null;
  }

  function readBody(req) {
    return new Promise((resolve) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => resolve(body));
    });
  }

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://localhost');
    const p = url.pathname;
    const send = (code, type, body, headers) => {
      res.writeHead(code, { 'Content-Type': type, 'Cache-Control': 'no-store', ...(headers || {}) });
      res.end(body);
    };
    if (req.method === 'POST' && /^\/ubus(\/.*)?$/.test(p)) {
      const body = await readBody(req);
      let msg;
      try {
        msg = JSON.parse(body);
      } catch (_) {
        return send(400, 'text/plain', 'bad json');
      }
      const one = async (m) => {
        if (m.method === 'list') return { jsonrpc: '2.0', id: m.id, result: {} };
        if (m.method !== 'call' || !Array.isArray(m.params)) return { jsonrpc: '2.0', id: m.id, error: { code: -32601, message: 'Method not found' } };
        const [sid, object, method, args] = m.params;
        return { jsonrpc: '2.0', id: m.id, ...(await ubusCall(sid, object, method, args)) };
      };
      const answer = Array.isArray(msg) ? await Promise.all(msg.map(one)) : await one(msg);
      const methods = (Array.isArray(msg) ? msg : [msg]).map((m) => Array.isArray(m.params) && m.params[1] === 'wgcluster' && m.params[2]).filter(Boolean);
      const hold = Math.max(0, ...methods.map((m) => faults.holdMs[m] || 0));
      if (hold) await new Promise((r) => setTimeout(r, hold));
      const lost = methods.find((m) => faults.loseReply.has(m));
      if (lost) {
        // the router did the work, the answer never arrived (a timeout, a dropped connection)
        faults.loseReply.delete(lost);
        return send(504, 'text/plain', 'Gateway Timeout');
      }
      return send(200, 'application/json', JSON.stringify(answer));
    }
    if (p.startsWith('/luci-static/')) {
      const rel = path.normalize(p.slice('/luci-static/'.length));
      if (rel.startsWith('..')) return send(404, 'text/plain', 'not found');
      const own = path.join(opts.appDir, 'htdocs/luci-static', rel);
      return sendFile(res, fs.existsSync(own) ? own : path.join(VENDOR_WWW, 'luci-static', rel));
    }
    if (p === '/favicon.ico') return send(204, 'text/plain', '');
    if (p === '/cgi-bin/luci/admin/translations/en') return send(200, 'text/javascript', 'window.TR={};');
    if (p === '/cgi-bin/cgi-exec' && req.method === 'POST') {
      // cgi-io's exec, for the one command the runtime runs: ui.changes.checkConnectivityAffected's
      // /usr/libexec/luci-peeraddr (the test router has no network interfaces to lose)
      const form = new URLSearchParams(await readBody(req));
      const es = sessions.get(form.get('sessionid') || '');
      const cmd = form.get('command');
      calls.push({ sid: form.get('sessionid'), user: es && es.username, object: 'cgi-exec', method: cmd, args: {}, denied: !es });
      if (!es || !allowed(es.acl, 'file', cmd, 'exec')) return send(403, 'text/plain', 'Permission denied');
      if (cmd !== '/usr/libexec/luci-peeraddr') return send(404, 'text/plain', 'not found');
      return send(200, 'application/json', JSON.stringify({ remote_addr: '127.0.0.1', inbound_devices: [], inbound_interfaces: [] }));
    }
    const sid = cookieSid(req);
    const sess = sid && sessions.get(sid);
    if (p === '/cgi-bin/luci/admin/menu') {
      // dispatcher.uc answers the menu to everyone, filtered by the session's ACL (none: no app nodes)
      if (!sess) return send(200, 'application/json', JSON.stringify({ action: { type: 'firstchild' }, satisfied: true, children: {} }));
      return send(200, 'application/json', JSON.stringify(menuTree(sess)));
    }
    const apply = /^\/cgi-bin\/luci\/admin\/uci\/(apply_rollback|apply_unchecked|confirm)$/.exec(p);
    if (apply && req.method === 'POST') {
      await readBody(req);
      const qsid = url.searchParams.get('sid');
      const qs = qsid && sessions.get(qsid);
      if (apply[1] === 'confirm') return send(200, 'application/json', '{}');
      if (!qs || url.searchParams.get('token') !== qs.token) return send(403, 'text/plain', 'bad token');
      if (!allowed(qs.acl, 'uci', 'wgcluster', 'write')) return send(403, 'text/plain', 'denied');
      calls.push({ sid: qsid, user: qs.username, object: 'uci', method: apply[1], args: {}, denied: false });
      if (!staged) return send(204, 'text/plain', '');
      applyStaged();
      return apply[1] === 'apply_rollback' ? send(200, 'application/json', JSON.stringify({ token: crypto.randomBytes(16).toString('hex') })) : send(204, 'text/plain', '');
    }
    const m = /^\/cgi-bin\/luci\/(admin\/services\/wgcluster(?:\/[a-z]+)?)\/?$/.exec(p);
    if (m) {
      const parts = m[1].split('/');
      if (!sess) {
        if (req.method === 'POST') {
          const form = new URLSearchParams(await readBody(req));
          const user = form.get('luci_username');
          const newSid = user != null ? login(user, form.get('luci_password') || '') : null;
          if (newSid)
            return send(302, 'text/plain', '', { 'Set-Cookie': `sysauth_http=${newSid}; path=/cgi-bin/luci/; SameSite=strict; HttpOnly`, Location: p });
          return send(403, 'text/html; charset=utf-8', sysauthPage(parts, user || '?'), { 'X-LuCI-Login-Required': 'yes' });
        }
        return send(403, 'text/html; charset=utf-8', sysauthPage(parts, null), { 'X-LuCI-Login-Required': 'yes' });
      }
      const resolved = resolve(sess, parts);
      if (!resolved) return send(403, 'text/plain', 'Forbidden');
      return send(200, 'text/html; charset=utf-8', viewPage(parts, sid, sess, resolved));
    }
    send(404, 'text/plain', 'not found');
  });

  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    problems,
    sessions,
    faults,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

module.exports = { startServer, loadAcl, loadMenu, sessionAcl, checkAclDepends, VENDOR_WWW };
