'use strict';
'require view';
'require rpc';
'require ui';
'require dom';

/* Peers (clients) of a configuration: list, add, edit, delete, download the client config or
 * show it as a QR code. */

var callConfigs = rpc.declare({ object: 'wgcluster', method: 'configs_list', expect: { '': {} } });
var callNodes = rpc.declare({ object: 'wgcluster', method: 'nodes_list', expect: { '': {} } });
var callPeers = rpc.declare({ object: 'wgcluster', method: 'peers_list', params: [ 'config' ], expect: { '': {} } });
var callPeerCreate = rpc.declare({ object: 'wgcluster', method: 'peer_create',
	params: [ 'config', 'name', 'public_key', 'preshared_key', 'node_id', 'allowed_ips', 'keepalive', 'enabled' ], expect: { '': {} } });
var callPeerUpdate = rpc.declare({ object: 'wgcluster', method: 'peer_update',
	params: [ 'config', 'peer_id', 'name', 'allowed_ips', 'keepalive', 'enabled', 'node_id' ], expect: { '': {} } });
var callPeerDelete = rpc.declare({ object: 'wgcluster', method: 'peer_delete', params: [ 'config', 'peer_id' ], expect: { '': {} } });
var callPeerConfig = rpc.declare({ object: 'wgcluster', method: 'peer_config', params: [ 'config', 'peer_id', 'format' ], expect: { '': {} } });

/* A WireGuard key: 32 bytes in base64 (44 characters, the last one '='). */
var WG_KEY = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw480]=$/;
var CIDR = /^([0-9]{1,3}(\.[0-9]{1,3}){3}|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)(\/[0-9]{1,3})?$/;

function unwrap(res) {
	if (res && res.status === true)
		return res.data;
	throw new Error((res && (res.error || res.message)) || _('No answer from wgclusterd'));
}

function notifyError(err) {
	ui.addNotification(null, E('p', {}, [ err.message || String(err) ]), 'danger');
}

function val(id) {
	var el = document.getElementById(id);
	return el ? el.value.trim() : '';
}

function field(label, input, help) {
	return E('div', { 'class': 'cbi-value' }, [
		E('label', { 'class': 'cbi-value-title', 'for': input.id }, [ label ]),
		E('div', { 'class': 'cbi-value-field' }, [ input ].concat(help ? [ E('div', { 'class': 'cbi-value-description' }, [ help ]) ] : []))
	]);
}

function text(id, value, placeholder) {
	return E('input', { 'type': 'text', 'class': 'cbi-input-text', 'id': id,
		'value': value != null ? String(value) : '', 'placeholder': placeholder || '' });
}

function select(id, choices, current) {
	return E('select', { 'class': 'cbi-input-select', 'id': id }, choices.map(function(c) {
		return E('option', { 'value': c[0], 'selected': c[0] === current ? 'selected' : null }, [ c[1] ]);
	}));
}

/* Checks a form field; marks it invalid and throws the message when `bad` says so. */
function check(id, message, bad) {
	var el = document.getElementById(id);
	if (el)
		el.classList.toggle('cbi-input-invalid', !!bad);
	if (bad)
		throw new Error(message);
}

function modalForm(title, children, submitLabel, submit) {
	var errBox = E('div', { 'class': 'alert-message warning wgc-form-error', 'style': 'display:none' });
	ui.showModal(title, [ errBox ].concat(children).concat([
		E('div', { 'class': 'right' }, [
			E('button', { 'class': 'btn', 'click': ui.hideModal }, [ _('Cancel') ]), ' ',
			E('button', { 'class': 'btn cbi-button-positive important wgc-submit', 'click': ui.createHandlerFn(this, function() {
				return Promise.resolve().then(submit).then(function() {
					ui.hideModal();
				}, function(err) {
					dom.content(errBox, [ err.message || String(err) ]);
					errBox.style.display = '';
				});
			}) }, [ submitLabel ])
		])
	]));
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

function download(name, content, type) {
	var a = E('a', { 'href': URL.createObjectURL(new Blob([ content ], { 'type': type })), 'download': name, 'style': 'display:none' });
	document.body.appendChild(a);
	a.click();
	window.setTimeout(function() { URL.revokeObjectURL(a.href); a.parentNode.removeChild(a); }, 1000);
}

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
			return (current ? callPeers(current).then(unwrap) : Promise.resolve([])).then(function(peers) {
				return { configs: configs, nodes: nodes, config: current, peers: peers || [], error: null };
			});
		}, this)).catch(function(err) {
			return { configs: [], nodes: [], config: null, peers: [], error: err.message || String(err) };
		});
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
		], _('Add peer'), L.bind(function() {
			var name = val('wgc-p-name');
			check('wgc-p-name', _('Name: is required (1 to 64 printable characters)'), name === '' || name.length > 64);
			var pub = val('wgc-p-pubkey');
			check('wgc-p-pubkey', _('Public key: "%s" is not a WireGuard key (44 characters of base64 ending in =)').format(pub),
				pub !== '' && !WG_KEY.test(pub));
			var allowed = ipList('wgc-p-allowed', _('Client allowed IPs'));
			var ka = keepalive('wgc-p-keepalive');
			return callPeerCreate(config, name, pub || undefined, val('wgc-p-psk') === 'none' ? 'none' : undefined,
				val('wgc-p-node') || undefined, allowed, ka, true).then(unwrap).then(L.bind(function(peer) {
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
			field(_('State'), select('wgc-e-enabled', [ [ '1', _('Enabled') ], [ '0', _('Disabled') ] ], peer.enabled ? '1' : '0'))
		], _('Save'), L.bind(function() {
			var name = val('wgc-e-name');
			check('wgc-e-name', _('Name: is required (1 to 64 printable characters)'), name === '' || name.length > 64);
			var allowed = ipList('wgc-e-allowed', _('Client allowed IPs'));
			var node = val('wgc-e-node');
			return callPeerUpdate(config, peer.id, name !== peer.name ? name : undefined, allowed, keepalive('wgc-e-keepalive'),
				val('wgc-e-enabled') === '1', node && node !== peer.node_id ? node : undefined)
				.then(unwrap).then(L.bind(this.refresh, this));
		}, this));
	},

	handleDelete: function(peer) {
		var config = this.data.config;
		modalForm(_('Delete peer %h').format(peer.name), [
			E('p', {}, [ _('The peer is removed from every router of %s; its client can no longer connect.').format(config) ])
		], _('Delete'), L.bind(function() {
			return callPeerDelete(config, peer.id).then(unwrap).then(L.bind(this.refresh, this));
		}, this));
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

		var rows = data.peers.map(L.bind(function(p) {
			return E('tr', { 'class': 'tr wgc-peer', 'data-peer': p.id }, [
				E('td', { 'class': 'td' }, [ E('strong', {}, [ p.name ]) ]),
				E('td', { 'class': 'td' }, [ p.address || '' ]),
				E('td', { 'class': 'td' }, [ p.node_id || '-', p.draining_from ? ' ' + _('(moving from %s)').format(p.draining_from) : '' ]),
				E('td', { 'class': 'td' }, [ E('code', { 'title': p.public_key }, [ String(p.public_key).substr(0, 12) + '…' ]) ]),
				E('td', { 'class': 'td' }, [ p.enabled ? E('span', { 'class': 'label success' }, [ _('enabled') ])
					: E('span', { 'class': 'label' }, [ _('disabled') ]) ]),
				E('td', { 'class': 'td right' }, [
					E('button', { 'class': 'btn cbi-button-edit', 'click': ui.createHandlerFn(this, 'handleEdit', p) }, [ _('Edit') ]), ' ',
					E('button', { 'class': 'btn cbi-button-action', 'click': ui.createHandlerFn(this, 'handleDownload', p) }, [ _('Config') ]), ' ',
					E('button', { 'class': 'btn cbi-button-action', 'click': ui.createHandlerFn(this, 'handleQR', p) }, [ _('QR code') ]), ' ',
					E('button', { 'class': 'btn cbi-button-remove', 'click': ui.createHandlerFn(this, 'handleDelete', p) }, [ _('Delete') ])
				])
			]);
		}, this));
		if (!rows.length)
			rows.push(E('tr', { 'class': 'tr placeholder' }, [ E('td', { 'class': 'td', 'colspan': '6' }, [ E('em', {}, [ _('No peers yet') ]) ]) ]));

		return E('div', {}, [
			E('div', { 'class': 'cbi-section-create' }, [
				E('label', { 'for': 'wgc-config-select' }, [ _('Configuration') ]), ' ',
				E('select', { 'class': 'cbi-input-select', 'id': 'wgc-config-select', 'change': ui.createHandlerFn(this, 'handleConfig') },
					data.configs.map(function(c) {
						return E('option', { 'value': c.name, 'selected': c.name === data.config ? 'selected' : null }, [ c.name ]);
					})),
				' ',
				E('button', { 'class': 'btn cbi-button-add', 'id': 'wgc-add-peer', 'click': ui.createHandlerFn(this, 'handleAdd') }, [ _('Add peer') ])
			]),
			E('table', { 'class': 'table', 'id': 'wgc-peers' }, [
				E('tr', { 'class': 'tr table-titles' }, [
					E('th', { 'class': 'th' }, [ _('Name') ]), E('th', { 'class': 'th' }, [ _('Tunnel address') ]),
					E('th', { 'class': 'th' }, [ _('Router') ]), E('th', { 'class': 'th' }, [ _('Public key') ]),
					E('th', { 'class': 'th' }, [ _('State') ]), E('th', { 'class': 'th right' }, [ _('Actions') ])
				])
			].concat(rows))
		]);
	},

	render: function(data) {
		this.data = data;
		this.root = E('div', { 'class': 'cbi-section' }, [ this.renderPeers(data) ]);
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
