/*
 * A minimal LuCI-compatible client runtime for testing the wgcluster views in a real browser.
 *
 * LuCI's own JavaScript is not in any package registry, so this file re-implements the subset the
 * views use, following LuCI's documented behaviour (luci.js, rpc.js, ui.js, form.js):
 *
 *  - the class loader: a view file is fetched, its leading 'require NAME [as ALIAS]' directives are
 *    scanned exactly as luci.js does, and the source runs as the body of
 *    `function(window, document, L, <modules…>)`; it must return a class, which is instantiated;
 *  - `E()` / `dom` with LuCI's quirks: a string given as the children argument is set as innerHTML,
 *    an array's items become text nodes (and a null inside an array renders as the text "null":
 *    reported here as a harness error so tests catch it); attributes whose value is a function
 *    are event listeners, null attributes are skipped;
 *  - `rpc.declare()` sending ubus JSON-RPC to /ubus (the harness server), with LuCI's `expect`,
 *    `filter` and `reject` semantics;
 *  - `ui.showModal` (title set as innerHTML, like LuCI), `ui.hideModal`, `ui.addNotification`,
 *    `ui.createHandlerFn`; `poll.add`; `view` with load → render → footer;
 *  - `form.Map` / `NamedSection` / `Value` / `ListValue` / `Flag` over the uci ubus object;
 *  - `String.prototype.format` with %s %d %h %q %%; `_()` returns the msgid (no catalogue).
 *
 * Anything the views use that is missing here fails loudly (a thrown error shows on the page and in
 * the console, which the tests watch).
 */
(function(window, document) {
	'use strict';

	var env = window.HARNESS_ENV || {};
	var harnessErrors = window.__harnessErrors = [];

	function harnessError(msg) {
		harnessErrors.push(msg);
		console.error('[harness] ' + msg);
	}

	/* ---------------------------------------------------------------- String.format */

	function escHTML(s) {
		return String(s).replace(/&/g, '&#38;').replace(/"/g, '&#34;').replace(/'/g, '&#39;').replace(/</g, '&#60;').replace(/>/g, '&#62;');
	}

	String.prototype.format = function() {
		var args = arguments, n = 0;
		return this.replace(/%(-?\d+)?(?:\.(\d+))?([sdhqf%])/g, function(m, width, prec, type) {
			if (type === '%')
				return '%';
			var v = args[n++];
			switch (type) {
			case 'd': v = Math.floor(+v || 0).toFixed(0); break;
			case 'f': v = prec != null ? (+v || 0).toFixed(+prec) : String(+v || 0); break;
			case 'h': v = escHTML(v == null ? '' : v); break;
			case 'q': v = escHTML(v == null ? '' : v).replace(/\\/g, '\\\\'); break;
			default: v = (v == null) ? '' : String(v);
			}
			return v;
		});
	};

	/* ---------------------------------------------------------------- Class */

	function Class() {}

	function extend(properties) {
		var Parent = this;
		var C = function() {
			if (!(this instanceof C))
				throw new TypeError('Constructor must not be called without "new"');
			if (typeof this.__init__ === 'function')
				this.__init__.apply(this, arguments);
		};
		C.prototype = Object.create(Parent.prototype);
		Object.keys(properties || {}).forEach(function(k) {
			Object.defineProperty(C.prototype, k, { value: properties[k], writable: true, configurable: true });
		});
		Object.defineProperty(C.prototype, 'constructor', { value: C, writable: true, configurable: true });
		Object.defineProperty(C.prototype, '__base__', { value: Parent.prototype, configurable: true });
		C.extend = extend;
		C.singleton = singleton;
		C.instantiate = instantiate;
		C.isSubclass = isSubclass;
		return C;
	}

	function instantiate(args) {
		return new (Function.prototype.bind.apply(this, [ null ].concat(args || [])))();
	}

	function singleton(properties) {
		return this.extend(properties).instantiate(Array.prototype.slice.call(arguments, 1));
	}

	function isSubclass(c) {
		return c != null && typeof c === 'function' && c.prototype instanceof this;
	}

	Class.extend = extend;
	Class.singleton = singleton;
	Class.instantiate = instantiate;
	Class.isSubclass = isSubclass;
	Class.prototype.varargs = function(args, offset) {
		return Array.prototype.slice.call(args, offset || 0).concat(Array.prototype.slice.call(arguments, 2));
	};
	Class.prototype.super = function(key, args) {
		var proto = Object.getPrototypeOf(this), base;
		while (proto && !Object.prototype.hasOwnProperty.call(proto, key))
			proto = Object.getPrototypeOf(proto);
		base = proto ? Object.getPrototypeOf(proto) : null;
		if (!base || typeof base[key] !== 'function')
			return base ? base[key] : undefined;
		return base[key].apply(this, args || []);
	};

	/* ---------------------------------------------------------------- dom + E */

	var dom = Class.singleton({
		elem: function(e) { return e != null && typeof e === 'object' && 'nodeType' in e; },

		parse: function(s) {
			var t = document.createElement('template');
			t.innerHTML = s.trim();
			return t.content.firstElementChild;
		},

		matches: function(node, sel) { return this.elem(node) && node.matches ? node.matches(sel) : false; },

		parent: function(node, sel) { return this.elem(node) && node.closest ? node.closest(sel) : null; },

		append: function(node, children) {
			if (!this.elem(node))
				return null;
			if (Array.isArray(children)) {
				for (var i = 0; i < children.length; i++) {
					if (this.elem(children[i]))
						node.appendChild(children[i]);
					else if (children !== null && children !== undefined) {
						/* LuCI's own check tests the array, not the item: null items become "null" */
						if (children[i] === null || children[i] === undefined)
							harnessError('a ' + children[i] + ' child in an array renders as the text "' + children[i] + '" in LuCI (in <' + node.tagName.toLowerCase() + '>)');
						node.appendChild(document.createTextNode('' + children[i]));
					}
				}
				return node.lastChild;
			}
			else if (typeof children === 'function') {
				return this.append(node, children(node));
			}
			else if (this.elem(children)) {
				return node.appendChild(children);
			}
			else if (children !== null && children !== undefined) {
				node.innerHTML = '' + children;
				return node.lastChild;
			}
			return null;
		},

		content: function(node, children) {
			if (!this.elem(node))
				return null;
			while (node.firstChild)
				node.removeChild(node.firstChild);
			return this.append(node, children);
		},

		attr: function(node, key, val) {
			if (!this.elem(node))
				return null;
			var attr = null;
			if (typeof key === 'object' && key !== null)
				attr = key;
			else if (typeof key === 'string')
				attr = {}, attr[key] = val;
			for (key in attr) {
				if (!Object.prototype.hasOwnProperty.call(attr, key) || attr[key] == null)
					continue;
				switch (typeof attr[key]) {
				case 'function': node.addEventListener(key, attr[key]); break;
				case 'object': node.setAttribute(key, JSON.stringify(attr[key])); break;
				default: node.setAttribute(key, attr[key]);
				}
			}
		},

		create: function() {
			var html = arguments[0], attr = arguments[1], data = arguments[2], elem;
			if (!(attr instanceof Object) || Array.isArray(attr))
				data = attr, attr = null;
			if (Array.isArray(html)) {
				elem = document.createDocumentFragment();
				html.forEach(function(n) { elem.appendChild(n); });
				return elem;
			}
			if (this.elem(html))
				elem = html;
			else if (html.charCodeAt(0) === 60)
				elem = this.parse(html);
			else
				elem = document.createElement(html);
			if (!elem)
				throw new Error('Invalid element: ' + html);
			this.attr(elem, attr);
			this.append(elem, data);
			return elem;
		},

		bindClassInstance: function(node, inst) { node.__luciInstance = inst; },
		findClassInstance: function(node) {
			for (; node; node = node.parentNode)
				if (node.__luciInstance)
					return node.__luciInstance;
			return null;
		},
		callClassMethod: function(node, method) {
			var inst = this.findClassInstance(node);
			return inst && typeof inst[method] === 'function' ? inst[method].apply(inst, Array.prototype.slice.call(arguments, 2)) : null;
		},
		isEmpty: function(node) { return !node || !node.firstElementChild; }
	});

	var E = function() { return dom.create.apply(dom, arguments); };
	var _ = function(s) { return s; };

	/* ---------------------------------------------------------------- L */

	var classes = {};

	var L = {
		env: env,
		Class: Class,
		dom: dom,
		bind: function(fn, self) {
			return Function.prototype.bind.apply(fn, [ self ].concat(Array.prototype.slice.call(arguments, 2)));
		},
		resolveDefault: function(p, def) {
			return Promise.resolve(p).catch(function() { return def; });
		},
		isObject: function(v) { return v != null && typeof v === 'object'; },
		toArray: function(v) {
			if (v == null) return [];
			if (Array.isArray(v)) return v;
			return [ v ];
		},
		url: function() {
			return '/cgi-bin/luci/' + Array.prototype.slice.call(arguments).join('/');
		},
		resource: function() {
			return env.resource + '/' + Array.prototype.slice.call(arguments).join('/');
		},
		hasViewPermission: function() { return true; },
		raise: function(type, fmt) {
			var e = new Error(fmt.format.apply(fmt, Array.prototype.slice.call(arguments, 2)));
			e.name = type;
			throw e;
		},
		error: function(type, fmt) {
			var e = (type instanceof Error) ? type : new Error(fmt ? fmt.format.apply(fmt, Array.prototype.slice.call(arguments, 2)) : String(type));
			harnessError('L.error: ' + (e.stack || e.message));
			var mc = document.getElementById('view') || document.body;
			dom.content(mc, E('pre', { 'class': 'alert-message error' }, [ e.message ]));
			throw e;
		},
		require: function(name) {
			if (classes[name])
				return Promise.resolve(classes[name]);
			var url = env.resource + '/' + name.replace(/\./g, '/') + '.js';
			return (classes[name] = fetch(url).then(function(res) {
				if (!res.ok)
					throw new Error('HTTP error ' + res.status + ' while loading class file "' + url + '"');
				return res.text();
			}).then(function(source) {
				return compileClass(name, url, source);
			}).then(function(instance) {
				classes[name] = instance;
				return instance;
			}));
		}
	};

	/* luci.js compileClass: the directive scan and the factory wrapper, as LuCI does them. */
	function scanRequires(source) {
		var requirematch = /^require[ \t]+(\S+)(?:[ \t]+as[ \t]+([a-zA-Z_]\S*))?$/;
		var strictmatch = /^use[ \t]+strict$/;
		var depends = [];
		for (var i = 0, off = -1, prev = -1, quote = -1, comment = -1, esc = false; i < source.length; i++) {
			var chr = source.charCodeAt(i);
			if (esc) {
				esc = false;
			}
			else if (comment != -1) {
				if ((comment == 47 && chr == 10) || (comment == 42 && prev == 42 && chr == 47))
					comment = -1;
			}
			else if ((chr == 42 || chr == 47) && prev == 47) {
				comment = chr;
			}
			else if (chr == 92) {
				esc = true;
			}
			else if (chr == quote) {
				var s = source.substring(off, i), m = requirematch.exec(s);
				if (m)
					depends.push([ m[1], m[2] || m[1].replace(/[^a-zA-Z0-9_]/g, '_') ]);
				else if (!strictmatch.exec(s))
					break;
				off = -1;
				quote = -1;
			}
			else if (quote == -1 && (chr == 34 || chr == 39)) {
				off = i + 1;
				quote = chr;
			}
			prev = chr;
		}
		return depends;
	}

	function compileClass(name, url, source) {
		var depends = scanRequires(source);
		return Promise.all(depends.map(function(d) { return L.require(d[0]); })).then(function(instances) {
			var args = depends.map(function(d) { return ', ' + d[1]; }).join('');
			var factory;
			try {
				factory = eval('(function(window, document, L' + args + ') { ' + source + ' })\n\n//# sourceURL=' + url + '\n');
			}
			catch (error) {
				throw new SyntaxError(error.message + ' in ' + url);
			}
			var cls = factory.apply(factory, [ window, document, L ].concat(instances));
			if (!Class.isSubclass(cls))
				throw new TypeError('"' + name + '" factory yields invalid constructor');
			return new cls();
		});
	}

	/* ---------------------------------------------------------------- rpc */

	var rpcId = 1;

	function ubusCall(object, method, params) {
		var msg = { jsonrpc: '2.0', id: rpcId++, method: 'call', params: [ env.sessionid, object, method, params ] };
		return fetch('/ubus', {
			method: 'POST',
			headers: { 'Content-Type': 'application/json' },
			body: JSON.stringify(msg)
		}).then(function(res) {
			if (!res.ok)
				throw new Error('RPC call to ' + object + '/' + method + ' failed with HTTP error ' + res.status);
			return res.json();
		});
	}

	var rpcStatus = { 0: 'Command OK', 1: 'Invalid command', 2: 'Invalid argument', 3: 'Method not found', 4: 'Resource not found',
		5: 'No data received', 6: 'Permission denied', 7: 'Request timeout', 8: 'Not supported', 9: 'Unspecified error', 10: 'Connection lost' };

	var rpc = Class.singleton({
		getStatusText: function(code) { return rpcStatus[code] || 'Unknown error'; },

		declare: function(options) {
			var self = this;
			return function() {
				var args = Array.prototype.slice.call(arguments), params = {}, p_off = 0;
				if (Array.isArray(options.params))
					for (p_off = 0; p_off < options.params.length; p_off++)
						params[options.params[p_off]] = args[p_off];
				var priv = [ undefined, undefined ].concat(args.slice(p_off));
				return ubusCall(options.object, options.method, params).then(function(res) {
					var type = Object.prototype.toString, ret = null;
					if (!L.isObject(res) || res.jsonrpc != '2.0')
						throw new Error('RPC call to ' + options.object + '/' + options.method + ' returned invalid message frame');
					if (L.isObject(res.error) && res.error.code && res.error.message)
						throw new Error(res.error.message);
					if (Array.isArray(res.result)) {
						if (options.reject && res.result[0] !== 0)
							L.raise('RPCError', 'RPC call to %s/%s returned error %d: %s', options.object, options.method, res.result[0], self.getStatusText(res.result[0]));
						ret = (res.result.length > 1) ? res.result[1] : res.result[0];
					}
					if (options.expect) {
						for (var key in options.expect) {
							if (ret != null && key != '')
								ret = ret[key];
							if (ret == null || type.call(ret) != type.call(options.expect[key]))
								ret = options.expect[key];
							break;
						}
					}
					if (typeof options.filter === 'function') {
						priv[0] = ret;
						priv[1] = params;
						ret = options.filter.apply(self, priv);
					}
					return ret;
				});
			};
		}
	});

	/* ---------------------------------------------------------------- poll */

	var poll = Class.singleton({
		queue: [],
		tick: 0,
		timer: null,
		add: function(fn, interval) {
			if (typeof fn !== 'function')
				throw new TypeError('Invalid function');
			this.queue.push({ fn: fn, i: Math.max(1, +interval || 5), running: false });
			this.start();
			return true;
		},
		remove: function(fn) {
			this.queue = this.queue.filter(function(e) { return e.fn !== fn; });
		},
		start: function() {
			if (this.timer)
				return false;
			var self = this;
			this.timer = window.setInterval(function() {
				self.tick++;
				self.queue.forEach(function(e) {
					if (e.running || self.tick % e.i)
						return;
					e.running = true;
					Promise.resolve().then(e.fn).catch(function(err) {
						harnessError('poll function failed: ' + (err && err.message));
					}).then(function() { e.running = false; });
				});
			}, 1000);
			return true;
		},
		stop: function() {
			window.clearInterval(this.timer);
			this.timer = null;
		},
		active: function() { return this.timer != null; }
	});

	/* ---------------------------------------------------------------- ui */

	var ui = Class.singleton({
		showModal: function(title, children) {
			var overlay = document.getElementById('modal_overlay');
			var dlg = overlay.firstElementChild;
			dlg.setAttribute('class', 'modal');
			for (var i = 2; i < arguments.length; i++)
				dlg.classList.add(arguments[i]);
			/* LuCI: dom.create('h4', {}, title), i.e. the title string becomes innerHTML */
			dom.content(dlg, dom.create('h4', {}, title));
			dom.append(dlg, children);
			document.body.classList.add('modal-overlay-active');
			return dlg;
		},

		hideModal: function() {
			document.body.classList.remove('modal-overlay-active');
		},

		addNotification: function(title, children) {
			var mc = document.querySelector('#maincontent') || document.body;
			var msg = E('div', { 'class': 'alert-message fade-in', 'style': 'display:flex' }, [
				E('div', { 'style': 'flex:10' }),
				E('div', { 'style': 'flex:1 1 auto; display:flex' }, [
					E('button', { 'class': 'btn', 'style': 'margin-left:auto; margin-top:auto', 'click': function(ev) {
						var m = dom.parent(ev.target, '.alert-message');
						if (m) m.parentNode.removeChild(m);
					} }, [ _('Dismiss') ])
				])
			]);
			if (title != null)
				dom.append(msg.firstElementChild, E('h4', {}, title));
			dom.append(msg.firstElementChild, children);
			for (var i = 2; i < arguments.length; i++)
				msg.classList.add(arguments[i]);
			mc.insertBefore(msg, mc.firstElementChild);
			return msg;
		},

		createHandlerFn: function(ctx, fn) {
			if (typeof fn === 'string')
				fn = ctx[fn];
			if (typeof fn !== 'function')
				return null;
			var bound = Array.prototype.slice.call(arguments, 2);
			return function(ev) {
				var t = ev && ev.currentTarget;
				if (t) {
					t.classList.add('spinning');
					t.disabled = true;
					if (t.blur) t.blur();
				}
				return Promise.resolve(fn.apply(ctx, bound.concat(Array.prototype.slice.call(arguments)))).catch(function(err) {
					harnessError('handler failed: ' + (err && (err.stack || err.message)));
				}).then(function() {
					if (t) {
						t.classList.remove('spinning');
						t.disabled = false;
					}
				});
			};
		}
	});

	/* ---------------------------------------------------------------- uci (over the harness's uci ubus object) */

	var uciCall = function(method, params) {
		return ubusCall('uci', method, params).then(function(res) {
			if (res.error)
				throw new Error(res.error.message);
			if (res.result[0] !== 0)
				throw new Error('uci ' + method + ': ' + rpc.getStatusText(res.result[0]));
			return res.result[1] || {};
		});
	};

	var uci = Class.singleton({
		state: {},
		load: function(config) {
			var self = this;
			return uciCall('get', { config: config }).then(function(r) {
				self.state[config] = r.values || {};
				return config;
			});
		},
		get: function(config, section, option) {
			var s = (this.state[config] || {})[section];
			if (!s) return null;
			return option == null ? s : s[option];
		},
		set: function(config, section, values) { return uciCall('set', { config: config, section: section, values: values }); },
		unset: function(config, section, options) { return uciCall('delete', { config: config, section: section, options: options }); },
		apply: function() { return uciCall('apply', {}); }
	});

	/* ---------------------------------------------------------------- form */

	var AbstractValue = Class.extend({
		__init__: function(map, section, option, title, description) {
			this.map = map;
			this.section = section;
			this.option = option;
			this.title = title || '';
			this.description = description || '';
			this.rmempty = true;
			this.choices = [];
		},
		value: function(key, label) { this.choices.push([ key, label != null ? label : key ]); },
		cbid: function(sid) { return 'cbid.' + this.map.config + '.' + sid + '.' + this.option; },
		cfgvalue: function(sid) { return uci.get(this.map.config, sid, this.option); },
		widgetValue: function(sid) {
			var el = document.getElementById('widget.' + this.cbid(sid));
			return el ? (el.type === 'checkbox' ? (el.checked ? '1' : '0') : el.value.trim()) : null;
		},
		check: function(sid) {
			var v = this.widgetValue(sid), err = true;
			if (typeof this.validate === 'function')
				err = this.validate(sid, v);
			if (err === true && this.datatype)
				err = checkDatatype(this.datatype, v);
			var el = document.getElementById('widget.' + this.cbid(sid));
			var box = document.getElementById('error.' + this.cbid(sid));
			if (el)
				el.classList.toggle('cbi-input-invalid', err !== true);
			if (box) {
				box.textContent = err === true ? '' : String(err);
				box.style.display = err === true ? 'none' : '';
			}
			return err === true;
		},
		renderWidget: function(sid, value) {
			var self = this, id = 'widget.' + this.cbid(sid), el;
			if (this.choices.length) {
				el = E('select', { 'id': id, 'class': 'cbi-input-select' }, this.choices.map(function(c) {
					return E('option', { 'value': c[0], 'selected': String(c[0]) === String(value) ? 'selected' : null }, [ c[1] ]);
				}));
			}
			else {
				el = E('input', { 'id': id, 'type': 'text', 'class': 'cbi-input-text', 'value': value != null ? value : '',
					'placeholder': this.placeholder != null ? this.placeholder : null });
			}
			el.addEventListener('input', function() { self.check(sid); });
			el.addEventListener('change', function() { self.check(sid); });
			return el;
		},
		render: function(sid) {
			var v = this.cfgvalue(sid);
			if (v == null && this.default != null)
				v = this.default;
			var cbid = this.cbid(sid);
			return E('div', { 'class': 'cbi-value', 'id': 'cbi-' + this.map.config + '-' + sid + '-' + this.option, 'data-name': this.option }, [
				E('label', { 'class': 'cbi-value-title', 'for': 'widget.' + cbid }, [ this.title ]),
				E('div', { 'class': 'cbi-value-field' }, [
					this.renderWidget(sid, v),
					E('div', { 'class': 'cbi-value-error', 'id': 'error.' + cbid, 'style': 'display:none' }),
					this.description ? E('div', { 'class': 'cbi-value-description' }, [ this.description ]) : E('span')
				])
			]);
		},
		/* [values to set, options to delete] as LuCI's AbstractValue.parse decides */
		parse: function(sid) {
			var f = this.widgetValue(sid), c = this.cfgvalue(sid);
			if (f != null && f !== '')
				return (this.forcewrite || String(c) !== f) ? [ f, null ] : [ null, null ];
			if (this.rmempty || this.optional)
				return c != null ? [ null, this.option ] : [ null, null ];
			throw new Error(_('Option "%s" must not be empty.').format(this.title || this.option));
		}
	});

	var Value = AbstractValue.extend({});
	var ListValue = AbstractValue.extend({});
	var Flag = AbstractValue.extend({
		__init__: function() {
			AbstractValue.prototype.__init__.apply(this, arguments);
			this.enabled = '1';
			this.disabled = '0';
			this.default = '0';
		},
		renderWidget: function(sid, value) {
			var self = this;
			var el = E('input', { 'id': 'widget.' + this.cbid(sid), 'type': 'checkbox', 'class': 'cbi-input-checkbox',
				'checked': String(value) === this.enabled ? 'checked' : null });
			el.addEventListener('change', function() { self.check(sid); });
			return el;
		},
		parse: function(sid) {
			var f = this.widgetValue(sid), c = this.cfgvalue(sid);
			if (f === this.disabled && this.rmempty)
				return c != null ? [ null, this.option ] : [ null, null ];
			return String(c) !== f ? [ f, null ] : [ null, null ];
		}
	});

	function checkDatatype(dt, v) {
		if (v == null || v === '')
			return true;
		switch (dt) {
		case 'uinteger': return /^\d+$/.test(v) ? true : _('Expecting: non-negative integer value');
		case 'port': return /^\d+$/.test(v) && +v <= 65535 ? true : _('Expecting: valid port value');
		case 'string': return true;
		default: harnessError('datatype "' + dt + '" is not emulated by the harness'); return true;
		}
	}

	var NamedSection = Class.extend({
		__init__: function(map, section, type, title, description) {
			this.map = map;
			this.section = section;
			this.sectiontype = type;
			this.title = title || '';
			this.description = description || '';
			this.children = [];
		},
		option: function(cls, option, title, description) {
			if (!AbstractValue.prototype.isPrototypeOf(cls.prototype) && cls !== AbstractValue)
				throw new TypeError('Class must be a descendant of AbstractValue');
			var o = new cls(this.map, this, option, title, description);
			this.children.push(o);
			return o;
		},
		render: function() {
			var sid = this.section;
			if (uci.get(this.map.config, sid) == null)
				harnessError('section ' + this.map.config + '.' + sid + ' does not exist');
			return E('div', { 'class': 'cbi-section', 'id': 'cbi-' + this.map.config + '-' + sid }, [
				this.title ? E('h3', {}, [ this.title ]) : E('span'),
				this.description ? E('div', { 'class': 'cbi-section-descr' }, [ this.description ]) : E('span'),
				E('div', { 'class': 'cbi-section-node' }, this.children.map(function(o) { return o.render(sid); }))
			]);
		}
	});

	var Map = Class.extend({
		__init__: function(config, title, description) {
			this.config = config;
			this.title = title || '';
			this.description = description || '';
			this.children = [];
		},
		section: function(cls) {
			var s = cls.instantiate([ this ].concat(Array.prototype.slice.call(arguments, 1)));
			this.children.push(s);
			return s;
		},
		load: function() { return uci.load(this.config); },
		render: function() {
			var self = this;
			return this.load().then(function() {
				var node = E('div', { 'class': 'cbi-map', 'id': 'cbi-' + self.config }, [
					self.title ? E('h2', {}, [ self.title ]) : E('span'),
					self.description ? E('div', { 'class': 'cbi-map-descr' }, [ self.description ]) : E('span')
				].concat(self.children.map(function(s) { return s.render(); })));
				dom.bindClassInstance(node, self);
				self.root = node;
				return node;
			});
		},
		save: function() {
			var self = this, sets = [], valid = true;
			this.children.forEach(function(s) {
				var values = {}, dels = [];
				s.children.forEach(function(o) {
					if (!o.check(s.section))
						valid = false;
				});
				if (!valid)
					return;
				s.children.forEach(function(o) {
					var r = o.parse(s.section);
					if (r[0] != null) values[o.option] = r[0];
					if (r[1] != null) dels.push(r[1]);
				});
				if (Object.keys(values).length)
					sets.push(uci.set(self.config, s.section, values));
				if (dels.length)
					sets.push(uci.unset(self.config, s.section, dels));
			});
			if (!valid)
				return Promise.reject(new Error(_('Some fields are invalid, cannot save values!')));
			return Promise.all(sets).then(function() { return self.load(); });
		}
	});

	var form = Class.singleton({
		Map: Map,
		NamedSection: NamedSection,
		AbstractValue: AbstractValue,
		Value: Value,
		ListValue: ListValue,
		Flag: Flag
	});

	/* ---------------------------------------------------------------- view */

	var view = Class.extend({
		__init__: function() {
			var vp = document.getElementById('view');
			dom.content(vp, E('div', { 'class': 'spinning' }, [ _('Loading view…') ]));
			window.__viewReady = Promise.resolve(this.load()).then(L.bind(this.render, this)).then(L.bind(function(nodes) {
				dom.content(vp, nodes);
				dom.append(vp, this.addFooter());
				document.body.setAttribute('data-view-ready', '1');
			}, this)).catch(function(e) {
				document.body.setAttribute('data-view-ready', 'error');
				L.error(e);
			});
		},
		load: function() {},
		render: function() {},
		handleSave: function() {
			var tasks = [];
			document.getElementById('maincontent').querySelectorAll('.cbi-map').forEach(function(map) {
				tasks.push(dom.callClassMethod(map, 'save'));
			});
			return Promise.all(tasks);
		},
		handleSaveApply: function(ev) {
			return this.handleSave(ev).then(function() {
				return uci.apply();
			}).then(function() {
				ui.addNotification(null, E('p', {}, [ _('Configuration changes applied.') ]), 'info');
			});
		},
		handleReset: function() { window.location.reload(); },
		addFooter: function() {
			var self = this, footer = E('div', { 'class': 'cbi-page-actions' });
			var wrap = function(fn) {
				return ui.createHandlerFn(self, function(ev) {
					return Promise.resolve(fn.call(self, ev)).catch(function(e) {
						ui.addNotification(null, E('p', {}, [ e.message ]), 'danger');
					});
				});
			};
			if (this.handleSaveApply)
				footer.appendChild(E('button', { 'class': 'btn cbi-button cbi-button-apply', 'id': 'harness-save-apply', 'click': wrap(this.handleSaveApply) }, [ _('Save & Apply') ]));
			if (this.handleSave)
				footer.appendChild(E('button', { 'class': 'btn cbi-button cbi-button-save', 'id': 'harness-save', 'click': wrap(this.handleSave) }, [ _('Save') ]));
			if (this.handleReset)
				footer.appendChild(E('button', { 'class': 'btn cbi-button cbi-button-reset', 'click': wrap(this.handleReset) }, [ _('Reset') ]));
			return footer.firstChild ? footer : E([]);
		}
	});

	var baseclass = Class;

	classes.baseclass = baseclass;
	classes.dom = dom;
	classes.rpc = rpc;
	classes.poll = poll;
	classes.ui = ui;
	classes.uci = uci;
	classes.form = form;
	classes.view = view;
	L.ui = ui;
	L.poll = poll;

	window.L = L;
	window.E = E;
	window._ = _;

	window.addEventListener('error', function(ev) { harnessError('uncaught: ' + ev.message); });
	window.addEventListener('unhandledrejection', function(ev) {
		harnessError('unhandled rejection: ' + (ev.reason && (ev.reason.stack || ev.reason.message) || ev.reason));
	});

	document.addEventListener('DOMContentLoaded', function() {
		if (env.view)
			L.require('view.' + env.view.replace(/\//g, '.')).catch(function(e) {
				document.body.setAttribute('data-view-ready', 'error');
				L.error(e);
			});
	});
})(window, document);
