from django.urls import path, re_path
from rest_framework.routers import SimpleRouter

from governance.api import erasure_views, evaluation_views, mlflow_views, subscription_views, views

# API.md writes actions without a trailing slash (.../approve); accept both spellings.
router = SimpleRouter()
router.trailing_slash = "/?"
router.register("access-requests", views.AccessRequestViewSet, basename="access-request")
router.register("audit", views.AuditViewSet, basename="audit")
router.register("models", views.ModelVersionViewSet, basename="model")
router.register("subscriptions", subscription_views.SubscriptionViewSet, basename="subscription")

# The router passes an action's own options (its renderers) to as_view; these two paths must too.
card = views.ModelVersionViewSet.as_view({"get": "card"}, **views.ModelVersionViewSet.card.kwargs)

urlpatterns = [
    re_path(r"^clearance/?$", views.ClearanceView.as_view(), name="clearance"),
    re_path(r"^privacy/erasures/?$", erasure_views.ErasureListView.as_view(), name="privacy-erasures"),
    path("datasets/<int:dataset_pk>/policy/", views.DatasetPolicyView.as_view(), name="dataset-policy"),
    re_path(r"^models/(?P<pk>[0-9]{1,18})/policy/?$", views.ModelPolicyView.as_view(), name="model-policy"),
    re_path(
        r"^models/(?P<pk>[0-9]{1,18})/release-check/?$",
        views.ReleaseCheckView.as_view(),
        name="model-release-check",
    ),
    re_path(r"^integrations/mlflow/sync/?$", mlflow_views.MlflowSyncView.as_view(), name="mlflow-sync"),
    re_path(
        r"^integrations/mlflow/sync/(?P<pk>[0-9]{1,18})/?$",
        mlflow_views.MlflowSyncDetailView.as_view(),
        name="mlflow-sync-detail",
    ),
    path("models/<int:pk>/card.md", card, {"format": "md"}, name="model-card-md"),
    path("models/<int:pk>/card.html", card, {"format": "html"}, name="model-card-html"),
    re_path(
        r"^models/(?P<pk>[0-9]{1,18})/evaluations/?$",
        evaluation_views.EvaluationListView.as_view(),
        name="model-evaluations",
    ),
    re_path(
        r"^models/(?P<pk>[0-9]{1,18})/evaluations/(?P<eid>[0-9]{1,18})/?$",
        evaluation_views.EvaluationDetailView.as_view(),
        name="model-evaluation",
    ),
    *router.urls,
]
