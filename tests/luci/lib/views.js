'use strict';
// What the tests need to know about the views: their files, LuCI's directive scan, the
// rpc.declare() calls they make.

const fs = require('node:fs');
const path = require('node:path');
const { APP_DIR } = require('./daemon');

const VIEW_DIR = path.join(APP_DIR, 'htdocs/luci-static/resources/view/wgcluster');
/* The app's shared module (`'require wgcluster.common'`). */
const COMMON = path.join(APP_DIR, 'htdocs/luci-static/resources/wgcluster/common.js');

function viewFiles() {
  return fs
    .readdirSync(VIEW_DIR)
    .filter((f) => f.endsWith('.js'))
    .sort()
    .map((f) => path.join(VIEW_DIR, f));
}

/** luci.js compileClass's scan of the leading 'require …' / 'use strict' string statements. */
function scanRequires(source) {
  const requirematch = /^require[ \t]+(\S+)(?:[ \t]+as[ \t]+([a-zA-Z_]\S*))?$/;
  const strictmatch = /^use[ \t]+strict$/;
  const depends = [];
  for (let i = 0, off = -1, prev = -1, quote = -1, comment = -1, esc = false; i < source.length; i++) {
    const chr = source.charCodeAt(i);
    if (esc) esc = false;
    else if (comment !== -1) {
      if ((comment === 47 && chr === 10) || (comment === 42 && prev === 42 && chr === 47)) comment = -1;
    } else if ((chr === 42 || chr === 47) && prev === 47) comment = chr;
    else if (chr === 92) esc = true;
    else if (chr === quote) {
      const s = source.substring(off, i);
      const m = requirematch.exec(s);
      if (m) depends.push({ name: m[1], as: m[2] || m[1].replace(/[^a-zA-Z0-9_]/g, '_') });
      else if (!strictmatch.exec(s)) break;
      off = -1;
      quote = -1;
    } else if (quote === -1 && (chr === 34 || chr === 39)) {
      off = i + 1;
      quote = chr;
    }
    prev = chr;
  }
  return depends;
}

/** Every rpc.declare({...}) of a source: [{object, method, params, line}]. */
function declares(source) {
  const out = [];
  const re = /rpc\.declare\(\s*\{([\s\S]*?)\}\s*\)/g;
  let m;
  while ((m = re.exec(source))) {
    const body = m[1];
    const str = (k) => {
      const x = new RegExp(`\\b${k}\\s*:\\s*'([^']*)'`).exec(body);
      return x ? x[1] : null;
    };
    const p = /\bparams\s*:\s*\[([^\]]*)\]/.exec(body);
    const params = p ? [...p[1].matchAll(/'([^']*)'/g)].map((x) => x[1]) : [];
    out.push({ object: str('object'), method: str('method'), params, line: source.slice(0, m.index).split('\n').length });
  }
  return out;
}

module.exports = { VIEW_DIR, COMMON, viewFiles, scanRequires, declares };
