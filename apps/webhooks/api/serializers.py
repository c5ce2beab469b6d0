"""Serializers for the webhook inbox. Deliveries are stored without credential-bearing
headers (apps.webhooks.services keeps only content type, user agent and X- headers that
name no token or auth), so what is shown here is what the system sent, minus secrets."""

from __future__ import annotations

from rest_framework import serializers

from apps.webhooks.models import WebhookDelivery


class WebhookEventSerializer(serializers.Serializer):
    object_type = serializers.CharField()
    record_id = serializers.CharField()
    action = serializers.CharField()
    occurred_at = serializers.DateTimeField(allow_null=True)


class WebhookDeliverySerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    connection = serializers.UUIDField(source="connection.public_id", read_only=True)
    connection_name = serializers.CharField(source="connection.name", read_only=True)
    events = WebhookEventSerializer(
        many=True, read_only=True, help_text="The record changes the connector parsed from it."
    )

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "connection",
            "connection_name",
            "dedupe_key",
            "received_at",
            "status",
            "processed_at",
            "attempts",
            "error",
            "events",
        ]
        read_only_fields = fields


class WebhookDeliveryDetailSerializer(WebhookDeliverySerializer):
    """A delivery with what was received: the kept headers and the raw body."""

    headers = serializers.DictField(child=serializers.CharField(), read_only=True)
    body = serializers.CharField(read_only=True)

    class Meta(WebhookDeliverySerializer.Meta):
        fields = [*WebhookDeliverySerializer.Meta.fields, "headers", "body"]
        read_only_fields = fields
