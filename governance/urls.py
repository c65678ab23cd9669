"""Governance's web pages (the API is in governance/api/urls.py); the home page is "home"."""

from django.urls import include, path

from governance import evaluation_pages, privacy_views, subscription_views, views

pages = [
    path("access/", views.my_requests_view, name="my-requests"),
    path("access/new/", views.request_new_view, name="request-new"),
    path("access/inbox/", views.inbox_view, name="inbox"),
    path("access/<int:pk>/", views.request_detail_view, name="request"),
    path("access/<int:pk>/decide/", views.decide_view, name="decide"),
    path("access/<int:pk>/revoke/", views.revoke_view, name="revoke"),
    path("access/<int:pk>/withdraw/", views.withdraw_view, name="withdraw"),
    path("datasets/<int:pk>/access/", views.dataset_access_view, name="dataset-access"),
    path("datasets/<int:pk>/policy/", views.dataset_policy_view, name="dataset-policy"),
    path("models/", views.models_view, name="models"),
    path("models/<int:pk>/", views.model_card_view, name="model"),
    path("models/<int:pk>/card/", views.model_card_edit_view, name="model-edit"),
    path("models/<int:pk>/policy/", views.model_policy_view, name="model-policy"),
    path("models/<int:pk>/evaluations/", evaluation_pages.model_evaluations_view, name="model-evaluations"),
    path("models/<int:pk>/evaluate/", evaluation_pages.model_evaluate_view, name="model-evaluate"),
    path("models/<int:pk>/teams/", views.model_teams_view, name="model-teams"),
    path("audit/", views.audit_view, name="audit"),
    path("privacy/erasures/", privacy_views.erasures_view, name="erasures"),
    path("subscriptions/", subscription_views.subscriptions_view, name="subscriptions"),
    path("subscriptions/<int:pk>/", subscription_views.subscription_view, name="subscription"),
    path(
        "subscriptions/<int:pk>/toggle/",
        subscription_views.subscription_toggle_view,
        name="subscription-toggle",
    ),
    path(
        "subscriptions/<int:pk>/delete/",
        subscription_views.subscription_delete_view,
        name="subscription-delete",
    ),
    path(
        "subscriptions/<int:pk>/deliveries/<int:delivery_pk>/redeliver/",
        subscription_views.redeliver_view,
        name="redeliver",
    ),
]

urlpatterns = [
    path("", views.home_view, name="home"),
    path("", include((pages, "governance"))),
]
