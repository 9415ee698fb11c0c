'use strict';
'require baseclass';
'require rpc';
'require ui';
'require dom';

/* What the wgcluster views share: the ubus declarations of the `wgcluster` object (reads; the
 * writes end in `idempotency_key`, which the bridge turns into the daemon's Idempotency-Key), the
 * answer unwrapping, tables with a data-title on every cell (LuCI's narrow layout shows it as the
 * cell's label), badges in the theme's own colours, read-only handling (L.hasViewPermission(), as
 * stock views do) and the modal forms with one idempotency key per submission. */

var callStatus = rpc.declare({ object: 'wgcluster', method: 'status', expect: { '': {} } });
var callHealth = rpc.declare({ object: 'wgcluster', method: 'health', expect: { '': {} } });
var callNodes = rpc.declare({ object: 'wgcluster', method: 'nodes_list', expect: { '': {} } });
var callConfigs = rpc.declare({ object: 'wgcluster', method: 'configs_list', expect: { '': {} } });
var callNodeCreate = rpc.declare({ object: 'wgcluster', method: 'node_create',
	params: [ 'id', 'name', 'endpoint', 'weight', 'idempotency_key' ], expect: { '': {} } });
var callNodeUpdate = rpc.declare({ object: 'wgcluster', method: 'node_update',
	params: [ 'node_id', 'name', 'endpoint', 'weight', 'enabled', 'idempotency_key' ], expect: { '': {} } });
var callNodeDelete = rpc.declare({ object: 'wgcluster', method: 'node_delete', params: [ 'node_id', 'idempotency_key' ], expect: { '': {} } });
var callJoinToken = rpc.declare({ object: 'wgcluster', method: 'join_token_create', params: [ 'ttl_s', 'idempotency_key' ], expect: { '': {} } });
var callMemberRemove = rpc.declare({ object: 'wgcluster', method: 'member_remove', params: [ 'node_id', 'idempotency_key' ], expect: { '': {} } });
var callHealthSettings = rpc.declare({ object: 'wgcluster', method: 'health_settings_get', expect: { '': {} } });
var callUsageSettings = rpc.declare({ object: 'wgcluster', method: 'usage_settings_get', expect: { '': {} } });
var callUsageSettingsSet = rpc.declare({ object: 'wgcluster', method: 'usage_settings_set',
	params: [ 'interval_s', 'metrics_per_peer', 'idempotency_key' ], expect: { '': {} } });
var callHealthSettingsSet = rpc.declare({ object: 'wgcluster', method: 'health_settings_set',
	params: [ 'probe_interval_ms', 'unhealthy_after', 'healthy_after', 'auto_migrate_independent', 'idempotency_key' ], expect: { '': {} } });
var callBackups = rpc.declare({ object: 'wgcluster', method: 'backups_list', expect: { '': {} } });
var callBackup = rpc.declare({ object: 'wgcluster', method: 'backup_get', params: [ 'id' ], expect: { '': {} } });

function randomKey() {
	var b = new Uint8Array(16);
	window.crypto.getRandomValues(b);
	return 'luci-' + Array.prototype.map.call(b, function(x) { return (x < 16 ? '0' : '') + x.toString(16); }).join('');
}

/* One form submission: the same request again (a retry after an error or a lost answer) carries
 * the same key, so the daemon applies it once; a changed request is a new submission. */
var Submission = baseclass.extend({
	__init__: function() {
		this.body = null;
		this.value = null;
	},

	key: function(request) {
		var body = JSON.stringify(request);
		if (body !== this.body || this.value == null) {
			this.body = body;
			this.value = randomKey();
		}
		return this.value;
	}
});

return baseclass.extend({
	callStatus: callStatus,
	callHealth: callHealth,
	callNodes: callNodes,
	callConfigs: callConfigs,
	callNodeCreate: callNodeCreate,
	callNodeUpdate: callNodeUpdate,
	callNodeDelete: callNodeDelete,
	callJoinToken: callJoinToken,
	callMemberRemove: callMemberRemove,
	callHealthSettings: callHealthSettings,
	callUsageSettings: callUsageSettings,
	callUsageSettingsSet: callUsageSettingsSet,
	callHealthSettingsSet: callHealthSettingsSet,
	callBackups: callBackups,
	callBackup: callBackup,
	Submission: Submission,

	/* The daemon answers {status, message, data}; anything else is an error with a message. */
	unwrap: function(res) {
		if (res && res.status === true)
			return res.data;
		throw new Error((res && (res.error || res.message)) || _('No answer from wgclusterd'));
	},

	errorOf: function(res) {
		if (res && res.status === true)
			return null;
		return (res && (res.error || res.message)) || _('No answer from wgclusterd');
	},

	notifyError: function(err) {
		ui.addNotification(null, E('p', {}, [ (err && err.message) || String(err) ]), 'danger');
	},

	/* Whether this login may change things (the menu's ACL dependency is writable). */
	writable: function() {
		return !!L.hasViewPermission();
	},

	/* A button that changes the daemon: disabled, with a tooltip saying why, for read-only logins. */
	writeButton: function(label, cls, handler, attrs) {
		var ro = !this.writable();
		return E('button', Object.assign({
			'class': 'btn ' + cls,
			'click': ro ? null : handler,
			'disabled': ro ? true : null,
			'title': ro ? _('Your login may only read this page') : null
		}, attrs || {}), [ label ]);
	},

	/* A badge in the theme's own colours: ok (success), warn (warning), error (the theme's error
	 * colour: bootstrap's .label.important is its primary blue, not an alarm), or plain. */
	badge: function(text, kind, title) {
		var attrs = { 'class': 'label', 'title': title || null };
		if (kind === 'ok')
			attrs['class'] = 'label success';
		else if (kind === 'warn')
			attrs['class'] = 'label warning';
		else if (kind === 'error') {
			attrs['class'] = 'label wgc-alarm';
			attrs['style'] = 'background-color:var(--error-color-high,#d9534f);color:var(--on-error-color,#fff)';
		}
		return E('span', attrs, [ text ]);
	},

	/* A LuCI table (.table/.tr/.th/.td, the markup cbi_update_table builds): every cell carries its
	 * column title as data-title. rows: arrays of cells, or { attrs: {...}, cells: [...] }. */
	table: function(headers, rows, empty, attrs) {
		var t = E('table', Object.assign({ 'class': 'table' }, attrs || {}), [
			E('tr', { 'class': 'tr table-titles' }, headers.map(function(h) {
				return E('th', { 'class': 'th' + (h.right ? ' right' : '') }, [ h.title != null ? h.title : h ]);
			}))
		]);
		if (!rows.length && empty != null)
			t.appendChild(E('tr', { 'class': 'tr placeholder' }, [
				E('td', { 'class': 'td', 'colspan': String(headers.length) }, [ E('em', {}, [ empty ]) ])
			]));
		rows.forEach(function(r) {
			var cells = Array.isArray(r) ? r : r.cells;
			t.appendChild(E('tr', Object.assign({ 'class': 'tr' }, Array.isArray(r) ? {} : r.attrs), cells.map(function(c, i) {
				var h = headers[i] || '';
				return E('td', { 'class': 'td' + (h.right ? ' right cbi-section-actions' : ''), 'data-title': h.title != null ? h.title : h },
					[ c == null ? '' : c ]);
			})));
		});
		return t;
	},

	val: function(id) {
		var el = document.getElementById(id);
		return el ? el.value.trim() : '';
	},

	checked: function(id) {
		var el = document.getElementById(id);
		return el ? el.checked : false;
	},

	optInt: function(id, label, min, max) {
		var v = this.val(id);
		if (v === '')
			return undefined;
		if (!/^\d+$/.test(v) || +v < min || +v > max)
			throw new Error(_('%s: must be a whole number from %d to %d').format(label, min, max));
		return +v;
	},

	optList: function(id) {
		var v = this.val(id);
		return v === '' ? undefined : v.split(/[\s,]+/).filter(function(x) { return x !== ''; });
	},

	field: function(label, input, help) {
		return E('div', { 'class': 'cbi-value' }, [
			E('label', { 'class': 'cbi-value-title', 'for': input.id }, [ label ]),
			E('div', { 'class': 'cbi-value-field' }, [ input ].concat(help ? [ E('div', { 'class': 'cbi-value-description' }, [ help ]) ] : []))
		]);
	},

	text: function(id, value, placeholder) {
		return E('input', { 'type': 'text', 'class': 'cbi-input-text', 'id': id,
			'value': value != null ? String(value) : '', 'placeholder': placeholder || '' });
	},

	checkbox: function(id, on) {
		return E('input', { 'type': 'checkbox', 'class': 'cbi-input-checkbox', 'id': id, 'checked': on ? 'checked' : null });
	},

	select: function(id, choices, current) {
		return E('select', { 'class': 'cbi-input-select', 'id': id }, choices.map(function(c) {
			return E('option', { 'value': c[0], 'selected': c[0] === current ? 'selected' : null }, [ c[1] ]);
		}));
	},

	/* A modal form. submit(sub) validates, calls the daemon (sub.key(request) gives the submission's
	 * idempotency key) and returns a promise; while it runs the previous error is hidden; its errors
	 * show in the form, which stays open so the value can be corrected or the call retried. */
	modalForm: function(title, children, submitLabel, submit) {
		var errBox = E('div', { 'class': 'alert-message warning wgc-form-error', 'style': 'display:none' });
		var sub = new Submission();
		ui.showModal(title, [ errBox ].concat(children).concat([
			E('div', { 'class': 'right' }, [
				E('button', { 'class': 'btn', 'click': ui.hideModal }, [ _('Cancel') ]), ' ',
				E('button', { 'class': 'btn cbi-button-positive important wgc-submit', 'click': ui.createHandlerFn(this, function() {
					errBox.style.display = 'none';
					dom.content(errBox, null);
					return Promise.resolve(sub).then(submit).then(function() {
						ui.hideModal();
					}, function(err) {
						dom.content(errBox, [ (err && err.message) || String(err) ]);
						errBox.style.display = '';
					});
				}) }, [ submitLabel ])
			])
		]));
	},

	confirmModal: function(title, message, label, action) {
		this.modalForm(title, [ E('p', {}, [ message ]) ], label, action);
	},

	resultModal: function(title, lines) {
		ui.showModal(title, lines.map(function(l) { return E('p', { 'class': 'wgc-result' }, [ l ]); }).concat([
			E('div', { 'class': 'right' }, [ E('button', { 'class': 'btn cbi-button-action', 'click': ui.hideModal }, [ _('Close') ]) ])
		]));
	},

	/* "12 s ago", "5 min ago", "3 h ago", "2 d ago". */
	age: function(ms, now) {
		var s = Math.max(0, Math.round((now - ms) / 1000));
		if (s < 120)
			return _('%d s ago').format(s);
		if (s < 7200)
			return _('%d min ago').format(Math.round(s / 60));
		if (s < 172800)
			return _('%d h ago').format(Math.round(s / 3600));
		return _('%d d ago').format(Math.round(s / 86400));
	},

	/* Bytes in decimal units (1 MB = 10^6 bytes, as data limits are entered). */
	bytes: function(n) {
		return '%1000.1mB'.format(+n || 0);
	},

	/* A bar chart of a peer_usage answer ({from, to, step, buckets: [{start, rx_bytes, tx_bytes}]}):
	 * one bar per bucket with traffic, received below sent, each with a tooltip; SVG drawn here
	 * (no chart library). */
	usageChart: function(u) {
		var self = this, buckets = u.buckets || [], W = 600, H = 160, pad = 4;
		if (!buckets.length)
			return E('p', { 'class': 'wgc-usage-empty' }, [ E('em', {}, [ _('No traffic in this period.') ]) ]);
		var step = u.step * 1000, n = Math.max(1, Math.round((u.to - u.from) / step));
		var max = Math.max.apply(null, buckets.map(function(b) { return b.rx_bytes + b.tx_bytes; })) || 1;
		var bw = (W - 2 * pad) / n;
		var ns = 'http://www.w3.org/2000/svg';
		var svg = document.createElementNS(ns, 'svg');
		svg.setAttribute('viewBox', '0 0 %d %d'.format(W, H + 20));
		svg.setAttribute('class', 'wgc-usage-chart');
		svg.setAttribute('style', 'width:100%;max-width:' + W + 'px');
		var rect = function(x, y, w, h, fill, cls, title) {
			var r = document.createElementNS(ns, 'rect');
			r.setAttribute('x', x.toFixed(1)); r.setAttribute('y', y.toFixed(1));
			r.setAttribute('width', w.toFixed(1)); r.setAttribute('height', h.toFixed(1));
			r.setAttribute('fill', fill);
			r.setAttribute('class', cls);
			var t = document.createElementNS(ns, 'title');
			t.textContent = title;
			r.appendChild(t);
			return r;
		};
		buckets.forEach(function(b) {
			var i = Math.min(n - 1, Math.max(0, Math.floor((b.start - u.from) / step))), x = pad + i * bw;
			var hr = H * b.rx_bytes / max, ht = H * b.tx_bytes / max;
			var when = self.fmtTime(b.start);
			svg.appendChild(rect(x, H - hr - ht, Math.max(1, bw - 1), ht, 'var(--warning-color-medium,#f0ad4e)', 'wgc-tx',
				_('%s: sent %s').format(when, self.bytes(b.tx_bytes))));
			svg.appendChild(rect(x, H - hr, Math.max(1, bw - 1), hr, 'var(--primary-color-medium,#337ab7)', 'wgc-rx',
				_('%s: received %s').format(when, self.bytes(b.rx_bytes))));
		});
		var label = document.createElementNS(ns, 'text');
		label.setAttribute('x', pad); label.setAttribute('y', H + 15); label.setAttribute('font-size', '11');
		label.textContent = _('peak %s per %s').format(self.bytes(max), u.step >= 86400 ? _('day') : _('hour'));
		svg.appendChild(label);
		return svg;
	},

	fmtTime: function(ms) {
		if (!ms)
			return '-';
		var d = new Date(+ms), p = function(n) { return (n < 10 ? '0' : '') + n; };
		return '%d-%s-%s %s:%s'.format(d.getFullYear(), p(d.getMonth() + 1), p(d.getDate()), p(d.getHours()), p(d.getMinutes()));
	},

	/* Offers text as a file download (the browser's own save). */
	download: function(name, text, type) {
		var blob = new Blob([ text ], { type: type || 'application/octet-stream' });
		var a = E('a', { 'href': URL.createObjectURL(blob), 'download': name, 'style': 'display:none' });
		document.body.appendChild(a);
		a.click();
		window.setTimeout(function() { URL.revokeObjectURL(a.href); a.parentNode.removeChild(a); }, 1000);
	}
});
