"""coursehub: a course-first distribution of JupyterHub. A map of the package.

Packages, top layer first; imports only go down (docs/architecture.md, checked by
tests/test_layers.py):

- cli/       the `coursehub` command: parser, errors to exit codes, one module per command group
- ops/       site operations: opening a site, `coursehub up`'s supervisor, proxy, ports, doctor,
             init, culler
- service/   the ASGI app the hub runs as a managed service: a typed context, routes/ (the
             Moodle plugin's compatibility API among them), tasks/, templates/
- hub/       what JupyterHub loads: bootstrap (the generated config), auth/, spawners/,
             templates/, the user-redirect hook
- forking/   fast starts: server template and child (servers/), kernel template (kernels/)
- accounts/  local accounts, rosters, password hashes, one-time sign-in tickets
- backups/   consistent online backups and checked restores, for the CLI and the service
- courses/   courses, checkouts (their own links kept), manifests and the repository formats
             read as they are (formats/: nbhosting, Binder, Jupyter Book), published links,
             workspaces, environments, lab extensions, kernelspecs, images, team enrolments
- events/    notebook events: schema, store, group commit, rate limit, live view table
- grading/   assignments, the sandbox, the grader, the queue and its workers, Slurm grading
- lti/       LTI 1.3: platforms, keys, launches, identities, grade passback, roster sync
- monitor/   what runs now: census of servers and kernels, runaway kernels, disk use,
             notices of what course staff stopped
- stats/     usage statistics: samples, roll-ups, retention, reports, CSV
- warmup/    course servers started before a lecture: plans bounded by memory, runs,
             stopping the unused ones after class
- engines/   clients of outside engines: the hub's REST API, resource limits, Slurm
- db/        the coursehub tables, sessions, Alembic migrations
- config/    coursehub.yaml: models, loader, layout, secrets; translate/ (pure)
- student/   what runs as the student: server entry point, Jupyter config, events
             extension, workspace extension (course files placed by the server), the
             JupyterLab plugin and its server side (lab/: submit, staff stop notices,
             whose server a helper is in), kernel provisioner, course kernelspecs, Slurm
             job starter, grading kernel copies; imports only core/
- core/      leaf helpers: errors, roles, logs, notebook tail, kernel template framing,
             per-user subdomain names, folders walked without following links, the
             grading wire (values between a notebook's copy and its tests)
- starter/   data files for `coursehub init`

Shims, kept only for paths written outside the package: singleuser, server_config,
k8s, hub.auth_local, hub.auth_github.

Processes (who starts each one, and as which Unix account):

- `coursehub up` (`python -m coursehub.cli up`): the admin; root (else demo mode,
  where everything below runs as that one account)
- configurable-http-proxy: `coursehub up`; root
- JupyterHub (`python -m jupyterhub -f runtime/jupyterhub_config.py`): `coursehub up`; root
- the coursehub service (`python -m coursehub.service`): the hub; root
- the idle culler (`python -m coursehub.ops.culler`): the hub, when idle limits are set; root
- the server template (`python -m coursehub.forking.servers.template`): the hub; root
- forked student servers: the server template (fork); the student
- cold student servers (`python -m coursehub.student.singleuser`): the hub; the student
- kernel templates (forking/kernels/template.py, run by path with a course's Python):
  the hub, one per built course; root
- forked kernels: a kernel template (fork); the student
- cold kernels (`python -m ipykernel_launcher`): the student's server; the student
- start-up hooks: the hub; as-root ones as root, as-user ones as the student
- workspace helpers (`python -I -c ...`): the service or the CLI; the student (on Docker
  and Kubernetes the student's own server does the same: student/workspace)
- course builds (venv, pip): the service or `coursehub course build`; coursehub-build
- grading sandboxes (`python -I -m coursehub.forking.sandbox_init`): the service's grading
  workers (or `coursehub doctor`, to try one); root, then PID 1 of the box as its account
- grading kernels (`python -P -m coursehub.grading.kernel_launch`): the service's
  grading workers; a throwaway `chg-...` account per run, in a sandbox
- copies of a grading kernel at each test's place (student/grading_snapshot.py): the
  grading kernel (fork); the same throwaway account
- grading test processes (`python -I -m coursehub.grading.evaluator`): the service's
  grading workers; a second throwaway `chg-...` account per run, in a sandbox of its own
- Slurm server jobs (`python -m coursehub.student.slurm_job`): the hub's sbatch; the student
- Slurm grading jobs (`python -m coursehub.ops.grading_job`): the service's sbatch; root
- `coursehub` commands (`python -m coursehub.cli`): an admin; usually root
"""
