"""Partner subscriptions are indexed by (EAS key, location key) pairs: their keys are rebuilt."""

from django.db import migrations


def reindex(apps, schema_editor):
    """Every subscription's keys again, from its body (the keys are a pure function of it)."""
    from partners.eecs_ecsserviceprovisioning.wire import query_body, subscription_request
    from provisioning.datamodel import provisioning_query
    from provisioning.scope import subscription_keys

    subscription = apps.get_model("partners", "PartnerSubscription")
    key = apps.get_model("partners", "PartnerSubscriptionKey")
    key.objects.all().delete()
    batch = []
    for sub in subscription.objects.only("pk", "body").iterator(chunk_size=2000):
        query = provisioning_query(query_body(subscription_request(sub.body)))
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
        ("partners", "0008_subscription_quota_index"),
        ("provisioning", "0008_subscription_pair_keys"),
    ]

    operations = [migrations.RunPython(reindex, migrations.RunPython.noop, elidable=True)]
