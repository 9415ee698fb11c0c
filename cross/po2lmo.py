#!/usr/bin/env python3
"""po2lmo.py: compile a gettext .po file to LuCI's .lmo catalogue, or read one back.

    po2lmo.py INPUT.po OUTPUT.lmo     compile
    po2lmo.py --dump FILE.lmo         print the catalogue as JSON {"<key id hex>": "text"}, the
                                      shape LuCI's /admin/translations/<lang> gives the browser

LuCI (25.12 too) loads /usr/lib/lua/luci/i18n/<domain>.<lang>.lmo with its C library (lmo.c) and
hands the strings to the browser keyed by a hash of the source string; cbi.js's _() hashes the
string the same way. This tool writes the format LuCI's own po2lmo writes, so packages can be
built without the LuCI build tree:

  * strings: each translation, NUL-padded to a multiple of 4 bytes, one after the other;
  * index: one 16-byte entry per string, sorted by key id, four big-endian uint32
    (key id, value id = number of plural forms, offset, length);
  * last 4 bytes: the offset of the index (big-endian uint32).

The key id is Paul Hsieh's SuperFastHash of the UTF-8 key (seeded with its length) after
whitespace is collapsed and trimmed; the key is the msgid, "ctxt\\x01msgid" with a context, and
"msgid\\x02N" for plural form N. The header's Plural-Forms expression is stored under key 0.
Escapes inside strings are kept as written except \\" and \\\\, as LuCI's po2lmo does.
"""

import json
import struct
import sys

M = 0xFFFFFFFF


def _signed(b):
    return b - 256 if b >= 128 else b


def sfh_hash(data):
    """SuperFastHash of bytes, seeded with their length (LuCI lmo.c's sfh_hash(d, len, len))."""
    n = len(data)
    if n == 0:
        return 0
    h = n
    i = 0
    for _ in range(n >> 2):
        h = (h + (data[i] | data[i + 1] << 8)) & M
        tmp = (((data[i + 2] | data[i + 3] << 8) << 11) ^ h) & M
        h = ((h << 16) ^ tmp) & M
        h = (h + (h >> 11)) & M
        i += 4
    rem = n & 3
    if rem == 3:
        h = (h + (data[i] | data[i + 1] << 8)) & M
        h ^= (h << 16) & M
        h ^= (_signed(data[i + 2]) << 18) & M
        h = (h + (h >> 11)) & M
    elif rem == 2:
        h = (h + (data[i] | data[i + 1] << 8)) & M
        h ^= (h << 11) & M
        h = (h + (h >> 17)) & M
    elif rem == 1:
        h = (h + _signed(data[i])) & M
        h ^= (h << 10) & M
        h = (h + (h >> 1)) & M
    h ^= (h << 3) & M
    h = (h + (h >> 5)) & M
    h ^= (h << 4) & M
    h = (h + (h >> 17)) & M
    h ^= (h << 25) & M
    h = (h + (h >> 6)) & M
    return h


def canon(s):
    """Whitespace runs become one space, no leading or trailing whitespace (lmo_canon_hash)."""
    return " ".join(s.split())


def key_hash(msgid, ctxt=None, plural=None):
    key = canon(msgid)
    if ctxt is not None:
        key = canon(ctxt) + "\x01" + key
    if plural is not None:
        key += "\x02%d" % plural
    return sfh_hash(key.encode("utf-8"))


def _string(line, path, lineno):
    start = line.find('"')
    end = line.rfind('"')
    if start < 0 or end <= start:
        raise ValueError("%s:%d: expected a quoted string" % (path, lineno))
    raw = line[start + 1:end]
    out = []
    i = 0
    while i < len(raw):
        c = raw[i]
        if c == "\\" and i + 1 < len(raw):
            nxt = raw[i + 1]
            out.append(nxt if nxt in '"\\' else c + nxt)
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def parse_po(path):
    """Yields dicts with ctxt, id, id_plural, strs {n: text}."""
    msgs = []
    cur = None
    field = None

    def flush():
        if cur is not None and (cur["id"] is not None or cur["strs"]):
            msgs.append(cur)

    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("msgctxt "):
                flush()
                cur = {"ctxt": "", "id": None, "id_plural": None, "strs": {}}
                field = ("ctxt",)
                cur["ctxt"] = _string(line, path, lineno)
            elif line.startswith("msgid_plural "):
                if cur is None:
                    raise ValueError("%s:%d: msgid_plural without msgid" % (path, lineno))
                cur["id_plural"] = _string(line, path, lineno)
                field = ("id_plural",)
            elif line.startswith("msgid "):
                if cur is None or cur["id"] is not None or cur["strs"]:
                    flush()
                    cur = {"ctxt": None, "id": None, "id_plural": None, "strs": {}}
                cur["id"] = _string(line, path, lineno)
                field = ("id",)
            elif line.startswith("msgstr"):
                if cur is None:
                    raise ValueError("%s:%d: msgstr without msgid" % (path, lineno))
                n = 0
                if line.startswith("msgstr["):
                    n = int(line[7:line.index("]")])
                    if n >= 10:
                        raise ValueError("%s:%d: too many plural forms" % (path, lineno))
                cur["strs"][n] = _string(line, path, lineno)
                cur["last_n"] = n
                field = ("str", n)
            elif line.startswith('"'):
                if cur is None or field is None:
                    raise ValueError("%s:%d: continuation without a field" % (path, lineno))
                s = _string(line, path, lineno)
                if field[0] == "str":
                    cur["strs"][field[1]] += s
                else:
                    cur[field[0]] += s
            else:
                raise ValueError("%s:%d: cannot parse: %s" % (path, lineno, line[:60]))
    flush()
    return msgs


def compile_po(po_path):
    entries = []  # (key_id, val_id, text bytes)
    for m in parse_po(po_path):
        if not m["id"]:  # the header: keep the Plural-Forms expression under key 0
            for line in m["strs"].get(0, "").split("\\n"):
                if line.lower().startswith("plural-forms: "):
                    entries.append((0, 0, line[14:].encode("utf-8")))
            continue
        forms = m.get("last_n", 0)
        for n, text in sorted(m["strs"].items()):
            if not text:
                continue
            plural = n if m["id_plural"] is not None else None
            kid = key_hash(m["id"], m["ctxt"], plural)
            if kid == sfh_hash(text.encode("utf-8")):  # untranslated (same text)
                continue
            entries.append((kid, forms + 1, text.encode("utf-8")))
    if not [e for e in entries if e[0] != 0]:
        raise ValueError("%s: no translated strings" % po_path)
    data = bytearray()
    index = []
    for kid, vid, text in entries:
        index.append((kid, vid, len(data), len(text)))
        data += text + b"\0" * ((4 - len(text) % 4) % 4)
    index.sort(key=lambda e: e[0])
    out = bytes(data)
    for e in index:
        out += struct.pack(">IIII", *e)
    return out + struct.pack(">I", len(data))


def read_lmo(path):
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 4:
        raise ValueError("%s: too short for an lmo file" % path)
    (idx,) = struct.unpack(">I", blob[-4:])
    if idx >= len(blob) or (len(blob) - 4 - idx) % 16:
        raise ValueError("%s: bad index offset %d" % (path, idx))
    out = {}
    for pos in range(idx, len(blob) - 4, 16):
        kid, _vid, off, length = struct.unpack(">IIII", blob[pos:pos + 16])
        if off + length > idx:
            raise ValueError("%s: entry %08x points past the strings" % (path, kid))
        out["%08x" % kid] = blob[off:off + length].decode("utf-8")
    return out


def main(argv):
    try:
        if len(argv) == 3 and argv[1] == "--dump":
            json.dump(read_lmo(argv[2]), sys.stdout, ensure_ascii=False, sort_keys=True)
            sys.stdout.write("\n")
            return 0
        if len(argv) == 3:
            blob = compile_po(argv[1])
            with open(argv[2], "wb") as f:
                f.write(blob)
            return 0
    except (OSError, ValueError, UnicodeDecodeError) as e:
        print("po2lmo.py: error: %s" % e, file=sys.stderr)
        return 1
    print("usage: po2lmo.py INPUT.po OUTPUT.lmo | po2lmo.py --dump FILE.lmo", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
