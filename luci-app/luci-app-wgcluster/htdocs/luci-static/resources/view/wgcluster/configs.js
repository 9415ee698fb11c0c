'use strict';
'require view';
'require rpc';
'require ui';
'require dom';

/* WireGuard configurations: create and delete them, assign routers and take them off again (the
 * answer says how many peers migrated), move peers by hand, and set the cluster endpoint
 * (endpoint group) that makes a configuration one service behind one DNS name. */

var callConfigs = rpc.declare({ object: 'wgcluster', method: 'configs_list', expect: { '': {} } });
var callNodes = rpc.declare({ object: 'wgcluster', method: 'nodes_list', expect: { '': {} } });
var callConfigCreate = rpc.declare({ object: 'wgcluster', method: 'config_create',
	params: [ 'name', 'address', 'listen_port', 'mtu', 'dns', 'peer_allowed_ips', 'peer_keepalive' ], expect: { '': {} } });
var callConfigDelete = rpc.declare({ object: 'wgcluster', method: 'config_delete', params: [ 'config', 'force' ], expect: { '': {} } });
var callConfigNodes = rpc.declare({ object: 'wgcluster', method: 'config_nodes', params: [ 'config' ], expect: { '': {} } });
var callAssign = rpc.declare({ object: 'wgcluster', method: 'config_node_assign', params: [ 'config', 'node_id' ], expect: { '': {} } });
var callRemove = rpc.declare({ object: 'wgcluster', method: 'config_node_remove', params: [ 'config', 'node_id' ], expect: { '': {} } });
var callMigrate = rpc.declare({ object: 'wgcluster', method: 'migrate', params: [ 'config', 'node_id', 'destination_node_id' ], expect: { '': {} } });
var callGroupGet = rpc.declare({ object: 'wgcluster', method: 'endpoint_group_get', params: [ 'config' ], expect: { '': {} } });
var callGroupSet = rpc.declare({ object: 'wgcluster', method: 'endpoint_group_set',
	params: [ 'config', 'domain', 'port', 'provider', 'cloudflare_zone_id', 'cloudflare_record_name', 'ttl',
		'auto_migrate', 'publish_only_healthy', 'min_nodes' ], expect: { '': {} } });
var callGroupDelete = rpc.declare({ object: 'wgcluster', method: 'endpoint_group_delete', params: [ 'config' ], expect: { '': {} } });

/* The daemon answers {status, message, data}; anything else is an error with a message. */
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

function checked(id) {
	var el = document.getElementById(id);
	return el ? el.checked : false;
}

function optInt(id, label, min, max) {
	var v = val(id);
	if (v === '')
		return undefined;
	if (!/^\d+$/.test(v) || +v < min || +v > max)
		throw new Error(_('%s: must be a whole number from %d to %d').format(label, min, max));
	return +v;
}

function optList(id) {
	var v = val(id);
	return v === '' ? undefined : v.split(/[\s,]+/).filter(function(x) { return x !== ''; });
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

function checkbox(id, on) {
	return E('input', { 'type': 'checkbox', 'class': 'cbi-input-checkbox', 'id': id, 'checked': on ? 'checked' : null });
}

function select(id, choices, current) {
	return E('select', { 'class': 'cbi-input-select', 'id': id }, choices.map(function(c) {
		return E('option', { 'value': c[0], 'selected': c[0] === current ? 'selected' : null }, [ c[1] ]);
	}));
}

/* A modal form: `submit` validates, calls the daemon and returns a promise; its errors show in
 * the form, which stays open so the value can be corrected. */
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

function confirmModal(title, message, label, action) {
	modalForm(title, [ E('p', {}, [ message ]) ], label, action);
}

function resultModal(title, lines) {
	ui.showModal(title, lines.map(function(l) { return E('p', { 'class': 'wgc-result' }, [ l ]); }).concat([
		E('div', { 'class': 'right' }, [ E('button', { 'class': 'btn cbi-button-action', 'click': ui.hideModal }, [ _('Close') ]) ])
	]));
}

function fmtTime(ms) {
	if (!ms)
		return '-';
	var d = new Date(+ms), p = function(n) { return (n < 10 ? '0' : '') + n; };
	return '%d-%s-%s %s:%s'.format(d.getFullYear(), p(d.getMonth() + 1), p(d.getDate()), p(d.getHours()), p(d.getMinutes()));
}

var IFNAME = /^[A-Za-z0-9_=+.-]{1,15}$/;
var DOMAIN = /^(?=.{1,253}$)([A-Za-z0-9-]{1,63}\.)+[A-Za-z0-9-]{1,63}\.?$/;

return view.extend({
	load: function() {
		return Promise.all([ callConfigs(), callNodes() ]).then(function(r) {
			var configs = unwrap(r[0]) || [], nodes = unwrap(r[1]) || [];
			return Promise.all(configs.map(function(c) {
				return Promise.all([
					L.resolveDefault(callConfigNodes(c.name), {}),
					c.mode === 'cluster' ? L.resolveDefault(callGroupGet(c.name), {}) : Promise.resolve(null)
				]);
			})).then(function(details) {
				return { configs: configs, nodes: nodes, details: details, error: null };
			});
		}).catch(function(err) {
			return { configs: [], nodes: [], details: [], error: err.message || String(err) };
		});
	},

	refresh: function() {
		return this.load().then(L.bind(function(data) {
			dom.content(this.root, this.renderConfigs(data));
		}, this));
	},

	/* Runs a daemon call, then shows the page again. */
	act: function(promise) {
		return promise.then(unwrap).then(L.bind(function(d) {
			return this.refresh().then(function() { return d; });
		}, this));
	},

	handleCreate: function() {
		modalForm(_('New configuration'), [
			field(_('Name'), text('wgc-c-name', '', 'wg0'), _('The interface name: 1 to 15 letters, digits or _=+.-')),
			field(_('Address'), text('wgc-c-address', '', '10.8.0.1/24'), _('The interface address and prefix; peers get addresses from this network')),
			field(_('Listen port'), text('wgc-c-port', '51820')),
			field(_('MTU'), text('wgc-c-mtu', '', _('automatic'))),
			field(_('Client DNS'), text('wgc-c-dns', '', '10.8.0.1'), _('DNS servers written into client configs, comma-separated')),
			field(_('Client allowed IPs'), text('wgc-c-allowed', '', '0.0.0.0/0, ::/0'), _('Routes a client sends through the tunnel')),
			field(_('Client keepalive'), text('wgc-c-keepalive', '', '25'), _('Seconds; 0 turns it off'))
		], _('Create'), L.bind(function() {
			var name = val('wgc-c-name');
			if (!IFNAME.test(name))
				throw new Error(_('Name: 1 to 15 letters, digits or _=+.- are allowed'));
			var address = optList('wgc-c-address');
			if (!address)
				throw new Error(_('Address: is required, like 10.8.0.1/24'));
			var port = optInt('wgc-c-port', _('Listen port'), 1, 65535);
			if (port == null)
				throw new Error(_('Listen port: is required'));
			return this.act(callConfigCreate(name, address, port, optInt('wgc-c-mtu', _('MTU'), 1280, 9000),
				optList('wgc-c-dns'), optList('wgc-c-allowed'), optInt('wgc-c-keepalive', _('Client keepalive'), 0, 65535)));
		}, this));
	},

	handleDelete: function(cfg) {
		var force = checkbox('wgc-c-force', false);
		modalForm(_('Delete configuration %s').format(cfg.name), [
			E('p', {}, [ _('The interface is removed from every router. This cannot be undone.') ]),
			E('label', {}, [ force, ' ', _('Also delete its %d peers').format(cfg.peers) ])
		], _('Delete'), L.bind(function() {
			return this.act(callConfigDelete(cfg.name, checked('wgc-c-force') ? true : undefined));
		}, this));
	},

	handleAssign: function(cfg, ev) {
		var sel = document.getElementById('wgc-assign-' + cfg.name);
		if (!sel || !sel.value)
			return Promise.resolve();
		return this.act(callAssign(cfg.name, sel.value)).catch(notifyError);
	},

	handleRemove: function(cfg, node) {
		confirmModal(_('Remove router %s from %s').format(node.id, cfg.name),
			_('Its peers move to the least-loaded healthy router first (make-before-break), a backup of its interface is kept, then the interface is removed from the router.'),
			_('Remove router'), L.bind(function() {
				return this.act(callRemove(cfg.name, node.id)).then(function(d) {
					var lines = [ _('Router %s was removed from %s.').format(node.id, cfg.name),
						_('%d peers migrated.').format(d.peers_migrated || 0) ];
					if (d.backup_id != null)
						lines.push(_('Backup %s keeps its last interface config.').format(d.backup_id));
					window.setTimeout(function() { resultModal(_('Migration result'), lines); }, 0);
				});
			}, this));
	},

	handleMigrate: function(cfg, node, others) {
		modalForm(_('Move the peers of %s').format(node.id), [
			E('p', {}, [ _('Every peer homed on %s in %s moves, make-before-break.').format(node.id, cfg.name) ]),
			field(_('Destination'), select('wgc-m-dest', [ [ '', _('Least-loaded healthy router') ] ].concat(
				others.map(function(o) { return [ o.id, o.id ]; })), ''))
		], _('Move peers'), L.bind(function() {
			var dest = val('wgc-m-dest');
			return this.act(callMigrate(cfg.name, node.id, dest || undefined)).then(function(d) {
				window.setTimeout(function() {
					resultModal(_('Migration result'), [ _('%d peers migrated.').format(d.peers_migrated || 0) ]);
				}, 0);
			});
		}, this));
	},

	handleGroup: function(cfg, g) {
		g = g || {};
		var provider = select('wgc-g-provider', [ [ 'cloudflare', _('Cloudflare') ], [ 'rfc2136', _('RFC 2136 (BIND, Knot, PowerDNS)') ] ],
			g.provider || 'cloudflare');
		modalForm(_('Cluster endpoint of %s').format(cfg.name), [
			E('p', { 'class': 'cbi-value-description' }, [
				_('Clients connect to one name whose A/AAAA records list the healthy routers. Records are always DNS-only (never proxied): WireGuard is UDP.')
			]),
			field(_('Domain'), text('wgc-g-domain', g.domain, 'vpn.example.com')),
			field(_('Port'), text('wgc-g-port', g.port != null ? g.port : cfg.listen_port)),
			field(_('DNS provider'), provider, _('Credentials are set on the DNS page')),
			field(_('Cloudflare zone ID'), text('wgc-g-zone', g.cloudflare_zone_id)),
			field(_('Cloudflare record name'), text('wgc-g-record', g.cloudflare_record_name, _('same as the domain'))),
			field(_('TTL'), text('wgc-g-ttl', g.ttl != null ? g.ttl : 60), _('Seconds')),
			field(_('Minimum routers'), text('wgc-g-min', g.min_nodes != null ? g.min_nodes : 1),
				_('Never publish fewer addresses than this; below it the last set stays (fail static)')),
			field(_('Publish only healthy routers'), checkbox('wgc-g-healthy', g.publish_only_healthy !== false)),
			field(_('Migrate peers off unhealthy routers'), checkbox('wgc-g-migrate', g.auto_migrate !== false))
		], _('Save'), L.bind(function() {
			var domain = val('wgc-g-domain');
			if (!DOMAIN.test(domain))
				throw new Error(_('Domain: must be a DNS name like vpn.example.com'));
			var cf = val('wgc-g-provider') === 'cloudflare';
			return this.act(callGroupSet(cfg.name, domain, optInt('wgc-g-port', _('Port'), 1, 65535), val('wgc-g-provider'),
				cf ? (val('wgc-g-zone') || undefined) : undefined, cf ? (val('wgc-g-record') || undefined) : undefined,
				optInt('wgc-g-ttl', _('TTL'), 1, 86400), checked('wgc-g-migrate'), checked('wgc-g-healthy'),
				optInt('wgc-g-min', _('Minimum routers'), 1, 64)));
		}, this));
	},

	handleGroupDelete: function(cfg) {
		confirmModal(_('Remove the cluster endpoint of %s').format(cfg.name),
			_('The configuration goes back to independent mode: each peer connects to its own router, and clients need new config files.'),
			_('Remove'), L.bind(function() { return this.act(callGroupDelete(cfg.name)); }, this));
	},

	renderConfig: function(cfg, detail, allNodes) {
		var assigned = [];
		try { assigned = unwrap(detail[0]) || []; } catch (e) { assigned = []; }
		var group = (detail[1] && detail[1].status === true) ? detail[1].data : null;
		var ids = assigned.map(function(n) { return n.id; });
		var free = allNodes.filter(function(n) { return ids.indexOf(n.id) < 0; });

		var rows = assigned.map(L.bind(function(n) {
			var others = assigned.filter(function(o) { return o.id !== n.id; });
			return E('tr', { 'class': 'tr', 'data-node': n.id }, [
				E('td', { 'class': 'td' }, [ E('strong', {}, [ n.id ]), n.name && n.name !== n.id ? ' (' + n.name + ')' : '' ]),
				E('td', { 'class': 'td' }, [ n.is_healthy
					? E('span', { 'class': 'label success' }, [ _('healthy') ])
					: E('span', { 'class': 'label important' }, [ _('unhealthy') ]) ]),
				E('td', { 'class': 'td' }, [ String(n.peers != null ? n.peers : 0) ]),
				E('td', { 'class': 'td' }, [ fmtTime(n.assigned_at) ]),
				E('td', { 'class': 'td right' }, [
					E('button', { 'class': 'btn cbi-button-action', 'click': ui.createHandlerFn(this, 'handleMigrate', cfg, n, others) }, [ _('Move peers') ]), ' ',
					E('button', { 'class': 'btn cbi-button-remove wgc-remove-node', 'click': ui.createHandlerFn(this, 'handleRemove', cfg, n) }, [ _('Remove') ])
				])
			]);
		}, this));
		if (!rows.length)
			rows.push(E('tr', { 'class': 'tr placeholder' }, [ E('td', { 'class': 'td', 'colspan': '5' }, [
				E('em', {}, [ _('No router serves this configuration yet') ]) ]) ]));

		var groupText = group
			? [ E('strong', {}, [ group.domain + ':' + group.port ]), ' ',
				_('via %s, TTL %ds, minimum published routers: %d').format(group.provider, group.ttl, group.min_nodes) ]
			: [ E('em', {}, [ _('None: independent mode, each peer connects to its own router') ]) ];

		return E('div', { 'class': 'cbi-section wgc-config', 'id': 'wgc-config-' + cfg.name }, [
			E('h3', {}, [ cfg.name ]),
			E('div', { 'class': 'cbi-section-descr' }, [
				_('Address %s, port %d, %d peers, public key %s').format(cfg.address, cfg.listen_port, cfg.peers, cfg.public_key)
			]),
			E('table', { 'class': 'table' }, [
				E('tr', { 'class': 'tr table-titles' }, [
					E('th', { 'class': 'th' }, [ _('Router') ]), E('th', { 'class': 'th' }, [ _('Health') ]),
					E('th', { 'class': 'th' }, [ _('Peers') ]), E('th', { 'class': 'th' }, [ _('Assigned') ]),
					E('th', { 'class': 'th right' }, [ _('Actions') ])
				])
			].concat(rows)),
			E('div', { 'class': 'cbi-section-create' }, free.length ? [
				select('wgc-assign-' + cfg.name, free.map(function(n) { return [ n.id, n.id + (n.healthy ? '' : ' ' + _('(unhealthy)')) ]; }), free[0].id),
				' ',
				E('button', { 'class': 'btn cbi-button-add wgc-assign', 'click': ui.createHandlerFn(this, 'handleAssign', cfg) }, [ _('Assign router') ])
			] : [ E('em', {}, [ _('Every router serves this configuration') ]) ]),
			E('h4', {}, [ _('Cluster endpoint') ]),
			E('p', { 'class': 'wgc-group' }, groupText),
			E('div', {}, [
				E('button', { 'class': 'btn cbi-button-edit wgc-group-edit', 'click': ui.createHandlerFn(this, 'handleGroup', cfg, group) },
					[ group ? _('Edit cluster endpoint') : _('Add cluster endpoint') ]), ' ',
				group ? E('button', { 'class': 'btn cbi-button-remove', 'click': ui.createHandlerFn(this, 'handleGroupDelete', cfg) }, [ _('Remove cluster endpoint') ]) : '',
				' ',
				E('button', { 'class': 'btn cbi-button-negative', 'click': ui.createHandlerFn(this, 'handleDelete', cfg) }, [ _('Delete configuration') ])
			])
		]);
	},

	renderConfigs: function(data) {
		if (data.error)
			return E('div', { 'class': 'alert-message warning' }, [ E('strong', {}, [ _('wgclusterd is not reachable') ]), E('br'), data.error ]);
		if (!data.configs.length)
			return E('p', {}, [ E('em', {}, [ _('No configurations yet') ]) ]);
		return E('div', {}, data.configs.map(L.bind(function(c, i) {
			return this.renderConfig(c, data.details[i] || [], data.nodes);
		}, this)));
	},

	render: function(data) {
		this.root = E('div', { 'id': 'wgc-configs' }, [ this.renderConfigs(data) ]);
		return E('div', { 'class': 'cbi-map' }, [
			E('h2', {}, [ _('Configurations') ]),
			E('div', { 'class': 'cbi-map-descr' }, [
				_('A configuration is one WireGuard network. Assign it to routers; removing a router moves its peers to the others first.')
			]),
			E('div', { 'class': 'cbi-section-create' }, [
				E('button', { 'class': 'btn cbi-button-add', 'click': ui.createHandlerFn(this, 'handleCreate') }, [ _('Add configuration') ])
			]),
			this.root
		]);
	},

	handleSave: null,
	handleSaveApply: null,
	handleReset: null
});
