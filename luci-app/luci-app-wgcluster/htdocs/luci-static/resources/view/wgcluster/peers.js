'use strict';
'require view';
'require rpc';
'require ui';
'require dom';
'require poll';
'require wgcluster.common as common';

/* Peers (clients) of a configuration, a page of PAGE_SIZE at a time (a name-prefix search and
 * previous/next; the poll asks for that page only, so 20,000 peers cost what 50 do): list with
 * live status and usage (polled every 10 s), add,
 * edit (limits too), delete, a usage chart, download the client config or show it as a QR code. Writes carry the form submission's idempotency key; the client config can
 * hold the peer's private key, so it is a write in the ACL and disabled for read-only logins. */

var callConfigs = common.callConfigs;
var callNodes = common.callNodes;
var callPeers = rpc.declare({ object: 'wgcluster', method: 'peers_list', params: [ 'config', 'limit', 'offset', 'q' ], expect: { '': {} } });
var PAGE_SIZE = 50;
var callPeerCreate = rpc.declare({ object: 'wgcluster', method: 'peer_create',
	params: [ 'config', 'name', 'public_key', 'preshared_key', 'node_id', 'allowed_ips', 'keepalive', 'enabled', 'idempotency_key' ], expect: { '': {} } });
var callPeerUpdate = rpc.declare({ object: 'wgcluster', method: 'peer_update',
	params: [ 'config', 'peer_id', 'name', 'allowed_ips', 'keepalive', 'enabled', 'node_id', 'data_limit_bytes', 'expires_at', 'rx_limit_bytes', 'tx_limit_bytes', 'idempotency_key' ], expect: { '': {} } });
var callPeerUsage = rpc.declare({ object: 'wgcluster', method: 'peer_usage', params: [ 'config', 'peer_id', 'from', 'to', 'step' ], expect: { '': {} } });
var callPeerDelete = rpc.declare({ object: 'wgcluster', method: 'peer_delete', params: [ 'config', 'peer_id', 'idempotency_key' ], expect: { '': {} } });
var callPeerConfig = rpc.declare({ object: 'wgcluster', method: 'peer_config', params: [ 'config', 'peer_id', 'format' ], expect: { '': {} } });

/* A WireGuard key: 32 bytes in base64 (44 characters, the last one '='). */
var WG_KEY = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw480]=$/;
var CIDR = /^([0-9]{1,3}(\.[0-9]{1,3}){3}|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)(\/[0-9]{1,3})?$/;

var unwrap = L.bind(common.unwrap, common);
var notifyError = L.bind(common.notifyError, common);
var val = L.bind(common.val, common);
var field = L.bind(common.field, common);
var text = L.bind(common.text, common);
var select = L.bind(common.select, common);
var modalForm = L.bind(common.modalForm, common);
var download = L.bind(common.download, common);

/* Checks a form field; marks it invalid and throws the message when `bad` says so. */
function check(id, message, bad) {
	var el = document.getElementById(id);
	if (el)
		el.classList.toggle('cbi-input-invalid', !!bad);
	if (bad)
		throw new Error(message);
}

function ipList(id, label) {
	var v = val(id);
	if (v === '')
		return undefined;
	var list = v.split(/[\s,]+/).filter(function(x) { return x !== ''; });
	list.forEach(function(ip) {
		check(id, _('%s: "%s" is not an IP network like 10.0.0.0/24').format(label, ip), !CIDR.test(ip));
	});
	return list;
}

function keepalive(id) {
	var v = val(id);
	if (v === '')
		return undefined;
	check(id, _('Keepalive: must be a whole number of seconds from 0 to 65535'), !/^\d+$/.test(v) || +v > 65535);
	return +v;
}

/* Data limit in MB (10^6 bytes) → bytes; '' (no limit) passes as '' (the bridge sends null). */
function dataLimit(id, label) {
	var v = val(id);
	if (v === '')
		return '';
	check(id, _('%s: "%s" is not a number of MB (e.g. 5000 for 5 GB; empty for no limit)').format(label || _('Data limit'), v),
		!/^\d+(\.\d+)?$/.test(v) || +v <= 0 || +v > 9e9);
	return Math.round(+v * 1e6);
}

/* Expiry as YYYY-MM-DD (midnight UTC) or '' (never). */
function expiry(id) {
	var v = val(id);
	check(id, _('Expires: "%s" is not a date (YYYY-MM-DD; empty for never)').format(v),
		v !== '' && !/^\d{4}-\d{2}-\d{2}$/.test(v));
	return v;
}

function isoDate(ms) {
	return ms != null ? new Date(+ms).toISOString().substr(0, 10) : '';
}

var age = L.bind(common.age, common);
var bytes = L.bind(common.bytes, common);
var usageChart = L.bind(common.usageChart, common);

function fileName(config, peer) {
	return config + '-' + String(peer.name).replace(/[^A-Za-z0-9-]/g, '_') + '.conf';
}

return view.extend({
	load: function() {
		return Promise.all([ callConfigs(), callNodes() ]).then(L.bind(function(r) {
			var configs = unwrap(r[0]) || [], nodes = unwrap(r[1]) || [];
			var names = configs.map(function(c) { return c.name; });
			var want = this.config || (window.location.hash || '').replace(/^#/, '');
			var current = names.indexOf(want) >= 0 ? want : names[0];
			var offset = this.offset || 0, q = this.query || undefined;
			var page = current ? callPeers(current, PAGE_SIZE, offset, q).then(unwrap) : Promise.resolve(null);
			return page.then(L.bind(function(p) {
				p = p || { items: [], total: 0 };
				/* the page emptied under us (peers deleted): show the last one that has peers */
				if (current && offset > 0 && offset >= p.total) {
					this.offset = Math.max(0, Math.floor((p.total - 1) / PAGE_SIZE) * PAGE_SIZE);
					return this.load();
				}
				return { configs: configs, nodes: nodes, config: current, peers: p.items || [], total: p.total || 0,
					offset: offset, query: q || '', error: null };
			}, this));
		}, this)).catch(function(err) {
			return { configs: [], nodes: [], config: null, peers: [], total: 0, offset: 0, query: '', error: err.message || String(err) };
		});
	},

	handlePage: function(delta) {
		this.offset = Math.max(0, (this.offset || 0) + delta * PAGE_SIZE);
		return this.refresh();
	},

	handleSearch: function(ev) {
		this.query = String(ev.target.value || '').trim();
		this.offset = 0;
		return this.refresh();
	},

	refresh: function() {
		return this.load().then(L.bind(function(data) {
			this.data = data;
			dom.content(this.root, this.renderPeers(data));
		}, this));
	},

	configOf: function(name) {
		return (this.data.configs || []).filter(function(c) { return c.name === name; })[0] || {};
	},

	nodeChoices: function(config, first) {
		var cfg = this.configOf(config);
		return [ first ].concat((cfg.nodes || []).map(function(n) { return [ n, n ]; }));
	},

	handleConfig: function(ev) {
		this.config = ev.target.value;
		this.offset = 0;
		window.location.hash = this.config;
		return this.refresh();
	},

	handleAdd: function() {
		var config = this.data.config, cfg = this.configOf(config);
		modalForm(_('New peer of %s').format(config), [
			field(_('Name'), text('wgc-p-name', '', _('e.g. alice-phone'))),
			field(_('Public key'), text('wgc-p-pubkey', '', _('leave empty to generate a key pair')),
				_('The client\'s WireGuard public key. Empty: the router makes a key pair and the downloaded config holds the private key.')),
			field(_('Client allowed IPs'), text('wgc-p-allowed', '', (cfg.peer_allowed_ips || []).join(', ')),
				_('Routes the client sends through the tunnel; empty uses the configuration\'s default')),
			field(_('Keepalive'), text('wgc-p-keepalive', '', cfg.peer_keepalive != null ? String(cfg.peer_keepalive) : '25'), _('Seconds; 0 turns it off')),
			field(_('Router'), select('wgc-p-node', this.nodeChoices(config, [ '', _('Least-loaded healthy router') ]), '')),
			field(_('Preshared key'), select('wgc-p-psk', [ [ 'generate', _('Generate one') ], [ 'none', _('None') ] ], 'generate'))
		], _('Add peer'), L.bind(function(sub) {
			var name = val('wgc-p-name');
			check('wgc-p-name', _('Name: is required (1 to 64 printable characters)'), name === '' || name.length > 64);
			var pub = val('wgc-p-pubkey');
			check('wgc-p-pubkey', _('Public key: "%s" is not a WireGuard key (44 characters of base64 ending in =)').format(pub),
				pub !== '' && !WG_KEY.test(pub));
			var allowed = ipList('wgc-p-allowed', _('Client allowed IPs'));
			var ka = keepalive('wgc-p-keepalive');
			var args = [ config, name, pub || undefined, val('wgc-p-psk') === 'none' ? 'none' : undefined,
				val('wgc-p-node') || undefined, allowed, ka, true ];
			return callPeerCreate.apply(null, args.concat([ sub.key(args) ])).then(unwrap).then(L.bind(function(peer) {
				ui.addNotification(null, E('p', {}, [ _('Peer %s added.').format(peer && peer.name || name) ]), 'info');
				return this.refresh();
			}, this));
		}, this));
	},

	handleEdit: function(peer) {
		var config = this.data.config;
		modalForm(_('Edit peer %h').format(peer.name), [
			field(_('Name'), text('wgc-e-name', peer.name)),
			field(_('Client allowed IPs'), text('wgc-e-allowed', (peer.allowed_ips || []).join(', '))),
			field(_('Keepalive'), text('wgc-e-keepalive', peer.keepalive != null ? peer.keepalive : 0), _('Seconds; 0 turns it off')),
			field(_('Router'), select('wgc-e-node', this.nodeChoices(config, [ '', _('Keep the current router') ]), ''),
				_('Moving a peer is make-before-break; in independent mode its client needs the new config')),
			field(_('State'), select('wgc-e-enabled', [ [ '1', _('Enabled') ], [ '0', _('Disabled') ] ], peer.enabled ? '1' : '0')),
			field(_('Data limit (MB)'), text('wgc-e-limit', peer.data_limit_bytes != null ? String(peer.data_limit_bytes / 1e6) : '', _('no limit')),
				_('Received plus sent, counted on every router; reaching it disables the peer everywhere until the limit is raised or removed')),
			field(_('Upload limit (MB)'), text('wgc-e-rx-limit', peer.rx_limit_bytes != null ? String(peer.rx_limit_bytes / 1e6) : '', _('no limit')),
				_('Bytes the routers received from the peer')),
			field(_('Download limit (MB)'), text('wgc-e-tx-limit', peer.tx_limit_bytes != null ? String(peer.tx_limit_bytes / 1e6) : '', _('no limit')),
				_('Bytes the routers sent to the peer')),
			field(_('Expires'), text('wgc-e-expires', isoDate(peer.expires_at), _('never (YYYY-MM-DD)')),
				_('From that day (midnight UTC) the peer is disabled on every router'))
		], _('Save'), L.bind(function(sub) {
			var name = val('wgc-e-name');
			check('wgc-e-name', _('Name: is required (1 to 64 printable characters)'), name === '' || name.length > 64);
			var allowed = ipList('wgc-e-allowed', _('Client allowed IPs'));
			var node = val('wgc-e-node');
			var limit = dataLimit('wgc-e-limit'), exp = expiry('wgc-e-expires');
			var rxLimit = dataLimit('wgc-e-rx-limit', _('Upload limit')), txLimit = dataLimit('wgc-e-tx-limit', _('Download limit'));
			var was = function(v) { return v != null ? v : ''; };
			var limitWas = was(peer.data_limit_bytes), expWas = isoDate(peer.expires_at);
			var args = [ config, peer.id, name !== peer.name ? name : undefined, allowed, keepalive('wgc-e-keepalive'),
				val('wgc-e-enabled') === '1', node && node !== peer.node_id ? node : undefined,
				limit !== limitWas ? limit : undefined, exp !== expWas ? exp : undefined,
				rxLimit !== was(peer.rx_limit_bytes) ? rxLimit : undefined, txLimit !== was(peer.tx_limit_bytes) ? txLimit : undefined ];
			return callPeerUpdate.apply(null, args.concat([ sub.key(args) ]))
				.then(unwrap).then(L.bind(this.refresh, this));
		}, this));
	},

	handleDelete: function(peer) {
		var config = this.data.config;
		modalForm(_('Delete peer %h').format(peer.name), [
			E('p', {}, [ _('The peer is removed from every router of %s; its client can no longer connect.').format(config) ])
		], _('Delete'), L.bind(function(sub) {
			return callPeerDelete(config, peer.id, sub.key([ config, peer.id ])).then(unwrap).then(L.bind(this.refresh, this));
		}, this));
	},

	handleUsage: function(peer) {
		var config = this.data.config;
		return callPeerUsage(config, peer.id, null, null, 'day').then(unwrap).then(function(u) {
			ui.showModal(_('Usage of %h, last 30 days').format(peer.name), [
				E('p', {}, [ _('Total: received %s, sent %s').format(bytes(u.rx_bytes), bytes(u.tx_bytes)) ]),
				usageChart(u),
				E('div', { 'class': 'right' }, [ E('button', { 'class': 'btn', 'click': ui.hideModal }, [ _('Close') ]) ])
			]);
		}).catch(notifyError);
	},

	handleDownload: function(peer) {
		var config = this.data.config;
		return callPeerConfig(config, peer.id, 'conf').then(unwrap).then(function(d) {
			download(fileName(config, peer), d.config, 'text/plain');
		}).catch(notifyError);
	},

	handleQR: function(peer) {
		var config = this.data.config;
		return callPeerConfig(config, peer.id).then(unwrap).then(function(d) {
			/* The SVG is made by wgclusterd from the config text, not from user input. */
			var qr = E('div', { 'class': 'wgc-qr', 'style': 'max-width:320px;margin:0 auto' });
			qr.innerHTML = d.qr_svg || '';
			ui.showModal(_('Client config of %h').format(peer.name), [
				E('p', {}, [ _('Scan with the WireGuard app, or download the file.') ]),
				qr,
				E('pre', { 'class': 'wgc-conf', 'style': 'white-space:pre-wrap;font-size:80%' }, [ d.config || '' ]),
				E('div', { 'class': 'right' }, [
					E('button', { 'class': 'btn cbi-button-action', 'click': function() {
						download(fileName(config, peer), d.config, 'text/plain');
					} }, [ _('Download') ]), ' ',
					E('button', { 'class': 'btn', 'click': ui.hideModal }, [ _('Close') ])
				])
			]);
		}).catch(notifyError);
	},

	renderPeers: function(data) {
		if (data.error)
			return E('div', { 'class': 'alert-message warning' }, [ E('strong', {}, [ _('wgclusterd is not reachable') ]), E('br'), data.error ]);
		if (!data.config)
			return E('p', {}, [ E('em', {}, [ _('No configurations yet: add one on the Configurations page.') ]) ]);

		var now = Date.now();
		var rows = data.peers.map(L.bind(function(p) {
			var st = p.status || {};
			var live = st.connected
				? E('span', { 'class': 'wgc-status' }, [ common.badge(_('online'), 'ok'), ' ',
					E('small', {}, [ _('via %s').format(st.serving_node || '?'), st.endpoint ? ' · ' + st.endpoint : '',
						st.latest_handshake ? ' · ' + age(st.latest_handshake, now) : '' ]) ])
				: E('span', { 'class': 'wgc-status' }, [ common.badge(_('offline'), ''), ' ',
					E('small', {}, [ st.latest_handshake ? _('last seen %s').format(age(st.latest_handshake, now)) : _('never connected') ]) ]);
			var limits = [];
			if (p.data_limit_bytes != null)
				limits.push(_('limit %s').format(bytes(p.data_limit_bytes)));
			if (p.rx_limit_bytes != null)
				limits.push(_('upload limit %s').format(bytes(p.rx_limit_bytes)));
			if (p.tx_limit_bytes != null)
				limits.push(_('download limit %s').format(bytes(p.tx_limit_bytes)));
			if (p.expires_at != null)
				limits.push(_('expires %s').format(isoDate(p.expires_at)));
			var usage = E('span', { 'class': 'wgc-usage' }, [
				'↓ ' + bytes(st.rx_bytes) + ' ↑ ' + bytes(st.tx_bytes),
				limits.length ? E('br') : '', limits.length ? E('small', {}, [ limits.join(' · ') ]) : ''
			]);
			var state = p.limited
				? common.badge(p.limited === 'expires_at' ? _('expired') : _('limit reached'), 'error', _('Disabled by its limit: %s').format(p.limited))
				: (p.enabled ? common.badge(_('enabled'), 'ok') : common.badge(_('disabled'), ''));
			return { attrs: { 'class': 'tr wgc-peer', 'data-peer': p.id }, cells: [
				E('strong', {}, [ p.name ]),
				p.address || '',
				E('span', {}, [ p.node_id || '-', p.draining_from ? ' ' + _('(moving from %s)').format(p.draining_from) : '' ]),
				E('code', { 'title': p.public_key }, [ String(p.public_key).substr(0, 12) + '…' ]),
				live,
				usage,
				state,
				E('span', {}, [
					E('button', { 'class': 'btn cbi-button-action wgc-read', 'click': ui.createHandlerFn(this, 'handleUsage', p) }, [ _('Usage') ]), ' ',
					common.writeButton(_('Edit'), 'cbi-button-edit', ui.createHandlerFn(this, 'handleEdit', p)), ' ',
					common.writeButton(_('Config'), 'cbi-button-action', ui.createHandlerFn(this, 'handleDownload', p)), ' ',
					common.writeButton(_('QR code'), 'cbi-button-action', ui.createHandlerFn(this, 'handleQR', p)), ' ',
					common.writeButton(_('Delete'), 'cbi-button-remove', ui.createHandlerFn(this, 'handleDelete', p))
				])
			] };
		}, this));

		return E('div', {}, [
			E('div', { 'class': 'cbi-section-create' }, [
				E('label', { 'for': 'wgc-config-select' }, [ _('Configuration') ]), ' ',
				E('select', { 'class': 'cbi-input-select wgc-read', 'id': 'wgc-config-select', 'change': ui.createHandlerFn(this, 'handleConfig') },
					data.configs.map(function(c) {
						return E('option', { 'value': c.name, 'selected': c.name === data.config ? 'selected' : null }, [ c.name ]);
					})),
				' ',
				common.writeButton(_('Add peer'), 'cbi-button-add', ui.createHandlerFn(this, 'handleAdd'), { 'id': 'wgc-add-peer' })
			]),
			E('div', { 'class': 'cbi-section-create' }, [
				E('input', { 'type': 'text', 'class': 'cbi-input-text wgc-read', 'id': 'wgc-peer-q', 'value': data.query,
					'placeholder': _('Name starts with…'), 'change': ui.createHandlerFn(this, 'handleSearch') }), ' ',
				E('button', { 'class': 'btn cbi-button wgc-read wgc-prev', 'disabled': data.offset > 0 ? null : 'disabled',
					'click': ui.createHandlerFn(this, 'handlePage', -1) }, [ _('Previous') ]), ' ',
				E('span', { 'class': 'wgc-page' }, [ data.total
					? _('Peers %d–%d of %d').format(data.offset + 1, data.offset + data.peers.length, data.total)
					: (data.query ? _('No peer name starts with %s').format(data.query) : '') ]), ' ',
				E('button', { 'class': 'btn cbi-button wgc-read wgc-next', 'disabled': data.offset + data.peers.length < data.total ? null : 'disabled',
					'click': ui.createHandlerFn(this, 'handlePage', 1) }, [ _('Next') ])
			]),
			common.table([ _('Name'), _('Tunnel address'), _('Router'), _('Public key'), _('Status'), _('Usage'), _('State'), { title: _('Actions'), right: true } ],
				rows, _('No peers yet'), { 'id': 'wgc-peers' })
		]);
	},

	render: function(data) {
		this.data = data;
		this.root = E('div', { 'class': 'cbi-section' }, [ this.renderPeers(data) ]);
		/* live status and usage; a refresh never touches an open dialog */
		poll.add(L.bind(function() {
			return this.load().then(L.bind(function(d) {
				this.data = d;
				dom.content(this.root, this.renderPeers(d));
			}, this));
		}, this), 10);
		return E('div', { 'class': 'cbi-map' }, [
			E('h2', {}, [ _('Peers') ]),
			E('div', { 'class': 'cbi-map-descr' }, [ _('The clients of a configuration. Each is homed on one router; its config file is the same on every router of a cluster endpoint.') ]),
			this.root
		]);
	},

	handleSave: null,
	handleSaveApply: null,
	handleReset: null
});
