#!/usr/bin/env node
'use strict';
// Extracts the translatable strings of a LuCI app into a gettext template, like LuCI's
// build/i18n-scan.pl: every _('…') / _("…") in the JavaScript views, the menu titles and the ACL
// descriptions. Every _() must be called with one string literal (a msgid), never an expression.
//
//   node luci-app/i18n-scan.js luci-app/luci-app-wgcluster            # print the .pot
//   node luci-app/i18n-scan.js luci-app/luci-app-wgcluster --write    # write po/templates/wgcluster.pot
//   node luci-app/i18n-scan.js luci-app/luci-app-wgcluster --check    # exit 1 when the .pot is stale

const fs = require('node:fs');
const path = require('node:path');

function walk(dir, ext, out = []) {
  if (!fs.existsSync(dir)) return out;
  for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, ext, out);
    else if (p.endsWith(ext)) out.push(p);
  }
  return out;
}

/** JS string literal body → its value. */
function unescapeJs(body) {
  return body.replace(/\\(u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|.)/g, (m, e) => {
    if (e[0] === 'u' && e.length === 5) return String.fromCharCode(parseInt(e.slice(1), 16));
    if (e[0] === 'x' && e.length === 3) return String.fromCharCode(parseInt(e.slice(1), 16));
    return { n: '\n', t: '\t', r: '\r', 0: '\0' }[e] ?? e;
  });
}

/** [{msgid, file, line}] of one JS file; throws on a _() whose argument is not one literal. */
function scanJs(file, rel) {
  const src = fs.readFileSync(file, 'utf8');
  const found = [];
  const call = /(^|[^A-Za-z0-9_$.])_\(\s*/g;
  let m;
  while ((m = call.exec(src))) {
    const at = m.index + m[0].length;
    const lit = /^('(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*")\s*\)/.exec(src.slice(at));
    const line = src.slice(0, at).split('\n').length;
    if (!lit) throw new Error(`${rel}:${line}: _() must be called with one string literal`);
    found.push({ msgid: unescapeJs(lit[1].slice(1, -1)), file: rel, line });
  }
  return found;
}

function scanJson(file, rel, keys) {
  const src = fs.readFileSync(file, 'utf8');
  const found = [];
  const visit = (v) => {
    if (Array.isArray(v)) v.forEach(visit);
    else if (v && typeof v === 'object')
      for (const [k, x] of Object.entries(v)) {
        if (keys.includes(k) && typeof x === 'string') {
          const idx = src.indexOf(JSON.stringify(x));
          found.push({ msgid: x, file: rel, line: idx < 0 ? 1 : src.slice(0, idx).split('\n').length });
        } else visit(x);
      }
  };
  visit(JSON.parse(src));
  return found;
}

function poString(s) {
  const esc = s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\t/g, '\\t').replace(/\n/g, '\\n');
  return `"${esc}"`;
}

function generate(appDir) {
  const entries = [];
  const rel = (p) => path.relative(appDir, p);
  for (const f of walk(path.join(appDir, 'htdocs'), '.js')) entries.push(...scanJs(f, rel(f)));
  for (const f of walk(path.join(appDir, 'root/usr/share/luci/menu.d'), '.json')) entries.push(...scanJson(f, rel(f), ['title']));
  for (const f of walk(path.join(appDir, 'root/usr/share/rpcd/acl.d'), '.json')) entries.push(...scanJson(f, rel(f), ['description']));
  const byId = new Map();
  for (const e of entries) {
    if (e.msgid === '') continue;
    if (!byId.has(e.msgid)) byId.set(e.msgid, []);
    byId.get(e.msgid).push(`${e.file}:${e.line}`);
  }
  let out = 'msgid ""\nmsgstr "Content-Type: text/plain; charset=UTF-8"\n';
  for (const id of [...byId.keys()].sort()) {
    out += `\n#: ${byId.get(id).join(' ')}\nmsgid ${poString(id)}\nmsgstr ""\n`;
  }
  return { pot: out, msgids: [...byId.keys()] };
}

function main() {
  const args = process.argv.slice(2);
  const appDir = path.resolve(args.find((a) => !a.startsWith('--')) || path.join(__dirname, 'luci-app-wgcluster'));
  const potFile = path.join(appDir, 'po/templates', path.basename(appDir).replace(/^luci-app-/, '') + '.pot');
  const { pot, msgids } = generate(appDir);
  if (args.includes('--write')) {
    fs.mkdirSync(path.dirname(potFile), { recursive: true });
    fs.writeFileSync(potFile, pot);
    console.error(`wrote ${msgids.length} strings to ${potFile}`);
  } else if (args.includes('--check')) {
    const have = fs.existsSync(potFile) ? fs.readFileSync(potFile, 'utf8') : '';
    if (have !== pot) {
      console.error(`${potFile} is stale: run node luci-app/i18n-scan.js ${path.relative(process.cwd(), appDir)} --write`);
      process.exit(1);
    }
    console.error(`${potFile}: ${msgids.length} strings, up to date`);
  } else process.stdout.write(pot);
}

if (require.main === module) main();
module.exports = { generate, scanJs };
