'use strict';
'require view';
'require ui';
'require dom';
'require form';
'require wgcluster.common as common';

/* The routers of the cluster: add (pre-register), edit and delete them; the Raft members with
 * their roles, a join token for a new router (with the command to run on it) and member removal;
 * the health-check settings. Writes carry the form submission's idempotency key; read-only logins
 * see every write control disabled. */

var field = L.bind(common.field, common);
var select = L.bind(common.select, common);
var val = L.bind(common.val, common);
var modalForm = L.bind(common.modalForm, common);

var NODE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

return view.extend({
	load: function() {
		return Promise.all([
			L.resolveDefault(common.callStatus(), {}),
			L.resolveDefault(common.callNodes(), {}),
			L.resolveDefault(common.callHealthSettings(), {}),
			L.resolveDefault(common.callUsageSettings(), {})
		]);
	},

	refresh: function() {
		return this.load().then(L.bind(this.update, this));
	},

	act: function(promise) {
		return promise.then(L.bind(common.unwrap, common)).then(L.bind(function(d) {
			return this.refresh().then(function() { return d; });
		}, this));
	},

	/* The router dialog: a form.JSONMap (LuCI's widgets and datatypes); `n` null adds one. */
	nodeForm: function(n) {
		var m, s, o;
		m = new form.JSONMap({ node: n ? {
			name: n.name || null, endpoint: n.endpoint || null, weight: String(n.weight), enabled: n.enabled ? '1' : '0'
		} : { weight: '1' } }, null, n ? null : _('Pre-registers a router by its node ID; it joins the cluster with a join token and its own wgclusterd.'));
		m.readonly = !common.writable();
		s = m.section(form.NamedSection, 'node', 'node');
		if (!n) {
			o = s.option(form.Value, 'id', _('Node ID'), _('1 to 63 letters, digits, _ . or -'));
			o.rmempty = false;
			o.placeholder = 'router2';
			o.validate = function(section_id, value) {
				return NODE_ID.test(value) ? true : _('1 to 63 letters, digits, _ . or -, starting with a letter or digit');
			};
		}
		o = s.option(form.Value, 'name', _('Name'));
		o.placeholder = n ? n.id : _('same as the node ID');
		o = s.option(form.Value, 'endpoint', _('Public endpoint'), _('The address clients reach it at'));
		o.datatype = 'or(host,hostport)';
		o.placeholder = '203.0.113.20';
		o = s.option(form.Value, 'weight', _('Weight'), _('Share of new peers, 1 to 1000'));
		o.datatype = 'range(1,1000)';
		o.rmempty = false;
		if (n)
			s.option(form.Flag, 'enabled', _('Enabled'), _('A disabled router gets no new peers and is left out of the DNS records'));

		return m.render().then(L.bind(function(node) {
			modalForm(n ? _('Edit router %s').format(n.id) : _('Add a router'), [ node ], n ? _('Save') : _('Add router'), L.bind(function(sub) {
				return m.save(null, true).then(L.bind(function() {
					var get = function(k) { var v = m.data.get('json', 'node', k); return (v == null || v === '') ? undefined : v; };
					var args = n
						? [ n.id, get('name'), get('endpoint'), +get('weight'), get('enabled') === '1' ]
						: [ get('id'), get('name'), get('endpoint'), +get('weight') ];
					var call = n ? common.callNodeUpdate : common.callNodeCreate;
					return this.act(call.apply(null, args.concat([ sub.key(args) ])));
				}, this));
			}, this));
		}, this));
	},

	handleAdd: function() {
		return this.nodeForm(null);
	},

	handleEdit: function(n) {
		return this.nodeForm(n);
	},

	handleDelete: function(n) {
		common.confirmModal(_('Delete router %s').format(n.id),
			_('The router is forgotten by the cluster. A router that still serves configurations or homes peers is refused: remove it from its configurations first.'),
			_('Delete router'), L.bind(function(sub) {
				return this.act(common.callNodeDelete(n.id, sub.key([ n.id ])));
			}, this));
	},

	handleRemoveMember: function(m) {
		common.confirmModal(_('Remove member %s').format(m.id),
			_('The router leaves the Raft cluster: it no longer votes nor receives changes. Its configurations should be moved away first.'),
			_('Remove member'), L.bind(function(sub) {
				return this.act(common.callMemberRemove(m.id, sub.key([ m.id ])));
			}, this));
	},

	handleJoinToken: function() {
		modalForm(_('Join token for a new router'), [
			E('p', { 'class': 'cbi-value-description' }, [
				_('The token lets one router join this cluster, once, until it expires. Its secret is shown only now.')
			]),
			field(_('Valid for'), select('wgc-j-ttl', [ [ '900', _('15 minutes') ], [ '3600', _('1 hour') ], [ '86400', _('1 day') ] ], '3600'))
		], _('Create token'), L.bind(function(sub) {
			var args = [ +val('wgc-j-ttl') ];
			return common.callJoinToken(args[0], sub.key(args)).then(L.bind(common.unwrap, common)).then(function(d) {
				var cmd = 'wgclusterd join --token %s --peer %s'.format(d.token, d.issuer);
				window.setTimeout(function() {
					var box = E('input', { 'type': 'text', 'class': 'cbi-input-text wgc-join-command', 'readonly': 'readonly', 'value': cmd,
						'style': 'width:100%;font-family:monospace' });
					ui.showModal(_('Join token created'), [
						E('p', {}, [ _('Run this on the new router (with an empty data directory), then start wgclusterd there:') ]),
						box,
						E('p', { 'class': 'wgc-join-expiry' }, [ _('Expires at %s.').format(common.fmtTime(d.expires_at)) ]),
						E('div', { 'class': 'right' }, [
							E('button', { 'class': 'btn cbi-button-action wgc-copy', 'click': function(ev) {
								box.select();
								var done = function() { ev.target.textContent = _('Copied'); };
								if (navigator.clipboard)
									navigator.clipboard.writeText(cmd).then(done, function() { document.execCommand('copy'); done(); });
								else {
									document.execCommand('copy');
									done();
								}
							} }, [ _('Copy') ]), ' ',
							E('button', { 'class': 'btn', 'click': ui.hideModal }, [ _('Close') ])
						])
					]);
				}, 0);
			});
		}, this));
	},

	/* The health settings as a LuCI form (form.JSONMap over the daemon's answer, datatypes for the
	 * ranges the daemon enforces), in a dialog. */
	handleHealth: function(h) {
		var m, s, o;
		m = new form.JSONMap({ health: {
			probe_interval_ms: String(h.probe_interval_ms), unhealthy_after: String(h.unhealthy_after),
			healthy_after: String(h.healthy_after), auto_migrate_independent: h.auto_migrate_independent ? '1' : '0'
		} });
		m.readonly = !common.writable();
		s = m.section(form.NamedSection, 'health', 'health');
		o = s.option(form.Value, 'probe_interval_ms', _('Probe interval'), _('Milliseconds between probes of each router (200 to 600000)'));
		o.datatype = 'range(200,600000)';
		o.rmempty = false;
		o = s.option(form.Value, 'unhealthy_after', _('Unhealthy after'), _('Failed probes in a row before a router counts as unhealthy (1 to 100)'));
		o.datatype = 'range(1,100)';
		o.rmempty = false;
		o = s.option(form.Value, 'healthy_after', _('Healthy after'), _('Good probes in a row before it counts as healthy again (1 to 100)'));
		o.datatype = 'range(1,100)';
		o.rmempty = false;
		o = s.option(form.Flag, 'auto_migrate_independent', _('Migrate independent peers'),
			_('Also move the peers of configurations without a cluster endpoint off an unhealthy router (their clients need new configs)'));
		return m.render().then(L.bind(function(node) {
			modalForm(_('Health checks'), [ node ], _('Save'), L.bind(function(sub) {
				return m.save(null, true).then(L.bind(function() {
					var get = function(k) { return m.data.get('json', 'health', k); };
					var args = [ +get('probe_interval_ms'), +get('unhealthy_after'), +get('healthy_after'), get('auto_migrate_independent') === '1' ];
					return this.act(common.callHealthSettingsSet.apply(null, args.concat([ sub.key(args) ])));
				}, this));
			}, this));
		}, this));
	},

	/* The usage collection settings (#15) as a LuCI form, like the health checks. */
	handleUsage: function(u) {
		var m, s, o;
		m = new form.JSONMap({ usage: { interval_s: String(u.interval_s), metrics_per_peer: u.metrics_per_peer ? '1' : '0' } });
		m.readonly = !common.writable();
		s = m.section(form.NamedSection, 'usage', 'usage');
		o = s.option(form.Value, 'interval_s', _('Collection interval'),
			_('Seconds between usage batches (5 to 3600): one replicated write per interval, and the longest a data limit may be exceeded'));
		o.datatype = 'range(5,3600)';
		o.rmempty = false;
		o = s.option(form.Flag, 'metrics_per_peer', _('Per-peer metrics'),
			_('Also export rx/tx and handshake age per peer on /metrics (one series per peer)'));
		return m.render().then(L.bind(function(node) {
			modalForm(_('Usage collection'), [ node ], _('Save'), L.bind(function(sub) {
				return m.save(null, true).then(L.bind(function() {
					var get = function(k) { return m.data.get('json', 'usage', k); };
					var args = [ +get('interval_s'), get('metrics_per_peer') === '1' ];
					return this.act(common.callUsageSettingsSet.apply(null, args.concat([ sub.key(args) ])));
				}, this));
			}, this));
		}, this));
	},

	renderUsage: function(res) {
		var err = common.errorOf(res);
		if (err)
			return E('div', { 'class': 'alert-message warning' }, [ err ]);
		var u = res.data || {};
		return E('div', {}, [
			common.table([ _('Setting'), _('Value') ], [
				[ _('Collection interval'), _('%d s').format(u.interval_s) ],
				[ _('Per-peer metrics'), u.metrics_per_peer ? _('yes') : _('no') ]
			], null, { 'id': 'wgc-usage-table' }),
			E('div', { 'class': 'cbi-section-create' }, [
				common.writeButton(_('Edit usage collection'), 'cbi-button-edit wgc-usage-edit', ui.createHandlerFn(this, 'handleUsage', u))
			])
		]);
	},

	renderNodes: function(res) {
		var err = common.errorOf(res);
		if (err)
			return E('div', { 'class': 'alert-message warning' }, [ err ]);
		return common.table([ _('Router'), _('Name'), _('Endpoint'), _('Weight'), _('State'), _('Configurations'), { title: _('Actions'), right: true } ],
			(res.data || []).map(L.bind(function(n) {
				var state;
				if (!n.enabled)
					state = common.badge(_('disabled'), '');
				else if (!n.registered)
					state = common.badge(_('not registered yet'), '');
				else
					state = n.healthy ? common.badge(_('healthy'), 'ok') : common.badge(_('unhealthy'), 'error');
				return { attrs: { 'class': 'tr wgc-node', 'data-node': n.id }, cells: [
					E('strong', {}, [ n.id ]), n.name || '', n.endpoint || E('em', {}, [ _('none') ]), String(n.weight), state,
					(n.configs || []).join(', ') || '-',
					E('span', {}, [
						common.writeButton(_('Edit'), 'cbi-button-edit wgc-node-edit', ui.createHandlerFn(this, 'handleEdit', n)), ' ',
						common.writeButton(_('Delete'), 'cbi-button-remove wgc-node-delete', ui.createHandlerFn(this, 'handleDelete', n))
					])
				] };
			}, this)), _('No routers yet'));
	},

	renderMembers: function(st, nodesRes) {
		var err = common.errorOf(st);
		if (err)
			return E('div', { 'class': 'alert-message warning' }, [ err ]);
		var self = st.data.node_id, health = {};
		((nodesRes && nodesRes.status === true && nodesRes.data) || []).forEach(function(n) {
			health[n.id] = !n.registered ? common.badge(_('not registered yet'), '')
				: (n.healthy ? common.badge(_('healthy'), 'ok') : common.badge(_('unhealthy'), 'error'));
		});
		return common.table([ _('Router'), _('Role'), _('Health'), _('Cluster address'), _('Voter'), { title: _('Actions'), right: true } ],
			(st.data.members || []).map(L.bind(function(m) {
				var role = m.role === 'leader' ? common.badge(_('panel'), 'ok') : (m.role === 'follower' ? _('follower') : _('learner'));
				return { attrs: { 'class': 'tr wgc-member', 'data-node': m.id }, cells: [
					E('strong', {}, [ m.id ]), role, health[m.id] || '-', m.addr || '', m.voter ? _('yes') : _('no'),
					/* this router cannot remove itself from here */
					m.id === self ? E('em', {}, [ _('this router') ])
						: common.writeButton(_('Remove'), 'cbi-button-remove wgc-member-remove', ui.createHandlerFn(this, 'handleRemoveMember', m))
				] };
			}, this)), _('No members known'));
	},

	renderHealth: function(res) {
		var err = common.errorOf(res);
		if (err)
			return E('div', { 'class': 'alert-message warning' }, [ err ]);
		var h = res.data || {};
		return E('div', {}, [
			common.table([ _('Setting'), _('Value') ], [
				[ _('Probe interval'), _('%d ms').format(h.probe_interval_ms) ],
				[ _('Unhealthy after'), _('%d failed probes').format(h.unhealthy_after) ],
				[ _('Healthy after'), _('%d good probes').format(h.healthy_after) ],
				[ _('Migrate independent peers'), h.auto_migrate_independent ? _('yes') : _('no') ]
			], null, { 'id': 'wgc-health-table' }),
			E('div', { 'class': 'cbi-section-create' }, [
				common.writeButton(_('Edit health checks'), 'cbi-button-edit wgc-health-edit', ui.createHandlerFn(this, 'handleHealth', h))
			])
		]);
	},

	update: function(data) {
		dom.content(this.nodesNode, this.renderNodes(data[1]));
		dom.content(this.membersNode, this.renderMembers(data[0], data[1]));
		dom.content(this.healthNode, this.renderHealth(data[2]));
		dom.content(this.usageNode, this.renderUsage(data[3]));
	},

	render: function(data) {
		this.nodesNode = E('div', { 'id': 'wgc-routers' });
		this.membersNode = E('div', { 'id': 'wgc-members' });
		this.healthNode = E('div', { 'id': 'wgc-health' });
		this.usageNode = E('div', { 'id': 'wgc-usage' });
		this.update(data);
		return E('div', { 'class': 'cbi-map' }, [
			E('h2', {}, [ _('Routers') ]),
			E('div', { 'class': 'cbi-map-descr' }, [
				_('The routers of the cluster and their health. A new router joins with a join token; a pre-registered one gets its settings before it joins.')
			]),
			E('div', { 'class': 'cbi-section' }, [
				E('h3', {}, [ _('Routers') ]), this.nodesNode,
				E('div', { 'class': 'cbi-section-create' }, [
					common.writeButton(_('Add router'), 'cbi-button-add wgc-node-add', ui.createHandlerFn(this, 'handleAdd'))
				])
			]),
			E('div', { 'class': 'cbi-section' }, [
				E('h3', {}, [ _('Cluster members') ]), this.membersNode,
				E('div', { 'class': 'cbi-section-create' }, [
					common.writeButton(_('Create join token'), 'cbi-button-add wgc-join-token', ui.createHandlerFn(this, 'handleJoinToken'))
				])
			]),
			E('div', { 'class': 'cbi-section' }, [ E('h3', {}, [ _('Health checks') ]), this.healthNode ]),
			E('div', { 'class': 'cbi-section' }, [ E('h3', {}, [ _('Peer usage collection') ]), this.usageNode ])
		]);
	},

	handleSave: null,
	handleSaveApply: null,
	handleReset: null
});
