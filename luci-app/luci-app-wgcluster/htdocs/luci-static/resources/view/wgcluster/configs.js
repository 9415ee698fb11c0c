'use strict';
'require view';
'require rpc';
'require ui';
'require dom';
'require form';
'require wgcluster.common as common';

/* WireGuard configurations: create, edit and delete them, assign routers and take them off again
 * (the answer says how many peers migrated), move peers by hand, and set the cluster endpoint
 * (endpoint group) that makes a configuration one service behind one DNS name. Every write sends
 * the form submission's idempotency key; read-only logins see the write controls disabled. */

var callConfigs = common.callConfigs;
var callNodes = common.callNodes;
var callConfigCreate = rpc.declare({ object: 'wgcluster', method: 'config_create',
	params: [ 'name', 'address', 'listen_port', 'mtu', 'dns', 'peer_allowed_ips', 'peer_keepalive', 'idempotency_key' ], expect: { '': {} } });
var callConfigUpdate = rpc.declare({ object: 'wgcluster', method: 'config_update',
	params: [ 'config', 'listen_port', 'mtu', 'dns', 'peer_allowed_ips', 'peer_keepalive', 'placement', 'idempotency_key' ], expect: { '': {} } });
var callConfigDelete = rpc.declare({ object: 'wgcluster', method: 'config_delete', params: [ 'config', 'force', 'idempotency_key' ], expect: { '': {} } });
var callConfigNodes = rpc.declare({ object: 'wgcluster', method: 'config_nodes', params: [ 'config' ], expect: { '': {} } });
var callAssign = rpc.declare({ object: 'wgcluster', method: 'config_node_assign', params: [ 'config', 'node_id', 'idempotency_key' ], expect: { '': {} } });
var callRemove = rpc.declare({ object: 'wgcluster', method: 'config_node_remove', params: [ 'config', 'node_id', 'idempotency_key' ], expect: { '': {} } });
var callMigrate = rpc.declare({ object: 'wgcluster', method: 'migrate', params: [ 'config', 'node_id', 'destination_node_id', 'idempotency_key' ], expect: { '': {} } });
var callGroupGet = rpc.declare({ object: 'wgcluster', method: 'endpoint_group_get', params: [ 'config' ], expect: { '': {} } });
var callGroupSet = rpc.declare({ object: 'wgcluster', method: 'endpoint_group_set',
	params: [ 'config', 'domain', 'port', 'provider', 'cloudflare_zone_id', 'cloudflare_record_name', 'ttl',
		'auto_migrate', 'publish_only_healthy', 'min_nodes', 'vip', 'vip_interface', 'vrid', 'vip_preempt', 'vip_in_dns',
		'idempotency_key' ], expect: { '': {} } });
var callGroupDelete = rpc.declare({ object: 'wgcluster', method: 'endpoint_group_delete', params: [ 'config', 'idempotency_key' ], expect: { '': {} } });

var unwrap = L.bind(common.unwrap, common);
var notifyError = L.bind(common.notifyError, common);
var val = L.bind(common.val, common);
var checked = L.bind(common.checked, common);
var optInt = L.bind(common.optInt, common);
var optList = L.bind(common.optList, common);
var field = L.bind(common.field, common);
var text = L.bind(common.text, common);
var checkbox = L.bind(common.checkbox, common);
var select = L.bind(common.select, common);
var modalForm = L.bind(common.modalForm, common);
var confirmModal = L.bind(common.confirmModal, common);
var resultModal = L.bind(common.resultModal, common);
var fmtTime = L.bind(common.fmtTime, common);

var IFNAME = /^[A-Za-z0-9_=+.-]{1,15}$/;
var DOMAIN = /^(?=.{1,253}$)([A-Za-z0-9-]{1,63}\.)+[A-Za-z0-9-]{1,63}\.?$/;
/* the floating address: an IPv4 or IPv6 address without a prefix (the daemon checks it fully) */
var VIP = /^(\d{1,3}(\.\d{1,3}){3}|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)$/;

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
		], _('Create'), L.bind(function(sub) {
			var name = val('wgc-c-name');
			if (!IFNAME.test(name))
				throw new Error(_('Name: 1 to 15 letters, digits or _=+.- are allowed'));
			var address = optList('wgc-c-address');
			if (!address)
				throw new Error(_('Address: is required, like 10.8.0.1/24'));
			var port = optInt('wgc-c-port', _('Listen port'), 1, 65535);
			if (port == null)
				throw new Error(_('Listen port: is required'));
			var args = [ name, address, port, optInt('wgc-c-mtu', _('MTU'), 1280, 9000),
				optList('wgc-c-dns'), optList('wgc-c-allowed'), optInt('wgc-c-keepalive', _('Client keepalive'), 0, 65535) ];
			return this.act(callConfigCreate.apply(null, args.concat([ sub.key(args) ])));
		}, this));
	},

	/* Editing is a LuCI form: form.JSONMap over the configuration, DynamicLists for the client
	 * DNS servers and routes, datatypes for what the daemon checks. */
	handleEdit: function(cfg) {
		var m, s, o;
		m = new form.JSONMap({ config: {
			listen_port: String(cfg.listen_port), mtu: cfg.mtu != null ? String(cfg.mtu) : null,
			dns: cfg.dns || [], peer_allowed_ips: cfg.peer_allowed_ips || [],
			peer_keepalive: cfg.peer_keepalive != null ? String(cfg.peer_keepalive) : null,
			placement: cfg.placement || 'peers'
		} }, null, _('The name and the address stay; a changed port or client setting reaches every router, and clients need new config files for client settings.'));
		m.readonly = !common.writable();
		s = m.section(form.NamedSection, 'config', 'config');
		o = s.option(form.Value, 'listen_port', _('Listen port'));
		o.datatype = 'port';
		o.rmempty = false;
		o = s.option(form.Value, 'mtu', _('MTU'));
		o.datatype = 'range(1280,9000)';
		o.placeholder = _('automatic');
		o = s.option(form.DynamicList, 'dns', _('Client DNS'), _('DNS servers written into client configs'));
		o.datatype = 'ipaddr';
		o = s.option(form.DynamicList, 'peer_allowed_ips', _('Client allowed IPs'), _('Routes a client sends through the tunnel'));
		o.datatype = 'cidr';
		o = s.option(form.Value, 'peer_keepalive', _('Client keepalive'), _('Seconds; 0 turns it off'));
		o.datatype = 'range(0,65535)';
		o = s.option(form.ListValue, 'placement', _('Placement'), _('Which router new and moved peers go to: the one with the fewest peers, or the one with the least traffic in the last hour (both per unit of weight)'));
		o.value('peers', _('Fewest peers'));
		o.value('traffic', _('Least recent traffic'));
		return m.render().then(L.bind(function(node) {
			modalForm(_('Edit configuration %s').format(cfg.name), [ node ], _('Save'), L.bind(function(sub) {
				return m.save(null, true).then(L.bind(function() {
					var get = function(k) { return m.data.get('json', 'config', k); };
					var num = function(k) { var v = get(k); return (v == null || v === '') ? undefined : +v; };
					var list = function(k) { var v = get(k); return v == null ? [] : (Array.isArray(v) ? v : [ v ]); };
					var args = [ cfg.name, num('listen_port'), num('mtu'), list('dns'),
						list('peer_allowed_ips').length ? list('peer_allowed_ips') : undefined, num('peer_keepalive'),
						get('placement') || undefined ];
					return this.act(callConfigUpdate.apply(null, args.concat([ sub.key(args) ])));
				}, this));
			}, this));
		}, this));
	},

	handleDelete: function(cfg) {
		var force = checkbox('wgc-c-force', false);
		modalForm(_('Delete configuration %s').format(cfg.name), [
			E('p', {}, [ _('The interface is removed from every router. This cannot be undone.') ]),
			E('label', {}, [ force, ' ', _('Also delete its %d peers').format(cfg.peers) ])
		], _('Delete'), L.bind(function(sub) {
			var args = [ cfg.name, checked('wgc-c-force') ? true : undefined ];
			return this.act(callConfigDelete(args[0], args[1], sub.key(args)));
		}, this));
	},

	handleAssign: function(cfg, ev) {
		var sel = document.getElementById('wgc-assign-' + cfg.name);
		if (!sel || !sel.value)
			return Promise.resolve();
		return this.act(callAssign(cfg.name, sel.value, new common.Submission().key([ cfg.name, sel.value ]))).catch(notifyError);
	},

	handleRemove: function(cfg, node) {
		confirmModal(_('Remove router %s from %s').format(node.id, cfg.name),
			_('Its peers move to the least-loaded healthy router first (make-before-break), a backup of its interface is kept, then the interface is removed from the router.'),
			_('Remove router'), L.bind(function(sub) {
				return this.act(callRemove(cfg.name, node.id, sub.key([ cfg.name, node.id ]))).then(function(d) {
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
		], _('Move peers'), L.bind(function(sub) {
			var dest = val('wgc-m-dest') || undefined;
			return this.act(callMigrate(cfg.name, node.id, dest, sub.key([ cfg.name, node.id, dest ]))).then(function(d) {
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
			field(_('Migrate peers off unhealthy routers'), checkbox('wgc-g-migrate', g.auto_migrate !== false)),
			E('h5', {}, [ _('Floating address (VRRP)') ]),
			E('p', { 'class': 'cbi-value-description' }, [
				_('For routers on one network: keepalived holds this address on one of them, and clients that never re-resolve the domain follow it. Leave it empty for none.')
			]),
			field(_('Floating address'), text('wgc-g-vip', g.vip, '192.168.1.250')),
			field(_('VRRP router ID'), text('wgc-g-vrid', g.vrid, '51'), _('1 to 255, unique on the network')),
			field(_('LAN interface'), text('wgc-g-vip-if', g.vip_interface, _('the interface of the router endpoint')),
				_('The Linux interface keepalived announces on, like br-lan')),
			field(_('Take the address back'), checkbox('wgc-g-vip-preempt', g.vip_preempt !== false),
				_('A returning router with a higher priority takes the address back (sessions move once more)')),
			field(_('Publish it as the domain'), checkbox('wgc-g-vip-dns', g.vip_in_dns === true),
				_('The domain gets this address as its only record and client configs name the domain; otherwise the domain lists the routers and client configs name the address'))
		], _('Save'), L.bind(function(sub) {
			var domain = val('wgc-g-domain');
			if (!DOMAIN.test(domain))
				throw new Error(_('Domain: must be a DNS name like vpn.example.com'));
			var cf = val('wgc-g-provider') === 'cloudflare';
			var vip = val('wgc-g-vip'), vrid, vipIf = val('wgc-g-vip-if');
			if (vip !== '') {
				if (!VIP.test(vip))
					throw new Error(_('Floating address: must be an IPv4 or IPv6 address like 192.168.1.250'));
				vrid = optInt('wgc-g-vrid', _('VRRP router ID'), 1, 255);
				if (vrid == null)
					throw new Error(_('VRRP router ID: is required with a floating address'));
				if (vipIf !== '' && !IFNAME.test(vipIf))
					throw new Error(_('LAN interface: 1 to 15 letters, digits or _=+.- are allowed'));
			}
			var args = [ cfg.name, domain, optInt('wgc-g-port', _('Port'), 1, 65535), val('wgc-g-provider'),
				cf ? (val('wgc-g-zone') || undefined) : undefined, cf ? (val('wgc-g-record') || undefined) : undefined,
				optInt('wgc-g-ttl', _('TTL'), 1, 86400), checked('wgc-g-migrate'), checked('wgc-g-healthy'),
				optInt('wgc-g-min', _('Minimum routers'), 1, 64),
				/* "" is no floating address (rpcd sends null); the rest only with one */
				vip, vip !== '' ? vipIf : undefined, vrid, vip !== '' ? checked('wgc-g-vip-preempt') : undefined,
				vip !== '' ? checked('wgc-g-vip-dns') : undefined ];
			return this.act(callGroupSet.apply(null, args.concat([ sub.key(args) ])));
		}, this));
	},

	handleGroupDelete: function(cfg) {
		confirmModal(_('Remove the cluster endpoint of %s').format(cfg.name),
			_('The configuration goes back to independent mode: each peer connects to its own router, and clients need new config files.'),
			_('Remove'), L.bind(function(sub) { return this.act(callGroupDelete(cfg.name, sub.key([ cfg.name ]))); }, this));
	},

	renderConfig: function(cfg, detail, allNodes) {
		var assigned = [];
		try { assigned = unwrap(detail[0]) || []; } catch (e) { assigned = []; }
		var group = (detail[1] && detail[1].status === true) ? detail[1].data : null;
		var ids = assigned.map(function(n) { return n.id; });
		var free = allNodes.filter(function(n) { return ids.indexOf(n.id) < 0; });

		var rows = assigned.map(L.bind(function(n) {
			var others = assigned.filter(function(o) { return o.id !== n.id; });
			return { attrs: { 'data-node': n.id }, cells: [
				E('span', {}, [ E('strong', {}, [ n.id ]), n.name && n.name !== n.id ? ' (' + n.name + ')' : '' ]),
				n.is_healthy ? common.badge(_('healthy'), 'ok') : common.badge(_('unhealthy'), 'error'),
				String(n.peers != null ? n.peers : 0),
				fmtTime(n.assigned_at),
				E('span', {}, [
					/* moving peers needs a second router to move them to */
					others.length ? common.writeButton(_('Move peers'), 'cbi-button-action wgc-migrate', ui.createHandlerFn(this, 'handleMigrate', cfg, n, others)) : '',
					' ',
					common.writeButton(_('Remove'), 'cbi-button-remove wgc-remove-node', ui.createHandlerFn(this, 'handleRemove', cfg, n))
				])
			] };
		}, this));

		var groupText = group
			? [ E('strong', {}, [ group.domain + ':' + group.port ]), ' ',
				_('via %s, TTL %ds, minimum published routers: %d').format(group.provider, group.ttl, group.min_nodes),
				group.vip ? E('span', { 'class': 'wgc-group-vip' }, [ E('br'),
					_('Floating address %s (VRRP router ID %d%s)').format(group.vip, group.vrid,
						group.vip_interface ? ', ' + group.vip_interface : ''),
					group.vip_in_dns ? ' ' + _('published as the domain') : '' ]) : '' ]
			: [ E('em', {}, [ _('None: independent mode, each peer connects to its own router') ]) ];

		return E('div', { 'class': 'cbi-section wgc-config', 'id': 'wgc-config-' + cfg.name }, [
			E('h3', {}, [ cfg.name ]),
			E('div', { 'class': 'cbi-section-descr' }, [
				_('Address %s, port %d, %d peers, public key %s').format(cfg.address, cfg.listen_port, cfg.peers, cfg.public_key)
			]),
			common.table([ _('Router'), _('Health'), _('Peers'), _('Assigned'), { title: _('Actions'), right: true } ],
				rows, _('No router serves this configuration yet')),
			E('div', { 'class': 'cbi-section-create' }, free.length ? [
				(function(sel) { sel.disabled = !common.writable(); return sel; })(
					select('wgc-assign-' + cfg.name, free.map(function(n) { return [ n.id, n.id + (n.healthy ? '' : ' ' + _('(unhealthy)')) ]; }), free[0].id)),
				' ',
				common.writeButton(_('Assign router'), 'cbi-button-add wgc-assign', ui.createHandlerFn(this, 'handleAssign', cfg))
			] : [ E('em', {}, [ _('Every router serves this configuration') ]) ]),
			E('h4', {}, [ _('Cluster endpoint') ]),
			E('p', { 'class': 'wgc-group' }, groupText),
			E('div', { 'class': 'wgc-group-actions' }, [
				common.writeButton(group ? _('Edit cluster endpoint') : _('Add cluster endpoint'), 'cbi-button-edit wgc-group-edit',
					ui.createHandlerFn(this, 'handleGroup', cfg, group)), ' ',
				group ? common.writeButton(_('Remove cluster endpoint'), 'cbi-button-remove wgc-group-delete', ui.createHandlerFn(this, 'handleGroupDelete', cfg)) : ''
			]),
			/* the configuration itself, apart from the endpoint's buttons */
			E('div', { 'class': 'cbi-section-actions wgc-config-actions', 'style': 'margin-top:1.5em;border-top:1px solid var(--border-color-medium,#ccc);padding-top:.75em' }, [
				common.writeButton(_('Edit configuration'), 'cbi-button-edit wgc-config-edit', ui.createHandlerFn(this, 'handleEdit', cfg)), ' ',
				common.writeButton(_('Delete configuration'), 'cbi-button-negative wgc-config-delete', ui.createHandlerFn(this, 'handleDelete', cfg))
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
				common.writeButton(_('Add configuration'), 'cbi-button-add wgc-config-add', ui.createHandlerFn(this, 'handleCreate'))
			]),
			this.root
		]);
	},

	handleSave: null,
	handleSaveApply: null,
	handleReset: null
});
