"""Connection serializers: secret configuration is write-only, never part of any output."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from apps.connections import services
from apps.connections.models import Connection


class ConnectionSerializer(serializers.ModelSerializer):
    """A connection as the API shows it: no secret value, ever."""

    id = serializers.UUIDField(source="public_id", read_only=True)
    config = serializers.SerializerMethodField(
        help_text="The non-secret configuration. Secret fields are never returned."
    )
    secrets_set = serializers.SerializerMethodField(
        help_text="Names of the secret configuration fields that hold a stored value."
    )
    webhook_url = serializers.SerializerMethodField(
        help_text="Where the external system must send this connection's webhooks."
    )

    class Meta:
        model = Connection
        fields = [
            "id",
            "name",
            "kind",
            "config",
            "secrets_set",
            "webhook_url",
            "status",
            "last_checked_at",
            "last_success_at",
            "last_error",
            "consecutive_failures",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_config(self, connection: Connection) -> dict[str, Any]:
        return dict(connection.config)

    def get_secrets_set(self, connection: Connection) -> list[str]:
        return sorted(name for name, value in (connection.secrets or {}).items() if value)

    def get_webhook_url(self, connection: Connection) -> str:
        return services.connection_webhook_url(connection)


class ConnectionCreatedSerializer(ConnectionSerializer):
    """The answer to a create: the connection plus its webhook secret, shown this once."""

    webhook_secret = serializers.CharField(
        read_only=True,
        help_text=(
            "The secret the external system signs webhooks with. Shown only in this answer; "
            "store it in the external system's webhook settings now."
        ),
    )

    class Meta(ConnectionSerializer.Meta):
        fields = [*ConnectionSerializer.Meta.fields, "webhook_secret"]
        read_only_fields = fields


class ConnectionUpdateSerializer(serializers.Serializer):
    """PUT replaces name and non-secret configuration; PATCH changes what it names.

    Secret configuration fields and the webhook secret are write-only; left out (or empty)
    they keep their stored value, under PUT as under PATCH.
    """

    name = serializers.CharField(max_length=120)
    config = serializers.DictField(
        help_text=(
            "Configuration values, secrets included (see GET /api/v1/connector-kinds/ for "
            "each kind's fields; secret ones are marked writeOnly)."
        )
    )
    webhook_secret = serializers.CharField(
        write_only=True,
        required=False,
        min_length=8,
        max_length=500,
        help_text="Set the webhook signing secret (where the external system dictates it).",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        connection: Connection = self.instance
        sent_kind = self.initial_data.get("kind") if hasattr(self.initial_data, "get") else None
        if sent_kind not in (None, connection.kind):
            # Silently ignoring it would leave a script believing the kind changed.
            raise serializers.ValidationError(
                {"kind": ["the kind of a connection cannot change; create a new connection"]}
            )
        return attrs

    def update(self, instance: Connection, validated_data: dict[str, Any]) -> Connection:
        # The service validates the configuration (and raises Invalid naming the field).
        return services.connection_update(
            instance,
            name=validated_data.get("name"),
            values=validated_data.get("config"),
            webhook_secret=validated_data.get("webhook_secret"),
            replace=not self.partial,
        )


class ConnectionCreateSerializer(ConnectionUpdateSerializer):
    """A new connection: its kind, name and complete configuration, secrets included."""

    kind = serializers.CharField(
        max_length=40, help_text="The connector kind (GET /api/v1/connector-kinds/)."
    )
    webhook_secret = serializers.CharField(
        write_only=True,
        required=False,
        min_length=8,
        max_length=500,
        help_text="The webhook signing secret; generated when left out.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        return attrs

    def create(self, validated_data: dict[str, Any]) -> Connection:
        return services.connection_create(
            workspace=validated_data["workspace"],
            name=validated_data["name"],
            kind=validated_data["kind"],
            values=validated_data["config"],
            webhook_secret=validated_data.get("webhook_secret"),
        )


class CheckResultSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    message = serializers.CharField(help_text="The connector's answer; never a credential.")


class HealthSerializer(serializers.ModelSerializer):
    class Meta:
        model = Connection
        fields = [
            "status",
            "last_checked_at",
            "last_success_at",
            "last_error",
            "consecutive_failures",
        ]
        read_only_fields = fields


class ObjectTypeSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    webhooks = serializers.BooleanField(help_text="Changes can arrive by webhook.")
    deletes_in_feed = serializers.BooleanField(help_text="Deletions appear in the change feed.")


class FieldOptionSerializer(serializers.Serializer):
    value = serializers.CharField()
    label = serializers.CharField()


class FieldSpecSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    type = serializers.CharField()
    writable = serializers.BooleanField()
    required = serializers.BooleanField(help_text="Required when a record is created.")
    options = FieldOptionSerializer(many=True)
    custom = serializers.BooleanField()
    reference_to = serializers.CharField(allow_null=True)


class FieldsQuerySerializer(serializers.Serializer):
    object_type = serializers.CharField(max_length=100)


class ConnectorKindSerializer(serializers.Serializer):
    kind = serializers.CharField()
    label = serializers.CharField()
    config_schema = serializers.DictField(
        help_text="JSON schema of the configuration; secret fields are marked writeOnly."
    )
    secret_fields = serializers.ListField(child=serializers.CharField())
