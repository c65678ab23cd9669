"""The demo data of all four apps, loaded by ``manage.py load_demo`` (config/management/commands).

One module per app, each written through that app's services as a user would through the API:
users.py (the demo logins), files.py (the data files), catalog.py (datasets and their versions;
profiling starts by itself on each upload), lineage.py (OpenLineage events), governance.py (access
requests and a registered model). Every loader is idempotent: a rerun adds only what is missing.
"""
