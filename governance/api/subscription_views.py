"""Event subscriptions and their delivery log (API.md, "Monitoring and events"; docs/events.md).

Thin: governance.subscriptions writes and decides who may; governance.selectors reads. A caller sees
the subscriptions they manage (their own and their groups'); any other answers 404."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from config.ids import ID_PATTERN
from governance import selectors, subscriptions
from governance.api.subscription_serializers import (
    DeliveryPageSerializer,
    DeliverySerializer,
    RedeliveredSerializer,
    SubscriptionCreatedSerializer,
    SubscriptionSerializer,
    SubscriptionUpdateSerializer,
    SubscriptionWriteSerializer,
)
from governance.models import Subscription


class SubscriptionViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Subscriptions to events: by a signed webhook (JSON or Slack's format) and/or e-mail, for
    yourself or a group you belong to, to one dataset, a namespace or everything you may see."""

    serializer_class = SubscriptionSerializer
    lookup_value_regex = ID_PATTERN
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no user
            return Subscription.objects.none()
        return selectors.subscriptions_for(self.request.user)

    @extend_schema(
        request=SubscriptionWriteSerializer,
        responses={201: SubscriptionCreatedSerializer, 404: OpenApiResponse(description="No such dataset")},
        description="Subscribe. The answer holds the secret that signs the webhook's deliveries: it is "
        "shown this once. A dataset you may not see answers 404; a group you are not in, 403.",
    )
    def create(self, request, *args, **kwargs):
        body = SubscriptionWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        sub, secret = subscriptions.create_subscription(actor=request.user, **body.validated_data)
        out = SubscriptionSerializer(self.get_queryset().get(pk=sub.pk)).data
        return Response({**out, "secret": secret}, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=SubscriptionUpdateSerializer,
        responses={200: SubscriptionSerializer, 404: OpenApiResponse(description="No such dataset")},
        description='Change what it hears of or how; {"active": false} pauses it.',
    )
    def partial_update(self, request, *args, **kwargs):
        body = SubscriptionUpdateSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        sub = subscriptions.update_subscription(
            actor=request.user, subscription=self.get_object(), **body.validated_data
        )
        return Response(SubscriptionSerializer(self.get_queryset().get(pk=sub.pk)).data)

    def destroy(self, request, *args, **kwargs):
        subscriptions.delete_subscription(actor=request.user, subscription=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request=None,
        responses={200: DeliveryPageSerializer},
        description="The delivery log, newest first: status, attempts, the last answer's status code, "
        "the error, when it was tried and when it is tried next.",
    )
    @action(detail=True, methods=["get"], url_path="deliveries")
    def deliveries(self, request, pk=None):
        page = self.paginate_queryset(selectors.subscription_deliveries(self.get_object()))
        return self.get_paginated_response(DeliverySerializer(page, many=True).data)

    @extend_schema(
        request=None,
        responses={
            202: RedeliveredSerializer,
            409: OpenApiResponse(description="Still being delivered, or the subscription is paused"),
        },
        description="Deliver again: a new delivery of the same event (same event id), queued for the worker.",
    )
    @action(detail=True, methods=["post"], url_path=r"deliveries/(?P<delivery_pk>[0-9]{1,18})/redeliver")
    def redeliver(self, request, pk=None, delivery_pk=None):
        sub = self.get_object()
        delivery = get_object_or_404(selectors.subscription_deliveries(sub), pk=int(delivery_pk))
        again = subscriptions.redeliver(actor=request.user, delivery=delivery)
        return Response({"id": again.pk, "status": again.status}, status=status.HTTP_202_ACCEPTED)
