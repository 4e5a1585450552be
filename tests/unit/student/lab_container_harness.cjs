// Loads coursehub's lab container as JupyterLab would, with JupyterLab stubbed;
// prints what the plugin asked of it (test_lab_extension.py).
const calls = {commands: [], palette: [], shell: []};
global.window = {};
global.document = {
  getElementById: (id) => id === 'jupyter-config-data'
    ? {textContent: JSON.stringify({hubUser: 'ivan', hubServerUser: 'nina', hubServerName: 'algebra'})}
    : null,
};
class Widget {
  constructor() { this.node = {style: {}, attrs: {}, setAttribute(k, v) { this.attrs[k] = v; }}; this.classes = []; }
  addClass(c) { this.classes.push(c); }
}
const offer = (value) => ({get: () => Promise.resolve(() => value)});
const scope = {
  '@jupyterlab/apputils': {'3.9.0': offer({old: true}), '4.7.6': offer({ICommandPalette: 'palette-token', Notification: {}})},
  '@jupyterlab/services': {'7.6.6': offer({ServerConnection: {}})},
  '@lumino/widgets': {'1.37.0': offer({}), '2.7.0': offer({Widget})},
};
require(process.argv[2]);
const container = window._JUPYTERLAB['@coursehub/lab'];
container.init(scope);
container.get('./extension').then((factory) => {
  const exported = factory();
  const plugin = exported.default[0];
  const app = {
    commands: {addCommand: (id, spec) => calls.commands.push([id, spec.label]), notifyCommandChanged() {}},
    shell: {add: (w, area) => calls.shell.push([area, w.id, w.node.textContent, w.node.attrs.role])},
    serviceManager: {serverSettings: {baseUrl: '/user/nina/algebra/'}},
    restored: new Promise(() => {}),
  };
  plugin.activate(app, {addItem: (item) => calls.palette.push(item)});
  return container.get('./other').then(
    () => 'no error', (err) => String(err.message)
  ).then((other) => console.log(JSON.stringify({
    esModule: exported.__esModule, id: plugin.id, autoStart: plugin.autoStart,
    optional: plugin.optional, other, ...calls,
  })));
});
