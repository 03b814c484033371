"""EEC subscriptions are indexed by (EAS key, location key) pairs: their keys are rebuilt."""

from django.db import migrations


def reindex(apps, schema_editor):
    """Every subscription's keys again, from its body (the keys are a pure function of it)."""
    from provisioning.datamodel import provisioning_query
    from provisioning.scope import subscription_keys

    subscription = apps.get_model("provisioning", "EECSubscription")
    key = apps.get_model("provisioning", "EECSubscriptionKey")
    key.objects.all().delete()
    batch = []
    for sub in subscription.objects.only("pk", "body").iterator(chunk_size=2000):
        query = provisioning_query(sub.body)
        batch += [
            key(subscription_id=sub.pk, key=k)
            for k in subscription_keys(query.eas_ids, query.location)
        ]
        if len(batch) >= 10_000:
            key.objects.bulk_create(batch)
            batch = []
    key.objects.bulk_create(batch)


class Migration(migrations.Migration):

    dependencies = [
        ("provisioning", "0007_registration_quota_and_dnn_labels"),
    ]

    operations = [migrations.RunPython(reindex, migrations.RunPython.noop, elidable=True)]
