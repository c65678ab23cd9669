from django.urls import path, re_path

from lineage.api import views

urlpatterns = [
    # openlineage-python posts to ``api/v1/lineage`` (no slash); Marquez clients may add one.
    re_path(r"^lineage/?$", views.LineageView.as_view(), name="lineage"),
    re_path(r"^column-lineage/?$", views.ColumnLineageView.as_view(), name="column-lineage"),
    re_path(r"^lineage/impact/?$", views.ImpactView.as_view(), name="lineage-impact"),
    re_path(r"^lineage/path/?$", views.PathView.as_view(), name="lineage-path"),
    re_path(r"^lineage/events/?$", views.EventListView.as_view(), name="lineage-events"),
    re_path(r"^lineage/backlog/?$", views.BacklogView.as_view(), name="lineage-backlog"),
    path("lineage/runs/<str:run_id>", views.RunDetailView.as_view(), name="lineage-run"),
    # A dataset reference may be a URN holding '/' (s3://lake/...), hence <path:>.
    path("lineage/datasets/<path:ref>/runs", views.DatasetRunsView.as_view(), name="lineage-dataset-runs"),
]
