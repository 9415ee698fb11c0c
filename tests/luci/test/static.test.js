'use strict';
// Checks that need no daemon and no browser: every view compiles the way LuCI loads it, the
// package layout is the LuCI feed layout, the menu points at the views, the .pot is up to date.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { APP_DIR, REPO } = require('../lib/daemon');
const { viewFiles, scanRequires, VIEW_DIR, COMMON } = require('../lib/views');

const { VENDOR_WWW } = require('../lib/server');

/* The modules a view may require: the classes luci.js defines itself, the runtime's files as LuCI
 * 25.12 ships them (the vendored www/luci-static/resources) and the app's own shared modules. */
function knownModules() {
  const res = path.join(VENDOR_WWW, 'luci-static', 'resources');
  assert.ok(fs.existsSync(path.join(res, 'luci.js')), `the vendored LuCI runtime is missing: ${res}`);
  const known = new Set(['baseclass', 'dom', 'poll', 'request', 'session', 'view']);
  const walk = (dir, prefix, skip) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory() && !skip.includes(e.name)) walk(path.join(dir, e.name), `${prefix}${e.name}.`, []);
      else if (e.isFile() && e.name.endsWith('.js')) known.add(prefix + e.name.slice(0, -3));
    }
  };
  walk(res, '', ['view']);
  walk(path.join(APP_DIR, 'htdocs/luci-static/resources'), '', ['view']);
  return known;
}
const KNOWN_MODULES = [...knownModules()];

test('every view compiles in LuCI\'s module wrapper (strict mode)', () => {
  const views = viewFiles();
  assert.deepEqual(views.map((f) => path.basename(f)).sort(), ['audit.js', 'backups.js', 'configs.js', 'dns.js', 'peers.js', 'routers.js', 'settings.js', 'status.js']);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wgc-syntax-'));
  try {
    for (const file of [...views, COMMON]) {
      const source = fs.readFileSync(file, 'utf8');
      const deps = scanRequires(source);
      assert.ok(/^'use strict';\n/.test(source), `${file}: must start with 'use strict'`);
      assert.ok(deps.length > 0, `${file}: no 'require' directives`);
      for (const d of deps) assert.ok(KNOWN_MODULES.includes(d.name), `${file}: requires unknown module ${d.name}`);
      const isView = file !== COMMON;
      assert.ok(!isView || deps.some((d) => d.name === 'view'), `${file}: does not require view`);
      // LuCI: eval('(function(window, document, L, <aliases>) { <source> })')
      const params = ['window', 'document', 'L', ...deps.map((d) => d.as)];
      assert.doesNotThrow(() => new Function(...params, source), `${file}: syntax error in LuCI's wrapper`);
      // the same text through node --check, which names the line of a syntax error
      const wrapped = path.join(tmp, path.basename(file));
      fs.writeFileSync(wrapped, `(function(${params.join(', ')}) { ${source}\n});\n`);
      execFileSync(process.execPath, ['--check', wrapped]);
      // no Lua, no ES modules, no stray globals LuCI does not have
      assert.ok(!/^\s*(import|export)\s/m.test(source), `${file}: ES module syntax`);
      assert.ok(isView ? /return view\.extend\(\{/.test(source) : /return baseclass\.extend\(\{/.test(source), `${file}: must return a class`);
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('each view returns a class when its factory runs', () => {
  for (const file of viewFiles()) {
    const source = fs.readFileSync(file, 'utf8');
    const deps = scanRequires(source);
    const Base = function () {};
    const extend = (props) => {
      const C = function () {};
      C.prototype = Object.assign(Object.create(Base.prototype), props);
      return C;
    };
    const stub = {
      view: { extend },
      rpc: { declare: (o) => Object.assign(() => Promise.resolve({}), { decl: o }) },
      ui: {}, poll: { add() {} }, dom: {}, form: {}, uci: {}, baseclass: { extend },
    };
    const L = { bind: (fn, self, ...args) => fn.bind(self, ...args) };
    // the app's shared module, through the same factory (LuCI instantiates a module's class)
    const commonSrc = fs.readFileSync(COMMON, 'utf8');
    const commonDeps = scanRequires(commonSrc);
    const Common = new Function('window', 'document', 'L', ...commonDeps.map((d) => d.as), commonSrc)({}, {}, L, ...commonDeps.map((d) => stub[d.name]));
    stub['wgcluster.common'] = new Common();
    assert.equal(typeof stub['wgcluster.common'].modalForm, 'function');
    const factory = new Function('window', 'document', 'L', ...deps.map((d) => d.as), source);
    const cls = factory({}, {}, L, ...deps.map((d) => stub[d.name]));
    assert.equal(typeof cls, 'function', `${file}: factory must return a class`);
    assert.equal(typeof cls.prototype.render, 'function', `${file}: no render()`);
  }
});

test('views follow the LuCI client API contract of the issue', () => {
  const src = (n) => fs.readFileSync(path.join(VIEW_DIR, n), 'utf8');
  assert.match(src('status.js'), /poll\.add\(/);
  assert.match(src('settings.js'), /new form\.Map\('wgcluster'/);
  assert.match(src('settings.js'), /form\.NamedSection, 'main', 'daemon'/);
  for (const n of ['status.js', 'configs.js', 'peers.js', 'dns.js', 'audit.js', 'routers.js', 'backups.js'])
    assert.match(src(n), /handleSave: null/, `${n}: a page without a form has no Save button`);
  for (const n of ['routers.js', 'backups.js']) assert.match(src(n), /ui\.showModal\(/);
  assert.match(fs.readFileSync(COMMON, 'utf8'), /ui\.showModal\(/);
});

test('the package has the LuCI feed layout', () => {
  const mk = fs.readFileSync(path.join(APP_DIR, 'Makefile'), 'utf8');
  assert.match(mk, /^LUCI_TITLE:=.+/m);
  // The pages need LuCI's runtime, rpcd (the ubus bridge) and the daemon (#12), nothing else.
  assert.match(mk, /^LUCI_DEPENDS:=\+luci-base \+rpcd \+wgcluster$/m);
  assert.match(mk, /^LUCI_PKGARCH:=all$/m);
  assert.match(mk, /^include .*luci\.mk$/m);
  const files = execFileSync('find', [APP_DIR, '-type', 'f']).toString().trim().split('\n');
  assert.ok(!files.some((f) => f.endsWith('.lua')), 'no Lua');
  for (const f of files) {
    const rel = path.relative(APP_DIR, f);
    assert.ok(/^(Makefile|htdocs\/luci-static\/resources\/(view\/)?wgcluster\/[a-z]+\.js|root\/usr\/share\/(luci\/menu\.d|rpcd\/acl\.d)\/luci-app-wgcluster\.json|po\/templates\/wgcluster\.pot|po\/[a-z]{2}(_[A-Za-z]+)?\/wgcluster\.po|pkg\/luci-app\.postinst)$/.test(rel), `unexpected file ${rel}`);
  }
});

test('menu entries point at the views and the ACL group', () => {
  const menu = JSON.parse(fs.readFileSync(path.join(APP_DIR, 'root/usr/share/luci/menu.d/luci-app-wgcluster.json'), 'utf8'));
  const acl = JSON.parse(fs.readFileSync(path.join(APP_DIR, 'root/usr/share/rpcd/acl.d/luci-app-wgcluster.json'), 'utf8'));
  const top = menu['admin/services/wgcluster'];
  assert.ok(top, 'top entry');
  assert.deepEqual(top.depends.acl, Object.keys(acl));
  assert.ok(menu[top.action.path], 'alias target exists');
  const views = Object.values(menu).filter((e) => e.action.type === 'view').map((e) => e.action.path).sort();
  assert.deepEqual(views, viewFiles().map((f) => 'wgcluster/' + path.basename(f, '.js')).sort());
  const group = acl['luci-app-wgcluster'];
  assert.deepEqual(group.read.uci, ['wgcluster']);
  assert.deepEqual(group.write.uci, ['wgcluster']);
  const read = group.read.ubus.wgcluster, write = group.write.ubus.wgcluster;
  assert.equal(read.filter((m) => write.includes(m)).length, 0, 'a method is in read and write');
});

test('po/templates/wgcluster.pot lists every _() string (i18n-scan --check)', () => {
  execFileSync(process.execPath, [path.join(REPO, 'luci-app/i18n-scan.js'), APP_DIR, '--check'], { stdio: 'inherit' });
  const pot = fs.readFileSync(path.join(APP_DIR, 'po/templates/wgcluster.pot'), 'utf8');
  assert.match(pot, /msgid "WireGuard Cluster"/);
  assert.match(pot, /msgid "Add peer"/);
});
