'use strict';
'require view';
'require rpc';
'require ui';
'require dom';
'require wgcluster.common as common';

/* The audit log: every change, who made it and when, newest first; filter by entity and action,
 * page through with a fixed page size. */

var callAudit = rpc.declare({ object: 'wgcluster', method: 'audit_list',
	params: [ 'entity_type', 'entity_id', 'action', 'limit', 'offset' ], expect: { '': {} } });
/* The action names come from the daemon (its one list of audit actions), never from here. */
var callActions = rpc.declare({ object: 'wgcluster', method: 'audit_actions', expect: { '': {} } });

var ENTITY_TYPES = [ 'cluster', 'node', 'config', 'config_node', 'peer', 'endpoint_group', 'backup', 'settings' ];

function fmtTime(ms) {
	if (!ms)
		return '-';
	var d = new Date(+ms), p = function(n) { return (n < 10 ? '0' : '') + n; };
	return '%d-%s-%s %s:%s:%s'.format(d.getFullYear(), p(d.getMonth() + 1), p(d.getDate()), p(d.getHours()), p(d.getMinutes()), p(d.getSeconds()));
}

function details(d) {
	if (d == null)
		return '';
	if (typeof d !== 'object')
		return String(d);
	return Object.keys(d).map(function(k) {
		var v = d[k];
		return k + '=' + (typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v));
	}).join(', ');
}

return view.extend({
	load: function() {
		if (!this.filter)
			this.filter = { entity_type: '', entity_id: '', action: '', limit: 25, offset: 0 };
		var f = this.filter;
		return Promise.all([
			this.actions ? Promise.resolve(this.actions) : callActions().then(function(res) {
				return (res && res.status === true && Array.isArray(res.data)) ? res.data : null;
			}),
			callAudit(f.entity_type || undefined, f.entity_id || undefined, f.action || undefined, f.limit, f.offset)
		]).then(L.bind(function(r) {
			if (r[0] && r[0].length)
				this.actions = r[0];
			return r[1];
		}, this));
	},

	refresh: function() {
		return this.load().then(L.bind(function(res) {
			dom.content(this.tableNode, this.renderEntries(res));
		}, this));
	},

	readFilters: function() {
		var get = function(id) { var el = document.getElementById(id); return el ? el.value.trim() : ''; };
		this.filter.entity_type = get('wgc-a-type');
		this.filter.entity_id = get('wgc-a-id');
		this.filter.action = get('wgc-a-action');
		this.filter.limit = +get('wgc-a-limit') || 25;
	},

	handleFilter: function() {
		this.readFilters();
		this.filter.offset = 0;
		return this.refresh();
	},

	handlePage: function(delta) {
		this.filter.offset = Math.max(0, this.filter.offset + delta * this.filter.limit);
		return this.refresh();
	},

	renderEntries: function(res) {
		if (!res || res.status !== true)
			return E('div', { 'class': 'alert-message warning' }, [ (res && (res.error || res.message)) || _('No answer from wgclusterd') ]);
		var entries = res.data || [], f = this.filter;
		var rows = entries.map(function(e) {
			return { attrs: { 'class': 'tr wgc-audit-entry' }, cells: [
				fmtTime(e.timestamp),
				e.user || '',
				E('code', {}, [ e.action ]),
				e.entity_type + (e.entity_id ? ' ' + e.entity_id : ''),
				E('small', {}, [ details(e.details) ])
			] };
		});
		var page = Math.floor(f.offset / f.limit) + 1;
		return E('div', {}, [
			common.table([ _('Time'), _('User'), _('Action'), _('Entity'), _('Details') ], rows, _('No entries'), { 'id': 'wgc-audit' }),
			E('div', { 'class': 'cbi-page-actions wgc-pager' }, [
				E('button', { 'class': 'wgc-read btn cbi-button', 'id': 'wgc-a-prev', 'disabled': f.offset > 0 ? null : 'disabled',
					'click': ui.createHandlerFn(this, 'handlePage', -1) }, [ _('« Newer') ]), ' ',
				E('span', { 'id': 'wgc-a-page' }, [ _('Page %d').format(page) ]), ' ',
				E('button', { 'class': 'wgc-read btn cbi-button', 'id': 'wgc-a-next', 'disabled': entries.length >= f.limit ? null : 'disabled',
					'click': ui.createHandlerFn(this, 'handlePage', 1) }, [ _('Older »') ])
			])
		]);
	},

	render: function(res) {
		var f = this.filter;
		var option = function(v, label, current) {
			return E('option', { 'value': v, 'selected': v === current ? 'selected' : null }, [ label ]);
		};
		this.tableNode = E('div', {}, [ this.renderEntries(res) ]);
		return E('div', { 'class': 'cbi-map' }, [
			E('h2', {}, [ _('Audit log') ]),
			E('div', { 'class': 'cbi-map-descr' }, [ _('Every change of the cluster, with the user who made it. Secrets never appear here.') ]),
			E('div', { 'class': 'cbi-section wgc-filters' }, [
				E('label', {}, [ _('Entity type'), ' ',
					E('select', { 'class': 'wgc-read cbi-input-select', 'id': 'wgc-a-type' },
						[ option('', _('any'), f.entity_type) ].concat(ENTITY_TYPES.map(function(t) { return option(t, t, f.entity_type); }))) ]), ' ',
				E('label', {}, [ _('Entity ID'), ' ',
					E('input', { 'type': 'text', 'class': 'wgc-read cbi-input-text', 'id': 'wgc-a-id', 'value': f.entity_id, 'placeholder': _('any') }) ]), ' ',
				E('label', {}, [ _('Action'), ' ',
					E('select', { 'class': 'wgc-read cbi-input-select', 'id': 'wgc-a-action' },
						[ option('', _('any'), f.action) ].concat((this.actions || []).map(function(a) { return option(a, a, f.action); }))) ]), ' ',
				E('label', {}, [ _('Per page'), ' ',
					E('select', { 'class': 'wgc-read cbi-input-select', 'id': 'wgc-a-limit' },
						[ 25, 50, 100 ].map(function(n) { return option(String(n), String(n), String(f.limit)); })) ]), ' ',
				E('button', { 'class': 'wgc-read btn cbi-button-action', 'id': 'wgc-a-apply', 'click': ui.createHandlerFn(this, 'handleFilter') }, [ _('Filter') ])
			]),
			E('div', { 'class': 'cbi-section' }, [ this.tableNode ])
		]);
	},

	handleSave: null,
	handleSaveApply: null,
	handleReset: null
});
