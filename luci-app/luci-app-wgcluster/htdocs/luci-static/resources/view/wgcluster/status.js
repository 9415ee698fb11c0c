'use strict';
'require view';
'require rpc';
'require ui';
'require poll';
'require dom';
'require wgcluster.common as common';

/* The cluster as this router sees it: who is the panel, the Raft members, each router's health and
 * the configurations. Refreshed every 5 seconds. */

/* Reads only: nothing here changes the daemon. */

function uptime(s) {
	s = +s || 0;
	var d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60;
	if (d > 0)
		return _('%dd %dh %dm').format(d, h, m);
	if (h > 0)
		return _('%dh %dm').format(h, m);
	return _('%dm %ds').format(m, s % 60);
}

return view.extend({
	load: function() {
		return Promise.all([
			L.resolveDefault(common.callStatus(), {}),
			L.resolveDefault(common.callHealth(), {}),
			L.resolveDefault(common.callNodes(), {}),
			L.resolveDefault(common.callConfigs(), {})
		]);
	},

	renderCluster: function(st, health) {
		var err = common.errorOf(st);
		if (err)
			return E('div', { 'class': 'alert-message warning', 'id': 'wgc-daemon-error' }, [
				E('strong', {}, [ _('wgclusterd is not reachable') ]), E('br'), err
			]);
		var c = st.data || {}, h = (health && health.data) || {};
		var isPanel = c.leader != null && c.leader === c.node_id;
		var panel = c.leader
			? E('span', {}, [ E('strong', { 'id': 'wgc-panel' }, [ c.leader ]), ' ',
				isPanel ? common.badge(_('this router'), 'ok') : '' ])
			: common.badge(_('no panel elected'), 'error');
		return common.table([ _('Property'), _('Value') ], [
			[ _('This router'), E('strong', { 'id': 'wgc-node-id' }, [ c.node_id || '?' ]) ],
			[ _('Panel (leader)'), panel ],
			[ _('Raft term'), String(c.term != null ? c.term : '?') ],
			[ _('Applied log index'), String(c.applied_index != null ? c.applied_index : '?') ],
			[ _('Daemon version'), h.version || '?' ],
			[ _('Uptime'), h.uptime_s != null ? uptime(h.uptime_s) : '?' ]
		], '');
	},

	renderMembers: function(st) {
		var members = (st && st.data && st.data.members) || [];
		return common.table([ _('Router'), _('Role'), _('Cluster address'), _('Voter') ],
			members.map(function(m) {
				var role = m.role === 'leader' ? common.badge(_('panel'), 'ok')
					: (m.role === 'follower' ? _('follower') : _('learner'));
				return [ m.id, role, m.addr || '', m.voter ? _('yes') : _('no') ];
			}), _('No members known'));
	},

	renderNodes: function(res) {
		var nodes = (res && res.status === true && res.data) || [];
		return common.table([ _('Router'), _('Name'), _('Endpoint'), _('Weight'), _('State'), _('Configurations') ],
			nodes.map(function(n) {
				var state;
				if (!n.enabled)
					state = common.badge(_('disabled'), '');
				else if (!n.registered)
					state = common.badge(_('not registered yet'), '');
				else
					state = n.healthy ? common.badge(_('healthy'), 'ok') : common.badge(_('unhealthy'), 'error');
				return [ n.id, n.name || '', n.endpoint || E('em', {}, [ _('none') ]), String(n.weight),
					E('span', { 'class': 'wgc-node-state', 'data-node': n.id }, [ state ]),
					(n.configs || []).join(', ') || '-' ];
			}), _('No routers yet'));
	},

	renderConfigs: function(res) {
		var configs = (res && res.status === true && res.data) || [];
		return common.table([ _('Configuration'), _('Mode'), _('Cluster endpoint'), _('Routers'), _('Peers'), _('Peers online') ],
			configs.map(function(c) {
				var st = c.status || {}, by = st.peers_online_by_node || {};
				/* "3 (r1: 2, r2: 1)": connected now, and per serving router */
				var per = Object.keys(by).map(function(n) { return '%s: %d'.format(n, by[n]); }).join(', ');
				return [ c.name,
					c.mode === 'cluster' ? _('cluster (one endpoint)') : _('independent'),
					c.endpoint || '-', (c.nodes || []).join(', ') || '-', String(c.peers),
					E('span', { 'class': 'wgc-online', 'data-config': c.name }, [
						String(st.peers_online || 0), per ? ' (' + per + ')' : '' ]) ];
			}), _('No configurations yet'));
	},

	update: function(data) {
		dom.content(this.clusterNode, this.renderCluster(data[0], data[1]));
		dom.content(this.membersNode, this.renderMembers(data[0]));
		dom.content(this.nodesNode, this.renderNodes(data[2]));
		dom.content(this.configsNode, this.renderConfigs(data[3]));
	},

	render: function(data) {
		this.clusterNode = E('div', { 'id': 'wgc-cluster' });
		this.membersNode = E('div', { 'id': 'wgc-members' });
		this.nodesNode = E('div', { 'id': 'wgc-nodes' });
		this.configsNode = E('div', { 'id': 'wgc-configs' });
		this.update(data);

		poll.add(L.bind(function() {
			return this.load().then(L.bind(this.update, this));
		}, this), 5);

		return E('div', { 'class': 'cbi-map' }, [
			E('h2', {}, [ _('WireGuard Cluster') ]),
			E('div', { 'class': 'cbi-map-descr' }, [
				_('Several routers serving WireGuard as one. The panel is the router that takes changes; every router programs its own interfaces.')
			]),
			E('div', { 'class': 'cbi-section' }, [ E('h3', {}, [ _('Cluster') ]), this.clusterNode ]),
			E('div', { 'class': 'cbi-section' }, [ E('h3', {}, [ _('Members') ]), this.membersNode ]),
			E('div', { 'class': 'cbi-section' }, [ E('h3', {}, [ _('Router health') ]), this.nodesNode ]),
			E('div', { 'class': 'cbi-section' }, [ E('h3', {}, [ _('Configurations') ]), this.configsNode ])
		]);
	},

	handleSave: null,
	handleSaveApply: null,
	handleReset: null
});
