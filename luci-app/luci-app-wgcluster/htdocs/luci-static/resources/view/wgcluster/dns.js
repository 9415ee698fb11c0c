'use strict';
'require view';
'require rpc';
'require ui';
'require poll';
'require wgcluster.common as common';
'require dom';

/* DNS of the cluster endpoints: what each endpoint group publishes, whether it is degraded (fail
 * static), the retry queue of failed DNS work (retry or drop an entry), and the provider
 * credentials (write-only: the daemon never sends a secret back). */

var callStatus = rpc.declare({ object: 'wgcluster', method: 'dns_status', expect: { '': {} } });
var callQueue = rpc.declare({ object: 'wgcluster', method: 'dns_queue_list', expect: { '': {} } });
var callRetry = rpc.declare({ object: 'wgcluster', method: 'dns_queue_retry', params: [ 'id', 'idempotency_key' ], expect: { '': {} } });
var callDrop = rpc.declare({ object: 'wgcluster', method: 'dns_queue_drop', params: [ 'id', 'idempotency_key' ], expect: { '': {} } });
var callSettings = rpc.declare({ object: 'wgcluster', method: 'dns_settings_get', expect: { '': {} } });
var callSettingsSet = rpc.declare({ object: 'wgcluster', method: 'dns_settings_set', params: [ 'cloudflare', 'rfc2136', 'idempotency_key' ], expect: { '': {} } });

var unwrap = L.bind(common.unwrap, common);
var errorOf = L.bind(common.errorOf, common);
var notifyError = L.bind(common.notifyError, common);
var val = L.bind(common.val, common);
var fmtTime = L.bind(common.fmtTime, common);
var modalForm = L.bind(common.modalForm, common);

function field(label, input, help) {
	return E('div', { 'class': 'cbi-value' }, [
		E('label', { 'class': 'cbi-value-title', 'for': input.id }, [ label ]),
		E('div', { 'class': 'cbi-value-field' }, [ input ].concat(help ? [ E('div', { 'class': 'cbi-value-description' }, [ help ]) ] : []))
	]);
}

function input(id, value, placeholder, type) {
	return E('input', { 'type': type || 'text', 'class': 'cbi-input-text', 'id': id, 'autocomplete': 'off',
		'value': value != null ? String(value) : '', 'placeholder': placeholder || '' });
}

return view.extend({
	load: function() {
		return Promise.all([
			L.resolveDefault(callStatus(), {}),
			L.resolveDefault(callQueue(), {}),
			L.resolveDefault(callSettings(), {})
		]);
	},

	refresh: function() {
		return this.load().then(L.bind(this.update, this));
	},

	handleRetry: function(entry) {
		return callRetry(entry.id, new common.Submission().key([ entry.id ])).then(unwrap).then(L.bind(function() {
			ui.addNotification(null, E('p', {}, [ _('%s will be tried again now.').format(entry.record_name) ]), 'info');
			return this.refresh();
		}, this)).catch(notifyError);
	},

	handleDrop: function(entry) {
		modalForm(_('Drop queued DNS work'), [
			E('p', {}, [ _('The queued update of %s is forgotten. The next change of the cluster makes new work for it.').format(entry.record_name) ])
		], _('Drop'), L.bind(function(sub) {
			return callDrop(entry.id, sub.key([ entry.id ])).then(unwrap).then(L.bind(this.refresh, this));
		}, this));
	},

	handleCloudflare: function(current) {
		current = current || {};
		modalForm(_('Cloudflare credentials'), [
			E('p', { 'class': 'cbi-value-description' }, [ _('An API token with Zone.DNS edit permission. It is stored in the cluster and never shown again.') ]),
			field(_('API token'), input('wgc-cf-token', '', current.api_token_set ? _('unchanged') : '', 'password')),
			field(_('API base URL'), input('wgc-cf-base', current.api_base, 'https://api.cloudflare.com/client/v4'))
		], _('Save'), L.bind(function(sub) {
			var cf = {}, token = val('wgc-cf-token'), base = val('wgc-cf-base');
			if (token === '' && !current.api_token_set)
				throw new Error(_('API token: is required'));
			if (token !== '')
				cf.api_token = token;
			if (base !== '')
				cf.api_base = base;
			return callSettingsSet(cf, undefined, sub.key([ cf ])).then(unwrap).then(L.bind(this.refresh, this));
		}, this));
	},

	handleRfc2136: function(current) {
		current = current || {};
		var alg = E('select', { 'class': 'cbi-input-select', 'id': 'wgc-r-alg' }, [ 'hmac-sha256', 'hmac-sha384', 'hmac-sha512' ].map(function(a) {
			return E('option', { 'value': a, 'selected': a === (current.algorithm || 'hmac-sha256') ? 'selected' : null }, [ a ]);
		}));
		modalForm(_('RFC 2136 server'), [
			E('p', { 'class': 'cbi-value-description' }, [ _('Dynamic updates signed with TSIG (BIND, Knot, PowerDNS). The secret is never shown again.') ]),
			field(_('Server'), input('wgc-r-server', current.server, '192.0.2.53:53'), _('host:port of the primary server')),
			field(_('Zone'), input('wgc-r-zone', current.zone, 'example.com')),
			field(_('TSIG key name'), input('wgc-r-key', current.key_name, 'wgcluster-key')),
			field(_('TSIG secret'), input('wgc-r-secret', '', current.key_secret_set ? _('unchanged') : _('base64, as in the BIND key file'), 'password')),
			field(_('Algorithm'), alg)
		], _('Save'), L.bind(function(sub) {
			var r = { server: val('wgc-r-server'), zone: val('wgc-r-zone'), key_name: val('wgc-r-key'), algorithm: val('wgc-r-alg') };
			if (r.server === '' || r.zone === '' || r.key_name === '')
				throw new Error(_('Server, zone and TSIG key name are required'));
			if (val('wgc-r-secret') !== '')
				r.key_secret = val('wgc-r-secret');
			else if (!current.key_secret_set)
				throw new Error(_('TSIG secret: is required'));
			return callSettingsSet(undefined, r, sub.key([ r ])).then(unwrap).then(L.bind(this.refresh, this));
		}, this));
	},

	renderRecords: function(res) {
		var err = errorOf(res);
		if (err)
			return E('div', { 'class': 'alert-message warning' }, [ err ]);
		return common.table([ _('Configuration'), _('Record'), _('Provider'), _('Published addresses'), _('State'), _('Last sync') ],
			(res.data || []).map(function(g) {
				var state;
				if (g.last_error)
					state = common.badge(_('failing'), 'error', g.last_error);
				else if (g.degraded)
					state = common.badge(_('degraded (fail static)'), 'warn', _('Fewer than %d healthy routers: the last published set is kept').format(g.min_nodes));
				else if (g.last_sync)
					state = common.badge(_('in sync'), 'ok');
				else
					state = common.badge(_('not synced yet'), '');
				return { attrs: { 'class': 'tr wgc-record', 'data-config': g.config_name }, cells: [
					g.config_name,
					g.record_name || g.domain,
					g.provider,
					(g.published || []).join(', ') || '-',
					E('span', {}, [ state ].concat(g.last_error ? [ E('br'), E('small', {}, [ g.last_error ]) ] : [])),
					fmtTime(g.last_sync)
				] };
			}), _('No configuration has a cluster endpoint'));
	},

	renderQueue: function(res) {
		var err = errorOf(res);
		if (err)
			return E('div', { 'class': 'alert-message warning' }, [ _('The retry queue is not available: %s').format(err) ]);
		return common.table([ _('Record'), _('Configuration'), _('Wanted addresses'), _('Attempts'), _('State'), _('Next attempt'), _('Last error'),
			{ title: _('Actions'), right: true } ],
			(res.data || []).map(L.bind(function(e) {
				return { attrs: { 'class': 'tr wgc-queue-entry', 'data-id': String(e.id) }, cells: [
					e.record_name,
					e.config_name,
					(e.desired || []).join(', ') || '-',
					e.max_attempts ? '%d / %d'.format(e.attempts, e.max_attempts) : String(e.attempts),
					e.state === 'dead' ? common.badge(_('gave up'), 'error') : common.badge(_('retrying'), 'warn'),
					fmtTime(e.next_attempt_at),
					e.last_error || '',
					E('span', {}, [
						common.writeButton(_('Retry now'), 'cbi-button-action', ui.createHandlerFn(this, 'handleRetry', e)), ' ',
						common.writeButton(_('Drop'), 'cbi-button-remove', ui.createHandlerFn(this, 'handleDrop', e))
					])
				] };
			}, this)), _('Nothing queued: all DNS work went through'));
	},

	renderSettings: function(res) {
		var err = errorOf(res);
		if (err)
			return E('div', { 'class': 'alert-message warning' }, [ err ]);
		var s = res.data || {}, cf = s.cloudflare, r = s.rfc2136;
		return E('div', {}, [
			common.table([ _('Provider'), _('Settings'), { title: _('Actions'), right: true } ], [
				[ _('Cloudflare'),
					cf ? _('API %s, token %s').format(cf.api_base, cf.api_token_set ? _('set') : _('missing')) : _('not configured'),
					common.writeButton(_('Edit'), 'cbi-button-edit', ui.createHandlerFn(this, 'handleCloudflare', cf)) ],
				[ _('RFC 2136'),
					r ? _('%s, zone %s, key %s (%s), secret %s').format(r.server, r.zone, r.key_name, r.algorithm,
						r.key_secret_set ? _('set') : _('missing')) : _('not configured'),
					common.writeButton(_('Edit'), 'cbi-button-edit', ui.createHandlerFn(this, 'handleRfc2136', r)) ]
			], null)
		]);
	},

	update: function(data) {
		dom.content(this.recordsNode, this.renderRecords(data[0]));
		dom.content(this.queueNode, this.renderQueue(data[1]));
		dom.content(this.settingsNode, this.renderSettings(data[2]));
	},

	render: function(data) {
		this.recordsNode = E('div', { 'id': 'wgc-dns-records' });
		this.queueNode = E('div', { 'id': 'wgc-dns-queue' });
		this.settingsNode = E('div', { 'id': 'wgc-dns-settings' });
		this.update(data);
		poll.add(L.bind(this.refresh, this), 10);
		return E('div', { 'class': 'cbi-map' }, [
			E('h2', {}, [ _('Cluster DNS') ]),
			E('div', { 'class': 'cbi-map-descr' }, [
				_('Each cluster endpoint name lists the healthy routers. Failed updates wait in the retry queue, with backoff, across restarts.')
			]),
			E('div', { 'class': 'cbi-section' }, [ E('h3', {}, [ _('Published records') ]), this.recordsNode ]),
			E('div', { 'class': 'cbi-section' }, [ E('h3', {}, [ _('Retry queue') ]), this.queueNode ]),
			E('div', { 'class': 'cbi-section' }, [ E('h3', {}, [ _('Provider credentials') ]), this.settingsNode ])
		]);
	},

	handleSave: null,
	handleSaveApply: null,
	handleReset: null
});
