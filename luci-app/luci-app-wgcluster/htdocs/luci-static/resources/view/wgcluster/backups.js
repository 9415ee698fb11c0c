'use strict';
'require view';
'require ui';
'require dom';
'require wgcluster.common as common';

/* The interface backups the cluster keeps when a router leaves a configuration: list them, view
 * one (the interface as the router reported it, never with its private key) and download it as
 * JSON. Reads only. */

function fileName(b) {
	return 'wgcluster-backup-%s-%s-%s.json'.format(b.id, String(b.config_name).replace(/[^A-Za-z0-9_.-]/g, '_'),
		String(b.node_id).replace(/[^A-Za-z0-9_.-]/g, '_'));
}

return view.extend({
	load: function() {
		return L.resolveDefault(common.callBackups(), {});
	},

	fetch: function(b) {
		return common.callBackup(String(b.id)).then(L.bind(common.unwrap, common));
	},

	handleView: function(b) {
		return this.fetch(b).then(function(full) {
			ui.showModal(_('Backup %s: %s on %s').format(b.id, b.config_name, b.node_id), [
				E('p', {}, [ _('Taken %s.').format(common.fmtTime(full.created_at)), full.note ? ' ' + full.note : '' ]),
				E('pre', { 'class': 'wgc-backup-json', 'style': 'white-space:pre-wrap;font-size:80%;max-height:60vh;overflow:auto' },
					[ full.interface != null ? JSON.stringify(full.interface, null, 2) : _('No interface was saved (skipped).') ]),
				E('div', { 'class': 'right' }, [
					E('button', { 'class': 'btn cbi-button-action wgc-read', 'click': function() {
						common.download(fileName(b), JSON.stringify(full, null, 2) + '\n', 'application/json');
					} }, [ _('Download') ]), ' ',
					E('button', { 'class': 'btn wgc-read', 'click': ui.hideModal }, [ _('Close') ])
				])
			]);
		}).catch(L.bind(common.notifyError, common));
	},

	handleDownload: function(b) {
		return this.fetch(b).then(function(full) {
			common.download(fileName(b), JSON.stringify(full, null, 2) + '\n', 'application/json');
		}).catch(L.bind(common.notifyError, common));
	},

	render: function(res) {
		var err = common.errorOf(res), body;
		if (err)
			body = E('div', { 'class': 'alert-message warning' }, [ E('strong', {}, [ _('wgclusterd is not reachable') ]), E('br'), err ]);
		else
			body = common.table([ _('Backup'), _('Configuration'), _('Router'), _('Taken'), _('Contents'), { title: _('Actions'), right: true } ],
				(res.data || []).map(L.bind(function(b) {
					return { attrs: { 'class': 'tr wgc-backup', 'data-id': String(b.id) }, cells: [
						String(b.id), b.config_name, b.node_id, common.fmtTime(b.created_at),
						b.skipped ? common.badge(_('skipped'), 'warn', b.note) : _('interface'),
						E('span', {}, [
							E('button', { 'class': 'btn cbi-button-action wgc-read wgc-backup-view', 'click': ui.createHandlerFn(this, 'handleView', b) }, [ _('View') ]), ' ',
							E('button', { 'class': 'btn cbi-button-action wgc-read wgc-backup-download', 'click': ui.createHandlerFn(this, 'handleDownload', b) }, [ _('Download') ])
						])
					] };
				}, this)), _('No backups yet: one is kept each time a router is removed from a configuration'), { 'id': 'wgc-backups' });
		return E('div', { 'class': 'cbi-map' }, [
			E('h2', {}, [ _('Backups') ]),
			E('div', { 'class': 'cbi-map-descr' }, [
				_('When a router leaves a configuration, the cluster keeps its last interface settings (without the private key).')
			]),
			E('div', { 'class': 'cbi-section' }, [ body ])
		]);
	},

	handleSave: null,
	handleSaveApply: null,
	handleReset: null
});
