"""The moodle-mod_jupyter plugin's requests, answered by coursehub itself, under
<service prefix>compat/moodle-jupyter/ (grading.moodle_compat):

- credentials.py  the plugin's two secrets: its HS256 user tokens and its "API token"
- mapping.py      Moodle course ids to coursehub courses, paths to workspace files
- gradeservice.py  POST/DELETE gradeservice/{course}/{activity}[/{student}] (otter grading)
- hub_api.py      hub/api/users/{user}[/server]: accounts, no default server started
- contents.py     user/{user}/api/contents/...: the activity's notebook, written as the student
- pending.py      a notebook placed before the student's first start, moved in at first open
- signin.py       hub/user-redirect/lab/tree/...?auth_token=: sign-in and the course server
- routes.py       all of the above under one prefix; secrets checked at start-up

The plugin's hub token setting holds a coursehub-made secret instead; no hub token is
taken from or sent to anyone.
"""
