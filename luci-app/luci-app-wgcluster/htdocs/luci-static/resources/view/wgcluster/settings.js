'use strict';
'require view';
'require form';

/* The daemon's own options: /etc/config/wgcluster, section `config daemon 'main'`. Save & Apply
 * commits the file; the init script's reload trigger sends wgclusterd SIGHUP, which applies the
 * endpoint, the log options and the WireGuard backend options (a live switch) at once; every other
 * option needs a restart, which the daemon's log says by name (daemon/src/reload.rs). */

var NODE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
var HOST = /^([A-Za-z0-9-]{1,63}\.)*[A-Za-z0-9-]{1,63}$/;
var IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;
var IPV6 = /^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*$/;

function validPort(p) {
	return /^\d{1,5}$/.test(p) && +p >= 1 && +p <= 65535;
}

/* host:port with an IPv4 address or [IPv6] as host, as the daemon's listen options take. */
function validListen(v) {
	var m = /^\[([^\]]+)\]:(\d+)$/.exec(v) || /^([^:]+):(\d+)$/.exec(v);
	return !!m && (IPV4.test(m[1]) || IPV6.test(m[1])) && validPort(m[2]);
}

/* A public address: IPv4, IPv6 or host name, optionally with :port ([v6]:port). */
function validEndpoint(v) {
	var m = /^\[([^\]]+)\](?::(\d+))?$/.exec(v);
	if (m)
		return IPV6.test(m[1]) && (m[2] == null || validPort(m[2]));
	if (IPV6.test(v) && v.indexOf(':') !== v.lastIndexOf(':'))
		return true;
	m = /^([^:]+)(?::(\d+))?$/.exec(v);
	return !!m && (IPV4.test(m[1]) || HOST.test(m[1])) && (m[2] == null || validPort(m[2]));
}

function absolutePath(v) {
	return /^\/[^\s]*$/.test(v);
}

return view.extend({
	render: function() {
		var m, s, o;

		m = new form.Map('wgcluster', _('WireGuard Cluster daemon'),
			_('Options of wgclusterd on this router. The endpoint, the log options, the WireGuard backend, the userspace program and the UAPI directory apply at once; changes to the node ID, the listeners, the data directory or the Raft timings take effect after a restart of the service.'));

		s = m.section(form.NamedSection, 'main', 'daemon', _('Daemon'));
		s.addremove = false;

		o = s.option(form.Value, 'node_id', _('Node ID'), _('This router\'s stable name in the cluster, e.g. its hostname'));
		o.rmempty = true;
		o.placeholder = _('the hostname');
		o.validate = function(section_id, value) {
			return (value === '' || NODE_ID.test(value)) ? true : _('1 to 63 letters, digits, _ . or -, starting with a letter or digit');
		};

		o = s.option(form.Value, 'endpoint', _('Public endpoint'), _('The address clients reach this router at (IPv4, IPv6 or host name)'));
		o.rmempty = true;
		o.placeholder = '203.0.113.10';
		o.validate = function(section_id, value) {
			return (value === '' || validEndpoint(value)) ? true : _('Expecting an IP address or host name, optionally with :port');
		};

		o = s.option(form.Value, 'api_listen', _('API listen address'), _('HTTP API (with bearer token); keep it on the loopback unless scripts elsewhere need it'));
		o.rmempty = true;
		o.placeholder = '127.0.0.1:10086';
		o.validate = function(section_id, value) {
			return (value === '' || validListen(value)) ? true : _('Expecting address:port, like 127.0.0.1:10086 or [::1]:10086');
		};

		o = s.option(form.Value, 'cluster_listen', _('Cluster listen address'), _('Router-to-router HTTPS with mutual TLS'));
		o.rmempty = true;
		o.placeholder = '0.0.0.0:10087';
		o.validate = function(section_id, value) {
			return (value === '' || validListen(value)) ? true : _('Expecting address:port, like 0.0.0.0:10087');
		};

		o = s.option(form.ListValue, 'wg_backend', _('WireGuard backend'));
		o.value('auto', _('Automatic (kernel module if present)'));
		o.value('kernel', _('Kernel module'));
		o.value('userspace', _('Userspace (wireguard-go)'));
		o.default = 'auto';

		o = s.option(form.Value, 'wg_userspace_bin', _('Userspace program'), _('Used by the userspace backend'));
		o.rmempty = true;
		o.placeholder = 'wireguard-go';
		o.validate = function(section_id, value) {
			return /\s/.test(value) ? _('Expecting a program name or path without spaces') : true;
		};

		o = s.option(form.ListValue, 'log_level', _('Log level'));
		[ 'error', 'warn', 'info', 'debug', 'trace' ].forEach(function(l) { o.value(l, l); });
		o.default = 'info';

		o = s.option(form.Flag, 'auto_init', _('Initialise automatically'), _('Start a new one-router cluster when the data directory is empty'));
		o.rmempty = false;

		o = s.option(form.Value, 'data_dir', _('Data directory'), _('Cluster state, keys and the admin token; on flash, written in batches'));
		o.rmempty = true;
		o.placeholder = '/etc/wgcluster';
		o.validate = function(section_id, value) {
			return (value === '' || absolutePath(value)) ? true : _('Expecting an absolute path');
		};

		o = s.option(form.Value, 'control_socket', _('Control socket'), _('Unix socket of the local tools and the LuCI bridge'));
		o.rmempty = true;
		o.placeholder = '/var/run/wgcluster.sock';
		o.validate = function(section_id, value) {
			return (value === '' || (absolutePath(value) && value.length <= 107)) ? true : _('Expecting an absolute path of at most 107 characters');
		};

		o = s.option(form.Value, 'uapi_dir', _('UAPI directory'), _('Where userspace WireGuard sockets live'));
		o.rmempty = true;
		o.placeholder = '/var/run/wireguard';
		o.validate = function(section_id, value) {
			return (value === '' || absolutePath(value)) ? true : _('Expecting an absolute path');
		};

		return m.render();
	}
});
