/*
 * coursehub's JupyterLab plugin, written by hand (no build step): a module-federation
 * container as JupyterLab 4 loads prebuilt extensions. JupyterLab calls
 * `init(shareScope)` with its shared modules, then `get('./extension')` for a factory
 * of the module whose default export is the list of plugins. The few JupyterLab
 * objects used (the dialog, the command palette's token, Lumino's Widget and the
 * server request helper) come from that share scope, as a built extension's would.
 *
 * What it does, in a course server (coursehub.student.lab is its server side):
 * - "Submit this assignment" (Course menu, command palette): saves the open documents
 *   and submits the assignment folder of the open notebook, as its student;
 * - waits for notices from course staff (a kernel or the server stopped) and shows
 *   them; before a server stops, saves the open documents first;
 * - names the server's owner to anyone else in it (course staff helping).
 *
 * Every text shown comes from this file or from the course service (through the
 * server), and is shown as text, never as HTML.
 */
(function () {
  'use strict';

  var NAME = '@coursehub/lab';
  var ROUTE = 'coursehub/lab/';
  var SUBMIT = 'coursehub:submit';
  var shareScope = null;

  /* --- shared modules ----------------------------------------------------------- */

  function major(version) {
    return parseInt(String(version).split('.')[0], 10);
  }

  function newer(a, b) {
    var x = String(a).split('.'), y = String(b).split('.');
    for (var i = 0; i < 3; i++) {
      var d = (parseInt(x[i], 10) || 0) - (parseInt(y[i], 10) || 0);
      if (d !== 0) return d > 0;
    }
    return false;
  }

  /** The shared module `name` (the newest of major `wanted`), as JupyterLab gives it. */
  function shared(name, wanted) {
    var versions = (shareScope && shareScope[name]) || {};
    var best = null;
    Object.keys(versions).forEach(function (v) {
      if (major(v) === wanted && (best === null || newer(v, best))) best = v;
    });
    if (best === null) return Promise.reject(new Error(NAME + ': JupyterLab shares no ' + name));
    var entry = versions[best];
    entry.loaded = 1;
    return Promise.resolve(entry.get()).then(function (factory) { return factory(); });
  }

  /* --- small helpers ------------------------------------------------------------ */

  function pageConfig() {
    var el = document.getElementById('jupyter-config-data');
    try { return JSON.parse((el && el.textContent) || '{}'); } catch (e) { return {}; }
  }

  function sleep(ms) {
    return new Promise(function (resolve) { setTimeout(resolve, ms); });
  }

  function randomKey() {
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) {
      return ('0' + b.toString(16)).slice(-2);
    }).join('');
  }

  /** `iso` as a time of day in the reader's own zone, the zone named. */
  function localTime(iso) {
    var when = new Date(iso);
    if (isNaN(when.getTime())) return iso;
    return when.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', timeZoneName: 'short' });
  }

  /** Seconds as "1 h 5 min" (late submissions). */
  function span(seconds) {
    var m = Math.round(seconds / 60);
    if (m < 1) return seconds + ' s';
    if (m < 60) return m + ' min';
    var h = Math.floor(m / 60), d = Math.floor(h / 24);
    if (d >= 1) return d + ' d ' + (h % 24) + ' h';
    return h + ' h ' + (m % 60) + ' min';
  }

  /** The open document's path, without a drive prefix ("RTC:lab1.ipynb"). */
  function openPath(app) {
    var widget = app.shell.currentWidget;
    var path = widget && widget.context && widget.context.path;
    return typeof path === 'string' ? path.replace(/^[A-Za-z0-9_-]+:/, '') : '';
  }

  /* --- the plugin --------------------------------------------------------------- */

  function makePlugin(mods) {
    var apputils = mods.apputils, services = mods.services, widgets = mods.widgets;

    function activate(app, palette) {
      var settings = app.serviceManager.serverSettings;
      var config = pageConfig();

      function call(path, init) {
        var url = settings.baseUrl + ROUTE + path;
        return services.ServerConnection.makeRequest(url, init || {}, settings);
      }

      var Notification = apputils.Notification;

      /** A notification that stays until closed (or `autoClose` ms); its id. */
      function notify(type, message, actions, autoClose) {
        return Notification.emit(message, type, {
          autoClose: autoClose === undefined ? false : autoClose,
          actions: actions || []
        });
      }

      function pageLink(label, url) {
        return [{ label: label, callback: function () { window.open(url, '_blank', 'noopener'); } }];
      }

      /* Submit this assignment */

      var submitting = false;
      app.commands.addCommand(SUBMIT, {
        label: 'Submit this assignment',
        caption: "Hand in the assignment folder of the open notebook, as it is saved",
        isEnabled: function () { return !submitting; },
        execute: function () { return submit(); }
      });
      if (palette) palette.addItem({ command: SUBMIT, category: 'Course' });

      async function submit() {
        var path = openPath(app);
        var match = /^assignments\/([^/]+)\/./.exec(path);
        if (!match) {
          notify('warning', (path ? path + ' is' : 'The open tab is') +
            ' not part of an assignment: open a notebook in assignments/NAME/, then submit.', [], 15000);
          return;
        }
        var name = match[1];
        submitting = true;
        app.commands.notifyCommandChanged(SUBMIT);
        var shown = notify('in-progress', 'Submitting ' + name + '…');
        function result(type, message, actions) {
          Notification.update({ id: shown, type: type, message: message, autoClose: false, actions: actions || [] });
        }
        try {
          await app.commands.execute('docmanager:save-all');
          var reply = await call('submit', {
            method: 'POST',
            body: JSON.stringify({ assignment: name }),
            headers: { 'Content-Type': 'application/json', 'Idempotency-Key': randomKey() }
          });
          var body = await reply.json().catch(function () { return {}; });
          if (!reply.ok) {
            result('error', 'Could not submit ' + name + ': ' +
              (body.message || ('the server answered ' + reply.status)) + '.');
            return;
          }
          var when = localTime(body.submitted_at);
          var text = body.duplicate
            ? 'Already submitted: attempt ' + body.attempt + ' of ' + name + ' has these files (' + when + ').'
            : 'Submitted ' + name + ': attempt ' + body.attempt + ', received at ' + when +
              (body.late_seconds > 0 ? ', late by ' + span(body.late_seconds) : '') +
              '. It will be graded in a moment.';
          result('success', text, pageLink('See the assignment page', body.page));
        } catch (err) {
          result('error', 'Could not submit ' + name + ': the server did not answer (' + err.message + ').');
        } finally {
          submitting = false;
          app.commands.notifyCommandChanged(SUBMIT);
        }
      }

      /* Notices from course staff */

      /** A new kernel for the open notebook `path` (after staff stopped its kernel). */
      async function startKernel(path) {
        for (var widget of app.shell.widgets('main')) {
          var context = widget.context, session = widget.sessionContext;
          if (!context || !session || context.path.replace(/^[A-Za-z0-9_-]+:/, '') !== path) continue;
          app.shell.activateById(widget.id);
          // the server dropped the session with its kernel: let it go, then a new one
          await session.shutdown().catch(function () {});
          var ask = await session.startKernel();
          if (ask) await app.commands.execute('notebook:change-kernel');
          return;
        }
      }

      async function show(notice) {
        var text = notice.message.split('{time}').join(localTime(notice.at));
        if (notice.kind !== 'server') {
          var path = notice.path;
          notify('warning', text, path ? [{ label: 'Start a new kernel', callback: function () { void startKernel(path); } }] : []);
          return;
        }
        try {
          await app.commands.execute('docmanager:save-all');
        } finally {
          await call('notices/ack', { method: 'POST', body: JSON.stringify({ id: notice.id }) }).catch(function () {});
        }
        var body = document.createElement('div');
        body.className = 'coursehub-notice';
        body.textContent = text;
        void apputils.showDialog({
          title: 'Your server was stopped',
          body: new widgets.Widget({ node: body }),
          buttons: [apputils.Dialog.okButton({ label: 'Reload the page' })]
        }).then(function (result) {
          if (result.button.accept) window.location.reload();
        });
      }

      /** Wait for notices, showing each; until the server is stopped. */
      async function listen() {
        var after = '', epoch = '', pause = 1000;
        for (;;) {
          var body = null;
          try {
            var query = after === '' ? '' : '?after=' + after + '&epoch=' + epoch;
            var reply = await call('notices' + query);
            if (reply.ok) body = await reply.json();
          } catch (err) { body = null; }
          if (!body) {  // the server is away (restarting): ask again later
            await sleep(pause);
            pause = Math.min(pause * 2, 30000);
            continue;
          }
          pause = 1000;
          if (after !== '') {  // the first answer only says where the server is
            for (var i = 0; i < body.notices.length; i++) {
              await show(body.notices[i]);
              if (body.notices[i].kind === 'server') return;  // nothing more will come
            }
          }
          epoch = body.epoch;
          after = String(body.last);
        }
      }
      void app.restored.then(listen);

      /* Whose server this is, for anyone else in it */

      var owner = config.hubServerUser, viewer = config.hubUser;
      if (owner && viewer && owner !== viewer) {
        var banner = new widgets.Widget();
        banner.id = 'coursehub-owner-banner';
        banner.addClass('coursehub-owner-banner');
        banner.node.textContent = 'You are in ' + owner + "'s server for " +
          (config.hubServerName || 'their course') + ' (as course staff): what you change here, you change in ' +
          owner + "'s files.";
        banner.node.title = banner.node.textContent;  // whole, when one line cannot hold it
        banner.node.setAttribute('role', 'status');
        banner.node.style.cssText = 'background: var(--jp-warn-color2, #ffe082); color: #000; ' +
          'padding: 4px 12px; font-size: var(--jp-ui-font-size1, 13px); font-weight: 600; ' +
          'height: 20px; line-height: 20px; white-space: nowrap; overflow: hidden; ' +
          'text-overflow: ellipsis; box-sizing: content-box;';
        app.shell.add(banner, 'top', { rank: 1000 });
      }
    }

    return {
      id: NAME + ':plugin',
      description: 'coursehub: submit assignments, notices from course staff, whose server this is',
      autoStart: true,
      optional: [apputils.ICommandPalette],
      activate: activate
    };
  }

  /* --- the container -------------------------------------------------------------- */

  window._JUPYTERLAB = window._JUPYTERLAB || {};
  window._JUPYTERLAB[NAME] = {
    init: function (scope) { shareScope = scope; },
    get: function (module) {
      if (module !== './extension') {
        return Promise.reject(new Error(NAME + ' has no module ' + module));
      }
      return Promise.all([
        shared('@jupyterlab/apputils', 4),
        shared('@jupyterlab/services', 7),
        shared('@lumino/widgets', 2)
      ]).then(function (found) {
        var plugin = makePlugin({ apputils: found[0], services: found[1], widgets: found[2] });
        return function () { return { __esModule: true, default: [plugin] }; };
      });
    }
  };
})();
