"""Warm-up before a lecture: the students' course servers started before the class, so
that their first click costs a sign-in, a copy and a redirect, not a server start.

- schedule: when a warm-up begins (warmup.lead before the class) and when its unused
  servers stop (warmup.unused_after after it); course.yaml's lectures are courses/lectures
- plan: who is warmed, who cannot be (no account or hub user yet, beyond memory), in
  which order (pure)
- memory: how many servers fit, from the PSS of the running servers and kernels
- hub: the hub's REST API calls a warm-up makes
- store: warm-ups and what each did per student (the database), and which servers the
  idle culler spares
- runner: runs a warm-up (bounded concurrency) and stops its unused servers after class

The service runs scheduled ones (service/tasks/warmup.py); `coursehub course warm` runs
one now and waits; the staff page plans them (service/routes/staff/warmup.py).
"""
