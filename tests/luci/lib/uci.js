'use strict';
// A small UCI file reader/writer (the subset /etc/config/wgcluster uses: `config TYPE 'NAME'`,
// `option KEY 'VALUE'`, `list KEY 'VALUE'`, comments), for the test server's emulation of rpcd's
// `uci` ubus object.

function unquote(s) {
  s = s.trim();
  let out = '';
  for (let i = 0; i < s.length; ) {
    const c = s[i];
    if (c === "'") {
      const j = s.indexOf("'", i + 1);
      out += s.slice(i + 1, j < 0 ? s.length : j);
      i = j < 0 ? s.length : j + 1;
    } else if (c === '"') {
      let j = i + 1;
      while (j < s.length && s[j] !== '"') {
        if (s[j] === '\\' && j + 1 < s.length) j++;
        out += s[j];
        j++;
      }
      i = j + 1;
    } else if (c === '\\' && i + 1 < s.length) {
      out += s[i + 1];
      i += 2;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

function parse(text) {
  const sections = [];
  let cur = null;
  let anon = 0;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^(config|option|list)\s+(\S+)(?:\s+(.*))?$/.exec(line);
    if (!m) throw new Error(`uci: cannot parse line: ${line}`);
    const [, kw, a, rest] = m;
    if (kw === 'config') {
      const name = rest ? unquote(rest) : `cfg${(anon++).toString(16).padStart(6, '0')}`;
      cur = { type: unquote(a), name, anonymous: !rest, options: {} };
      sections.push(cur);
    } else if (cur) {
      const key = unquote(a);
      const val = unquote(rest || '');
      if (kw === 'list') (cur.options[key] = Array.isArray(cur.options[key]) ? cur.options[key] : []).push(val);
      else cur.options[key] = val;
    }
  }
  return sections;
}

function quote(v) {
  return `'${String(v).replace(/'/g, `'\\''`)}'`;
}

function serialize(sections) {
  let out = '';
  for (const s of sections) {
    out += `config ${s.type}${s.anonymous ? '' : ' ' + quote(s.name)}\n`;
    for (const [k, v] of Object.entries(s.options)) {
      if (Array.isArray(v)) for (const x of v) out += `\tlist ${k} ${quote(x)}\n`;
      else out += `\toption ${k} ${quote(v)}\n`;
    }
    out += '\n';
  }
  return out;
}

/** The shape rpcd's `uci get {config}` answers: {values: {name: {'.name', '.type', '.anonymous', …options}}}. */
function toValues(sections) {
  const values = {};
  sections.forEach((s, i) => {
    values[s.name] = { '.anonymous': s.anonymous, '.type': s.type, '.name': s.name, '.index': i, ...s.options };
  });
  return values;
}

module.exports = { parse, serialize, toValues, quote };
